"""The designated-pharmacy purchase workflow (issue 5 §3; card-profile §2, §4, §6, §12).

What a pharmacy POS needs before a sale paid from the medical insurance account: who the holder
is, that the card is sound and the holder's own, and where the holder is insured (the medical
area code, DF04 EF05 tag 84, readable only after the PIN: "PIN or RK1DF04", §2).

Steps and command APDUs (software SAM; a PSAM adds APDUs on its own reader only):

======================================  ====  ====
step                                    2.x   3.00
======================================  ====  ====
read (§12: SELECT SSSE, EF05, [auth], EF06)   3     5     (15 / 17 by tag: terminal.reading)
PIN status (empty VERIFY, no try, §6)   1     1
genuine card (INTERNAL AUTHENTICATE)    1     1     (only with a security module)
VERIFY (only when the PIN is enabled)   1     1
SELECT DF04 by AID                      1     1
READ RECORD tag 84 via SFI 5, exact Le  1     1
total                                   8     10
======================================  ====  ====

A T=0 card (every real card seen, and the simulator's default) adds one GET RESPONSE for each
answer to a command that carries data: the SSSE FCI, INTERNAL AUTHENTICATE, the DF04 FCI (+3).

The protocol minimum for "identity + area code after the PIN" is the same list without the
status query and the internal authentication (6 / 8): the status query is kept because a
blocked PIN must be reported, not tried, and a not-enabled PIN must not be asked for (§6); the
internal authentication because a copied card must not pay (§7.5).

What stops a sale is the counter's :class:`terminal.policy.SalePolicy` (default: a failed check
stops it, a warning does not, and the card must be proved genuine): a refusal raises
:class:`terminal.workflows.CheckFailed` with the reasons.  A wrong PIN raises
:class:`apdu.status.WrongPin` with the tries left and is never retried; a blocked PIN fails the
``pin_state`` check before any PIN is asked.  The initial PIN 123456 entered for a sale is
refused before any VERIFY (:class:`InitialPinRefused`, national code −35, no try lost) unless
the policy allows it; with ``change_initial_pin=True`` the holder changes it right there (new
PIN twice, the 123456 just entered as the old one: CHANGE PIN, then VERIFY with the new PIN, +1
APDU) and the sale continues.  With the PIN typed on the reader's PIN pad
(:class:`terminal.pinsource.PinPadPinSource`) the terminal never sees the digits: that rule
cannot run, and the result's ``notes`` say so (:data:`INITIAL_PIN_UNCHECKED`).  The caller owns
the card session and releases it whatever happens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import terminal.pin as pinops
from apdu import codec, commands
from apdu.elements import DF04_EF05
from apdu.errors import DataFormatError, ResponseFormatError, TlvError
from apdu.names import SFI_EF05
from apdu.tlv import simple_record
from terminal.inspect import CheckedCard, read_checked
from terminal.pinpolicy import INITIAL_PIN, PinPolicy, same_pin
from terminal.pinsource import PinPadPinSource, PinSource, wipe
from terminal.policy import INITIAL_PIN_CODE, INITIAL_PIN_TEXT, SalePolicy
from terminal.session import CardSession
from terminal.workflows import WorkflowRefused

#: DF04 EF05 tag 84: the medical insurance area code (§4 [one source: V2 table 9]).
AREA_CODE = DF04_EF05[0]

INITIAL_PIN_MESSAGE = (
    f"the PIN entered is the initial PIN, which cannot be used for a sale (national code "
    f"{INITIAL_PIN_CODE} {INITIAL_PIN_TEXT}); no PIN try was used. The holder must change it "
    "first (sscard pharmacy --change-initial-pin, or sscard pin change)"
)


#: the note of a sale whose PIN was typed on the PIN pad (the digits never reach the terminal).
INITIAL_PIN_UNCHECKED = (
    "PIN typed on the PIN pad: whether it is the initial PIN 123456 (national code -35) cannot "
    "be checked, the terminal never sees the digits"
)


class InitialPinRefused(WorkflowRefused):
    """The holder entered the initial PIN 123456 for a sale and the policy refuses it (−35).

    Raised before any VERIFY is sent: the holder loses no try.
    """

    national_code = INITIAL_PIN_CODE


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
    #: what the policy let pass without checking (e.g. "genuineness not checked (policy)").
    notes: list[str] = field(default_factory=list)
    #: True when the holder changed the initial PIN during this sale.
    initial_pin_changed: bool = False

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
            "notes": list(self.notes),
            "initial_pin_changed": self.initial_pin_changed,
        }


def read_area_code(session: CardSession) -> str:
    """The medical insurance area code (DF04 EF05 tag 84, §2, §4): DF04 entered (SELECT by AID
    unless it is selected already), then READ RECORD tag 84 through SFI 5 with the exact Le.

    2 APDUs from elsewhere, 1 in DF04.  The record needs the PIN (or RK1DF04): without it the
    card answers ``6982`` (:class:`apdu.status.SecurityStatusNotSatisfied`).
    """
    session.enter("DF04")
    session.named_by_sfi()
    data = session.channel.send(
        commands.read_record(AREA_CODE.tag, by_tag=True, sfi=SFI_EF05, le=AREA_CODE.le)
    )
    try:
        code = codec.cn_decode(simple_record(data, AREA_CODE.tag))
    except (TlvError, DataFormatError) as exc:
        raise ResponseFormatError(f"DF04 EF05 record 84 does not decode: {exc}") from None
    if len(code) != 6:
        raise ResponseFormatError("DF04 EF05 record 84 is not a 6-digit area code")
    return code


def _change_initial_pin(
    session: CardSession,
    initial: bytearray,
    pin_source: PinSource,
    pin_policy: PinPolicy,
    checked: CheckedCard,
) -> pinops.VerifyResult:
    """The holder changes the initial PIN just entered (new PIN twice), then VERIFY with it.

    The new PIN is vetted by ``pin_policy`` before anything is sent; the 123456 just entered is
    the old PIN of CHANGE PIN (a wrong one costs a try, like any wrong entry).
    """
    new = pin_source.get(pinops.PROMPT_NEW, confirm=True)
    try:
        pinops.change(
            session, bytearray(initial), bytearray(new), pin_policy,
            checked.holder.birth_date, known_status=checked.pin,
        )
        return pinops.verify(session, bytearray(new), known_status=checked.pin)
    finally:
        wipe(new)


def pharmacy(
    session: CardSession,
    pin_source: PinSource,
    *,
    today: dt.date | None = None,
    policy: SalePolicy | None = None,
    change_initial_pin: bool = False,
    pin_policy: PinPolicy | None = None,
) -> PharmacyResult:
    """Run the pharmacy workflow on an open session (see the module docstring for the steps).

    ``policy`` decides what stops the sale (default :class:`SalePolicy`); ``change_initial_pin``
    lets a holder who enters the initial PIN change it right there (``pin_policy`` vets the new
    one, default :class:`PinPolicy`).
    """
    policy = policy or SalePolicy()
    channel = session.channel
    start = channel.apdu_count
    checked = read_checked(session, today=today, policy=policy)
    card, st = checked.card, checked.pin
    changed = False
    notes = list(checked.notes)
    if st.state == "enabled" and isinstance(pin_source, PinPadPinSource):
        # Typed on the PIN pad: the terminal never sees the digits, so the initial-PIN rule
        # (-35) cannot be applied here; the result says so rather than implying it was.
        result = pinops.verify(session, pin_source, known_status=st)
        if policy.refuse_initial_pin:
            notes.append(INITIAL_PIN_UNCHECKED)
    elif st.state == "enabled":
        entry = pin_source.get(pinops.PROMPT_PIN)
        try:
            if policy.refuse_initial_pin and same_pin(entry, INITIAL_PIN):
                if not change_initial_pin:
                    raise InitialPinRefused(INITIAL_PIN_MESSAGE)
                result = _change_initial_pin(
                    session, entry, pin_source, pin_policy or PinPolicy(), checked
                )
                changed = True
            else:
                result = pinops.verify(session, bytearray(entry), known_status=st)
        finally:
            wipe(entry)
    else:
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
        genuine=checked.genuine,
        warnings=checked.warnings,
        apdus=channel.apdu_count - start,
        notes=notes,
        initial_pin_changed=changed,
    )
