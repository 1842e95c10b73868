"""The user card's persistent state as a JSON document (card-profile §5, §6 try counters).

What a real card keeps in EEPROM: the EF contents, the PIN and its try counter, each key and its
try counter, and the application / card block flags. It is validated with pydantic when a file is
*loaded* (a hand-edited file must fail clearly, as :class:`simulator.store.CardFileError`), never
on the APDU hot path: :mod:`simulator.usercard` keeps plain attributes and builds this model only
to save.

The file says what it is: ``"kind": "sscard-user-card"``, a ``format`` version, ``"test_only":
true``, and the card keys sit under ``test_card_keys`` — TEST keys derived from the published
test roots of §7.7, never real ones. Saving goes through :func:`simulator.store.save_json_atomic`
(temp file, fsync, rename), so a crash leaves the old state or the new one.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from apdu.atr import MAX_ATR_LEN
from apdu.codec import PIN_MAX_DIGITS, PIN_MIN_DIGITS
from apdu.crypto import CARD_KEY_LENGTH, Algorithm
from apdu.keys import KID_TABLE
from simulator.extensions import card_extension
from simulator.filesystem import RecordEF, TransparentEF
from simulator.personalisation import CardOptions, HexBytes, Personalisation
from simulator.profile import ALGORITHM_FOR_GENERATION, build_tree
from simulator.store import CardFileError, load_json, save_json_atomic

KIND: Final = "sscard-user-card"
FORMAT_VERSION: Final = 1
#: ISO/IEC 7816-3: an ATR has at most 33 bytes (TS + 32; apdu.atr).
MAX_ATR: Final = MAX_ATR_LEN
#: READ RECORD addresses records 1..254 (ISO/IEC 7816-4).
MAX_RECORDS: Final = 254

_SLOT = re.compile(r"([A-Z0-9]{2,8}):([0-9A-F]{2})")


def _counter_fits(tries_left: int, max_tries: int, what: str) -> None:
    if tries_left > max_tries:
        raise ValueError(f"{what}tries_left {tries_left} is above max_tries {max_tries}")


class PinState(BaseModel):
    """§6: the SSSE PIN (TEST card data), its try counter and whether it is enabled."""

    model_config = ConfigDict(extra="forbid")

    digits: str = Field(pattern=rf"^[0-9]{{{PIN_MIN_DIGITS},{PIN_MAX_DIGITS}}}$")
    tries_left: int = Field(ge=0, le=15)
    max_tries: int = Field(ge=1, le=15)
    enabled: bool = True

    @model_validator(mode="after")
    def _counter(self) -> PinState:
        _counter_fits(self.tries_left, self.max_tries, "")
        return self


class KeyState(BaseModel):
    """One card key (TEST, diversified from the published test roots) and its try counter (§5)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=16)
    key: HexBytes = Field(min_length=CARD_KEY_LENGTH, max_length=CARD_KEY_LENGTH)
    tries_left: int = Field(ge=0, le=15)
    max_tries: int = Field(ge=1, le=15)

    @model_validator(mode="after")
    def _counter(self) -> KeyState:
        _counter_fits(self.tries_left, self.max_tries, "")
        return self


class FileContent(BaseModel):
    """An EF's contents: ``records`` for record EFs, ``data`` for transparent ones (hex)."""

    model_config = ConfigDict(extra="forbid")

    records: list[HexBytes] | None = None
    data: HexBytes | None = None


