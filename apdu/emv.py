"""The bank (UnionPay, EMV) application's data (card-profile §9): tags, templates and GPO answers.

One statement of each for the simulated card, which builds them, and the terminal, which reads
them (:mod:`terminal.bank`):

- the PSE (``1PAY.SYS.DDF01``) FCI and its directory record ``70 { 61 { 4F AID, 50 label, 87
  priority } }``, and the ADF's FCI ``6F { 84 AID, A5 { 50 label, 87 priority } }``;
- the PAN record: template ``70`` with ``5A`` PAN (cn), ``5F20`` cardholder name, ``5F24``
  expiry (YYMMDD, cn 3) and ``5F34`` PAN sequence number;
- GET PROCESSING OPTIONS: the command data is one ``83`` object (the PDOL data); the answer is
  format 1 (``80``: AIP ‖ AFL) or format 2 (``77 { 82 AIP, 94 AFL }``), the AFL a list of 4-byte
  entries (SFI << 3, first record, last record, records for offline data authentication).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from apdu.codec import cn_encode
from apdu.errors import DataFormatError, TlvError
from apdu.fci import TAG_DF_NAME, TAG_FCI, TAG_PROPRIETARY
from apdu.names import PSE_NAME
from apdu.tlv import Tlv, ber_decode, ber_encode, iter_tree

#: directory tags (EMV Book 1); the FCI's own (6F, 84, A5) are those of :mod:`apdu.fci`.
TAG_SFI = 0x88
TAG_APPLICATION = 0x61
TAG_AID = 0x4F
TAG_LABEL = 0x50
TAG_PRIORITY = 0x87
#: the record template and the PAN record's items (§9).
TAG_TEMPLATE = 0x70
TAG_PAN = 0x5A
TAG_NAME = 0x5F20
TAG_EXPIRY = 0x5F24
TAG_PAN_SEQUENCE = 0x5F34
#: GET PROCESSING OPTIONS: the command's PDOL data template, and the two answer formats.
TAG_PDOL_DATA = 0x83
TAG_GPO_FORMAT1 = 0x80
TAG_GPO_FORMAT2 = 0x77
TAG_AIP = 0x82
TAG_AFL = 0x94

#: where the PAN record is on real SSC bank applications (issue 9): record 1 of SFI 2, where
#: deployed kiosk software reads it (``00 B2 01 14 00``).
PAN_SFI = 2
#: the debit application's label (as real SSC bank applications announce it).
UNIONPAY_LABEL = b"UnionPay Debit"
#: one AFL entry is 4 bytes.
AFL_ENTRY = 4


# --- builders (the simulated card) -------------------------------------------------------------


def _tlv(tag: int, *parts: bytes) -> bytes:
    return ber_encode(tag, list(parts))


def pse_fci(sfi: int = 1) -> bytes:
    """The PSE's FCI: ``6F { 84 1PAY.SYS.DDF01, A5 { 88 sfi } }`` (its directory's SFI)."""
    return _tlv(TAG_FCI, _tlv(TAG_DF_NAME, PSE_NAME),
                _tlv(TAG_PROPRIETARY, _tlv(TAG_SFI, bytes((sfi,)))))


def adf_fci(aid: bytes, label: bytes = UNIONPAY_LABEL, priority: int = 1) -> bytes:
    """An application's FCI: ``6F { 84 AID, A5 { 50 label, 87 priority } }``."""
    return _tlv(TAG_FCI, _tlv(TAG_DF_NAME, aid),
                _tlv(TAG_PROPRIETARY, _tlv(TAG_LABEL, label),
                     _tlv(TAG_PRIORITY, bytes((priority,)))))


def directory_record(aid: bytes, label: bytes = UNIONPAY_LABEL, priority: int = 1) -> bytes:
    """A PSE directory record: ``70 { 61 { 4F AID, 50 label, 87 priority } }``."""
    return _tlv(TAG_TEMPLATE, _tlv(TAG_APPLICATION, _tlv(TAG_AID, aid), _tlv(TAG_LABEL, label),
                                   _tlv(TAG_PRIORITY, bytes((priority,)))))


