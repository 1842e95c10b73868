"""Secure PIN entry through the drivers (issue 13): the in-process PIN-pad reader, CardChannel's
counting and tracing of control requests, replay and fault injection, and drivers.pinpad's API.

The card is a simulated user card wrapped in a RecordingCard: every assertion on "what the card
received" reads the card side; the host side only ever handles templates.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apdu import part10
from apdu.command import CommandAPDU
from apdu.errors import (
    CardRemovedError,
    ControlNotSupported,
    NoCardError,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
    PinPadRefused,
)
from apdu.status import PinBlocked, WrongPin
from drivers.channel import CardChannel
from drivers.faults import FaultyReader
from drivers.pinpad import PinPad, PinPadInfo, probe
from drivers.replay import ReplayReader
from drivers.simulated import SimulatedReader
from drivers.trace import LogTracer, RecordingTracer, StreamTracer
from simulator.pinpad import PadConfig, PinPadFirmware, ScriptedKeypad
from simulator.samples import sample_card
from tests.helpers_drivers import ScriptedReader
from tests.helpers_pinpad import EMPTY_VERIFY, SELECT_SSSE, RecordingCard, press

VERIFY_123456 = bytes.fromhex("0020000003123456")
SELECT = CommandAPDU.from_bytes(SELECT_SSSE)


@dataclass
class Rig:
    keypad: ScriptedKeypad
    card: RecordingCard
    reader: SimulatedReader
    channel: CardChannel

    def type(self, *entries: str) -> None:
        press(self.keypad, *entries)

    def start(self) -> int:
        """SELECT SSSE; the index of the next command the card will receive."""
        self.channel.send(SELECT)
        return len(self.card.received)

    def tries(self) -> int:
        """The card's try counter, asked through a separate channel (empty VERIFY, §6)."""
        answer = self.card.inner.transmit(EMPTY_VERIFY)
        assert answer[0] == 0x63, answer.hex()
        return answer[1] & 0x0F


def make_rig(config: PadConfig | None = None, tracer: object = None, **card: object) -> Rig:
    keypad = ScriptedKeypad()
    recording = RecordingCard(sample_card(3, **{"t0": False, **card}))  # T=1: no GET RESPONSE
    reader = SimulatedReader(recording, pin_pad=PinPadFirmware(keypad, config))  # type: ignore[arg-type]
    reader.connect()
    return Rig(keypad, recording, reader, CardChannel(reader, tracer))  # type: ignore[arg-type]


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = make_rig()
    yield r
    r.reader.disconnect()


# --- discovery ----------------------------------------------------------------------------------


def test_probe_reports_the_pad(rig: Rig) -> None:
    info = probe(rig.channel)
    assert info is not None and info.can_verify and info.can_modify
    assert info.features[part10.Feature.VERIFY_PIN_DIRECT] == 0x42330006
    assert info.limits == part10.PinLimits(4, 12)
    assert info.firmware_id == "sscard simulated PIN pad"
    assert info.pin_properties == part10.PinProperties(0x0210, 2, 0)
    assert rig.card.received == [] and rig.channel.apdu_count == 0  # nothing reached the card


def test_probe_needs_no_card_session() -> None:
    reader = SimulatedReader(None, pin_pad=PinPadFirmware(ScriptedKeypad()))
    assert reader.features()[part10.Feature.MODIFY_PIN_DIRECT] == 0x42330007
    info = probe(CardChannel(reader))
    assert info is not None and info.can_verify


def test_readers_without_a_pad_have_no_features() -> None:
    plain = SimulatedReader(sample_card(3, t0=False))
    assert plain.features() == {} and probe(CardChannel(plain)) is None
    assert ScriptedReader([]).features() == {}
    with pytest.raises(ControlNotSupported):
        plain.control(part10.CM_IOCTL_GET_FEATURE_REQUEST)
    with pytest.raises(ControlNotSupported, match="no PIN pad"):
        PinPad(CardChannel(plain))


# --- VERIFY -------------------------------------------------------------------------------------


def test_verify_on_the_pad_sends_the_card_exactly_the_bcd_pin(rig: Rig) -> None:
    mark = rig.start()
    rig.type("123456")
    PinPad(rig.channel).verify()
    assert rig.card.since(mark) == [VERIFY_123456]
    assert rig.channel.apdu_count == 2  # SELECT + the VERIFY the pad sent


def test_a_wrong_pin_is_the_cards_wrong_pin_with_tries_left(rig: Rig) -> None:
    rig.start()
    rig.type("000111")
    with pytest.raises(WrongPin) as info:
        PinPad(rig.channel).verify()
    assert info.value.tries_left == 5 and rig.tries() == 5


def test_a_blocked_pin_is_pin_blocked() -> None:
    rig = make_rig(pin_tries=1)
    rig.start()
    rig.type("000111", "123456")
    pad = PinPad(rig.channel)
    with pytest.raises(WrongPin) as info:
        pad.verify()
    assert info.value.tries_left == 0
    with pytest.raises(PinBlocked):
        pad.verify()