class CardState(BaseModel):
    """The whole card file.

    Loading is strict (:meth:`from_json`): no coercion ("true" is not a boolean, "6" not a
    number), counters within their maxima, the algorithm of the generation, 16-byte keys under
    the KIDs of §5, a PIN of 4 to 16 digits, an ATR of at most 33 bytes, and only the EFs of the
    generation's file tree, each record one SIMPLE-TLV object within its EF's limits and
    transparent data no longer than its EF.  A file that breaks a rule is refused with one line
    naming the field, before the card exists, so nothing is silently dropped or truncated.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sscard-user-card"] = KIND
    format: StrictInt = FORMAT_VERSION
    test_only: StrictBool = True
    generation: StrictInt
    algorithm: StrictInt
    has_bank: bool
    atr: HexBytes = Field(min_length=2, max_length=MAX_ATR)
    options: CardOptions
    key_set_label: str = Field(min_length=1, max_length=200)
    personalisation: dict[str, Any]
    pin: PinState
    #: "DOMAIN:KID" (e.g. "SSSE:0A") -> key. TEST keys only (card-profile §7.7).
    test_card_keys: dict[str, KeyState]
    files: dict[str, FileContent]
    application_blocked: bool = False
    card_blocked: bool = False

    @field_validator("format")
    @classmethod
    def _format(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(f"unsupported user card format {value}")
        return value

    @field_validator("test_only")
    @classmethod
    def _test_only(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("a simulated card file is test_only: true (TEST keys, §7.7)")
        return value

    @field_validator("personalisation")
    @classmethod
    def _personalisation(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The issue record must be a personalisation (without its PIN), strictly typed."""
        if "pin" in value:
            raise ValueError("the issue record must not hold the PIN")
        try:
            Personalisation.model_validate_json(json.dumps(value), strict=True)
        except ValidationError as exc:
            raise ValueError(_first_error(exc)) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CardState:
        alg = ALGORITHM_FOR_GENERATION.get(self.generation)
        if alg is None:
            known = ", ".join(map(str, sorted(ALGORITHM_FOR_GENERATION)))
            raise ValueError(f"generation: {self.generation} is not one of {known}")
        if self.algorithm != int(alg):
            name = Algorithm(self.algorithm).name if self.algorithm in (1, 2, 3) else "unknown"
            raise ValueError(
                f"algorithm: {self.algorithm} ({name}) contradicts generation {self.generation}"
                f" ({alg.name} = {int(alg)})"
            )
        for slot, key in self.test_card_keys.items():
            _check_key(slot, key)
        efs = _ef_table(self.generation, self.has_bank, _extension_text(self.personalisation))
        for path, content in self.files.items():
            _check_file(efs.get(path), path, content, self.generation)
        return self

    def save(
        self,
        path: str | os.PathLike[str],
        raw: bytes | None = None,
        dump: dict[str, Any] | None = None,
    ) -> bytes:
        """Write the state atomically; returns the bytes written.  ``raw``: bytes known to
        encode exactly this state (those the card was loaded from); ``dump``: this state's
        ``model_dump(mode="json")`` when the caller has it already."""
        data = dump if dump is not None else self.model_dump(mode="json")
        return save_json_atomic(path, data, raw)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CardState:
        """The state in a card file, for inspection (no lock: use UserCard.load to use a card)."""
        return cls.from_json(load_json(path), f"card file {os.fspath(path)}")

    @classmethod
    def from_json(cls, data: Any, where: str = "card file") -> CardState:
        if not isinstance(data, dict) or data.get("kind") != KIND:
            kind = data.get("kind") if isinstance(data, dict) else None
            raise CardFileError(f"{where} is not a user card (kind {_short(kind)})")
        if data.get("format") != FORMAT_VERSION or type(data.get("format")) is not int:
            raise CardFileError(
                f"{where}: unsupported user card format {_short(data.get('format'))}"
            )
        try:
            return cls.model_validate(data, strict=True)
        except ValidationError as exc:
            raise CardFileError(f"{where}: invalid user card ({_first_error(exc)})") from None


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_error(exc: ValidationError) -> str:
    """The first problem as ``field.path: message`` (never the offending value: it may be a
    PIN or a key)."""
    first = exc.errors()[0]
    loc = ".".join(str(x)[:60] for x in first["loc"])
    msg = str(first["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def _extension_text(personalisation: dict[str, Any]) -> str | None:
    """The region's extension declaration the card was issued with (its EFs are in its tree)."""
    text = personalisation.get("extension")
    if text is not None and not isinstance(text, str):
        raise ValueError("personalisation.extension: must be TOML text")
    return text


@functools.lru_cache(maxsize=8)
def _ef_table(generation: int, bank: bool, extension: str | None = None) -> dict[str, object]:
    """Path -> EF of a generation's tree, with the card's extension files (read only: the EFs'
    limits, never their contents)."""
    ext = card_extension({"extension": extension})
    return dict(build_tree(generation, bank=bank, extension=ext).efs())


def _check_key(slot: str, key: KeyState) -> None:
    match = _SLOT.fullmatch(slot)
    name = KID_TABLE.get((match[1], int(match[2], 16))) if match else None
    if name is None:
        raise ValueError(f"test_card_keys.{slot[:40]}: no such key (DOMAIN:KID of card-profile §5)")
    if key.name != name:
        raise ValueError(f"test_card_keys.{slot}.name: {key.name[:16]!r} should be {name!r}")


def _check_file(ef: object, path: str, content: FileContent, generation: int) -> None:
    where = f"files.{path[:60]}"
    if not isinstance(ef, (RecordEF, TransparentEF)):
        raise ValueError(f"{where}: no such EF on a generation {generation} card")
    if (content.records is None) == (content.data is None):
        raise ValueError(f"{where}: give exactly one of records and data")
    if isinstance(ef, TransparentEF):
        if content.data is None:
            raise ValueError(f"{where}: a transparent EF holds data, not records")
        if len(content.data) > ef.size:
            raise ValueError(f"{where}.data: {len(content.data)} bytes; the EF holds {ef.size}")
        return
    if content.records is None:
        raise ValueError(f"{where}: a record EF holds records, not data")
    if len(content.records) > MAX_RECORDS:
        raise ValueError(f"{where}.records: {len(content.records)} records; at most {MAX_RECORDS}")
    for i, record in enumerate(content.records):
        if not ef.accepts(record):
            form = "one SIMPLE-TLV object of " if ef.tlv else ""
            raise ValueError(
                f"{where}.records.{i}: not {form}at most {ef.max_record_len} bytes"
            )


def key_slot(domain: str, kid: int) -> str:
    """The ``test_card_keys`` entry name of a key: ``"SSSE:0A"``."""
    return f"{domain}:{kid:02X}"


def parse_key_slot(slot: str) -> tuple[str, int]:
    domain, _, kid = slot.partition(":")
    try:
        return domain, int(kid, 16)
    except ValueError:
        raise CardFileError(f"bad key slot name {slot!r}") from None
