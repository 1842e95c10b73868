"""Fixtures-as-functions for the checks, activation, bank and read-CLI tests (owned by checks).

A card is issued by the simulator (``allow_invalid=True`` for defective ones), hosted in the
in-process reader, and inspected through the same :func:`terminal.inspect.inspect_card` the CLI
uses.  ``TODAY`` is fixed so date checks do not drift with the calendar.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from simulator.samples import sample_card
from simulator.state import CardState
from simulator.usercard import UserCard
from terminal.inspect import Inspection, inspect_card
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession

TODAY = dt.date(2026, 1, 1)


def defective(generation: int = 3, **overrides: Any) -> UserCard:
    return sample_card(generation, allow_invalid=True, **overrides)


def with_state(card: UserCard, **changes: Any) -> UserCard:
    """A card whose persistent state differs (blocked application, PIN counter, ...)."""
    state = card.state()
    data = state.model_dump()
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key].update(value)
        else:
            data[key] = value
    return UserCard(CardState.model_validate(data))


def with_record(card: UserCard, path: str, tag: int, value: bytes) -> UserCard:
    """A card whose record ``tag`` in the EF at ``path`` (e.g. ``"MF/SSSE/EF06"``) holds
    ``value`` instead (e.g. an FF-filled, unpersonalised birth date, or garbage)."""
    state = card.state()
    data = state.model_dump()
    records = data["files"][path]["records"]
    index = next(i for i, rec in enumerate(records) if rec[0] == tag)
    records[index] = bytes((tag, len(value))) + value
    return UserCard(CardState.model_validate(data))


def with_fci(card: UserCard, fci: bytes) -> UserCard:
    """The same card, answering ``fci`` to SELECT SSSE (e.g. an algorithm flag the security
    module does not support): the in-memory card's tree is changed, not its file."""
    card._tree.by_path["MF/SSSE"].fci = fci  # type: ignore[union-attr]
    return card


def session_for(card: UserCard, sam: bool = True) -> tuple[SimulatedReader, CardSession]:
    reader = SimulatedReader(card)
    reader.connect()
    return reader, CardSession(CardChannel(reader), sam=SoftwareSam() if sam else None)


def inspect(card: UserCard, *, sam: bool = True, **kwargs: Any) -> Inspection:
    reader, session = session_for(card, sam)
    try:
        return inspect_card(session, today=kwargs.pop("today", TODAY), **kwargs)
    finally:
        reader.disconnect()
