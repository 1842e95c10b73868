"""Open any simulated card file by its ``"kind"`` (card-profile §2 user card, §11 PSAM).

The in-process driver and the vpcd server take a path and need a :class:`VirtualCard`; the file
itself says what it holds, so callers never guess. The PSAM module is imported lazily: it is
written separately and a user-card-only installation must still load user cards.
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
    data: Any = load_json(path)
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str):
        raise CardFileError(f"{path} has no card 'kind'")
    return kind


def load_card(path: str | os.PathLike[str]) -> VirtualCard:
    """A UserCard (``sscard-user-card``) or a Psam (``sscard-psam``) from its JSON file."""
    kind = card_kind(path)
    if kind == USER_CARD_KIND:
        from simulator.usercard import UserCard

        return UserCard.load(path)
    if kind == PSAM_KIND:
        from simulator.psam import Psam  # written by the PSAM engineer

        return Psam.load(path)  # type: ignore[no-any-return]
    raise CardFileError(f"{path} holds an unknown card kind {kind!r}")
