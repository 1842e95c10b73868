"""The bank activation kiosk workflow (issue 5 §4; card-profile §6, §9, §12).

The card's life (§9): it is activated at the card-making bank, where the bank function's PIN is
set, and the social security PIN is changed from the initial one.  The kiosk does both:

1. read and check the card (§12); the counter's :class:`terminal.policy.SalePolicy` decides what
   refuses (default: a failed check, or a card not proved genuine: :class:`CheckFailed`);
2. match the holder against the ID data the clerk entered (name and ID number, from the holder's
   identity card): a mismatch refuses (:class:`HolderMismatch`) before any PIN is asked;
3. read the bank application's PAN (§9; masked everywhere except the host message);
4. capture the new BANK PIN twice, vet it with the policy (no old PIN there), build an ISO 9564
   PIN block (format 0 under a 3DES terminal PIN key, or format 4 with SM4,
   :mod:`terminal.pinblock`) and send it to the bank host (:class:`terminal.bankhost.BankHost`);
   the bank PIN is an online PIN, never written to the chip (§9);
5. change the social security PIN: CHOICE — the holder enters the CURRENT social security PIN
   (the kiosk does not assume 123456: a region may personalise another initial PIN, and a card
   may already have been changed), then the new one twice; the policy is checked before anything
   is sent, then ``80 5E 01 00`` (§6);
6. ask the activation status again (§6 empty VERIFY): the result shows the card activated.

PIN entry order (what ``--pin-stdin`` reads, one per line): new bank PIN, new bank PIN again,
current social security PIN, new social security PIN, new social security PIN again.  With the
reader's PIN pad (:class:`terminal.pinsource.PinPadPinSource`) the social security PIN change is
typed on the pad (current, new, new again) and only the bank PIN comes from the host entry: a
PC/SC part 10 pad fills a card APDU and cannot make the bank host's ISO 9564 PIN block.

Command APDUs (2.x card, T=1, software SAM): read 3, PIN status 1, internal authentication 1,
SELECT bank ADF 1, the bank record 1 (record 1 of SFI 2, Le 00: the EMV application answers at
once, §9), SELECT SSSE again 1 (the bank selection left the SSSE, §9), CHANGE PIN 1, PIN status
1 = 10 (3.00: 12; a T=0 card adds a GET RESPONSE for each FCI and the internal authentication),
plus the photo (issue 15): its READ BINARY commands (10 for the 2.5 KB sample portrait with
short reads, 1 with an extended Le) and, on a 2.x card, RKSSSE (+2).
The protocol minimum (read, SELECT bank, one READ RECORD, SELECT SSSE, CHANGE PIN) is 7 / 9;
the two status queries and the internal authentication are kept for the reasons given in
:mod:`terminal.workflows.pharmacy` and to prove the result.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import terminal.pin as pinops
from apdu.errors import SSCardError
from terminal.activation import ActivationStatus, activation_status
from terminal.bank import bank_record, mask_pan, select_bank
from terminal.bankhost import BankHost, BankHostResult
from terminal.inspect import read_checked
from terminal.photo import PhotoFinding, try_photo
from terminal.pinblock import PinKey, encrypt_pin_block
from terminal.pinpolicy import PinPolicy
from terminal.pinsource import PinPadPinSource, PinSource, wipe
from terminal.policy import SalePolicy
from terminal.session import CardSession
from terminal.workflows import WorkflowRefused

PROMPT_BANK_PIN = "new bank PIN"


class HolderMismatch(WorkflowRefused):
    """The card does not belong to the person the clerk identified."""


class BankHostRefused(WorkflowRefused):
    """The bank host did not accept the new bank PIN."""


@dataclass(frozen=True)
class ActivationResult:
    """What the kiosk shows and prints on the receipt: nothing secret, the PAN masked."""

    name: str | None
    ssn: str | None
    masked_pan: str
    bank: BankHostResult
    pin_block_format: int
    ss_pin_changed: bool
    status: ActivationStatus  # after the change
    warnings: list[str] = field(default_factory=list)
    apdus: int = 0
    #: the holder's photo (SSSE EF08) for the clerk to compare, None when not asked for.
    photo: PhotoFinding | None = None

    @property
    def activated(self) -> bool:
        return self.status.activated

    def to_json(self) -> dict[str, Any]:
        status_json = self.status.to_json()
        return {
            "name": self.name,
            "ssn": self.ssn,
            "pan": self.masked_pan,
            "bank_host": self.bank.to_json(),
            "pin_block_format": self.pin_block_format,
            "ss_pin_changed": self.ss_pin_changed,
            "activated": self.activated,
            "status": status_json,
            "warnings": list(self.warnings),
            "apdus": self.apdus,
            "photo": self.photo.to_json(image=True) if self.photo is not None else None,
        }


def _norm_name(name: str) -> str:
    """Names compare after NFKC (full-width letters) without any whitespace, case-folded."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def _norm_id(number: str) -> str:
    return "".join(unicodedata.normalize("NFKC", number).split()).upper()