@pytest.mark.parametrize(
    "entry, error, sw",
    [("cancel", PinEntryCancelled, 0x6401), ("timeout", PinEntryTimeout, 0x6400),
     ("12345", PinLengthError, 0x6403)],
)
def test_pad_results_are_typed_errors_and_cost_nothing(
    rig: Rig, entry: str, error: type, sw: int
) -> None:
    mark = rig.start()
    rig.type(entry)
    with pytest.raises(error) as info:
        PinPad(rig.channel).verify()
    assert info.value.sw == sw and info.value.exit_code == 1
    assert rig.card.since(mark) == [] and rig.tries() == 6
    assert rig.channel.apdu_count == 1  # only the SELECT: nothing reached the card


def test_a_length_outside_the_pads_properties_is_refused_before_anything_is_sent() -> None:
    rig = make_rig(PadConfig(min_pin=8, max_pin=12))
    mark = rig.start()
    rig.type("123456")
    pad = PinPad(rig.channel)
    assert pad.info.limits == part10.PinLimits(8, 12)
    with pytest.raises(PinLengthError, match="8 to 12") as info:
        pad.verify()
    with pytest.raises(PinLengthError):
        pad.change()
    assert info.value.sw is None and info.value.exit_code == 1
    assert rig.card.since(mark) == [] and rig.keypad.pending == 1  # the pad was never asked
    with pytest.raises(PinLengthError):
        PinPad(rig.channel, pin_length=17).verify()


def test_a_firmware_refusal_is_pin_pad_refused(rig: Rig) -> None:
    rig.start()
    code = probe(rig.channel).code(part10.Feature.VERIFY_PIN_DIRECT)  # type: ignore[union-attr]
    binary = part10.PinVerify.from_bytes(part10.ssc_verify().to_bytes()[:2] + b"\x80"
                                         + part10.ssc_verify().to_bytes()[3:])
    with pytest.raises(PinPadRefused) as info:
        rig.channel.pin_pad_verify(code, binary)
    assert info.value.sw == 0x6B80 and info.value.exit_code == 2


def test_verify_without_a_card_session(rig: Rig) -> None:
    pad = PinPad(rig.channel)
    rig.reader.disconnect()
    rig.type("123456")
    with pytest.raises(NoCardError):
        pad.verify()
    rig.reader.connect()
    rig.reader.remove()
    with pytest.raises(CardRemovedError):
        pad.verify()


# --- CHANGE PIN ---------------------------------------------------------------------------------


def test_change_on_the_pad_sends_old_ff_new(rig: Rig) -> None:
    mark = rig.start()
    rig.type("123456", "654321", "654321")
    pad = PinPad(rig.channel)
    pad.change()
    assert rig.card.since(mark) == [bytes.fromhex("805E010007123456FF654321")]
    rig.type("654321")
    pad.verify()


def test_different_confirmations_are_a_mismatch_and_send_nothing(rig: Rig) -> None:
    mark = rig.start()
    rig.type("123456", "654321", "654320")
    with pytest.raises(PinEntryMismatch) as info:
        PinPad(rig.channel).change()
    assert info.value.sw == 0x6402 and rig.card.since(mark) == [] and rig.tries() == 6


def test_a_wrong_current_pin_on_change_costs_one_try(rig: Rig) -> None:
    rig.start()
    rig.type("111111", "654321", "654321")
    with pytest.raises(WrongPin):
        PinPad(rig.channel).change()
    assert rig.tries() == 5


def test_a_pad_without_modify_refuses_change(rig: Rig) -> None:
    info = PinPadInfo({part10.Feature.VERIFY_PIN_DIRECT: 0x42330006})
    with pytest.raises(ControlNotSupported, match="MODIFY_PIN_DIRECT"):
        PinPad(rig.channel, info).change()


# --- tracing, replay, faults --------------------------------------------------------------------


def test_the_trace_holds_templates_only() -> None:
    stream = io.StringIO()
    rig = make_rig(tracer=StreamTracer(stream))
    rig.start()
    rig.type("480913", "480913", "739251", "739251")
    pad = PinPad(rig.channel)
    with pytest.raises(WrongPin):
        pad.verify()
    with pytest.raises(WrongPin):
        pad.change()
    text = stream.getvalue()
    assert "> CONTROL 42000D48 GET_FEATURE_REQUEST" in text
    assert "VERIFY_PIN_DIRECT" in text and "00 20 00 00 03 FF FF FF" in text
    assert "MODIFY_PIN_DIRECT" in text and "80 5E 01 00 07 FF FF FF FF FF FF FF" in text
    assert "< 63 C5" in text or "< 63C5" in text
    for secret in ("480913", "48 09 13", "739251", "73 92 51"):
        assert secret not in text


