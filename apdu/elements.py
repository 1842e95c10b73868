"""The data elements of EF05, EF06 and DF04 EF05 (card-profile §4), as a table.

One row per item: tag, field name, format, size.  The simulator personalises from it and the
terminal decodes with it, so the two cannot disagree.  The order of each table is the order the
national read flow (§12) reads the records in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Format = Literal["an", "cn", "b", "date"]


@dataclass(frozen=True, slots=True)
class Element:
    tag: int
    field: str
    format: Format
    size: int  # maximum value length in bytes (cn/date: exact)
    label: str

    @property
    def le(self) -> int:
        """The exact Le of READ RECORD for a full-size item: value + tag + length (§4)."""
        return self.size + 2


EF05: tuple[Element, ...] = (
    Element(0x01, "card_id", "b", 16, "卡的识别码 card identification code"),
    Element(0x02, "card_type", "an", 1, "卡的类别 card type"),
    Element(0x03, "spec_version", "an", 4, "规范版本 specification version"),
    Element(0x04, "init_institution", "cn", 12, "初始化机构编号 initialising institution"),
    Element(0x05, "issue_date", "date", 4, "发卡日期 issue date"),
    Element(0x06, "expiry_date", "date", 4, "卡有效期 expiry date"),
    Element(0x07, "card_number", "an", 9, "卡号 card number"),
)

EF06: tuple[Element, ...] = (
    Element(0x08, "ssn", "an", 18, "社会保障号码 social security number"),
    Element(0x09, "name", "an", 30, "姓名 name"),
    Element(0x4E, "name_extension", "an", 20, "姓名扩展 name extension"),
    Element(0x0A, "sex", "an", 1, "性别 sex"),
    Element(0x0B, "ethnicity", "cn", 1, "民族 ethnicity"),
    Element(0x0C, "birthplace", "cn", 3, "出生地 birthplace"),
    Element(0x0D, "birth_date", "date", 4, "出生日期 birth date"),
)

#: DF04 EF05 (medical basic data), the item a pharmacy reads [one source: V2 table 9].
DF04_EF05: tuple[Element, ...] = (
    Element(0x84, "medical_area_code", "cn", 3, "医疗保险参保地所属行政区划代码 medical area"),
)

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
