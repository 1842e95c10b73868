"""Open any simulated card file by its ``"kind"`` (card-profile §2 user card, §11 PSAM).

The in-process driver and the vpcd server take a path and need a :class:`VirtualCard`; the file
itself says what it holds, so callers never guess.  Every file is read bounded and strictly
(:mod:`simulator.store`); a user card is then opened under its file's lock (held until the card
is closed, :func:`simulator.card.close_card`), a PSAM without one (its file never changes).
"""

from __future__ import annotations

import os
from typing import Any

from simulator.card import VirtualCard
from simulator.state import KIND as USER_CARD_KIND
from simulator.store import CardFileError, load_json

PSAM_KIND = "sscard-psam"


def card_kind(path: str | os.PathLike[str]) -> str:
    """The ``kind`` field of a card file (CardFileError when unreadable or missing)."""
    return _kind(load_json(path), path)


def _kind(data: Any, path: str | os.PathLike[str]) -> str:
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str):
        raise CardFileError(f"card file {os.fspath(path)} has no card 'kind'")
    return kind


def load_card(path: str | os.PathLike[str], *, wait: float | None = None) -> VirtualCard:
    """A UserCard (``sscard-user-card``, holding its file's lock, waiting up to ``wait``
    seconds for another holder) or a Psam (``sscard-psam``) from its JSON file."""
    data = load_json(path)
    kind = _kind(data, path)
    if kind == USER_CARD_KIND:
        from simulator.usercard import UserCard

        return UserCard.load(path, wait=wait)  # read again, under the lock: the latest state
    if kind == PSAM_KIND:
        from simulator.psam import Psam

        return Psam.from_json(data, path)
    shown = kind if len(kind) <= 40 else kind[:37] + "..."
    raise CardFileError(f"card file {os.fspath(path)} holds an unknown card kind {shown!r}")


def card_atr(path: str | os.PathLike[str]) -> bytes:
    """The ATR of the card in a file, read without opening the card (no lock is taken, so this
    works while a server holds the card)."""
    data = load_json(path)
    if _kind(data, path) == USER_CARD_KIND:
        from simulator.state import CardState

        return bytes(CardState.from_json(data, f"card file {os.fspath(path)}").atr)
    return load_card(path).atr  # a PSAM: no lock either
