"""The simulated PIN-pad reader inside a real pcscd (issue 13): ``libifd-sscard.so`` registered in
the test stack's private pcscd as ``sscard PIN pad 00 00``, its firmware in another process.

Programs nobody here wrote see it as a PIN pad (pyscard's PCSCPart10, pcsc_scan, opensc-tool);
sscard's PC/SC driver does secure PIN entry through it.  What the card received is read on the
card's side (the firmware process records it); the digits never exist in this process -- the
keypad entries are the simulated holder's fingers, sent to the firmware's control channel.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from apdu import part10
from apdu.command import CommandAPDU
from apdu.errors import (
    ControlNotSupported,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
)
from apdu.status import WrongPin
from drivers.channel import CardChannel
from drivers.pcsc import PcscReader
from drivers.pinpad import PinPad, probe
from drivers.trace import RecordingTracer, StreamTracer
from tests.helpers_pinpad import EMPTY_VERIFY, SELECT_SSSE, stack_pad
from tests.stack import PinPadHarness
from tests.test_pcsc_tools import tool

SELECT = CommandAPDU.from_bytes(SELECT_SSSE)
VERIFY_123456 = bytes.fromhex("0020000003123456")


@pytest.fixture
def pad(pcsc_stack: Any) -> Iterator[PinPadHarness]:
    harness = stack_pad(pcsc_stack)
    yield harness
    assert harness.keypad("status") == "keypad 0 entries queued", "a test left keypad entries"


class Session:
    """A PC/SC session on the PIN-pad reader with SSSE selected."""

    def __init__(self, harness: PinPadHarness, tracer: object = None) -> None:
        self.harness = harness
        self.reader = PcscReader(harness.reader)
        self.reader.connect()
        self.channel = CardChannel(self.reader, tracer)  # type: ignore[arg-type]
        self.channel.send(SELECT)
        self.pad = PinPad(self.channel)

    def type(self, *entries: str) -> None:
        for entry in entries:
            self.harness.keypad(entry)

    def tries(self) -> int:
        sw = self.channel.transmit(CommandAPDU.from_bytes(EMPTY_VERIFY)).sw
        assert sw >> 4 == 0x63C, f"{sw:04X}"
        return sw & 0x0F

    def mark(self) -> int:
        return len(self.harness.received())

    def since(self, mark: int) -> list[bytes]:
        return self.harness.received()[mark:]


@pytest.fixture
def session(pad: PinPadHarness) -> Iterator[Session]:
    s = Session(pad)
    try:
        assert s.tries() == 6
        yield s
        assert s.tries() == 6, "a test left the PIN pad's card with a try spent"
    finally:
        s.reader.disconnect()


# --- other people's programs see a PIN pad ------------------------------------------------------


def test_pyscard_part10_lists_verify_and_modify(pad: PinPadHarness) -> None:
    from smartcard.pcsc import PCSCPart10
    from smartcard.scard import SCARD_SHARE_DIRECT
    from smartcard.System import readers

    reader = next(r for r in readers() if str(r) == pad.reader)
    for mode in (None, SCARD_SHARE_DIRECT):  # with the card, and a direct connection
        conn = reader.createConnection()
        conn.connect(mode=mode) if mode is not None else conn.connect()
        try:
            features = PCSCPart10.getFeatureRequest(conn)
            assert PCSCPart10.hasFeature(features, PCSCPart10.FEATURE_VERIFY_PIN_DIRECT)
            assert PCSCPart10.hasFeature(features, PCSCPart10.FEATURE_MODIFY_PIN_DIRECT)
            tags = {name for name, _ in features}
            assert {"FEATURE_VERIFY_PIN_DIRECT", "FEATURE_MODIFY_PIN_DIRECT",
                    "FEATURE_IFD_PIN_PROPERTIES", "FEATURE_GET_TLV_PROPERTIES"} <= tags
            props = PCSCPart10.getTlvProperties(conn, features)
            assert props["PCSCv2_PART10_PROPERTY_bMinPINSize"] == 4
            assert props["PCSCv2_PART10_PROPERTY_bMaxPINSize"] == 12
            assert PCSCPart10.getPinProperties(conn, features)["EntryValidationCondition"] == 2
        finally:
            conn.disconnect()


def test_pcsc_scan_lists_the_pin_pad_reader(pad: PinPadHarness) -> None:
    done = subprocess.run([tool("pcsc_scan"), "-r"], capture_output=True, text=True, timeout=30)
    assert pad.reader in done.stdout, done.stdout + done.stderr


def test_opensc_tool_lists_the_reader_as_a_pin_pad(pad: PinPadHarness) -> None:
    done = subprocess.run([tool("opensc-tool"), "-l"], capture_output=True, text=True,
                          timeout=30)
    line = next((x for x in done.stdout.splitlines() if x.rstrip().endswith(pad.reader)), None)
    assert line is not None, done.stdout + done.stderr
    assert re.search(r"PIN pad", line), line  # OpenSC found VERIFY_PIN_DIRECT itself


def test_vpcd_readers_have_no_pin_pad(pcsc_stack: Any) -> None:
    reader = PcscReader(pcsc_stack.card_reader)
    assert reader.features() == {}
    assert probe(CardChannel(reader)) is None
    with pytest.raises(ControlNotSupported):
        reader.control(part10.CM_IOCTL_GET_FEATURE_REQUEST)


def test_features_without_a_card_session(pad: PinPadHarness) -> None:
    reader = PcscReader(pad.reader)  # never connected: a direct connection is used
    features = reader.features()
    assert features[part10.Feature.VERIFY_PIN_DIRECT] == 0x42330006
    assert set(features) == {6, 7, 0x0A, 0x12}
    info = probe(CardChannel(reader))
    assert info is not None and info.limits == part10.PinLimits(4, 12)
    assert info.firmware_id == "sscard simulated PIN pad"


# --- secure PIN entry through pcscd -------------------------------------------------------------


def test_verify_on_the_pad_reaches_the_card_as_exactly_the_bcd_pin(session: Session) -> None:
    mark = session.mark()
    session.type("123456")
    session.pad.verify()
    assert session.since(mark) == [VERIFY_123456]


def test_change_on_the_pad_reaches_the_card_as_old_ff_new(session: Session) -> None:
    mark = session.mark()
    session.type("123456", "654321", "654321")
    session.pad.change()
    session.type("654321", "123456", "123456")
    session.pad.change()  # back to the stack's PIN
    assert session.since(mark) == [
        bytes.fromhex("805E010007123456FF654321"),
        bytes.fromhex("805E010007654321FF123456"),
    ]


def test_cancel_is_a_typed_error_and_uses_no_try(session: Session) -> None:
    mark = session.mark()
    session.type("cancel")
    with pytest.raises(PinEntryCancelled, match="cancelled") as info:
        session.pad.verify()
    assert info.value.sw == 0x6401 and info.value.exit_code == 1
    assert session.since(mark) == []  # the card received nothing (tries: checked on teardown)


def test_a_timeout_is_6400(session: Session) -> None:
    session.type("timeout")
    with pytest.raises(PinEntryTimeout) as info:
        session.pad.verify()
    assert info.value.sw == 0x6400


def test_nobody_typing_times_out_through_pcscd_without_hanging(session: Session) -> None:
    mark = session.mark()
    with pytest.raises(PinEntryTimeout):
        PinPad(session.channel, session.pad.info, timeout=2).verify()  # WAIT frames carry it
    assert session.since(mark) == []


def test_different_confirmations_are_6402_and_send_nothing(session: Session) -> None:
    mark = session.mark()
    session.type("123456", "654321", "654320")
    with pytest.raises(PinEntryMismatch) as info:
        session.pad.change()
    assert info.value.sw == 0x6402 and session.since(mark) == []


def test_a_wrong_pin_is_the_cards_63cx(session: Session) -> None:
    session.type("000111")
    with pytest.raises(WrongPin) as info:
        session.pad.verify()
    assert info.value.tries_left == 5
    session.type("123456")
    session.pad.verify()  # a right PIN restores the counter


def test_a_length_outside_the_pads_properties_is_refused_before_anything_is_sent(
    session: Session,
) -> None:
    mark = session.mark()
    session.type("1234567890123")
    with pytest.raises(PinLengthError, match="4 to 12 digits") as info:
        PinPad(session.channel, session.pad.info, pin_length=13).verify()
    assert info.value.sw is None and session.since(mark) == []
    assert session.harness.keypad("status") == "keypad 1 entries queued"  # the pad never asked
    session.harness.keypad("clear")


def test_the_pad_answers_a_5_digit_entry_for_6_with_6403(session: Session) -> None:
    session.type("12345")
    with pytest.raises(PinLengthError) as info:
        session.pad.verify()
    assert info.value.sw == 0x6403


# --- no PIN digit on the host side --------------------------------------------------------------


def test_no_digit_of_the_pin_exists_on_the_host_side(
    pad: PinPadHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """The whole pad path with a distinctive PIN: traces, logs, errors and what this process sent
    to pcscd hold templates only (the digits go from the keypad to the card in the firmware)."""
    caplog.set_level(logging.DEBUG)
    stream, recorder = io.StringIO(), RecordingTracer()

    class Both:
        def exchange(self, *a: Any) -> None:
            StreamTracer(stream).exchange(*a)
            recorder.exchange(*a)

        def control(self, *a: Any) -> None:
            StreamTracer(stream).control(*a)
            recorder.control(*a)

    s = Session(pad, Both())
    errors: list[str] = []
    try:
        s.type("123456", "480913", "480913")
        s.pad.change()
        s.type("480913")
        s.pad.verify()
        s.type("480914")
        with pytest.raises(WrongPin) as wrong:
            s.pad.verify()
        errors.append(str(wrong.value) + repr(wrong.value))
        s.type("480913", "480913", "480912")
        with pytest.raises(PinEntryMismatch) as mismatch:
            s.pad.change()
        errors.append(str(mismatch.value) + repr(mismatch.value))
        s.type("480913", "123456", "123456")
        s.pad.change()
        errors.append(repr(s.pad) + repr(s.pad.info))
    finally:
        s.reader.disconnect()
    sent_to_pcscd = [e.command.hex() for e in recorder.exchanges]
    host_side = "\n".join([stream.getvalue(), caplog.text, *errors, *sent_to_pcscd,
                           str(recorder.to_json())])
    assert "VERIFY_PIN_DIRECT" in host_side and "MODIFY_PIN_DIRECT" in host_side
    for secret in ("480913", "48 09 13", "480914", "480912", "48 09 14"):
        assert secret not in host_side.upper().replace("0X", "")
    for structure in (e.command for e in recorder.exchanges if e.control is not None):
        if len(structure) > part10.VERIFY_HEADER_SIZE:
            assert set(structure[-3:]) <= {0xFF}, structure.hex()  # the template's PIN block
    # ...while the card did receive the digits, from the pad
    assert bytes.fromhex("0020000003480913") in pad.received()
