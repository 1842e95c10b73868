"""The PIN state of the SSSE application from the empty VERIFY (card-profile §6).

``00 20 00 00`` with no data is a status query on the social security card: ``9000`` when no PIN is
enabled, otherwise ``63Cx`` *without* using a try, ``6983`` when the PIN is blocked.  It is the only
way the chip tells a terminal whether PIN entry is needed and how many tries remain, so the checks,
the activation status and the PIN workflows (terminal/pin.py) all start here.

Safety (lessons-from-peers, OpenSC CVE-2023-40660): this module sends the status query through
its own builder :func:`apdu.commands.verify_status`; it never sends PIN data and never retries.
It must be called in the PIN's domain (after ``CardSession.enter_pin_domain()``): the PIN has
P2 = 00 in the SSSE, and another selected application would answer for its own PIN or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from apdu import status
from apdu.commands import INS_VERIFY, verify_status
from drivers.channel import CardChannel

PinState = Literal["not_enabled", "enabled", "blocked"]


@dataclass(frozen=True, slots=True)
class PinStatus:
    """What the chip says about its PIN.

    ``tries_left`` is the ``x`` of ``63Cx`` (0 when blocked); None when no PIN is enabled, because
    the card then reports no counter.  The try limit is issuer-defined (6, 3, 8 seen): never assume
    a maximum, read it from the card (§6).
    """

    state: PinState
    tries_left: int | None

    @property
    def blocked(self) -> bool:
        return self.state == "blocked"

    @property
    def needs_pin(self) -> bool:
        """True when a VERIFY is needed before PIN-protected data (DF01..DF04) can be read."""
        return self.state == "enabled"

    def to_json(self) -> dict[str, object]:
        return {"pin": self.state, "tries_left": self.tries_left}


def pin_status_from_sw(sw: int) -> PinStatus:
    """Interpret the status word of an empty VERIFY (a table of §6; pure, for tests and replay).

    Anything but 9000 / 63Cx / 6983 raises its typed :class:`apdu.status.StatusError`, e.g.
    ``ApplicationBlocked`` for 9303 or ``NotSupported`` for 6A81 (card blocked, §5).
    """
    if sw == status.SUCCESS:
        return PinStatus("not_enabled", None)
    tries = status.tries_left(sw)
    if tries is not None:
        return PinStatus("enabled" if tries else "blocked", tries)
    if sw == status.AUTH_METHOD_BLOCKED:
        return PinStatus("blocked", 0)
    raise status.error_for(sw, INS_VERIFY)


def pin_status(channel: CardChannel) -> PinStatus:
    """Send the empty VERIFY once (no try is used, §6) and return the PIN state.

    Call it with the SSSE selected.  Costs exactly one command APDU.
    """
    return pin_status_from_sw(channel.transmit(verify_status()).sw)
