"""Command APDUs: the seven ISO 7816-3 cases, exact Ne, and typed errors for inconsistent bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.command import Case, CommandAPDU
from apdu.errors import ApduFormatError, SSCardError

VECTORS = [
    # hex, case, data length, Ne
    ("00A40400", Case.C1, 0, None),
    ("00B2012C05", Case.C2S, 0, 5),
    ("00B2012C00", Case.C2S, 0, 256),
    ("0020000003123456", Case.C3S, 3, None),
    ("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", Case.C4S, 15, 256),
    ("00B0000000FFFF", Case.C2E, 0, 65535),
    ("00B0000000" + "0000", Case.C2E, 0, 65536),
    ("00D60000000100" + "AB" * 256, Case.C3E, 256, None),
    ("00D60000000100" + "AB" * 256 + "0000", Case.C4E, 256, 65536),
    ("00D6000000000301020301F4", Case.C4E, 3, 500),
]


@pytest.mark.parametrize(("raw", "case", "nc", "ne"), VECTORS)
def test_known_cases_parse_and_reencode(raw: str, case: Case, nc: int, ne: int | None) -> None:
    apdu = CommandAPDU.from_bytes(bytes.fromhex(raw))
    assert apdu.case is case
    assert len(apdu.data) == nc
    assert apdu.ne == ne
    assert apdu.to_bytes() == bytes.fromhex(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "00A404",
        "0020000003123456FF00",  # Lc 3 but 5 bytes follow
        "0020000005123456",  # Lc 5 but 3 bytes follow
        "00B000000000",  # extended Lc of zero with no Le form
        "00B0000000000512",  # extended Lc 5, 1 byte follows
        "00B000000000020102FF",  # extended Lc 2 with 3 bytes after it
    ],
)
def test_inconsistent_encodings_raise_typed_error(raw: str) -> None:
    with pytest.raises(ApduFormatError) as err:
        CommandAPDU.from_bytes(bytes.fromhex(raw))
    assert isinstance(err.value, SSCardError)


def test_fields_are_validated() -> None:
    with pytest.raises(ApduFormatError):
        CommandAPDU(0x100, 0, 0, 0)
    with pytest.raises(ApduFormatError):
        CommandAPDU(0, 0, 0, 0, ne=0)
    with pytest.raises(ApduFormatError):
        CommandAPDU(0, 0, 0, 0, ne=65537)


def test_repr_never_shows_data() -> None:
    apdu = CommandAPDU(0x00, 0x20, 0, 0, bytes.fromhex("480913"))
    assert "480913" not in repr(apdu).replace(" ", "")
    assert "48" not in repr(apdu).split("data=")[1]


def test_ne_256_is_short_and_257_is_extended() -> None:
    assert CommandAPDU(0, 0xB0, 0, 0, ne=256).to_bytes() == bytes.fromhex("00B0000000")
    assert CommandAPDU(0, 0xB0, 0, 0, ne=257).to_bytes() == bytes.fromhex("00B00000000101")


apdus = st.builds(
    CommandAPDU,
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.one_of(st.just(b""), st.binary(min_size=1, max_size=300)),
    ne=st.one_of(st.none(), st.integers(1, 65536)),
    extended=st.booleans(),
)


@settings(max_examples=2000)
@given(apdus)
def test_build_parse_round_trip_every_case(apdu: CommandAPDU) -> None:
    parsed = CommandAPDU.from_bytes(apdu.to_bytes())
    assert (parsed.cla, parsed.ins, parsed.p1, parsed.p2) == (apdu.cla, apdu.ins, apdu.p1, apdu.p2)
    assert parsed.data == apdu.data
    assert parsed.ne == apdu.ne
    assert parsed.case is apdu.case
    assert parsed.to_bytes() == apdu.to_bytes()


@settings(max_examples=3000)
@given(st.binary(max_size=300))
def test_parser_accepts_or_raises_typed_error(raw: bytes) -> None:
    try:
        apdu = CommandAPDU.from_bytes(raw)
    except ApduFormatError:
        return
    assert apdu.to_bytes() == raw


@settings(max_examples=500)
@given(st.one_of(st.binary(max_size=300), apdus.map(CommandAPDU.to_bytes)))
def test_the_simulated_cards_fast_parse_agrees_with_the_parser(raw: bytes) -> None:
    """``parse_body`` (the card OS's hot path) takes exactly what ``from_bytes`` takes, with the
    same data and Ne."""
    try:
        expected = CommandAPDU.from_bytes(raw)
    except ApduFormatError:
        with pytest.raises(ApduFormatError):
            CommandAPDU.parse_body(raw)
        return
    assert CommandAPDU.parse_body(raw) == (expected.data, expected.ne)


@pytest.mark.parametrize(("raw", "case", "nc", "ne"), VECTORS)
def test_parse_body_on_the_known_cases(raw: str, case: Case, nc: int, ne: int | None) -> None:
    data, got_ne = CommandAPDU.parse_body(bytes.fromhex(raw))
    assert (len(data), got_ne) == (nc, ne)
