"""The bank application (card-profile §9): presence, the PAN record, masking."""

from __future__ import annotations

import datetime as dt

import pytest

from apdu.errors import DataFormatError
from apdu.tlv import ber_encode
from simulator.samples import sample_personalisation
from terminal.bank import mask_pan, parse_bank_record, read_bank_record, select_bank
from tests.helpers_checks import defective, session_for


def test_mask_pan() -> None:
    assert mask_pan("6214834201000000018") == "621483*********0018"
    assert mask_pan("6214834201000001") == "621483******0001"
    assert mask_pan("12345678901") == "*******8901"
    assert mask_pan("123") == "***"


def test_select_and_read_the_sample_card() -> None:
    reader, session = session_for(defective())
    channel = session.channel
    assert select_bank(channel) is True
    assert channel.apdu_count == 1
    record = read_bank_record(channel)
    bank = sample_personalisation().bank
    assert bank is not None
    assert record.pan == bank.pan
    assert record.cardholder_name == bank.cardholder_name
    assert record.expiry is not None and record.expiry.year == bank.expiry.year
    assert record.pan_sequence == bank.pan_seq
    assert bank.pan not in repr(record)
    assert record.to_json()["pan"] == mask_pan(bank.pan)
    reader.disconnect()


def test_card_without_bank_application() -> None:
    reader, session = session_for(defective(bank=None))
    assert select_bank(session.channel) is False
    reader.disconnect()


def test_parse_record() -> None:
    body = (
        ber_encode(0x5A, bytes.fromhex("6214834201000001"))
        + ber_encode(0x5F20, b"ZHANG/SANFENG ")
        + ber_encode(0x5F24, bytes.fromhex("340531"))
        + ber_encode(0x5F34, b"\x01")
    )
    rec = parse_bank_record(ber_encode(0x70, body))
    assert rec is not None
    assert rec.pan == "6214834201000001"
    assert rec.cardholder_name == "ZHANG/SANFENG"
    assert rec.expiry == dt.date(2034, 5, 31)
    assert rec.pan_sequence == 1


def test_record_without_pan_is_none() -> None:
    assert parse_bank_record(ber_encode(0x70, ber_encode(0x5F20, b"X"))) is None


@pytest.mark.parametrize(
    "raw",
    [
        bytes.fromhex("70 10 5A 08 62"),  # claims more than present
        bytes.fromhex("70 04 5A 02 12 34"),  # PAN too short
        bytes.fromhex("70 03 5A 01 A1"),  # not BCD
    ],
)
def test_hostile_records_raise_typed_errors(raw: bytes) -> None:
    with pytest.raises(DataFormatError):
        parse_bank_record(raw)


def test_bad_optional_fields_are_dropped() -> None:
    body = ber_encode(0x5A, bytes.fromhex("6214834201000001")) + ber_encode(0x5F24, b"\x99\x99")
    rec = parse_bank_record(ber_encode(0x70, body))
    assert rec is not None and rec.expiry is None
