"""The ``pcsc_stack`` fixture's machinery: a real pcscd + vpcd + simulator for end-to-end tests.

Process management lives in :mod:`tests.stack` (the vpcd benchmark imports it from there); this
module issues the test cards and wraps start/stop for pytest. Tests that cross PC/SC are never
skipped: a missing pcscd or vpcd FAILS the test with a message that says ``make install``.

The fixture (see ``tests/conftest.py``) gives a :class:`tests.stack.PcscStack`:

- ``stack.readers`` -- PC/SC reader names in slot order; ``stack.card_reader`` (slot 0, a complete
  3rd-generation user card, ``sscard sim issue`` defaults) and ``stack.psam_reader`` (slot 1, an SM4
  PSAM over the TEST keys, matching the 3.00 card);
- ``stack.card_path`` / ``stack.psam_path`` -- their JSON files (the server saves card state there);
- ``stack.card_atr`` / ``stack.psam_atr``;
- ``stack.eject(slot=0)`` / ``stack.insert(slot=0, card_path=None)`` -- pull / push a card, each
  waits until PC/SC reports it on that slot's reader (other slots may be empty); ``insert`` with a
  ``card_path`` swaps even over a present card (eject, wait empty, insert, wait present), so a fresh
  connection works as soon as it returns; ``stack.restore()`` puts every card back;
- ``stack.server.log_path`` -- the server's log, for a failing test's message;
- ``stack.pinpad`` -- the PIN-pad reader (issue 13; a private pcscd only, else None): its PC/SC
  name ``stack.pinpad.reader``, ``stack.pinpad.keypad("123456")`` and
  ``stack.pinpad.received()`` (what its card received).  Its card starts with PIN 123456 and 6
  tries; a test that changes the PIN or spends a try puts them back.

A test that ejects a card must put it back (``stack.restore()`` in a ``finally``): the stack is
shared by the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.stack import (
    PcscStack,
    StackError,
    issue_psam,
    issue_user_card,
    stack_lock,
    start_stack,
    stop_stack,
)

__all__ = ["PcscStack", "StackError", "issue_user_card", "issue_psam", "running_stack"]


@contextmanager
def running_stack(
    workdir: Path, card_path: Path | None = None, psam_path: Path | None = None
) -> Iterator[PcscStack]:
    """Issue cards (unless given), hold the machine-wide stack lock, start, yield, stop."""
    workdir.mkdir(parents=True, exist_ok=True)
    card = card_path or issue_user_card(workdir / "card.json")
    # The default card is 3.00 (SM4), so the PSAM in slot 1 is an SM4 PSAM (card-profile §11).
    psam = psam_path or issue_psam(workdir / "psam.json", sm4=True)
    pinpad_card = issue_user_card(workdir / "pinpad-card.json")
    with stack_lock():
        stack = start_stack(workdir, card, psam, pinpad_card=pinpad_card)
        try:
            yield stack
        finally:
            stop_stack(stack)
