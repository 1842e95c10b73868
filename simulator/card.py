"""What every software card offers a reader: power, ATR and one APDU exchange.

Both the user card (:mod:`simulator.usercard`) and the PSAM (:mod:`simulator.psam`) implement
:class:`VirtualCard` on one card OS (:mod:`simulator.cardos`); the in-process driver and the
vpcd server drive them through it alone.  ``transmit`` takes raw command bytes and always returns
raw response bytes ending in a status word: a card never raises, whatever it is sent (ISO 7816-4
has a status for everything).
"""

from __future__ import annotations

import logging
import os
from typing import Protocol, runtime_checkable

from apdu.errors import FileError

_log = logging.getLogger("sscard.simulator")


@runtime_checkable
class VirtualCard(Protocol):
    @property
    def atr(self) -> bytes:
        """The answer to reset (card-profile §10)."""
        ...

    @property
    def t0(self) -> bool:
        """True when the card behaves as a T=0 card (FCI through 61xx + GET RESPONSE)."""
        ...

    def power_on(self) -> bytes:
        """Cold reset: clear the volatile security state, return the ATR."""
        ...

    def reset(self) -> bytes:
        """Warm reset: same effect on the security state as power-on."""
        ...

    def power_off(self) -> None:
        """Remove power: verified PIN and authenticated keys are forgotten (§2)."""
        ...

    def transmit(self, command: bytes) -> bytes:
        """Process one command APDU; return response data followed by SW1 SW2."""
        ...


def log_fault(what: str, command: bytes, exc: BaseException) -> None:
    """ONE log line for a simulator fault: what, the INS and the exception's class (a
    write error's own message, which names the file); never the APDU's data, which may hold a
    PIN.  ``SSCARD_DEBUG=1`` adds the traceback."""
    ins = command[1] if len(command) > 1 else 0
    detail = str(exc) if isinstance(exc, FileError) else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        detail = f"{type(exc).__name__}: {exc.strerror}"
    debug = bool(os.environ.get("SSCARD_DEBUG"))
    _log.error("%s (INS %02X): %s", what, ins, detail, exc_info=debug)


def close_card(card: object) -> None:
    """Release a card's file if the card holds one (a user card opened from a file); other
    cards have nothing to release."""
    close = getattr(card, "close", None)
    if callable(close):
        close()
