"""One call that tells a terminal everything about the card in the reader (issue 3 §4, §5).

:func:`inspect_card` is the API of the CLI (``read``, ``check``, ``status``) and of POS software,
and :func:`read_and_check` is THE read-and-check of every front door (issue 11): ``sscard check``,
``Card.check()``, and through :func:`read_checked` the pharmacy and the activation kiosk, which
then apply their sale policy to the very same report — so a card fails the same check with the
same exit code everywhere.  It does the card-profile §12 read once, then asks only what the read
did not tell, in this order and with these costs (command APDUs, counted by the channel):

==========================  ======  ==================================================
step                        APDUs   why
==========================  ======  ==================================================
read (§12)                  3/5     SELECT SSSE + EF05 + EF06 in one READ RECORD each
                                    (+2 external auth on 3.00); 15/17 by tag (reading.py)
PIN state (§6)              1       the empty VERIFY: no try is used
genuine (§7.5)              1       INTERNAL AUTHENTICATE, only with a SAM (+1 on T=0)
bank application (§9)       1       SELECT the bank ADF, only for the status
==========================  ======  ==================================================

The bank step comes last because selecting the bank ADF deselects the SSSE and ends the external
authentication (§2); the session knows it, so whatever follows selects the SSSE again by itself.

A blocked card (``6A81`` to everything, §5) and a blocked application (``9303``) are *results*
(``card_blocked`` / ``application_blocked``), not exceptions: they are exactly what a terminal
needs to tell the holder.  A card with no SSSE at all still raises
:class:`apdu.errors.CardNotSupportedError`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from apdu import status as sw
from apdu.errors import CardNotSupportedError
from apdu.status import ApplicationBlocked, StatusError
from terminal.activation import ActivationStatus, decide
from terminal.bank import select_bank
from terminal.checks import CheckReport, Verdict, evaluate
from terminal.genuine import prove_genuine
from terminal.models import CardRead, HolderData
from terminal.pinstatus import PinStatus, pin_status
from terminal.policy import SalePolicy
from terminal.reading import read_card
from terminal.session import CardSession
from terminal.workflows import CheckFailed, WorkflowRefused


@dataclass
class Inspection:
    """What :func:`inspect_card` found; ``card`` is None when the card or application is blocked."""

    card: CardRead | None
    pin: PinStatus | None = None
    genuine: bool | None = None
    #: why genuineness is what it is (one line; the reason of a failure or of "unverified").
    genuine_detail: str = ""
    bank_application: bool | None = None
    application_blocked: bool = False
    card_blocked: bool = False
    apdus: int = 0
    checks: CheckReport | None = None
    status: ActivationStatus | None = None
    notes: list[str] = field(default_factory=list)
    #: why the PIN state could not be queried (None when it was, or was not asked).
    pin_error: StatusError | None = None

    @property
    def verdict(self) -> Verdict:
        """The checks' verdict: ``ok``, ``failed`` or ``unverified`` (fail closed)."""
        if self.checks is None:
            raise ValueError("this inspection ran no checks")
        return self.checks.verdict

    @property
    def ok(self) -> bool:
        """True only for the verdict ``ok``: nothing failed, genuineness and holder proved."""
        return self.verdict == "ok"

    def check_json(self) -> dict[str, object]:
        """The stable ``check --json`` schema: the report (``ok``, ``verdict``, ``unproved``,
        ``checks``), ``genuine``, ``card`` (null for a blocked card) and ``apdus``."""
        if self.checks is None:
            raise ValueError("this inspection ran no checks")
        out: dict[str, object] = dict(self.checks.to_json())
        out["genuine"] = self.genuine
        out["card"] = self.card.to_json() if self.card is not None else None
        out["apdus"] = self.apdus
        return out


def _card_is_blocked(session: CardSession) -> bool:
    """After SELECT SSSE failed: does the card answer ``6A81`` to a harmless SELECT MF too?

    A blocked card answers 6A81 to everything (§5); a foreign card answers SELECT MF with 9000 or
    6A82.  SELECT MF is chosen as the probe because it changes nothing a card remembers.
    """
    return session.select("MF").sw == sw.FUNCTION_NOT_SUPPORTED


