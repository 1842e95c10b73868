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

import os
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.personalisation import CardOptions, HexBytes
from simulator.store import CardFileError, load_json, save_json_atomic

KIND: Final = "sscard-user-card"
FORMAT_VERSION: Final = 1


class PinState(BaseModel):
    """§6: the SSSE PIN (TEST card data), its try counter and whether it is enabled."""

    model_config = ConfigDict(extra="forbid")

    digits: str = Field(pattern=r"^[0-9]{1,16}$")
    tries_left: int = Field(ge=0, le=15)
    max_tries: int = Field(ge=1, le=15)
    enabled: bool = True


class KeyState(BaseModel):
    """One card key (TEST, diversified from the published test roots) and its try counter (§5)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    key: HexBytes
    tries_left: int = Field(ge=0, le=15)
    max_tries: int = Field(ge=1, le=15)


class FileContent(BaseModel):
    """An EF's contents: ``records`` for record EFs, ``data`` for transparent ones (hex)."""

    model_config = ConfigDict(extra="forbid")

    records: list[HexBytes] | None = None
    data: HexBytes | None = None


class CardState(BaseModel):
    """The whole card file."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sscard-user-card"] = KIND
    format: Literal[1] = FORMAT_VERSION
    test_only: Literal[True] = True
    generation: Literal[1, 2, 3]
    algorithm: int
    has_bank: bool
    atr: HexBytes
    options: CardOptions
    key_set_label: str
    personalisation: dict[str, Any]
    pin: PinState
    #: "DOMAIN:KID" (e.g. "SSSE:0A") -> key. TEST keys only (card-profile §7.7).
    test_card_keys: dict[str, KeyState]
    files: dict[str, FileContent]
    application_blocked: bool = False
    card_blocked: bool = False

    def save(self, path: str | os.PathLike[str]) -> None:
        save_json_atomic(path, self.model_dump(mode="json"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CardState:
        return cls.from_json(load_json(path), str(path))

    @classmethod
    def from_json(cls, data: Any, where: str = "card file") -> CardState:
        if not isinstance(data, dict) or data.get("kind") != KIND:
            kind = data.get("kind") if isinstance(data, dict) else None
            raise CardFileError(f"{where} is not a user card (kind {kind!r})")
        if data.get("format") != FORMAT_VERSION:
            raise CardFileError(f"{where}: unsupported user card format {data.get('format')!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise CardFileError(f"{where}: invalid user card ({loc}: {first['msg']})") from None


def key_slot(domain: str, kid: int) -> str:
    """The ``test_card_keys`` entry name of a key: ``"SSSE:0A"``."""
    return f"{domain}:{kid:02X}"


def parse_key_slot(slot: str) -> tuple[str, int]:
    domain, _, kid = slot.partition(":")
    try:
        return domain, int(kid, 16)
    except ValueError:
        raise CardFileError(f"bad key slot name {slot!r}") from None
