"""One call that tells a terminal everything about the card in the reader (issue 3 §4, §5).

:func:`inspect_card` is the API of the CLI (``read``, ``check``, ``status``) and of POS software.
It does the card-profile §12 read once, then asks only what the read did not tell, in this order
and with these costs (command APDUs, counted by the channel):

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
authentication (§2): after :func:`inspect_card` with ``bank=True`` a caller that continues with
social security data selects the SSSE again.

A blocked card (``6A81`` to everything, §5) and a blocked application (``9303``) are *results*
(``card_blocked`` / ``application_blocked``), not exceptions: they are exactly what a terminal
needs to tell the holder.  A card with no SSSE at all still raises
:class:`apdu.errors.CardNotSupportedError`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from apdu import commands
from apdu import status as sw
from apdu.errors import CardNotSupportedError
from apdu.names import MF_FID
from apdu.status import ApplicationBlocked, StatusError
from terminal.activation import ActivationStatus, decide
from terminal.bank import select_bank
from terminal.checks import CheckReport, evaluate
from terminal.genuine import prove_genuine
from terminal.models import CardRead
from terminal.pinstatus import PinStatus, pin_status
from terminal.reading import read_card
from terminal.session import CardSession


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


def _card_is_blocked(session: CardSession) -> bool:
    """After SELECT SSSE failed: does the card answer ``6A81`` to a harmless SELECT MF too?

    A blocked card answers 6A81 to everything (§5); a foreign card answers SELECT MF with 9000 or
    6A82.  SELECT MF is chosen as the probe because it changes nothing a card remembers.
    """
    answer = session.channel.transmit(commands.select_df(MF_FID)).sw
    return answer == sw.FUNCTION_NOT_SUPPORTED


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
            result.pin = pin_status(channel)
        except StatusError as exc:
            result.notes.append(f"PIN state not available: {exc}")
        judged = prove_genuine(session)
        result.genuine, result.genuine_detail = judged.proved, judged.detail
        if judged.proved is not True and judged.detail not in result.notes:
            result.notes.append(judged.detail)

    if want_bank and not result.card_blocked:
        try:
            result.bank_application = select_bank(channel)
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

