"""What every software card offers a reader: power, ATR and one APDU exchange.

Both the user card (:mod:`simulator.usercard`) and the PSAM (:mod:`simulator.psam`) implement
:class:`VirtualCard`; the in-process driver and the vpcd server drive them through it alone.
``transmit`` takes raw command bytes and always returns raw response bytes ending in a status
word: a card never raises, whatever it is sent (ISO 7816-4 has a status for everything).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
