"""The financial (bank) application of the card: presence and the PAN record (card-profile §9).

Choice: :func:`select_bank` selects the UnionPay debit ADF ``A000000333010101`` directly by name
(one APDU) instead of the PSE ``1PAY.SYS.DDF01`` first and then the ADF (two APDUs): a terminal
that only needs to know "is there a bank application, and what is its PAN" gains nothing from the
PSE directory, and every APDU costs time at a counter.  :func:`select_bank_via_pse` is the
two-step EMV way for cards that insist on it.

After either, the SSSE is no longer selected, and the external authentication it held is gone
(§2 "security state"): the session (:class:`terminal.session.CardSession`) knows it, and the next
social security operation selects the SSSE again by itself.

The bank record is BER-TLV (template ``70`` with ``5A`` PAN, ``5F20`` name, ``5F24`` expiry
YYMMDD, ``5F34`` PAN sequence number).  Every length in it comes from the card and is checked by
:mod:`apdu.tlv`.  The PAN is shown masked (:func:`mask_pan`) everywhere outside this module.

Where the PAN is (issue 9, real kiosks): deployed kiosk software reads it from record 1 of
**SFI 2** (``00 B2 01 14 00``), so :func:`read_bank_record` tries SFI 2 first, then 1 and 3.
Others run the EMV way: GET PROCESSING OPTIONS (``80 A8 00 00 02 83 00 00``), answered in
format 1 (``80``: AIP ‖ AFL) or format 2 (``77`` with ``82`` AIP and ``94`` AFL), then every
record the AFL lists, until one holds tag ``5A`` (:func:`read_bank_record_via_gpo`; real cards
list SFI 1-4, and the PAN may be in any of them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from apdu import status
from apdu.codec import an_decode, cn_decode
from apdu.commands import INS_READ_RECORD, get_processing_options, read_record
from apdu.emv import (  # re-exported: GPO facts live in apdu.emv
    PAN_SFI,
    TAG_EXPIRY,
    TAG_NAME,
    TAG_PAN,
    TAG_PAN_SEQUENCE,
    parse_gpo,
)
from apdu.emv import find as _find
from apdu.errors import DataFormatError, TlvError
from apdu.tlv import ber_decode
from drivers.channel import CardChannel
from terminal.session import CardSession

#: §9: the SFIs whose record 1 may hold the PAN, in the order they are tried (SFI 2 first: where
#: deployed kiosk software reads it, issue 9).
BANK_SFIS = (PAN_SFI, 1, 3)

#: what the session calls GET PROCESSING OPTIONS among the commands taken once per selection.
GPO = "GPO"

#: status words that mean "no such application" when selecting it (not an error of the card).
ABSENT_SW = frozenset({status.FILE_NOT_FOUND, status.FUNCTION_NOT_SUPPORTED})

#: status words that mean "no record here, try the next SFI".
NO_RECORD_SW = frozenset({status.RECORD_NOT_FOUND, status.FILE_NOT_FOUND, status.WRONG_P1P2})

PAN_DIGITS = range(12, 20)  # ISO/IEC 7812: 8..19; bank cards in China use 16..19


@dataclass(frozen=True, slots=True)
class BankRecord:
    """The bank data a terminal shows.  ``repr`` masks the PAN (it is card-holder data)."""

    pan: str
    cardholder_name: str | None = None
    expiry: dt.date | None = None
    pan_sequence: int | None = None

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    def __repr__(self) -> str:
        return (
            f"BankRecord(pan={self.masked_pan!r}, cardholder_name={self.cardholder_name!r}, "
            f"expiry={self.expiry!r}, pan_sequence={self.pan_sequence!r})"
        )

    def to_json(self) -> dict[str, object]:
        """The JSON form; the PAN is masked (first 6 + last 4)."""
        return {
            "pan": self.masked_pan,
            "cardholder_name": self.cardholder_name,
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "pan_sequence": self.pan_sequence,
        }


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits shown, the rest ``*`` (PCI DSS display rule).

    A PAN too short for that (11 digits or fewer) shows only its last 4, so that masking never
    reveals more than half of a number.
    """
    if len(pan) <= 4:
        return "*" * len(pan)
    if len(pan) <= 11:
        return "*" * (len(pan) - 4) + pan[-4:]
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def _select(session: CardSession, place: str) -> bool:
    """SELECT ``place`` through the session (which then knows it is selected): True when the
    card has it, False when it has not (``6A82``, ``6A81``); another answer raises its error."""
    sw = session.select(place).sw
    if sw == status.SUCCESS:
        return True
    if sw in ABSENT_SW:
        return False
    raise status.error_for(sw, 0xA4)


