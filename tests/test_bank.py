"""The bank application (card-profile §9): presence, the PAN record, masking."""

from __future__ import annotations

import datetime as dt

import pytest

from apdu import commands
from apdu.errors import DataFormatError
from apdu.tlv import ber_decode_one, ber_encode
from drivers.trace import RecordingTracer
from simulator.samples import sample_personalisation
from terminal.bank import (
    BANK_SFIS,
    mask_pan,
    parse_bank_record,
    parse_gpo,
    read_bank_record,
    read_bank_record_via_gpo,
    select_bank,
    select_bank_via_pse,
)
from tests.helpers_checks import defective, session_for


def test_mask_pan() -> None:
    assert mask_pan("6214834201000000018") == "621483*********0018"
    assert mask_pan("6214834201000001") == "621483******0001"
    assert mask_pan("12345678901") == "*******8901"
    assert mask_pan("123") == "***"


@pytest.mark.parametrize("t0", [False, True])
def test_select_and_read_the_sample_card(t0: bool) -> None:
    reader, session = session_for(defective(t0=t0))
    channel = session.channel
    assert select_bank(session) is True
    assert channel.apdu_count == (2 if t0 else 1)  # a T=0 card's FCI needs GET RESPONSE
    record = read_bank_record(channel)
    assert channel.apdu_count == (3 if t0 else 2)  # 00 B2 01 14 00: SFI 2 first, at once
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
    assert select_bank(session) is False
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


def test_the_pan_is_read_from_sfi_2_first() -> None:
    """Deployed kiosk software reads the PAN with 00 B2 01 14 00 (issue 9)."""
    assert BANK_SFIS[0] == 2
    reader, session = session_for(defective(t0=False))
    session.channel.tracer = tracer = RecordingTracer()
    assert select_bank(session)
    read_bank_record(session.channel)
    assert tracer.exchanges[-1].command == bytes.fromhex("00B2011400")
    reader.disconnect()


@pytest.mark.parametrize("fmt", [1, 2])
@pytest.mark.parametrize("t0", [False, True])
def test_the_gpo_route_reads_the_pan_through_the_afl(fmt: int, t0: bool) -> None:
    reader, session = session_for(defective(t0=t0, gpo_format=fmt))
    channel = session.channel
    assert select_bank_via_pse(session)
    before = channel.apdu_count
    record = read_bank_record_via_gpo(channel)
    bank = sample_personalisation().bank
    assert bank is not None and record.pan == bank.pan
    assert channel.apdu_count - before == (3 if t0 else 2)  # GPO (+ GET RESPONSE), READ RECORD
    reader.disconnect()


def test_gpo_answers_as_the_simulator_sends_them() -> None:
    reader, session = session_for(defective(t0=False, gpo_format=2))
    channel = session.channel
    assert select_bank(session)
    resp = channel.transmit(commands.get_processing_options())
    assert resp.sw == 0x9000 and resp.data[0] == 0x77
    afl = ber_decode_one(resp.data).find(0x94)
    assert afl is not None and afl.value == bytes.fromhex("10010100")
    assert parse_gpo(resp.data).afl == ((2, 1, 1),)
    # a second GPO in the same selection is refused, as EMV cards do
    second = channel.transmit(commands.get_processing_options())
    assert second.sw == 0x6985
    reader.disconnect()


@pytest.mark.parametrize(
    ("answer", "aip", "afl"),
    [
        # the two real answers of tests/data/real_cards/z390-bank-gpo-samples.trace
        ("80127C0008010200100104001801030020010100", "7C00",
         ((1, 1, 2), (2, 1, 4), (3, 1, 3), (4, 1, 1))),
        ("770E82021C0094080801010010010301", "1C00", ((1, 1, 1), (2, 1, 3))),
    ],
)
def test_real_gpo_answers_parse(answer: str, aip: str, afl: tuple) -> None:
    options = parse_gpo(bytes.fromhex(answer))
    assert options.aip == bytes.fromhex(aip) and options.afl == afl


@pytest.mark.parametrize(
    "raw",
    ["", "8001", "80037C0008", "7703820100", "770482027C00", "6F00", "8006 7C00 00010100",
     "8006 7C00 10020100", "80027C00 80027C00"],
)
def test_hostile_gpo_answers_raise_typed_errors(raw: str) -> None:
    with pytest.raises(DataFormatError):
        parse_gpo(bytes.fromhex(raw.replace(" ", "")))
