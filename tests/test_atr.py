"""ATR parsing (ISO 7816-3 §8.2) and the social security card's two forms (card-profile §10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu import atr
from apdu.errors import DataFormatError

HIST = bytes.fromhex("11223344556677889900AABBCC")


def test_t0_form_of_card_profile_10() -> None:
    raw = bytes.fromhex("3B6D0000") + HIST
    assert atr.build_ssc_atr(HIST, "T0") == raw
    assert atr.historical_bytes(raw) == HIST
    assert atr.protocols(raw) == {"T0"}
    assert atr.parse(raw).tck is None


def test_t1_form_has_a_checked_tck() -> None:
    raw = atr.build_ssc_atr(HIST, "T1")
    assert raw[:8] == bytes.fromhex("3BED00008131FE45") and len(raw) == 8 + 13 + 1
    parsed = atr.parse(raw)
    assert parsed.historical == HIST
    assert atr.protocols(raw) == {"T1"}
    assert atr.preferred_protocol(raw) == "T1"
    bad = raw[:-1] + bytes((raw[-1] ^ 0x01,))
    with pytest.raises(DataFormatError, match="TCK"):
        atr.parse(bad)


def test_card_factor_is_t6_to_t13() -> None:
    assert atr.parse(atr.build_ssc_atr(HIST)).card_factor == HIST[5:13]


def test_both_protocols_offered_prefers_t1() -> None:
    # TD1 = 80 (T=0, TD2 follows), TD2 = 01 (T=1): a PC/SC contactless-style ATR.
    raw = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
    assert atr.protocols(raw) == {"T0", "T1"}
    assert atr.preferred_protocol(raw) == "T1"


def test_global_t15_is_not_a_protocol() -> None:
    # TD1 = 80 (T=0) -> TD2 = 1F (T=15, TA3 follows) -> TA3 = 03; then TCK is required.
    body = bytes.fromhex("3B82801F03") + b"\x41\x42"
    tck = 0
    for b in body[1:]:
        tck ^= b
    raw = body + bytes((tck,))
    parsed = atr.parse(raw)
    assert parsed.protocols == {"T0"} and parsed.historical == b"AB"
    assert parsed.interface[2] == {"TA": 0x03}


@pytest.mark.parametrize(
    "hexatr, why",
    [
        ("", "at least"),
        ("3B", "at least"),
        ("3C6D0000" + HIST.hex(), "TS"),
        ("3B6D0000" + HIST.hex()[:-2], "historical"),
        ("3BED00008131FE", "truncated"),
        ("3BED00008131FE45" + HIST.hex(), "TCK missing"),
        ("3B6D0000" + HIST.hex() + "0102", "after the historical"),
        ("3B0F" + "00" * 32, "at most"),
    ],
)
def test_malformed_atr_raises_data_format_error(hexatr: str, why: str) -> None:
    with pytest.raises(DataFormatError, match=why):
        atr.historical_bytes(bytes.fromhex(hexatr))


def test_build_refuses_wrong_history_length() -> None:
    with pytest.raises(DataFormatError):
        atr.build_ssc_atr(HIST[:12])


@given(st.binary(max_size=40))
def test_any_bytes_parse_or_raise_the_typed_error(raw: bytes) -> None:
    try:
        parsed = atr.parse(raw)
    except DataFormatError:
        return
    end = len(raw) - (1 if parsed.tck is not None else 0)
    k = raw[1] & 0x0F
    assert parsed.historical == raw[end - k : end]
    assert len(parsed.historical) == raw[1] & 0x0F


@given(st.binary(min_size=13, max_size=13), st.sampled_from(["T0", "T1"]))
def test_build_then_parse_round_trips(hist: bytes, proto: str) -> None:
    raw = atr.build_ssc_atr(hist, proto)  # type: ignore[arg-type]
    assert atr.historical_bytes(raw) == hist
    assert atr.protocols(raw) == {proto}
