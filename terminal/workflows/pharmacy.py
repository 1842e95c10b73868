"""The designated-pharmacy purchase workflow (issue 5 §3; card-profile §2, §4, §6, §12).

What a pharmacy POS needs before a sale paid from the medical insurance account: who the holder
is, that the card is sound and the holder's own, and where the holder is insured (the medical
area code, DF04 EF05 tag 84, readable only after the PIN: "PIN or RK1DF04", §2).

Steps and command APDUs (software SAM; a PSAM adds APDUs on its own reader only):

======================================  ====  ====
step                                    2.x   3.00
======================================  ====  ====
read (§12: SELECT SSSE, EF05, [auth], EF06)   15    17
PIN status (empty VERIFY, no try, §6)   1     1
genuine card (INTERNAL AUTHENTICATE)    1     1     (only with a security module)
VERIFY (only when the PIN is enabled)   1     1
SELECT DF04 by AID                      1     1
READ RECORD tag 84 via SFI 5, exact Le  1     1
total                                   20    22
======================================  ====  ====

The protocol minimum for "identity + area code after the PIN" is the same list without the
status query and the internal authentication (18 / 20): the status query is kept because a
blocked PIN must be reported, not tried, and a not-enabled PIN must not be asked for (§6); the
internal authentication because a copied card must not pay (§7.5).

A failed check stops the sale with its reason (:class:`terminal.workflows.CheckFailed`); a wrong
PIN raises :class:`apdu.status.WrongPin` with the tries left and is never retried; a blocked PIN
fails the ``pin_state`` check before any PIN is asked.  The caller owns the card session and
releases it whatever happens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from apdu import codec, commands, status
from apdu.elements import DF04_EF05
from apdu.errors import DataFormatError, ResponseFormatError, TlvError
from apdu.names import DF_AIDS, SFI_EF05
from apdu.tlv import simple_record
from terminal import pin as pinops
from terminal.checks import run_checks
from terminal.models import CardRead, HolderData
from terminal.pinsource import PinSource
from terminal.pinstatus import PinStatus, pin_status
from terminal.reading import read_card
from terminal.session import CardSession
from terminal.workflows import CheckFailed, WorkflowRefused

#: DF04 EF05 tag 84: the medical insurance area code (§4 [one source: V2 table 9]).
AREA_CODE = DF04_EF05[0]


@dataclass(frozen=True)
class PharmacyResult:
    """What the POS gets for the sale: the holder's identity and medical area code."""

    name: str | None
    ssn: str | None
    sex: str | None
    birth_date: dt.date | None
    card_number: str | None
    medical_area_code: str
    pin: str  # "verified" or "not_enabled" (no PIN on this card: nothing was asked)
    genuine: bool | None
    warnings: list[str] = field(default_factory=list)
    apdus: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ssn": self.ssn,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "card_number": self.card_number,
            "medical_area_code": self.medical_area_code,
            "pin": self.pin,
            "genuine": self.genuine,
            "warnings": list(self.warnings),
            "apdus": self.apdus,
        }


def check_card(
    session: CardSession, card: CardRead, *, today: dt.date | None, pin: PinStatus
) -> tuple[bool | None, list[str]]:
    """Prove the card genuine (INTERNAL AUTHENTICATE, §7.5, when a security module is present:
    1 APDU) and run the card checks (they send nothing); raise :class:`CheckFailed` on any
    failure, else return (genuine, the warnings)."""
    genuine = session.internal_auth() if session.sam is not None else None
    report = run_checks(session, card, today=today, genuine=genuine, pin=pin)
    failures = [(c.name, c.detail) for c in report.checks if c.status == "fail"]
    if failures:
        raise CheckFailed(failures)
    return genuine, [f"{c.name}: {c.detail}" for c in report.checks if c.status == "warn"]


@dataclass(frozen=True)
class CheckedCard:
    """What both workflows start from: the card read, its PIN state, genuineness, warnings."""

    card: CardRead
    holder: HolderData
    pin: PinStatus
    genuine: bool | None
    warnings: list[str]


def read_checked(session: CardSession, *, today: dt.date | None) -> CheckedCard:
    """Read (§12), require the holder's data, ask the PIN state (no try used) and run the checks.

    The first steps of every workflow, in the fewest APDUs: the read, one empty VERIFY and, with
    a security module, one INTERNAL AUTHENTICATE.  Raises :class:`WorkflowRefused` when EF06
    could not be read and :class:`CheckFailed` when a check fails.
    """
    card = read_card(session)
    if card.holder is None:
        raise WorkflowRefused(
            "the holder's data (EF06) could not be read: "
            + ("; ".join(card.notes) or "no security module")
        )
    st = pin_status(session.channel)
    genuine, warnings = check_card(session, card, today=today, pin=st)
    return CheckedCard(card, card.holder, st, genuine, warnings)


def read_area_code(session: CardSession) -> str:
    """SELECT DF04 by AID, then READ RECORD tag 84 through SFI 5 with the exact Le (2 APDUs)."""
    channel = session.channel
    resp = channel.transmit(commands.select_by_name(DF_AIDS["DF04"]))
    status.check(resp.sw, commands.INS_SELECT)
    data = channel.send(
        commands.read_record(AREA_CODE.tag, by_tag=True, sfi=SFI_EF05, le=AREA_CODE.le)
    )
    try:
        code = codec.cn_decode(simple_record(data, AREA_CODE.tag))
    except (TlvError, DataFormatError) as exc:
        raise ResponseFormatError(f"DF04 EF05 record 84 does not decode: {exc}") from None
    if len(code) != 6:
        raise ResponseFormatError("DF04 EF05 record 84 is not a 6-digit area code")
    return code


def pharmacy(
    session: CardSession, pin_source: PinSource, *, today: dt.date | None = None
) -> PharmacyResult:
    """Run the pharmacy workflow on an open session (see the module docstring for the steps)."""
    channel = session.channel
    start = channel.apdu_count
    checked = read_checked(session, today=today)
    card, st, genuine, warnings = checked.card, checked.pin, checked.genuine, checked.warnings
    result = pinops.verify(session, pin_source, known_status=st)
    area = read_area_code(session)
    h = checked.holder
    return PharmacyResult(
        name=h.name,
        ssn=h.ssn,
        sex=h.sex,
        birth_date=h.birth_date,
        card_number=card.issuer.card_number,
        medical_area_code=area,
        pin=result.outcome,
        genuine=genuine,
        warnings=warnings,
        apdus=channel.apdu_count - start,
    )
