"""ReplayReader: answers from a recorded trace; differences are typed errors (drivers.replay)."""

from __future__ import annotations

import io
import json

import pytest

from apdu.codec import pin_encode
from apdu.commands import read_record, select_by_name, verify
from apdu.errors import DataFormatError, NoCardError, ProtocolError
from apdu.names import SSSE_NAME
from drivers.channel import CardChannel
from drivers.replay import ReplayReader
from drivers.simulated import SimulatedReader
from drivers.trace import RecordingTracer, StreamTracer
from tests.helpers_drivers import ATR_T0, FCI, TinyCard


def _session(channel: CardChannel, pin: str = "480913") -> list[bytes]:
    return [
        channel.send(select_by_name(SSSE_NAME)),
        channel.send(read_record(0x03, by_tag=True, sfi=5, le=6)),
        channel.transmit(verify(pin_encode(pin))).to_bytes(),
        channel.send(read_record(0x07, by_tag=True, sfi=5, le=11)),
    ]


class PinCard(TinyCard):
    def transmit(self, command: bytes) -> bytes:
        return b"\x90\x00" if command[1] == 0x20 else super().transmit(command)


def _record(kind: str) -> tuple[ReplayReader, list[bytes]]:
    reader = SimulatedReader(PinCard(t0=True))
    with reader:
        if kind == "json":
            tracer = RecordingTracer(atr=reader.atr)
            results = _session(CardChannel(reader, tracer))
            return ReplayReader.from_json(json.dumps(tracer.to_json())), results
        out = io.StringIO()
        stream = StreamTracer(out)
        stream.atr(reader.atr)
        results = _session(CardChannel(reader, stream))
        return ReplayReader.from_text(out.getvalue()), results


@pytest.mark.parametrize("kind", ["json", "text"])
def test_a_recorded_t0_session_replays_identically(kind: str) -> None:
    replay, live = _record(kind)
    with replay:
        assert replay.atr == ATR_T0 and replay.protocol == "T0"
        channel = CardChannel(replay)
        assert _session(channel) == live
        assert live[0] == FCI
        assert replay.finished
        assert channel.apdu_count == 5  # SELECT + GET RESPONSE + 2 READ RECORD + VERIFY


@pytest.mark.parametrize("kind", ["json", "text"])
def test_secret_commands_match_on_their_header_only(kind: str) -> None:
    replay, live = _record(kind)
    with replay:
        # another PIN: the recording never held the PIN, so only the header is compared.
        assert _session(CardChannel(replay), pin="111111") == live


def test_a_different_command_names_expected_and_got() -> None:
    replay, _ = _record("json")
    with replay:
        channel = CardChannel(replay)
        channel.send(select_by_name(SSSE_NAME))
        with pytest.raises(ProtocolError, match="expected 00 B2 03 28 06, got 00 B2 01 28 06"):
            channel.send(read_record(0x01, by_tag=True, sfi=5, le=6))


def test_mismatch_on_a_secret_command_stays_redacted() -> None:
    replay = ReplayReader.from_json([{"atr": ATR_T0.hex()}, {"c": "00b2032806", "r": "9000"}])
    with replay, pytest.raises(ProtocolError) as err:
        replay.transmit_raw(verify(pin_encode("480913")).to_bytes())
    assert "480913" not in str(err.value).replace(" ", "")
    assert "redacted" in str(err.value)


def test_commands_past_the_end_of_the_recording_fail() -> None:
    replay = ReplayReader.from_json([{"c": "00a40000023f00", "r": "9000"}], atr=ATR_T0)
    with replay:
        assert replay.transmit_raw(bytes.fromhex("00a40000023f00")) == b"\x90\x00"
        with pytest.raises(ProtocolError, match="ended"):
            replay.transmit_raw(bytes.fromhex("00a40000023f00"))


def test_fuzzing_reader_answers_in_order_whatever_is_sent() -> None:
    fuzz = ReplayReader.from_responses(ATR_T0, [b"\x61\x03", b"abc\x90\x00"])
    with fuzz:
        assert CardChannel(fuzz).send(select_by_name(b"anything")) == b"abc"
        assert fuzz.transmit_raw(b"\x00\x00\x00\x00") == b"\x6f\x00"


def test_not_connected_and_malformed_traces() -> None:
    with pytest.raises(NoCardError):
        ReplayReader(ATR_T0, []).transmit_raw(b"\x00\xa4\x00\x00")
    with pytest.raises(DataFormatError, match="no ATR"):
        ReplayReader.from_text("> 00 A4 00 00\n< 9000\n")
    with pytest.raises(DataFormatError, match="without a command"):
        ReplayReader.from_text("ATR 3B 6D 00 00\n< 9000\n")
    with pytest.raises(DataFormatError, match="not hex"):
        ReplayReader.from_json([{"c": "zz", "r": "9000"}], atr=ATR_T0)