def pan_record(pan: str, cardholder_name: bytes | None = None, expiry: dt.date | None = None,
               pan_sequence: int | None = None) -> bytes:
    """The PAN record ``70 { 5A, 5F20, 5F24, 5F34 }`` (the items given, in that order)."""
    parts = [_tlv(TAG_PAN, cn_encode(pan))]  # an odd count is F-padded (§4 cn)
    if cardholder_name is not None:
        parts.append(_tlv(TAG_NAME, cardholder_name))
    if expiry is not None:
        parts.append(_tlv(TAG_EXPIRY, cn_encode(expiry.strftime("%y%m%d"))))
    if pan_sequence is not None:
        parts.append(_tlv(TAG_PAN_SEQUENCE, bytes((pan_sequence,))))
    return _tlv(TAG_TEMPLATE, *parts)


def afl_entry(sfi: int, first: int, last: int, oda: int = 0) -> bytes:
    """One AFL entry: records ``first``..``last`` of ``sfi``, ``oda`` of them for offline data
    authentication."""
    return bytes((sfi << 3, first, last, oda))


def gpo_answer(fmt: int, aip: bytes, afl: bytes) -> bytes:
    """The GET PROCESSING OPTIONS answer: format 1 ``80 AIP AFL`` or format 2
    ``77 { 82 AIP, 94 AFL }`` (both seen on real SSC bank applications)."""
    if fmt == 1:
        return _tlv(TAG_GPO_FORMAT1, aip + afl)
    return _tlv(TAG_GPO_FORMAT2, _tlv(TAG_AIP, aip), _tlv(TAG_AFL, afl))


def is_pdol_data(data: bytes) -> bool:
    """True when GET PROCESSING OPTIONS data is exactly one ``83`` object (one-byte length)."""
    return len(data) >= 2 and data[0] == TAG_PDOL_DATA and data[1] == len(data) - 2


# --- parsers (the terminal; every length is the card's) -----------------------------------------


def find(objs: list[Tlv], tag: int) -> bytes | None:
    """The value of the first object with ``tag`` anywhere in the tree, or None."""
    return next((o.value for o in iter_tree(objs) if o.tag == tag), None)


@dataclass(frozen=True, slots=True)
class ProcessingOptions:
    """What GPO answered: the AIP and the AFL as (SFI, first record, last record) entries."""

    aip: bytes
    afl: tuple[tuple[int, int, int], ...]


def parse_afl(raw: bytes) -> tuple[tuple[int, int, int], ...]:
    """The AFL's (SFI, first record, last record) entries; DataFormatError when malformed."""
    if len(raw) % AFL_ENTRY:
        raise DataFormatError(f"AFL of {len(raw)} bytes is not a list of 4-byte entries")
    entries = []
    for i in range(0, len(raw), AFL_ENTRY):
        sfi, first, last = raw[i] >> 3, raw[i + 1], raw[i + 2]
        if not 1 <= sfi <= 30 or first == 0 or last < first:
            raise DataFormatError(f"AFL entry {raw[i:i + AFL_ENTRY].hex().upper()} is malformed")
        entries.append((sfi, first, last))
    return tuple(entries)


def parse_gpo(answer: bytes) -> ProcessingOptions:
    """A GPO answer in format 1 (``80`` AIP ‖ AFL) or format 2 (``77 { 82 AIP, 94 AFL }``).

    Raises :class:`DataFormatError` for anything else (every length is the card's).
    """
    try:
        objs = ber_decode(answer)
    except TlvError as exc:
        raise DataFormatError(f"GPO answer is not BER-TLV: {exc}") from None
    if len(objs) != 1:
        raise DataFormatError("GPO answer must be one template (80 or 77)")
    top = objs[0]
    if top.tag == TAG_GPO_FORMAT1:
        if len(top.value) < 2:
            raise DataFormatError("GPO format 1 answer shorter than its AIP")
        return ProcessingOptions(top.value[:2], parse_afl(top.value[2:]))
    if top.tag == TAG_GPO_FORMAT2:
        aip = find(top.children(), TAG_AIP)
        afl = find(top.children(), TAG_AFL)
        if aip is None or afl is None or len(aip) != 2:
            raise DataFormatError("GPO format 2 answer lacks its AIP (82) or AFL (94)")
        return ProcessingOptions(aip, parse_afl(afl))
    raise DataFormatError(f"GPO answer template {top.tag:02X} is neither 80 nor 77")
