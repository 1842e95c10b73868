"""Which check results stop a sale or an activation: one policy object, not a hard-coded rule.

Issue 9 §3.  The checks (:mod:`terminal.checks`) say what is true of a card; a counter decides
what it accepts.  :class:`SalePolicy` is that decision, with these documented defaults:

- a check that **fails** stops the sale (the card is fake, blocked, unusable or inconsistent);
- a check that **warns** does not (real cards break those rules: historical area codes, card
  numbers outside V2 appendix A, an expired card still in service ...); the warnings travel with
  the result so the counter can show them;
- ``require_genuine=True``: a sale needs the card **proved genuine** by internal authentication
  (§7.5).  A counter without any security module must say so explicitly
  (``SalePolicy(require_genuine=False)``, ``--no-genuine-required`` on the command line); the
  result then shows "genuineness not checked (policy)" instead of pretending;
- ``refuse_initial_pin=True``: a holder who enters the initial PIN 123456 for a sale is refused
  *before* any VERIFY is sent (national code −35 初始密码不能交易; no try is lost), and offered the
  change (:func:`terminal.workflows.pharmacy.pharmacy` with ``change_initial_pin=True``);
- ``overrides``: per check, ``"stop"`` makes its warning a refusal (e.g. ``{"not_expired":
  "stop"}`` refuses expired cards, ``--refuse-expired``), ``"warn"`` lets its failure through as
  a warning.  The checks that prove the card is the issuer's and usable (:data:`NEVER_RELAXED`)
  cannot be relaxed: a policy that tries is refused when it is built.

The policy is frozen (hashable, safe to share between threads) and sends nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from apdu.errors import UsageError
from terminal.checks import CHECKS, CheckReport

Override = Literal["stop", "warn"]

#: checks whose failure no policy may turn into a warning: a copied card, a blocked card or
#: application, a blocked PIN.
NEVER_RELAXED = frozenset({"genuine", "card_not_blocked", "application_not_blocked", "pin_state"})

#: national reader-interface code for "the initial PIN cannot transact" (national-interface §4).
INITIAL_PIN_CODE = -35
INITIAL_PIN_TEXT = "初始密码不能交易"

NOT_CHECKED_BY_POLICY = "genuineness not checked (policy: no security module required)"


@dataclass(frozen=True)
class SaleDecision:
    """What a policy makes of a check report: the stops (check, reason), warnings and notes."""

    stops: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.stops


@dataclass(frozen=True)
class SalePolicy:
    """The counter's rules for a sale or an activation (see the module docstring)."""

    require_genuine: bool = True
    refuse_initial_pin: bool = True
    overrides: Mapping[str, Override] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frozen = MappingProxyType(dict(self.overrides))
        for name, what in frozen.items():
            if name not in CHECKS:
                raise UsageError(f"sale policy: no check named {name!r}")
            if what not in ("stop", "warn"):
                raise UsageError(f"sale policy: {name}: {what!r} is not 'stop' or 'warn'")
            if what == "warn" and name in NEVER_RELAXED:
                raise UsageError(f"sale policy: a failed {name} check can never be let through")
        object.__setattr__(self, "overrides", frozen)

    def __hash__(self) -> int:
        return hash((self.require_genuine, self.refuse_initial_pin, tuple(sorted(self.overrides))))

    def stopping_on(self, *checks: str) -> SalePolicy:
        """This policy, plus: a warning of each of ``checks`` refuses (e.g. ``"not_expired"``)."""
        return replace(self, overrides={**self.overrides, **dict.fromkeys(checks, "stop")})

    def decide(self, report: CheckReport) -> SaleDecision:
        """Stops, warnings and notes for ``report`` (pure: the checks are already done)."""
        stops: list[tuple[str, str]] = []
        warnings: list[str] = []
        notes: list[str] = []
        for check in report.checks:
            override = self.overrides.get(check.name)
            line = f"{check.name}: {check.detail}"
            if check.status == "fail":
                if override == "warn":
                    warnings.append(f"{line} (let through by the sale policy)")
                else:
                    stops.append((check.name, check.detail))
            elif check.status == "warn":
                if override == "stop":
                    stops.append((check.name, f"{check.detail} (refused by the sale policy)"))
                else:
                    warnings.append(line)
            elif check.status == "skip" and check.name == "genuine":
                if self.require_genuine and report.failed:
                    continue  # refused anyway, for what failed (a blocked card is not judged)
                if self.require_genuine:
                    stops.append((
                        "genuine",
                        f"not proved: {check.detail}; a counter without a security module must "
                        "say so in its policy (require_genuine=False, --no-genuine-required)",
                    ))
                else:
                    notes.append(NOT_CHECKED_BY_POLICY)
        return SaleDecision(tuple(stops), tuple(warnings), tuple(notes))
