"""What goes onto a simulated card at issue time, and the checks a real issuer would make.

Pydantic models of the holder, the card, the bank application and the card's options, following
the data elements of card-profile §4 (EF05, EF06, DF04 EF05), §6 (PIN), §8 (identifier formats)
and §9 (bank record). The models only check types; the *consistency* checks (SSN check
character, birth date and sex against the SSN, card id structure, dates, name length, PIN, PAN
Luhn) live in :func:`problems`, so that ``allow_invalid=True`` can skip them and issue a
deliberately defective card that the terminal's checks are tested against.
Whatever is skipped, the data must still be *encodable* into the fixed-size fields of §4:
:func:`encoding_problems` is never skipped.

What real cards carry is accepted and *noticed* rather than refused (issue 9), by
:func:`notices`: historical or never-listed GB/T 2260 area codes (judged by :mod:`apdu.areas`,
the table the terminal's checks use too), province-level issuer codes (xx0000, xx9900), card
numbers without the V2 appendix A check character, 规范版本 forms such as "2.0", 初始化机构编号
with non-BCD sequence bytes or another prefix, unknown card types.  ``sscard sim issue`` prints
each notice as ``sscard: note: ...``; only really impossible data is refused.

The PIN is a :class:`pydantic.SecretStr`: it never shows in a repr, a log or an error message.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
)

from apdu import areas, identifiers
from apdu.codec import PIN_MAX_DIGITS, PIN_MIN_DIGITS, TEXT_CODEC, pin_format_ok
from apdu.elements import (
    CARD_ID_MARK,
    CARD_TYPES,
    DF04_EF05,
    EF05,
    EF06,
    INSTITUTION_PREFIX,
    SEXES,
    SPEC_VERSIONS,
    Element,
    generation_of,
)
from apdu.errors import SSCardError
from apdu.identifiers import (
    card_id_problems,
    card_number_check_ok,
    ssn_birth_date,
    ssn_check_ok,
    ssn_sex,
)
from apdu.text import is_control
from simulator.appdata import app_problems
from simulator.extensions import ExtensionError, extension_of
from simulator.photo import PhotoError, checked_photo

#: the §4 items by field name: their sizes are the declaration's (apdu.appfiles).
ITEMS: dict[str, Element] = {e.field: e for e in EF05 + EF06 + DF04_EF05}
#: §4 sizes of the name fields: 姓名 (tag 09) and 姓名扩展 (tag 4E).
NAME_BYTES = ITEMS["name"].size
NAME_EXT_BYTES = ITEMS["name_extension"].size

_DIGITS = re.compile(r"[0-9]+")
PIN_PROBLEM = f"pin: must be {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} decimal digits (§6)"


class PersonalisationError(SSCardError):
    """The personalisation is inconsistent or cannot be encoded; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _hex_bytes(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ValueError("expected hex digits") from None
    return value


HexBytes = Annotated[
    bytes,
    BeforeValidator(_hex_bytes),
    PlainSerializer(lambda b: b.hex().upper(), return_type=str, when_used="json"),
]


class Holder(BaseModel):
    """Cardholder basic data (EF06, §4)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    ssn: str
    sex: str = "1"
    ethnicity: str = "01"
    birthplace: str
    birth_date: dt.date

    @field_validator("ssn")
    @classmethod
    def _upper_x(cls, v: str) -> str:
        """GB 11643 writes the check character 10 as upper-case X; a typed ``x`` is the same."""
        return v[:-1] + "X" if len(v) == 18 and v.endswith("x") else v


class CardInfo(BaseModel):
    """Issuer data (EF05, §4) and the medical area code (DF04 EF05 tag 84)."""

    model_config = ConfigDict(extra="forbid")

    card_number: str
    #: §8.3. None: derived as city_code ‖ D156000005 ‖ serial ‖ FFFFFFFF.
    card_id: HexBytes | None = None
    city_code: str = "420100"
    serial: str = "00000001"  # 4 bytes, 8 hex digits; also ATR T10..T13 (§10)
    card_type: str = "3"
    generation: Literal[1, 2, 3] = 3
    spec_version: str | None = None  # None: "2.00" / "3.00" from the generation
    init_institution: str | None = None  # None: 9156000002 + city + city + "01"
    issue_date: dt.date
    expiry_date: dt.date
    medical_area_code: str = "420100"

    def resolved_card_id(self) -> bytes:
        if self.card_id is not None:
            return self.card_id
        try:
            return (
                bytes.fromhex(self.city_code) + CARD_ID_MARK + bytes.fromhex(self.serial)
                + b"\xff\xff\xff\xff"
            )
        except ValueError:
            raise PersonalisationError(
                ["city code and serial must be hex digits to derive the card id"]
            ) from None

    def resolved_spec_version(self) -> str:
        return self.spec_version if self.spec_version is not None else f"{self.generation}.00"

    def resolved_institution(self) -> str:
        if self.init_institution is not None:
            return self.init_institution
        return INSTITUTION_PREFIX + self.city_code + self.city_code + "01"


class CardOptions(BaseModel):
    """Real-card behaviour and regional policy (§3 T=0, §4 padding and READ RECORD, §6 PIN state
    and limit, §9 GPO).  The defaults are what real cards do (issue 9); the card profile's text
    form is the option where the two differ."""

    model_config = ConfigDict(extra="forbid")

    #: T=0 (every real contact card seen: ``3B 6D 00 00`` + 13, FCI through ``61xx``); False: T=1.
    t0: bool = True
    pad: Literal[0x00, 0x20] = 0x00
    #: READ RECORD P2 = 05/06 (all records at once, ISO/IEC 7816-4); False answers ``6A86``.
    multi_record: bool = True
    #: the card profile's "exact Le or 6Cxx"; real cards answer any Le >= the record (False).
    exact_le: bool = False
    #: GET PROCESSING OPTIONS answer: format 1 (``80``) or format 2 (``77``).
    gpo_format: Literal[1, 2] = 1
    pin_not_enabled: bool = False
    pin_tries: int = Field(default=6, ge=1, le=15)
    key_tries: int = Field(default=3, ge=1, le=15)


class BankInfo(BaseModel):
    """The UnionPay record of §9 (template 70: 5A, 5F20, 5F24, 5F34)."""

    model_config = ConfigDict(extra="forbid")

    pan: str
    cardholder_name: str = "ZHANG/SANFENG"
    expiry: dt.date
    pan_seq: int = Field(default=1, ge=0, le=99)


class Personalisation(BaseModel):
    """Everything needed to issue one user card. ``pin`` never appears in a repr."""

    model_config = ConfigDict(extra="forbid")

    holder: Holder
    card: CardInfo
    bank: BankInfo | None = None
    pin: SecretStr = SecretStr("123456")
    options: CardOptions = CardOptions()
    key_set: str = "test"  # label of the key set ("test" or "counterfeit"), informational
    #: issue 15: the photo of SSSE EF08 (JPEG/BMP ≤ 4 KB); None = the synthetic portrait.
    photo: HexBytes | None = None
    #: issue 15: DF01-DF04 item values by file ("DF04/EF05": {field: value}, "DF04/EF08":
    #: [record, ...]); None = plausible samples for the holder (simulator.appdata).
    app_data: dict[str, Any] | None = None
    #: issue 15: a region's extension declaration (TOML text, apdu.extensions); None = none.
    extension: str | None = None

    @field_validator("pin", mode="before")
    @classmethod
    def _pin_as_secret(cls, v: Any) -> Any:
        return SecretStr(v) if isinstance(v, str) else v

    def public_dump(self) -> dict[str, Any]:
        """JSON-able dump without the PIN (what the card file records about its issue)."""
        return self.model_dump(mode="json", exclude={"pin", "photo"})


# --- checks ---------------------------------------------------------------------------------------


def _digits(s: str, n: int | None = None) -> bool:
    return bool(_DIGITS.fullmatch(s)) and (n is None or len(s) == n)


def luhn_ok(number: str) -> bool:
    """ISO/IEC 7812 Luhn check of a PAN of at least 12 digits (§9, apdu.identifiers)."""
    return len(number) >= 12 and identifiers.luhn_ok(number)


def split_name(name: str) -> tuple[bytes, bytes]:
    """The GBK name into tag 09 (≤ 30 bytes) and the spill into 4E (§4), on a character boundary."""
    head = b""
    for i, ch in enumerate(name):
        b = ch.encode(TEXT_CODEC)
        if len(head) + len(b) > NAME_BYTES:
            return head, name[i:].encode(TEXT_CODEC)
        head += b
    return head, b""


def encoding_problems(p: Personalisation) -> list[str]:
    """What cannot be written into the §4 fields at all (never skipped, even with allow_invalid)."""
    out: list[str] = []
    h, c = p.holder, p.card
    try:
        head, ext = split_name(h.name)
        if len(ext) > NAME_EXT_BYTES:
            out.append(
                f"name: {len(head) + len(ext)} bytes in GBK; at most {NAME_BYTES + NAME_EXT_BYTES}"
                " fit (tags 09 and 4E)"
            )
        if ext and c.generation == 1:
            out.append(f"name: {len(head) + len(ext)} bytes in GBK; a 1.00 card has no tag 4E, "
                       f"so at most {NAME_BYTES} fit")
    except UnicodeEncodeError:
        out.append("name: not encodable in GBK/GB18030")
    fixed_an = {
        "ssn": h.ssn,
        "sex": h.sex,
        "card_number": c.card_number,
        "card_type": c.card_type,
        "spec_version": c.resolved_spec_version(),
    }
    for fname, value in fixed_an.items():
        size = ITEMS[fname].size
        try:
            if len(value.encode(TEXT_CODEC)) > size:
                out.append(f"{fname}: longer than {size} bytes")
        except UnicodeEncodeError:
            out.append(f"{fname}: not encodable in GBK/GB18030")
    cn = {
        "ethnicity": h.ethnicity,
        "birthplace": h.birthplace,
        "medical_area_code": c.medical_area_code,
    }
    for fname, value in cn.items():
        digits = 2 * ITEMS[fname].size
        if not _digits(value) or len(value) > digits:
            out.append(f"{fname}: must be at most {digits} decimal digits")
    inst, inst_digits = c.resolved_institution(), 2 * ITEMS["init_institution"].size
    if not (_digits(inst) and len(inst) <= inst_digits) and not (
        len(inst) == inst_digits and re.fullmatch(r"[0-9A-Fa-f]+", inst)
    ):
        # real cards carry non-BCD sequence bytes: 24 hex digits are written as they are
        out.append("init_institution: must be at most 24 decimal digits, or 24 hex digits")
    try:
        card_id = c.resolved_card_id()
        if len(card_id) != ITEMS["card_id"].size:
            out.append(f"card_id: {len(card_id)} bytes, the field holds {ITEMS['card_id'].size}")
        elif not card_id[:3].hex().isdigit():
            out.append("card_id: the city code (first 3 bytes) must be BCD: keys derive from it")
    except PersonalisationError as exc:
        out.extend(exc.problems)
    if not re.fullmatch(r"[0-9A-Fa-f]{8}", c.serial):
        out.append("serial: must be 8 hex digits (4 bytes, ATR T10..T13)")
    for fname, d in (("issue_date", c.issue_date), ("expiry_date", c.expiry_date),
                     ("birth_date", h.birth_date)):
        if d.year < 1000:
            out.append(f"{fname}: year must have 4 digits")
    pin = p.pin.get_secret_value()
    if not pin_format_ok(pin):
        out.append(PIN_PROBLEM)  # what a card file can hold (simulator.state.PinState)
    if p.bank is not None:
        if not _digits(p.bank.pan) or len(p.bank.pan) > 19:
            out.append("bank pan: must be at most 19 decimal digits")
        try:
            p.bank.cardholder_name.encode("ascii")
        except UnicodeEncodeError:
            out.append("bank cardholder_name: must be Latin (ASCII) text")
    return out


def name_problems(name: str) -> list[str]:
    """A holder name an issuer would refuse: empty, holding control characters (text from a
    card reaches terminals: :mod:`apdu.text`), or not GBK (real cards hold GBK text, §4)."""
    if not name.strip():
        return ["name: empty"]
    if any(is_control(ch) for ch in name):
        return ["name: holds control characters"]
    try:
        name.encode("gbk")
    except UnicodeEncodeError as exc:
        return [f"name: {name[exc.start]!r} is not a GBK character"]
    return []


def problems(p: Personalisation) -> list[str]:
    """Inconsistencies an issuer would refuse (§4, §6, §8, §9); one message per problem.

    Only what no genuine card can carry: what real cards do carry is a notice (:func:`notices`).
    """
    out: list[str] = name_problems(p.holder.name)
    h, c = p.holder, p.card
    if not ssn_check_ok(h.ssn):
        out.append("ssn: not 18 characters with a valid check character (§8.1)")
    if _digits(h.ssn[:14], 14) and ssn_birth_date(h.ssn) != h.birth_date:
        out.append(f"ssn: birth date {h.ssn[6:14]} differs from birth_date {h.birth_date:%Y%m%d}")
    if h.sex not in SEXES:
        out.append(f"sex: {h.sex!r} is not one of 1, 2, 9")
    elif h.sex in "12" and (expected := ssn_sex(h.ssn)) is not None and h.sex != expected:
        out.append(f"sex: {h.sex} does not match the SSN sequence parity (expects {expected})")
    if not _digits(h.ethnicity, 2):
        out.append("ethnicity: must be 2 digits (GB 3304)")
    if not _digits(h.birthplace, 6):
        out.append("birthplace: must be a 6-digit area code")
    if not c.card_number:
        out.append("card_number: empty")
    try:
        for msg in card_id_problems(c.resolved_card_id()):
            out.append(f"card_id: {msg}")
    except PersonalisationError:
        pass  # reported by encoding_problems
    if not _digits(c.city_code, 6):
        out.append("city_code: must be 6 digits")
    version = c.resolved_spec_version()
    if generation_of(version) != c.generation:
        out.append(f"spec_version: {version!r} does not belong to generation {c.generation}")
    if c.issue_date > c.expiry_date:
        out.append("dates: issue_date is after expiry_date")
    if not _digits(c.medical_area_code, 6):
        out.append("medical_area_code: must be a 6-digit area code")
    pin = p.pin.get_secret_value()
    if not pin_format_ok(pin):
        out.append(PIN_PROBLEM)
    if p.bank is not None and not luhn_ok(p.bank.pan):
        out.append("bank pan: fails the Luhn check")
    return out


def _area_notice(what: str, code: str, year: int | None) -> str | None:
    judgement = areas.judge(code, year)
    if judgement.standing == "current":
        return None
    return f"{what}: {judgement.detail}"


def notices(p: Personalisation) -> list[str]:
    """What an issuer would notice but real cards carry (issue 9); one line each, never refused."""
    out: list[str] = []
    h, c = p.holder, p.card
    if ssn_check_ok(h.ssn):
        year = h.birth_date.year
        out.append(_area_notice("ssn area code", h.ssn[:6], year) or "")
    if _digits(h.birthplace, 6):
        out.append(_area_notice("birthplace", h.birthplace, h.birth_date.year) or "")
    if c.card_number and not card_number_check_ok(c.card_number):
        out.append(
            f"card_number: {c.card_number} has no V2 appendix A check character (§8.2); "
            "many regions number their cards otherwise"
        )
    try:
        card_id = c.resolved_card_id()
        if len(card_id) == 16 and card_id[:3].hex().isdigit():
            city = card_id[:3].hex()
            area = areas.lookup(city)
            if area is not None and area.kind == "province_level":
                out.append(f"card_id: city code {city} is a province-level issuer ({area.name()})")
            else:
                out.append(_area_notice("card_id city code", city, None) or "")
    except PersonalisationError:
        pass
    version = c.resolved_spec_version()
    if version not in SPEC_VERSIONS and generation_of(version) == c.generation:
        out.append(
            f"spec_version: {version!r} is not one of {', '.join(SPEC_VERSIONS)}; its first "
            f"three characters say generation {c.generation} (§1)"
        )
    inst = c.resolved_institution()
    if not inst.upper().startswith(INSTITUTION_PREFIX):
        out.append(f"init_institution: {inst} does not start with {INSTITUTION_PREFIX} (§4)")
    if not _digits(inst):
        out.append(f"init_institution: {inst} holds non-BCD bytes (written as hex, as real cards)")
    if c.card_type not in CARD_TYPES:
        out.append(f"card_type: {c.card_type!r} is not one of {', '.join(CARD_TYPES)}")
    return [line for line in out if line]


def application_problems(p: Personalisation, *, allow_invalid: bool = False) -> list[str]:
    """Issue 15: the photo (must fit EF08; must be a well-formed image unless ``allow_invalid``),
    the extension declaration and the application-file values (must encode)."""
    out: list[str] = []
    if p.photo is not None:
        try:
            checked_photo(p.photo)
        except PhotoError as exc:
            if not allow_invalid or len(p.photo) > 0x1000:
                out.append(str(exc))
    try:
        out += app_problems(p, extension_of(p.extension))
    except ExtensionError as exc:
        out.append(f"extension: {exc}")
    return out


def validate(p: Personalisation, *, allow_invalid: bool = False) -> None:
    """Raise :class:`PersonalisationError` listing every problem (only encoding ones when
    ``allow_invalid``)."""
    found = encoding_problems(p) + application_problems(p, allow_invalid=allow_invalid)
    if not allow_invalid:
        found += [m for m in problems(p) if m not in found]
    if found:
        raise PersonalisationError(found)
