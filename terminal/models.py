"""What a read of the card yields, as pydantic models, and its two output formats.

Card-profile §4 (EF05 issuer data, EF06 cardholder data), §1 (generation from 规范版本), §8.3
(city code = first 3 BCD bytes of 卡的识别码), §10 (historical bytes).

- :meth:`CardRead.to_json` is the documented, stable ``sscard read --json`` schema (below): keys
  are only ever added, never renamed or removed.
- :meth:`CardRead.national_format` is the basic-read line of the national reader interface
  (``iReadCardBas``), so pharmacy software written for it can switch to sscard.

Values are kept as the card holds them (codes, not labels: sex ``"1"``, ethnicity ``"01"``), so
the checks compare exactly what is on the chip.  Anything that did not decode is None in the model
and explained in :attr:`CardRead.decode_errors` (field -> why), never an exception.

``read --json`` schema (every key always present; absent values are null):

=================  =========================================================================
key                value
=================  =========================================================================
ssn                社会保障号码, 18 characters (null without EF06)
name               full name = tag 09 + tag 4E
name_extension     tag 4E alone (null on 1.00 cards and short names)
sex                "1" male, "2" female, "9" unspecified (the card's code)
sex_text           "male" / "female" / "unspecified" / null
ethnicity          GB 3304 code, e.g. "01"
birthplace         6-digit area code
birth_date         YYYY-MM-DD
card_number        卡号, 9 characters
card_id            卡的识别码, 32 upper-case hex digits ("" when unreadable)
card_type          "1".."4"
spec_version       规范版本, e.g. "3.00"
generation         1, 2, 3 or null (unknown version)
init_institution   初始化机构编号, digits
issue_date         YYYY-MM-DD
expiry_date        YYYY-MM-DD
algorithm          "DES", "SSF33" or "SM4" (SSSE FCI flag)
holder_read        true when EF06 was read
ef06_access        "free", "authenticated", "no_sam", "auth_failed", "cannot_authenticate"
atr                the ATR, upper-case hex
historical_bytes   the ATR historical bytes, upper-case hex
apdus              command APDUs the read took
notes              list of human-readable notes
decode_errors      {field: reason}
=================  =========================================================================
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from apdu.crypto import Algorithm, city_code_from_card_id
from apdu.elements import GENERATION_BY_PREFIX, SEXES, generation_of
from apdu.errors import CryptoError
from apdu.text import strip_controls

#: §1: generation by the first three characters of 规范版本 (the table lives in apdu.elements).
GENERATIONS = GENERATION_BY_PREFIX

Ef06Access = Literal["free", "authenticated", "no_sam", "auth_failed", "cannot_authenticate"]

__all__ = [
    "GENERATIONS", "generation_of", "CardRead", "HolderData", "IssuerData", "Ef06Access",
    "national_terminal_number", "NO_PSAM_TERMINAL_NUMBER",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IssuerData(_Model):
    """EF05 (§4): who issued the card and when."""

    card_id: bytes = b""
    card_type: str | None = None
    spec_version: str | None = None
    init_institution: str | None = None
    issue_date: dt.date | None = None
    expiry_date: dt.date | None = None
    card_number: str | None = None

    @property
    def city_code(self) -> str | None:
        """§8.3: the 6-digit city code from 卡的识别码, or None when it is not BCD."""
        try:
            return city_code_from_card_id(self.card_id)
        except CryptoError:
            return None


class HolderData(_Model):
    """EF06 (§4): the cardholder.  ``name`` is the full name (tag 09 followed by tag 4E)."""

    ssn: str | None = None
    name: str | None = None
    name_extension: str | None = None
    sex: str | None = None
    ethnicity: str | None = None
    birthplace: str | None = None
    birth_date: dt.date | None = None


#: national-interface §3: 终端机编号 when no PSAM holds a terminal number (the HSM path).
NO_PSAM_TERMINAL_NUMBER = "000000000000"


def national_terminal_number(sam: object | None) -> str:
    """终端机编号 for the basic-read line: the PSAM's terminal number (EF 0016, 12 digits) when
    the security module is a PSAM that exposes one, else ``000000000000`` (national-interface
    §3; real lines on the HSM path carry exactly that)."""
    number = getattr(sam, "terminal_number", None)
    if isinstance(number, str) and len(number) == 12 and number.isascii() and number.isdigit():
        return number
    return NO_PSAM_TERMINAL_NUMBER


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _compact(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value is not None else ""


def _field(value: object) -> str:
    """One ``|``-separated field: card text is untrusted, so the separator and every control
    character (line ends, ``\\x0b``, ``\\x1c``, NUL, ESC, bidi overrides: :mod:`apdu.text`) go."""
    text = "" if value is None else str(value)
    return strip_controls(text.replace("|", ""))


class CardRead(_Model):
    """The result of :func:`terminal.reading.read_card`."""

    issuer: IssuerData
    holder: HolderData | None = None
    algorithm: Algorithm = Algorithm.DES
    generation: int | None = None
    atr: bytes = b""
    historical_bytes: bytes = b""
    apdus: int = 0
    ef06_access: Ef06Access = "free"
    notes: list[str] = Field(default_factory=list)
    decode_errors: dict[str, str] = Field(default_factory=dict)

    @property
    def holder_read(self) -> bool:
        return self.holder is not None

    def to_json(self) -> dict[str, Any]:
        """The stable ``read --json`` object (see the module docstring)."""
        h = self.holder or HolderData()
        i = self.issuer
        return {
            "ssn": h.ssn,
            "name": h.name,
            "name_extension": h.name_extension,
            "sex": h.sex,
            "sex_text": SEXES.get(h.sex or ""),
            "ethnicity": h.ethnicity,
            "birthplace": h.birthplace,
            "birth_date": _iso(h.birth_date),
            "card_number": i.card_number,
            "card_id": i.card_id.hex().upper(),
            "card_type": i.card_type,
            "spec_version": i.spec_version,
            "generation": self.generation,
            "init_institution": i.init_institution,
            "issue_date": _iso(i.issue_date),
            "expiry_date": _iso(i.expiry_date),
            "algorithm": self.algorithm.name,
            "holder_read": self.holder_read,
            "ef06_access": self.ef06_access,
            "atr": self.atr.hex().upper(),
            "historical_bytes": self.historical_bytes.hex().upper(),
            "apdus": self.apdus,
            "notes": list(self.notes),
            "decode_errors": dict(self.decode_errors),
        }

    def national_format(self, terminal_number: str = "", device_number: str = "") -> str:
        """The ``iReadCardBas`` basic-read line of the national reader interface.

        ``区划|社保号|卡号|识别码|姓名|历史字节|规范版本|发卡日期|有效期|终端机编号|终端设备号|``:
        区划 = city code of 卡的识别码 (§8.3), 识别码 = its 32 hex digits, 历史字节 = the ATR
        historical bytes in hex, dates YYYYMMDD; a field that is unknown is empty.  Each field
        ends with ``|`` (the national layout), and ``|`` or any control character inside card
        text is dropped, so a hostile card can neither shift the fields nor split the line.
        """
        h = self.holder or HolderData()
        i = self.issuer
        fields = (
            i.city_code,
            h.ssn,
            i.card_number,
            i.card_id.hex().upper(),
            h.name,
            self.historical_bytes.hex().upper(),
            i.spec_version,
            _compact(i.issue_date),
            _compact(i.expiry_date),
            terminal_number,
            device_number,
        )
        return "".join(_field(f) + "|" for f in fields)