def select_bank(session: CardSession) -> bool:
    """Select the bank ADF directly (1 APDU).  True when present, False when the card has none.

    Other status words (e.g. 9303 for a blocked bank application) raise their typed error.
    """
    return _select(session, "BANK")


def select_bank_via_pse(session: CardSession) -> bool:
    """The EMV way: SELECT the PSE, then the ADF (2 APDUs; 1 when there is no PSE)."""
    return _select(session, "PSE") and _select(session, "BANK")


def bank_record(session: CardSession, *, gpo: bool = False) -> BankRecord:
    """The bank record with its PAN, in the bank ADF (selected unless it already is).

    ``gpo``: the EMV route (:func:`read_bank_record_via_gpo`); GET PROCESSING OPTIONS is
    answered once per selection, so the ADF is selected afresh when this selection had one
    already.  Raises :class:`apdu.status.FileNotFound` when the card has no bank application.
    """
    session.enter("BANK", fresh=gpo and GPO in session.spent)
    if not gpo:
        return read_bank_record(session.channel)
    session.spent.add(GPO)
    return read_bank_record_via_gpo(session.channel)


def _expiry(raw: bytes | None) -> dt.date | None:
    """5F24 is YYMMDD (cn 3).  A malformed expiry is dropped rather than failing the record."""
    if raw is None:
        return None
    try:
        digits = cn_decode(raw)
        if len(digits) != 6:
            return None
        return dt.date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except (DataFormatError, ValueError):
        return None


def _pan_sequence(raw: bytes | None) -> int | None:
    if raw is None or len(raw) != 1:
        return None
    try:
        digits = cn_decode(raw)
    except DataFormatError:
        return None
    return int(digits) if digits else None


def _name(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return an_decode(raw).strip() or None
    except DataFormatError:
        return None


def parse_bank_record(record: bytes) -> BankRecord | None:
    """Decode one record; None when it holds no PAN.  Raises ``DataFormatError`` for a bad PAN.

    The record is usually template ``70``; a bare list of objects is accepted too (liberal read).
    """
    try:
        objs = ber_decode(record)
    except TlvError as exc:
        raise DataFormatError(f"bank record is not BER-TLV: {exc}") from None
    pan_raw = _find(objs, TAG_PAN)
    if pan_raw is None:
        return None
    pan = cn_decode(pan_raw)
    if len(pan) not in PAN_DIGITS:
        raise DataFormatError(f"bank PAN has {len(pan)} digits")
    return BankRecord(
        pan=pan,
        cardholder_name=_name(_find(objs, TAG_NAME)),
        expiry=_expiry(_find(objs, TAG_EXPIRY)),
        pan_sequence=_pan_sequence(_find(objs, TAG_PAN_SEQUENCE)),
    )


def _pan_record(channel: CardChannel, sfi: int, number: int) -> BankRecord | None:
    """READ RECORD ``number`` of ``sfi`` (Le 00): the bank record when it holds a PAN; None for
    a record without one, or none at all (``6A83``, ``6A82``, ``6A86``)."""
    resp = channel.transmit(read_record(number, by_tag=False, sfi=sfi))
    if resp.sw in NO_RECORD_SW:
        return None
    status.check(resp.sw, INS_READ_RECORD)
    return parse_bank_record(resp.data)


def read_bank_record(channel: CardChannel) -> BankRecord:
    """Read record 1 of SFI 1, 2, 3 in turn until one holds a PAN (1 to 3 APDUs).

    The bank ADF must be selected.  Raises :class:`apdu.status.RecordNotFound` when none does.
    """
    for sfi in BANK_SFIS:
        record = _pan_record(channel, sfi, 1)
        if record is not None:
            return record
    raise status.RecordNotFound(
        status.RECORD_NOT_FOUND, INS_READ_RECORD, "no bank record with a PAN in SFI 1-3"
    )


# --- the EMV route: GET PROCESSING OPTIONS and the AFL --------------------------------------------


def read_bank_record_via_gpo(channel: CardChannel) -> BankRecord:
    """GET PROCESSING OPTIONS, then the AFL's records in order until one holds a PAN.

    The bank ADF must be selected.  1 APDU + one per record read (the simulated card: 2).
    Raises :class:`apdu.status.RecordNotFound` when no listed record holds a PAN.
    """
    answer = channel.send(get_processing_options())
    options = parse_gpo(answer)
    for sfi, first, last in options.afl:
        for number in range(first, last + 1):
            record = _pan_record(channel, sfi, number)
            if record is not None:
                return record
    raise status.RecordNotFound(
        status.RECORD_NOT_FOUND, INS_READ_RECORD, "no record the AFL lists holds a PAN"
    )
