"""PC/SC part 10 facts (apdu/part10.py): golden structures for the card's VERIFY and CHANGE PIN,
libccid's reading of each field, features, properties and the reader-made results (issue 13)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu import part10
from apdu.errors import (
    ApduFormatError,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
    PinPadError,
    PinPadRefused,
    SSCardError,
)
from apdu.redact import describe_control

# Golden bytes, field by field (pin-pad.md §2-§3): 6 digits, BCD at data offset 0, 30 s.
GOLDEN_VERIFY = bytes.fromhex(
    "1E"  # bTimerOut 30 s
    "1E"  # bTimerOut2 30 s
    "81"  # bmFormatString: units bytes, position 0, left, BCD
    "03"  # bmPINBlockString: no length field, 3-byte block
    "00"  # bmPINLengthFormat: no length inserted
    "0606"  # wPINMaxExtraDigit 0x0606: 6..6 digits
    "02"  # bEntryValidationCondition: OK key
    "01"  # bNumberMessage: one
    "0408"  # wLangId 0x0804 (zh-CN), little-endian
    "00"  # bMsgIndex
    "000000"  # bTeoPrologue
    "08000000"  # ulDataLength 8
    "0020000003FFFFFF"  # VERIFY template
)
GOLDEN_CHANGE = bytes.fromhex(
    "1E1E"  # bTimerOut, bTimerOut2
    "81"  # bmFormatString
    "03"  # bmPINBlockString
    "00"  # bmPINLengthFormat
    "00"  # bInsertionOffsetOld: current PIN at data byte 0
    "04"  # bInsertionOffsetNew: new PIN after "old 3 bytes, FF"
    "0606"  # wPINMaxExtraDigit
    "03"  # bConfirmPIN: ask current, confirm new
    "02"  # bEntryValidationCondition
    "03"  # bNumberMessage: current, new, confirm
    "0408"  # wLangId
    "000102"  # bMsgIndex1..3
    "000000"  # bTeoPrologue
    "0C000000"  # ulDataLength 12
    "805E010007FFFFFFFFFFFFFF"  # CHANGE PIN template
)


def test_verify_structure_is_byte_exact() -> None:
    assert part10.ssc_verify().to_bytes() == GOLDEN_VERIFY
    assert len(GOLDEN_VERIFY) == part10.VERIFY_HEADER_SIZE + 8


def test_change_structure_is_byte_exact() -> None:
    assert part10.ssc_change().to_bytes() == GOLDEN_CHANGE
    assert len(GOLDEN_CHANGE) == part10.MODIFY_HEADER_SIZE + 12


def test_layouts_are_contiguous_and_match_the_header_sizes() -> None:
    for layout, size in (
        (part10.VERIFY_LAYOUT, part10.VERIFY_HEADER_SIZE),
        (part10.MODIFY_LAYOUT, part10.MODIFY_HEADER_SIZE),
    ):
        offset = 0
        for f in layout:
            assert f.offset == offset, f.name
            offset += f.size
        assert offset == size


def test_parsing_reads_every_field_back() -> None:
    v = part10.PinVerify.from_bytes(GOLDEN_VERIFY)
    assert (v.timeout, v.encoding, v.units_bytes, v.position, v.right_justified) == (
        30, part10.ENCODING_BCD, True, 0, False,
    )
    assert (v.block_size, v.length_bits, v.min_digits, v.max_digits) == (3, 0, 6, 6)
    assert (v.lang_id, v.validation, v.data_length) == (0x0804, 2, 8)
    assert v.apdu == bytes.fromhex("0020000003FFFFFF") and v.blank
    m = part10.PinModify.from_bytes(GOLDEN_CHANGE)
    assert (m.offset_old, m.offset_new, m.confirm, m.asks_current, m.confirms_new) == (
        0, 4, 3, True, True,
    )
    assert m.insertion_offsets() == (0, 4) and m.blank
    assert m.field_values()["ulDataLength"] == 12


@pytest.mark.parametrize("length, lc", [(4, 2), (5, 3), (6, 3), (8, 4), (16, 8)])
def test_other_deployment_lengths(length: int, lc: int) -> None:
    v = part10.ssc_verify(length)
    assert v.apdu == bytes((0, 0x20, 0, 0, lc)) + b"\xff" * lc
    assert (v.min_digits, v.max_digits, v.block_size) == (length, length, lc)
    m = part10.ssc_change(length)
    assert m.apdu == bytes((0x80, 0x5E, 1, 0, 2 * lc + 1)) + b"\xff" * (2 * lc + 1)
    assert (m.offset_old, m.offset_new) == (0, lc + 1)


@pytest.mark.parametrize("length", [0, 3, 17, 40])
def test_a_length_the_card_cannot_take_is_refused(length: int) -> None:
    with pytest.raises(PinLengthError):
        part10.ssc_verify(length)
    with pytest.raises(PinLengthError):
        part10.ssc_change(length)


def test_the_pads_limits_are_checked_before_anything_is_built() -> None:
    limits = part10.PinLimits(min_digits=8, max_digits=12)
    with pytest.raises(PinLengthError, match="8 to 12 digits") as info:
        part10.ssc_verify(6, limits=limits)
    assert info.value.sw is None and info.value.exit_code == 1
    with pytest.raises(PinLengthError):
        part10.ssc_change(6, limits=part10.PinLimits(4, 5))
    assert part10.ssc_verify(6, limits=part10.PinLimits(4, 12)).max_digits == 6
    assert part10.ssc_verify(6, limits=part10.PinLimits(0, 0)).max_digits == 6  # 0: no limit
    assert part10.ssc_verify(6, limits=part10.PinLimits()).max_digits == 6


def test_limits_come_from_tlv_properties() -> None:
    props = part10.parse_properties(bytes.fromhex("060104070108"))
    assert part10.PinLimits.from_properties(props) == part10.PinLimits(4, 8)
    assert part10.PinLimits.from_properties({}) == part10.PinLimits(None, None)


def test_timeouts_and_language_are_options() -> None:
    v = part10.ssc_verify(timeout=60, lang_id=0x0409)
    assert v.to_bytes()[:2] == b"\x3c\x3c" and v.to_bytes()[9:11] == b"\x09\x04"
    with pytest.raises(ApduFormatError):
        part10.ssc_verify(timeout=256)


# --- libccid's reading --------------------------------------------------------------------------


def test_too_short_structures_are_refused_like_libccid() -> None:
    with pytest.raises(ApduFormatError, match="shorter"):
        part10.PinVerify.from_bytes(GOLDEN_VERIFY[:22])  # 19 + 3 < 19 + 4
    with pytest.raises(ApduFormatError, match="shorter"):
        part10.PinModify.from_bytes(GOLDEN_CHANGE[:27])
    with pytest.raises(ApduFormatError):
        part10.PinVerify.from_bytes(b"")


def test_a_wrong_ul_data_length_is_refused_like_libccid() -> None:
    bad = bytearray(GOLDEN_VERIFY)
    bad[15] = 9
    with pytest.raises(ApduFormatError, match="ulDataLength"):
        part10.PinVerify.from_bytes(bytes(bad))
    with pytest.raises(ApduFormatError, match="ulDataLength"):
        part10.PinModify.from_bytes(GOLDEN_CHANGE + b"\x00")
    # big-endian ulDataLength is not accepted on a little-endian reading either
    be = bytearray(GOLDEN_VERIFY)
    be[15:19] = (8).to_bytes(4, "big")
    with pytest.raises(ApduFormatError):
        part10.PinVerify.from_bytes(bytes(be))


@pytest.mark.parametrize("messages, ok", [(0, True), (3, True), (0xFF, True), (4, False)])
def test_modify_number_of_messages_like_libccid(messages: int, ok: bool) -> None:
    raw = bytearray(GOLDEN_CHANGE)
    raw[11] = messages
    if ok:
        assert part10.PinModify.from_bytes(bytes(raw)).messages == messages
    else:
        with pytest.raises(ApduFormatError, match="bNumberMessage"):
            part10.PinModify.from_bytes(bytes(raw))


@pytest.mark.parametrize("value, read", [(0, 2), (1, 1), (7, 7), (8, 2), (0xFF, 2)])
def test_entry_validation_condition_is_fixed_like_libccid(value: int, read: int) -> None:
    v = bytearray(GOLDEN_VERIFY)
    v[7] = value
    assert part10.PinVerify.from_bytes(bytes(v)).validation == read
    m = bytearray(GOLDEN_CHANGE)
    m[10] = value
    assert part10.PinModify.from_bytes(bytes(m)).validation == read


def test_parse_structure_by_feature() -> None:
    assert isinstance(part10.parse_structure(6, GOLDEN_VERIFY), part10.PinVerify)
    assert isinstance(part10.parse_structure(7, GOLDEN_CHANGE), part10.PinModify)
    with pytest.raises(ApduFormatError):
        part10.parse_structure(0x0A, GOLDEN_VERIFY)


@given(st.binary(max_size=80))
def test_parsing_random_bytes_raises_only_format_errors(raw: bytes) -> None:
    for feature in (6, 7):
        try:
            s = part10.parse_structure(feature, raw)
        except ApduFormatError:
            continue
        assert s.to_bytes()[s.HEADER_SIZE :] == raw[s.HEADER_SIZE :]


@given(
    st.integers(4, 16), st.integers(0, 255), st.sampled_from([0x0804, 0x0409, 0]),
)
def test_built_structures_round_trip(length: int, timeout: int, lang: int) -> None:
    for s in (part10.ssc_verify(length, timeout=timeout, lang_id=lang),
              part10.ssc_change(length, timeout=timeout, lang_id=lang)):
        assert type(s).from_bytes(s.to_bytes()) == s
        assert s.blank


def test_a_template_carrying_data_is_not_blank() -> None:
    raw = bytearray(GOLDEN_VERIFY)
    raw[-3:] = b"\x12\x34\x56"
    assert not part10.PinVerify.from_bytes(bytes(raw)).blank
    raw = bytearray(GOLDEN_CHANGE)
    raw[-1] = 0x56  # inside the new PIN's block
    assert not part10.PinModify.from_bytes(bytes(raw)).blank


def test_format_string_bits() -> None:
    assert part10.format_string(part10.ENCODING_BCD) == 0x81
    assert part10.format_string(part10.ENCODING_ASCII, 2, right=True) == 0x80 | 0x10 | 0x04 | 0x02
    assert part10.format_string(part10.ENCODING_BINARY, 1, units_bytes=False) == 0x08
    with pytest.raises(ApduFormatError):
        part10.format_string(3)
    with pytest.raises(ApduFormatError):
        part10.format_string(1, 16)


# --- features and properties --------------------------------------------------------------------


def test_control_codes_are_pcsc_lites() -> None:
    assert part10.scard_ctl_code(3400) == 0x42000D48 == part10.CM_IOCTL_GET_FEATURE_REQUEST


def test_feature_list_round_trip_and_big_endian_codes() -> None:
    features = {6: 0x42330006, 7: 0x42330007, 0x0A: 0x4233000A, 0x12: 0x42330012}
    raw = part10.encode_features(features)
    assert raw[:6] == bytes.fromhex("060442330006")
    assert part10.parse_features(raw) == features
    assert part10.parse_features(b"") == {}
    with pytest.raises(ApduFormatError):
        part10.parse_features(raw[:-1])
    with pytest.raises(ApduFormatError):
        part10.parse_features(bytes.fromhex("060342330006"))


def test_tlv_properties_round_trip() -> None:
    props: dict[int, int | bytes] = {
        part10.Property.LCD_LAYOUT: 0x0210,
        part10.Property.MIN_PIN_SIZE: 4,
        part10.Property.MAX_PIN_SIZE: 12,
        part10.Property.FIRMWARE_ID: b"sscard",
        part10.Property.MAX_APDU_DATA_SIZE: 0,
    }
    raw = part10.encode_properties(props)
    assert raw.startswith(bytes.fromhex("01021002"))  # wLcdLayout little-endian
    assert part10.parse_properties(raw) == props
    with pytest.raises(ApduFormatError):
        part10.parse_properties(raw[:-1])
    with pytest.raises(ApduFormatError):
        part10.parse_properties(b"\x06")
    with pytest.raises(ApduFormatError):
        part10.encode_properties({part10.Property.FIRMWARE_ID: 5})


def test_pin_properties_structure() -> None:
    p = part10.PinProperties(0x0210, 0x02, 0)
    assert p.to_bytes() == bytes.fromhex("10020200")
    assert part10.PinProperties.from_bytes(p.to_bytes()) == p
    with pytest.raises(ApduFormatError):
        part10.PinProperties.from_bytes(b"\x00")


# --- reader-made results ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sw, cls, exit_code",
    [
        (0x6400, PinEntryTimeout, 1),
        (0x6401, PinEntryCancelled, 1),
        (0x6402, PinEntryMismatch, 1),
        (0x6403, PinLengthError, 1),
        (0x6B80, PinPadRefused, 2),
    ],
)
def test_reader_results_are_typed_errors(sw: int, cls: type, exit_code: int) -> None:
    err = part10.reader_error(sw)
    assert isinstance(err, cls) and isinstance(err, PinPadError) and isinstance(err, SSCardError)
    assert err.sw == sw and err.exit_code == exit_code and f"{sw:04X}" in str(err)


@pytest.mark.parametrize("sw", [0x9000, 0x63C5, 0x6983, 0x6A80, 0x6404])
def test_the_cards_own_status_is_not_a_reader_result(sw: int) -> None:
    assert part10.reader_error(sw) is None


def test_cancel_message_says_cancelled() -> None:
    assert "cancelled" in str(part10.reader_error(0x6401))


# --- traces -------------------------------------------------------------------------------------


def test_describe_control_shows_a_blank_template_and_hides_anything_else() -> None:
    text = describe_control(0x42330006, GOLDEN_VERIFY, 6)
    assert text.startswith("CONTROL 42330006 VERIFY_PIN_DIRECT 1E 1E 81")
    assert text.endswith("00 20 00 00 03 FF FF FF")
    filled = GOLDEN_VERIFY[:-3] + b"\x12\x34\x56"
    assert describe_control(0x42330006, filled, 6) == (
        f"CONTROL 42330006 VERIFY_PIN_DIRECT <{len(filled)} bytes redacted>"
    )
    assert "redacted" in describe_control(0x42330007, b"\x00" * 10, 7)  # malformed
    assert describe_control(0x42000D48, b"", None) == "CONTROL 42000D48 GET_FEATURE_REQUEST"
    assert describe_control(0x42000001, b"\x01", None) == "CONTROL 42000001 ? 01"
    assert describe_control(0x42330012, b"", 0x12) == "CONTROL 42330012 GET_TLV_PROPERTIES"


@pytest.mark.parametrize(
    "change", [{"timeout": 256}, {"lang_id": -1}, {"teo_prologue": b"\x00\x00"},
               {"teo_prologue": b"\x00" * 4}, {"max_extra_digit": 0x10000}],
)
def test_a_field_that_does_not_fit_is_refused_not_truncated(change: dict) -> None:
    from dataclasses import replace

    with pytest.raises(ApduFormatError, match="does not fit"):
        replace(part10.ssc_verify(), **change).to_bytes()
