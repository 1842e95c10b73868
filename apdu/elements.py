"""The data elements of EF05, EF06 and DF04 EF05 tag 84 (card-profile §4), as a table.

The declarations themselves now live in :mod:`apdu.appfiles` (one table per application file,
each item with its codec and test vectors); this module keeps the names the read flow, the checks
and the simulator have always imported.  The order of each table is the order the national read
flow (§12) reads the records in.
"""

from __future__ import annotations

from apdu.appfiles import DF04_EF05 as _DF04_EF05_FILE
from apdu.appfiles import SSSE_EF05, SSSE_EF06, Element, Format

__all__ = [
    "BY_TAG_EF05", "BY_TAG_EF06", "CARD_ID_MARK", "CARD_TYPES", "DF04_EF05", "EF05", "EF06",
    "Element", "Format", "INSTITUTION_PREFIX", "SEXES", "SPEC_VERSIONS",
]

EF05: tuple[Element, ...] = SSSE_EF05.items
EF06: tuple[Element, ...] = SSSE_EF06.items

#: DF04 EF05 (medical basic data), the item a pharmacy reads [one source: V2 table 9].
DF04_EF05: tuple[Element, ...] = (_DF04_EF05_FILE.by_tag[0x84],)

BY_TAG_EF05 = {e.tag: e for e in EF05}
BY_TAG_EF06 = {e.tag: e for e in EF06}

#: §4: card types of EF05 tag 02 and known specification versions of tag 03.
CARD_TYPES = {"1": "preschool", "2": "student", "3": "adult", "4": "elderly"}
SPEC_VERSIONS = {"1.00": 1, "2.00": 2, "2.01": 2, "3.00": 3}
#: §1: the generation is decided by the first three characters of 规范版本; "" (or an absent
#: item) is a 1.00 card.  Real cards carry "2.0" + a padding byte and "1.01" (issue 9).
GENERATION_BY_PREFIX: dict[str, int] = {"": 1, "1.0": 1, "2.0": 2, "3.0": 3}


def generation_of(spec_version: str | None) -> int | None:
    """§1: 1, 2 or 3 from 规范版本 (None or empty -> 1); None for a version the table lacks."""
    return GENERATION_BY_PREFIX.get((spec_version or "").strip()[:3])

SEXES = {"1": "male", "2": "female", "9": "unspecified"}

#: §8.3 and §4: fixed parts of the card identification code and the institution number.
CARD_ID_MARK = bytes.fromhex("D156000005")
INSTITUTION_PREFIX = "9156000002"
