"""Is the card activated?  The answer from the chip (issue 3 §5; card-profile §5, §6, §9).

The rule, and why:

- The chip cannot tell an *enabled initial* PIN from a *changed* one without a VERIFY that would
  burn a try when wrong (§6); a terminal must never spend a try to find out.  So "activated" here
  means what the chip can say for free, through the empty VERIFY: a PIN is **enabled** (some
  regions leave the initial PIN "not enabled" until the holder activates the card at a counter,
  §6 [one source]), the PIN is not blocked, neither the application (``9303``) nor the card
  (``6A81`` on everything) is blocked, and the card is not expired.
- Verdict: ``blocked`` when the card, the application or the PIN is blocked (only a service
  counter can help); ``not_activated`` when no PIN is enabled or the card expired (or its dates
  are unknown); ``activated`` otherwise.  ``reasons`` says which facts decided, one line each.
- The bank application (§9) is reported but does not decide: bank activation happens at the
  bank, on the bank PIN, which is not on the chip.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from terminal.models import CardRead
from terminal.pinstatus import PinState, PinStatus
from terminal.session import CardSession

Verdict = Literal["activated", "not_activated", "blocked"]


@dataclass(frozen=True)
class ActivationStatus:
    activated: bool
    verdict: Verdict
    pin: PinState | None
    tries_left: int | None
    application_blocked: bool
    card_blocked: bool
    expired: bool
    bank_application: bool | None
    reasons: list[str] = field(default_factory=list)
    expiry_date: dt.date | None = None

    def to_json(self) -> dict[str, object]:
        """The stable ``status --json`` schema (keys are only ever added)."""
        return {
            "activated": self.activated,
            "verdict": self.verdict,
            "pin": self.pin,
            "tries_left": self.tries_left,
            "application_blocked": self.application_blocked,
            "card_blocked": self.card_blocked,
            "expired": self.expired,
            "expiry_date": self.expiry_date.isoformat() if self.expiry_date else None,
            "bank_application": self.bank_application,
            "reasons": list(self.reasons),
        }


def decide(
    card: CardRead | None,
    pin: PinStatus | None,
    *,
    application_blocked: bool = False,
    card_blocked: bool = False,
    bank_application: bool | None = None,
    today: dt.date | None = None,
) -> ActivationStatus:
    """The verdict from facts already gathered (no card I/O); see the module docstring."""
    today = today or dt.date.today()
    expiry = card.issuer.expiry_date if card is not None else None
    expired = expiry is not None and expiry < today
    blocking: list[str] = []
    pending: list[str] = []
    if card_blocked:
        blocking.append("the card is blocked (6A81 to every command)")
    if application_blocked:
        blocking.append("the social security application is blocked (9303)")
    if pin is not None and pin.state == "blocked":
        blocking.append("the PIN is blocked: unblock or reset it at a service counter")
    if pin is None and not blocking:
        pending.append("the PIN state could not be queried")
    elif pin is not None and pin.state == "not_enabled":
        pending.append("no PIN enabled: the card is in its initial state")
    if expired:
        pending.append(f"the card expired on {expiry}")
    elif expiry is None and not blocking:
        pending.append("the expiry date is unknown")

    verdict: Verdict = "blocked" if blocking else "not_activated" if pending else "activated"
    reasons = blocking + pending
    if verdict == "activated" and pin is not None:
        reasons.append(f"PIN enabled, {pin.tries_left} tries left")
        reasons.append(f"valid until {expiry}")
    if bank_application is not None:
        reasons.append("bank application present" if bank_application else "no bank application")
    return ActivationStatus(
        activated=verdict == "activated",
        verdict=verdict,
        pin=pin.state if pin is not None else None,
        tries_left=pin.tries_left if pin is not None else None,
        application_blocked=application_blocked,
        card_blocked=card_blocked,
        expired=expired,
        bank_application=bank_application,
        reasons=reasons,
        expiry_date=expiry,
    )


def activation_status(
    session: CardSession,
    card: CardRead | None,
    pin: PinStatus | None,
    *,
    application_blocked: bool = False,
    card_blocked: bool = False,
    bank_application: bool | None = None,
    today: dt.date | None = None,
) -> ActivationStatus:
    """The activation status of the card in ``session`` from what was read and queried.

    Sends nothing: :func:`terminal.inspect.inspect_card` gathers ``card``, ``pin`` and the bank
    presence in the fewest APDUs and calls this.
    """
    del session  # the facts are passed in; kept for a uniform API with run_checks
    return decide(
        card,
        pin,
        application_blocked=application_blocked,
        card_blocked=card_blocked,
        bank_application=bank_application,
        today=today,
    )