def inspect_card(
    session: CardSession,
    *,
    checks: bool = True,
    status: bool = True,
    today: dt.date | None = None,
    bank: bool | None = None,
) -> Inspection:
    """Read the card once and gather the PIN state, genuineness and (for ``status``) the bank.

    ``bank`` None means "when ``status`` is asked".  Raises only for what is not a result: a card
    that is not a social security card, and transport errors.
    """
    channel = session.channel
    start = channel.apdu_count
    result = Inspection(card=None)
    want_bank = status if bank is None else bank
    try:
        result.card = read_card(session)
    except ApplicationBlocked:
        result.application_blocked = True
        result.notes.append("the social security application is blocked (9303)")
    except CardNotSupportedError:
        if not _card_is_blocked(session):
            raise
        result.card_blocked = True
        result.notes.append("the card is blocked (6A81)")

    if result.card is not None:
        if result.card.notes:
            result.notes.extend(result.card.notes)
        try:
            session.enter_pin_domain()  # the read left the SSSE selected: nothing is sent
            result.pin = pin_status(channel)
        except StatusError as exc:
            result.pin_error = exc
            result.notes.append(f"PIN state not available: {exc}")
        judged = prove_genuine(session)
        result.genuine, result.genuine_detail = judged.proved, judged.detail
        if judged.proved is not True and judged.detail not in result.notes:
            result.notes.append(judged.detail)

    if want_bank and not result.card_blocked:
        try:
            result.bank_application = select_bank(session)
        except StatusError as exc:
            result.notes.append(f"bank application: {exc}")

    if checks:
        result.checks = evaluate(
            result.card,
            today=today,
            genuine=result.genuine,
            pin=result.pin,
            application_blocked=result.application_blocked,
            card_blocked=result.card_blocked,
            sam_present=session.sam is not None,
            genuine_detail=result.genuine_detail or None,
        )
    if status:
        result.status = decide(
            result.card,
            result.pin,
            application_blocked=result.application_blocked,
            card_blocked=result.card_blocked,
            bank_application=result.bank_application,
            today=today,
            genuine=result.genuine,
            genuine_detail=result.genuine_detail,
        )
    result.apdus = channel.apdu_count - start
    return result



def read_and_check(session: CardSession, *, today: dt.date | None = None) -> Inspection:
    """THE read-and-check: the §12 read, the PIN state (no try used), genuineness and every
    check, in the fewest APDUs (see the module docstring).  Blocked cards are results, as in
    :func:`inspect_card`; nothing is decided here (the verdict is the report's)."""
    return inspect_card(session, checks=True, status=False, today=today, bank=False)


@dataclass(frozen=True)
class CheckedCard:
    """What both workflows start from: the card read, its PIN state, genuineness, warnings."""

    card: CardRead
    holder: HolderData
    pin: PinStatus
    genuine: bool | None
    warnings: list[str]
    notes: list[str] = field(default_factory=list)
    genuine_detail: str = ""
    report: CheckReport | None = None


def read_checked(
    session: CardSession, *, today: dt.date | None = None, policy: SalePolicy | None = None
) -> CheckedCard:
    """:func:`read_and_check`, then the counter's sale policy on its report (no more APDUs).

    Raises :class:`terminal.workflows.CheckFailed` with every reason that stops the sale (the
    same failed checks ``sscard check`` shows for the card, blocked cards included), the typed
    error of a PIN state that could not be queried (a sale needs it), and
    :class:`terminal.workflows.WorkflowRefused` when the holder's data (EF06) was not read
    although the policy let the card through (a counter with ``require_genuine=False`` and no
    security module, on a 3.00 card).
    """
    found = read_and_check(session, today=today)
    assert found.checks is not None
    decision = (policy or SalePolicy()).decide(found.checks)
    if decision.stops:
        raise CheckFailed(list(decision.stops))
    if found.pin_error is not None:
        raise found.pin_error
    card = found.card
    if card is None or card.holder is None or found.pin is None:
        notes = card.notes if card is not None else found.notes
        raise WorkflowRefused(
            "the holder's data (EF06) could not be read: "
            + ("; ".join(notes) or "no security module")
        )
    return CheckedCard(
        card, card.holder, found.pin, found.genuine, list(decision.warnings),
        list(decision.notes), found.genuine_detail, found.checks,
    )