def test_log_tracer_logs_control_requests(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sscard.apdu")
    rig = make_rig(tracer=LogTracer())
    rig.start()
    rig.type("123456")
    PinPad(rig.channel).verify()
    assert "CONTROL 42330006 VERIFY_PIN_DIRECT" in caplog.text and "12 34 56" not in caplog.text


def test_a_tracer_without_control_sees_the_template_as_an_exchange() -> None:
    class Bare:
        def __init__(self) -> None:
            self.seen: list[bytes] = []

        def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
            self.seen.append(command)

    bare = Bare()
    rig = make_rig(tracer=bare)
    rig.start()
    rig.type("123456")
    PinPad(rig.channel).verify()
    assert bare.seen[-1] == bytes.fromhex("0020000003FFFFFF")


def _verify_then_cancelled(channel: CardChannel) -> None:
    pad = PinPad(channel)
    pad.verify()
    with pytest.raises(PinEntryCancelled):
        pad.verify()


def _record(tracer: object) -> Rig:
    """A pad VERIFY (123456) and a cancelled one, traced by ``tracer``."""
    rig = make_rig(tracer=tracer)
    rig.start()
    rig.type("123456", "cancel")
    _verify_then_cancelled(rig.channel)
    return rig


def _record_session() -> RecordingTracer:
    recorder = RecordingTracer()
    recorder.atr = _record(recorder).reader.atr
    return recorder


def _replay_session(reader: ReplayReader) -> None:
    reader.connect()
    channel = CardChannel(reader)
    channel.send(SELECT)
    _verify_then_cancelled(channel)
    assert reader.finished


def test_a_recorded_pin_pad_session_replays_from_json() -> None:
    exported = json.dumps(_record_session().to_json())
    assert '"ctl": "42330006"' in exported and "123456" not in exported
    _replay_session(ReplayReader.from_json(exported))


def test_a_recorded_pin_pad_session_replays_from_text() -> None:
    stream = io.StringIO()
    tracer = StreamTracer(stream)
    tracer.atr(_record(tracer).reader.atr)
    _replay_session(ReplayReader.from_text(stream.getvalue()))


def test_replay_refuses_a_different_control_request() -> None:
    reader = ReplayReader.from_json(_record_session().to_json())
    reader.connect()
    channel = CardChannel(reader)
    channel.send(SELECT)
    pad = PinPad(channel)
    from apdu.errors import ProtocolError

    with pytest.raises(ProtocolError, match="expected CONTROL 42330006"):
        channel.pin_pad_verify(0x42330006, part10.ssc_verify(8))
    assert pad.info.can_verify


def test_a_redacted_structure_is_recorded_and_replayed_by_code() -> None:
    recorder = RecordingTracer()
    filled = part10.ssc_verify().to_bytes()[:-3] + b"\x12\x34\x56"
    recorder.control(0x42330006, filled, b"\x90\x00", 0.0, part10.Feature.VERIFY_PIN_DIRECT)
    item = recorder.to_json()[0]
    assert item == {"ctl": "42330006", "c": "", "r": "9000", "redacted": len(filled)}
    reader = ReplayReader.from_json([{"atr": "3b00"}, item])
    assert reader.control(0x42330006, part10.ssc_verify().to_bytes()) == b"\x90\x00"


def test_fuzzing_answers_control_requests_from_the_queue() -> None:
    reader = ReplayReader.from_responses(b"\x3b\x00", [b"\x64\x01"])
    reader.connect()
    with pytest.raises(PinEntryCancelled):
        CardChannel(reader).pin_pad_verify(0x42330006, part10.ssc_verify())
    assert reader.control(1) == b"\x6f\x00"  # exhausted: no precise diagnosis


@pytest.mark.parametrize("delivered", [False, True])
def test_the_card_pulled_out_at_the_pads_verify(delivered: bool) -> None:
    keypad = ScriptedKeypad()
    card = RecordingCard(sample_card(3, t0=False))
    inner = SimulatedReader(card, pin_pad=PinPadFirmware(keypad))  # type: ignore[arg-type]
    faulty = FaultyReader(inner)
    faulty.connect()
    channel = CardChannel(faulty)
    channel.send(SELECT)
    pad = PinPad(channel)  # discovery: 3 control requests (indexes 1-3)
    keypad.push("123456")
    index = faulty.count
    (faulty.remove_after if delivered else faulty.remove_before)(index)
    with pytest.raises(CardRemovedError):
        pad.verify()
    assert (card.received[-1] == VERIFY_123456) is delivered


# --- the API takes no digits --------------------------------------------------------------------


def test_no_function_of_the_pad_path_takes_a_digit() -> None:
    allowed = {"self", "channel", "info", "pin_length", "timeout", "lang_id", "code",
               "structure", "limits", "data", "feature"}
    for fn in (PinPad.__init__, PinPad.verify, PinPad.change, probe, CardChannel.pin_pad_verify,
               CardChannel.pin_pad_modify, CardChannel.pin_pad_exchange, CardChannel.control,
               part10.ssc_verify, part10.ssc_change):
        params = set(inspect.signature(fn).parameters)
        assert params <= allowed, (fn.__qualname__, params - allowed)
    assert repr(PinPad(make_rig().channel)) == "PinPad('sscard simulator', 6 digits, timeout 30 s)"


def test_the_readme_pin_pad_example_runs(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", readme, re.S)
    code = next(b for b in blocks if b.startswith("from apdu.commands import select_by_name"))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    # SELECT (+ its GET RESPONSE: the sample card is T=0, as real cards) + the pad's VERIFY
    assert done.stdout.split() == ["True", "True", "4", "12", "verified", "3"]
