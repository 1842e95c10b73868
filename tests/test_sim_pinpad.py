"""The simulated PIN-pad reader's firmware (simulator/pinpad.py): it reads a part 10 structure the
way libccid and reader firmware do, takes digits from its keypad and sends the card exactly the
APDU the template describes (issue 13, card-profile §6, pin-pad.md)."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu import part10
from apdu.errors import ControlNotSupported, NoCardError, UsageError
from simulator.pinpad import (
    PadConfig,
    PinPadFirmware,
    ScriptedKeypad,
    TerminalKeypad,
    control_code,
    keypad_command,
)
from simulator.samples import sample_card
from tests.helpers_pinpad import EMPTY_VERIFY, SELECT_SSSE, RecordingCard

VERIFY = control_code(part10.Feature.VERIFY_PIN_DIRECT)
MODIFY = control_code(part10.Feature.MODIFY_PIN_DIRECT)


class Pad:
    """A firmware, its keypad and a recording sample card with SSSE selected."""

    def __init__(self, config: PadConfig | None = None, **card: object) -> None:
        self.keypad = ScriptedKeypad()
        self.firmware = PinPadFirmware(self.keypad, config)
        self.card = RecordingCard(sample_card(3, **{"t0": False, **card}))  # APDU level: T=1
        self.card.power_on()
        assert self.card.transmit(SELECT_SSSE)[-2:] == b"\x90\x00"
        self.mark = len(self.card.received)

    def control(self, code: int, structure: bytes | part10.PinVerify | part10.PinModify) -> bytes:
        raw = structure if isinstance(structure, bytes) else structure.to_bytes()
        self.mark = len(self.card.received)
        return self.firmware.control(code, raw, self.card.transmit)

    @property
    def sent(self) -> list[bytes]:
        """What the card received during the last control request."""
        return self.card.since(self.mark)

    def tries(self) -> bytes:
        return self.card.transmit(EMPTY_VERIFY)


@pytest.fixture
def pad() -> Pad:
    return Pad()


# --- discovery ----------------------------------------------------------------------------------


def test_features_and_properties(pad: Pad) -> None:
    features = part10.parse_features(
        pad.firmware.control(part10.CM_IOCTL_GET_FEATURE_REQUEST, b"", None)
    )
    assert features == {6: 0x42330006, 7: 0x42330007, 0x0A: 0x4233000A, 0x12: 0x42330012}
    windows = pad.firmware.control(part10.CM_IOCTL_GET_FEATURE_REQUEST_WINDOWS, b"", None)
    assert part10.parse_features(windows) == features
    tlv = part10.parse_properties(pad.firmware.control(0x42330012, b"", None))
    assert tlv[part10.Property.MIN_PIN_SIZE] == 4 and tlv[part10.Property.MAX_PIN_SIZE] == 12
    assert tlv[part10.Property.FIRMWARE_ID] == b"sscard simulated PIN pad"
    props = part10.PinProperties.from_bytes(pad.firmware.control(0x4233000A, b"", None))
    assert props == part10.PinProperties(0x0210, 0x02, 0)


def test_unknown_codes_and_malformed_structures_are_not_supported(pad: Pad) -> None:
    with pytest.raises(ControlNotSupported):
        pad.control(0x42330099, b"")
    with pytest.raises(ControlNotSupported, match="ulDataLength"):
        pad.control(VERIFY, part10.ssc_verify().to_bytes() + b"\x00")
    with pytest.raises(ControlNotSupported, match="shorter"):
        pad.control(MODIFY, part10.ssc_change().to_bytes()[:27])
    assert pad.sent == [] and pad.keypad.pending == 0


def test_a_pin_request_needs_a_powered_card(pad: Pad) -> None:
    pad.keypad.push("123456")
    with pytest.raises(NoCardError):
        pad.firmware.control(VERIFY, part10.ssc_verify().to_bytes(), None)
    assert pad.keypad.pending == 1  # the keypad was not asked


# --- VERIFY -------------------------------------------------------------------------------------


def test_verify_sends_exactly_the_pin_in_bcd(pad: Pad) -> None:
    pad.keypad.push("123456")
    assert pad.control(VERIFY, part10.ssc_verify()) == b"\x90\x00"
    assert pad.sent == [bytes.fromhex("0020000003123456")]


def test_a_wrong_pin_reaches_the_card_and_costs_a_try(pad: Pad) -> None:
    pad.keypad.push("000111")
    assert pad.control(VERIFY, part10.ssc_verify()) == b"\x63\xc5"
    assert pad.sent == [bytes.fromhex("0020000003000111")]


@pytest.mark.parametrize(
    "push, sw",
    [("cancel", b"\x64\x01"), ("timeout", b"\x64\x00"), ("12345", b"\x64\x03"),
     ("1234567", b"\x64\x03"), ("", b"\x64\x03")],
)
def test_pad_results_send_nothing_and_use_no_try(pad: Pad, push: str, sw: bytes) -> None:
    keypad_command(pad.keypad, [push]) if push in ("cancel", "timeout") else pad.keypad.push(push)
    assert pad.control(VERIFY, part10.ssc_verify()) == sw
    assert pad.sent == []
    assert pad.tries() == b"\x63\xc6"


def test_nobody_typing_times_out_after_btimerout(pad: Pad) -> None:
    structure = replace(part10.ssc_verify(), timeout=1)
    start = time.monotonic()
    assert pad.control(VERIFY, structure) == b"\x64\x00"
    assert time.monotonic() - start >= 1.0 and pad.sent == []


def test_an_entry_typed_while_the_pad_waits_is_taken(pad: Pad) -> None:
    threading.Timer(0.05, pad.keypad.push, args=("123456",)).start()
    assert pad.control(VERIFY, part10.ssc_verify()) == b"\x90\x00"


def test_an_odd_length_keeps_the_templates_f_nibble() -> None:
    pad = Pad(pin="12345")
    pad.keypad.push("12345")
    assert pad.control(VERIFY, part10.ssc_verify(5)) == b"\x90\x00"
    assert pad.sent == [bytes.fromhex("00200000031234 5F".replace(" ", ""))]


def test_ascii_digits_at_a_byte_position_right_justified() -> None:
    # A foreign card: ASCII PIN right-justified in an 8-byte block after a 2-byte prefix.
    template = bytes.fromhex("00200081" "0A" "AABB" + "FF" * 8)
    s = part10.PinVerify(
        timeout=0, timeout2=0,
        format_string=part10.format_string(part10.ENCODING_ASCII, 2, right=True),
        block_string=8, length_format=0, max_extra_digit=0x0408, validation=2, messages=0,
        lang_id=0, msg_index=0, teo_prologue=b"\0\0\0", apdu=template,
    )
    pad = Pad()
    pad.keypad.push("1234")
    pad.control(VERIFY, s)
    assert pad.sent == [bytes.fromhex("002000810AAABB") + b"\xff" * 4 + b"1234"]


def test_a_pin_length_field_in_bits_like_a_glp_block() -> None:
    # ISO 9564 format 2 ("GLP"): 2N then the BCD digits, F-padded; length at bit 4, PIN at bit 8.
    s = part10.PinVerify(
        timeout=0, timeout2=0,
        format_string=part10.format_string(part10.ENCODING_BCD, 8, units_bytes=False),
        block_string=0x47, length_format=0x04, max_extra_digit=0x040C, validation=2, messages=0,
        lang_id=0, msg_index=0, teo_prologue=b"\0\0\0",
        apdu=bytes.fromhex("0020008008" "20FFFFFFFFFFFFFF"),
    )
    pad = Pad()
    pad.keypad.push("1234")
    pad.control(VERIFY, s)
    assert pad.sent == [bytes.fromhex("0020008008" "241234FFFFFFFFFF")]


def test_the_pads_own_range_bounds_the_structures(pad: Pad) -> None:
    pad.keypad.push("12")
    structure = replace(part10.ssc_verify(), max_extra_digit=0x0206)  # asks 2..6 digits
    assert pad.control(VERIFY, structure) == b"\x64\x03"  # the pad takes 4 at least
    assert pad.keypad.pending == 0 and pad.sent == []
    narrow = Pad(PadConfig(min_pin=8, max_pin=12))
    narrow.keypad.push("123456")
    assert narrow.control(VERIFY, part10.ssc_verify()) == b"\x64\x03"
    assert narrow.keypad.pending == 1  # refused before asking


@pytest.mark.parametrize(
    "change",
    [
        {"format_string": 0x80},  # binary digits: not offered
        {"apdu": bytes.fromhex("00200000")},  # no data field
        {"apdu": bytes.fromhex("0020000005FFFFFF")},  # Lc does not match
        {"block_string": 0x02},  # 6 digits do not fit 2 bytes
        {"format_string": 0x81 | (1 << 3)},  # block at byte 1 runs past the data
        {"max_extra_digit": 0x0604},  # min above max
        {"format_string": 0x85, "max_extra_digit": 0x0406},  # right-justified BCD, odd lengths
        {"block_string": 0x43, "length_format": 0x1F},  # length field outside the data
    ],
)
def test_structures_the_firmware_cannot_carry_out_give_6b80(pad: Pad, change: dict) -> None:
    pad.keypad.push("123456")
    assert pad.control(VERIFY, replace(part10.ssc_verify(), **change)) == b"\x6b\x80"
    assert pad.sent == [] and pad.keypad.pending == 1


# --- MODIFY -------------------------------------------------------------------------------------


def test_change_sends_old_ff_new(pad: Pad) -> None:
    for digits in ("123456", "654321", "654321"):
        pad.keypad.push(digits)
    assert pad.control(MODIFY, part10.ssc_change()) == b"\x90\x00"
    assert pad.sent == [bytes.fromhex("805E010007123456FF654321")]
    pad.keypad.push("654321")
    assert pad.control(VERIFY, part10.ssc_verify()) == b"\x90\x00"


def test_different_confirmations_give_6402_and_send_nothing(pad: Pad) -> None:
    for digits in ("123456", "654321", "654322"):
        pad.keypad.push(digits)
    assert pad.control(MODIFY, part10.ssc_change()) == b"\x64\x02"
    assert pad.sent == [] and pad.tries() == b"\x63\xc6"


@pytest.mark.parametrize("at", [0, 1, 2])
def test_cancel_at_any_of_the_three_entries(pad: Pad, at: int) -> None:
    entries = ["123456", "654321", "654321"]
    for digits in entries[:at]:
        pad.keypad.push(digits)
    pad.keypad.push_cancel()
    assert pad.control(MODIFY, part10.ssc_change()) == b"\x64\x01"
    assert pad.sent == [] and pad.keypad.pending == 0


def test_a_wrong_current_pin_costs_a_try(pad: Pad) -> None:
    for digits in ("111111", "654321", "654321"):
        pad.keypad.push(digits)
    assert pad.control(MODIFY, part10.ssc_change()) == b"\x63\xc5"
    assert pad.sent == [bytes.fromhex("805E010007111111FF654321")]


def test_modify_without_the_current_pin_or_confirmation(pad: Pad) -> None:
    structure = replace(part10.ssc_change(), confirm=0)  # new PIN only, typed once
    pad.keypad.push("987654")
    pad.control(MODIFY, structure)
    assert pad.sent == [bytes.fromhex("805E010007FFFFFFFF987654")]
    assert pad.keypad.pending == 0


@pytest.mark.parametrize(
    "change",
    [{"offset_new": 2}, {"offset_new": 5}, {"block_string": 0x43}],
)
def test_modify_structures_that_cannot_work_give_6b80(pad: Pad, change: dict) -> None:
    pad.keypad.push("123456")
    assert pad.control(MODIFY, replace(part10.ssc_change(), **change)) == b"\x6b\x80"
    assert pad.sent == []


# --- keypads ------------------------------------------------------------------------------------


def test_keypad_command_words() -> None:
    keypad = ScriptedKeypad()
    assert "queued" in keypad_command(keypad, ["123456"])
    keypad_command(keypad, ["--cancel"])
    keypad_command(keypad, ["timeout"])
    assert keypad_command(keypad, ["status"]) == "keypad 3 entries queued"
    assert [keypad.entry("PIN", 0).kind for _ in range(4)] == [
        "digits", "cancel", "timeout", "timeout",
    ]
    keypad.push("1")
    assert keypad_command(keypad, ["clear"]) == "keypad cleared (1 entries dropped)"
    for bad in (["12a4"], [], ["1", "2"], ["1" * 33]):
        with pytest.raises(UsageError):
            keypad_command(keypad, bad)
    with pytest.raises(UsageError, match="--pinpad-socket"):
        keypad_command(None, ["123456"])


def test_a_key_entrys_repr_holds_no_digit() -> None:
    keypad = ScriptedKeypad(["480913"])
    entry = keypad.entry("PIN", 1)
    assert "480913" not in repr(entry) and "6 digits" in repr(entry)
    entry.wipe()
    assert entry.digits == bytearray(6)


def _pty_keypad() -> tuple[TerminalKeypad, int]:
    master, slave = os.openpty()
    return TerminalKeypad(os.fdopen(slave, "r+b", buffering=0)), master


def _read_until(master: int, marker: bytes, timeout: float = 10.0) -> bytes:
    import select

    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"the keypad never showed {marker!r}: {seen!r}"
        ready, _, _ = select.select([master], [], [], left)
        if ready:
            seen += os.read(master, 4096)
    return seen


@pytest.mark.parametrize(
    "typed, kind, digits",
    [(b"123456\n", "digits", b"123456"), (b"c\n", "cancel", b""), (b"12a4\r", "cancel", b""),
     (b"\n", "digits", b"")],
)
def test_the_terminal_keypad_reads_a_line_without_echo(
    typed: bytes, kind: str, digits: bytes
) -> None:
    keypad, master = _pty_keypad()
    result: list[object] = []
    try:
        worker = threading.Thread(target=lambda: result.append(keypad.entry("PIN", 10)))
        worker.start()
        shown = _read_until(master, b"(c = cancel")  # the holder types once asked
        os.write(master, typed)
        worker.join(15)
        entry = result[0]
        assert (entry.kind, bytes(entry.digits)) == (kind, digits)  # type: ignore[attr-defined]
        shown += _read_until(master, b"\n")
        assert b"enter the PIN" in shown and b"123456" not in shown  # no echo
    finally:
        os.close(master)


def test_the_terminal_keypad_times_out() -> None:
    keypad, master = _pty_keypad()
    try:
        assert keypad.entry("PIN", 0.2).kind == "timeout"
    finally:
        os.close(master)


# --- secrecy ------------------------------------------------------------------------------------


def test_the_firmware_logs_no_digit(pad: Pad, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for digits in ("480913",):
        pad.keypad.push(digits)
    pad.control(VERIFY, part10.ssc_verify())
    for digits in ("123456", "739251", "739251"):
        pad.keypad.push(digits)
    pad.control(MODIFY, part10.ssc_change())
    text = caplog.text
    assert "PIN pad VERIFY" in text and "PIN pad MODIFY" in text
    for secret in ("480913", "739251", "48 09 13", b"480913".hex(), b"739251".hex()):
        assert secret not in text


# --- hostile structures -------------------------------------------------------------------------

_FUZZ = int(os.environ.get("SSCARD_FUZZ_EXAMPLES", "300")) // 2 or 1
_GOLDEN = {VERIFY: part10.ssc_verify().to_bytes(), MODIFY: part10.ssc_change().to_bytes()}


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[int, bytes]:
    code = draw(st.sampled_from(sorted(_GOLDEN)))
    raw = bytearray(_GOLDEN[code])
    for _ in range(draw(st.integers(1, 6))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):  # keep the lengths coherent so that the firmware reads it through
        header = part10.VERIFY_HEADER_SIZE if code == VERIFY else part10.MODIFY_HEADER_SIZE
        raw[header - 4 : header] = (len(raw) - header).to_bytes(4, "little")
    return code, bytes(raw)


@settings(max_examples=_FUZZ, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(), st.lists(st.sampled_from(["123456", "1", "cancel", "12345678901234"]),
                            max_size=3))
def test_fuzz_mutated_structures_get_a_status_or_not_supported(
    request: tuple[int, bytes], entries: list[str]
) -> None:
    """Whatever the host sends, the firmware answers two status bytes or the card's response, or
    refuses the request as libccid would; it never raises anything else or hangs."""
    pad = Pad()
    for entry in entries:
        pad.keypad.push_cancel() if entry == "cancel" else pad.keypad.push(entry)
    pad.keypad.push_timeout()  # nobody waits for a keypad that was not scripted
    code, raw = request
    try:
        answer = pad.control(code, raw)
    except ControlNotSupported:
        assert pad.sent == []
        return
    assert len(answer) >= 2
    if answer[-2:] in (b"\x64\x00", b"\x64\x01", b"\x64\x02", b"\x64\x03", b"\x6b\x80"):
        assert pad.sent == []  # a result the pad made itself: the card received nothing
    assert len(pad.sent) <= 1
