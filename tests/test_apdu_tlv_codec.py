"""TLV codecs treat every length as hostile; value codecs follow card-profile §4 and §6."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu import codec, tlv
from apdu.errors import DataFormatError, TlvError

SSSE_FCI_3 = bytes.fromhex("6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")
SSSE_FCI_1 = bytes.fromhex("6F16840F7378312E73682EC9E7BBE1B1A3D5CFA503880108")


def test_real_card_fci_decodes() -> None:
    fci = tlv.ber_decode_one(SSSE_FCI_3)
    assert fci.tag == 0x6F
    assert fci.find(0x84).value == bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # type: ignore[union-attr]
    assert fci.find(0xA5, 0x88).value == b"\x1e"  # type: ignore[union-attr]
    assert fci.find(0xA5, 0x9F0C, 0x86).value == b"\x03"  # type: ignore[union-attr]
    old = tlv.ber_decode_one(SSSE_FCI_1)
    assert old.find(0xA5, 0x9F0C) is None


def test_simple_tlv_round_trip_and_record() -> None:
    rec = tlv.simple_encode(0x03, b"3.00")
    assert rec == bytes.fromhex("0304332E3030")
    assert tlv.simple_record(rec, 0x03) == b"3.00"
    with pytest.raises(TlvError):
        tlv.simple_record(rec, 0x04)
    with pytest.raises(TlvError):
        tlv.simple_record(rec + b"\x00", 0x03)


@pytest.mark.parametrize(
    "raw", ["03", "0305332E3030", "6F05A503", "9F", "9F0C8180", "6F84FFFFFFFF"]
)
def test_lying_lengths_raise_tlv_error(raw: str) -> None:
    data = bytes.fromhex(raw)
    with pytest.raises(TlvError):
        if raw.startswith(("03",)):
            tlv.simple_decode(data)
        else:
            tlv.iter_tree(tlv.ber_decode(data)).__next__()
            list(tlv.iter_tree(tlv.ber_decode(data)))


@settings(max_examples=3000)
@given(st.binary(max_size=64))
def test_decoders_raise_only_tlv_error(raw: bytes) -> None:
    for decode in (tlv.simple_decode, lambda b: list(tlv.iter_tree(tlv.ber_decode(b)))):
        try:
            decode(raw)
        except TlvError:
            pass


def test_nesting_depth_is_bounded() -> None:
    data = b"\x02"
    for _ in range(20):
        data = tlv.ber_encode(0x70, data)
    with pytest.raises(TlvError):
        list(tlv.iter_tree(tlv.ber_decode(data)))


def test_text_padding_rules() -> None:
    name = "张三丰".encode("gbk")
    assert codec.an_decode(name + b"\x00" * 24) == "张三丰"
    assert codec.an_decode(name + b"\x20" * 4) == "张三丰"
    assert codec.an_decode(b"3.00\xff") == "3.00"
    assert codec.an_encode("张三丰", 30) == name + bytes(24)


def test_bcd_and_dates() -> None:
    assert codec.cn_encode("420100", 3) == bytes.fromhex("420100")
    assert codec.cn_encode("12345") == bytes.fromhex("12345F")
    assert codec.cn_decode(bytes.fromhex("12345F")) == "12345"
    assert codec.date_decode(bytes.fromhex("20340501")) == dt.date(2034, 5, 1)
    for bad in ("2034130A", "20341301", "1F345678"):
        with pytest.raises(DataFormatError):
            codec.date_decode(bytes.fromhex(bad))


def test_pin_coding_of_section_6() -> None:
    assert codec.pin_encode("123456") == bytes.fromhex("123456")
    assert codec.pin_encode(b"12345") == bytes.fromhex("12345F")
    assert codec.pin_decode(bytes.fromhex("12345F")) == b"12345"
    for bad in ("123", "12345678901234567", "12a456", ""):
        with pytest.raises(DataFormatError) as err:
            codec.pin_encode(bad)
        assert bad not in str(err.value) or bad == ""
