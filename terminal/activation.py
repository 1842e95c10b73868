"""Is the card activated?  The answer from the chip (issue 3 §5; card-profile §5, §6, §7.5, §9).

The rule, and why:

- The chip cannot tell an *enabled initial* PIN from a *changed* one without a VERIFY that would
  burn a try when wrong (§6); a terminal must never spend a try to find out on its own (``sscard
  status --probe-initial-pin`` does, once, when asked: :func:`terminal.pin.probe_initial_pin`).
  So "activated" here means what the chip can say for free, through the empty VERIFY: a PIN is
  **enabled** (some regions leave the initial PIN "not enabled" until the holder activates the
  card at a counter, §6 [one source]), the PIN is not blocked, neither the application (``9303``)
  nor the card (``6A81`` on everything) is blocked, the card is not expired, and — fail closed
  (issue 9) — the card was **proved genuine** by internal authentication (§7.5).
- Verdict, first match wins: ``blocked`` when the card, the application or the PIN is blocked
  (only a service counter can help); ``counterfeit`` when internal authentication failed or could
  not be performed although a security module was present; ``not_activated`` when no PIN is
  enabled or the card expired; ``unverified`` when genuineness could not be judged (no security
  module); ``activated`` otherwise.  ``reasons`` says which facts decided, one line each.
- A card without an expiry date (real 2.00 cards of 2015 have none, issue 9) is not thereby
  "not activated": the reasons say the date is not on the card.
- The bank application (§9) is reported but does not decide: bank activation happens at the
  bank, on the bank PIN, which is not on the chip.

``status --json`` schema (keys are only ever added): ``activated``, ``verdict`` (``activated`` /
``not_activated`` / ``blocked`` / ``unverified`` / ``counterfeit``), ``genuine`` (true / false /
null = not judged), ``pin``, ``tries_left``, ``application_blocked``, ``card_blocked``,
``expired``, ``expiry_date``, ``bank_application``, ``initial_pin`` (``unknown`` /
``still_set`` / ``changed``), ``reasons``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import terminal.clock as clock
from terminal.models import CardRead
from terminal.pinstatus import PinState, PinStatus
from terminal.session import CardSession

Verdict = Literal["activated", "not_activated", "blocked", "unverified", "counterfeit"]
#: what is known about the initial PIN 123456 (§6): only a VERIFY can tell, so "unknown" unless
#: the holder asked for the probe (:func:`terminal.pin.probe_initial_pin`).
InitialPin = Literal["unknown", "still_set", "changed"]


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
    genuine: bool | None = None
    initial_pin: InitialPin = "unknown"

    def to_json(self) -> dict[str, object]:
        """The stable ``status --json`` schema (keys are only ever added)."""
        return {
            "activated": self.activated,
            "verdict": self.verdict,
            "genuine": self.genuine,
            "pin": self.pin,
            "tries_left": self.tries_left,
            "application_blocked": self.application_blocked,
            "card_blocked": self.card_blocked,
            "expired": self.expired,
            "expiry_date": self.expiry_date.isoformat() if self.expiry_date else None,
            "bank_application": self.bank_application,
            "initial_pin": self.initial_pin,
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
    genuine: bool | None = None,
    genuine_detail: str = "",
    initial_pin: InitialPin = "unknown",
) -> ActivationStatus:
    """The verdict from facts already gathered (no card I/O); see the module docstring."""
    today = today or clock.today()
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
    unknown_genuine = genuine is None and not blocking
    verdict: Verdict
    if blocking:
        verdict = "blocked"
    elif genuine is False:
        verdict = "counterfeit"
    elif pending:
        verdict = "not_activated"
    elif unknown_genuine:
        verdict = "unverified"
    else:
        verdict = "activated"
    reasons = blocking[:]
    if genuine is False and not blocking:
        reasons.append(f"not genuine: {genuine_detail or 'internal authentication failed'}")
    reasons += pending
    if unknown_genuine:
        reasons.append(f"genuineness unverified: {genuine_detail or 'not checked'}")
    if card is not None and expiry is None and not blocking:
        reasons.append("the expiry date is not on the card")
    if verdict == "activated" and pin is not None:
        reasons.append(f"PIN enabled, {pin.tries_left} tries left")
        if expiry is not None:
            reasons.append(f"valid until {expiry}")
        reasons.append("genuine: internal authentication proved the card's keys")
    if initial_pin == "still_set":
        reasons.append("the initial PIN 123456 is still set: the holder must change it before a "
                       "sale (national code -35 初始密码不能交易)")
    elif initial_pin == "changed":
        reasons.append("the initial PIN has been changed")
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
        genuine=genuine,
        initial_pin=initial_pin,
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
    genuine: bool | None = None,
    genuine_detail: str = "",
) -> ActivationStatus:
    """The activation status of the card in ``session`` from what was read and queried.

    Sends nothing: :func:`terminal.inspect.inspect_card` gathers ``card``, ``pin``, genuineness
    and the bank presence in the fewest APDUs and calls this.
    """
    del session  # the facts are passed in; kept for a uniform API with run_checks
    return decide(
        card,
        pin,
        application_blocked=application_blocked,
        card_blocked=card_blocked,
        bank_application=bank_application,
        today=today,
        genuine=genuine,
        genuine_detail=genuine_detail,
    )