def match_holder(card_name: str | None, card_ssn: str | None, name: str, id_number: str) -> None:
    """Refuse unless both the name and the ID number match (messages name no personal data)."""
    problems = []
    if not card_name or _norm_name(card_name) != _norm_name(name):
        problems.append("name")
    if not card_ssn or _norm_id(card_ssn) != _norm_id(id_number):
        problems.append("ID number")
    if problems:
        raise HolderMismatch(
            "the card's holder does not match the clerk's entry "
            f"(the {' and the '.join(problems)} {'do' if len(problems) > 1 else 'does'} not match)"
        )


def activate(
    session: CardSession,
    *,
    clerk_name: str,
    clerk_id_number: str,
    pin_source: PinSource,
    bank_host: BankHost,
    policy: PinPolicy | None = None,
    pin_key: PinKey | None = None,
    fmt: int = 0,
    today: dt.date | None = None,
    sale_policy: SalePolicy | None = None,
    bank_gpo: bool = False,
    photo: bool = True,
) -> ActivationResult:
    """Run the activation workflow on an open session (see the module docstring for the steps).

    ``pin_key`` is the terminal PIN key (TEST; default :meth:`PinKey.test` for ``fmt``);
    ``sale_policy`` decides which check results refuse (default :class:`SalePolicy`);
    ``bank_gpo`` reads the PAN the EMV way (GET PROCESSING OPTIONS and the AFL, +1 APDU) instead
    of record 1 of SFI 2.  ``photo``: read the holder's photo for the clerk (step 2b; a photo
    that is absent or not an image is a warning, never a refusal).
    """
    policy = policy or PinPolicy()
    key = pin_key or PinKey.test(fmt)
    channel = session.channel
    start = channel.apdu_count

    # 1. read and check
    checked = read_checked(session, today=today, policy=sale_policy)
    card, st, warnings = checked.card, checked.pin, checked.warnings
    # 2. the holder is the person in front of the clerk
    holder = checked.holder
    match_holder(holder.name, holder.ssn, clerk_name, clerk_id_number)
    # 2b. the photo for the clerk to compare with the holder (SSSE still selected: on a 3.00
    #     card RKSSSE is authenticated by the read, only READ BINARY commands are sent)
    found_photo = try_photo(session) if photo else None
    if found_photo is not None and found_photo.state != "ok":
        warnings = [*warnings, f"photo: {found_photo.detail}"]
    # 3. the bank application and its PAN (the session knows the SSSE is left, §9: the PIN
    #    change below selects it again by itself)
    if not select_bank(session):
        raise WorkflowRefused("this card has no bank application to activate")
    record = bank_record(session, gpo=bank_gpo)
    # 4. the new bank PIN, as a PIN block, to the bank host
    # a part 10 pad inserts digits into a card APDU: it cannot make the bank's PIN block, so
    # the bank PIN comes from the host entry even when the social security PIN is on the pad
    if isinstance(pin_source, PinPadPinSource):  # refused now, not after the bank PIN is set
        pinops.pad_change_ready(pin_source, policy)
    bank_source = (
        pin_source.host_entry(PROMPT_BANK_PIN) if isinstance(pin_source, PinPadPinSource)
        else pin_source
    )
    bank_pin = bank_source.get(PROMPT_BANK_PIN, confirm=True)
    try:
        policy.check_new(bank_pin, None, holder.birth_date, what="new bank PIN")
        block = encrypt_pin_block(fmt, bank_pin, record.pan, key)
    finally:
        wipe(bank_pin)
    answer = bank_host.set_bank_pin(record.pan, block, fmt)
    if not answer.accepted:
        raise BankHostRefused(f"the bank host refused the new bank PIN: {answer.message}")
    # 5. the social security PIN
    try:
        pinops.change(
            session,
            pin_source,
            pin_source,
            policy,
            holder.birth_date,
            known_status=st,
        )
    except SSCardError as exc:
        exc.add_note(
            f"the bank PIN WAS set (host reference {answer.reference}); "
            "only the social security PIN change remains"
        )
        raise
    # 6. the card now reads as activated
    after = pinops.status_of(session)
    final = activation_status(
        session, card, after, bank_application=True, today=today,
        genuine=checked.genuine, genuine_detail=checked.genuine_detail,
    )
    return ActivationResult(
        name=holder.name,
        ssn=holder.ssn,
        masked_pan=mask_pan(record.pan),
        bank=answer,
        pin_block_format=fmt,
        ss_pin_changed=True,
        status=final,
        warnings=warnings + checked.notes,
        apdus=channel.apdu_count - start,
        photo=found_photo,
    )
