"""Tracers (drivers.trace): readable lines, and a PIN never reaches any output (card-profile §6)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from apdu.codec import pin_encode
from apdu.commands import change_pin, cipher_data, read_record, verify
from drivers.channel import CardChannel
from drivers.trace import LogTracer, RecordingTracer, StreamTracer
from tests.helpers_drivers import ScriptedReader

PIN = "480913"
NEW_PIN = "735102"


def _secret_session(tracer: object) -> None:
    reader = ScriptedReader([b"\x90\x00", b"\x63\xc5", b"\x90\x00", b"\x07\x04" + b"3.00\x90\x00"])
    channel = CardChannel(reader, tracer=tracer)  # type: ignore[arg-type]
    channel.transmit(verify(pin_encode(PIN)))
    channel.transmit(change_pin(pin_encode(PIN), pin_encode(NEW_PIN)))
    channel.transmit(cipher_data(0x00, bytes.fromhex("0348091380000000")))
    channel.transmit(read_record(0x03, by_tag=True, sfi=5, le=6))


def _assert_no_pin(text: str) -> None:
    flat = text.replace(" ", "").upper()
    for secret in (PIN, NEW_PIN, "480913", "735102"):
        assert secret not in flat, f"secret {secret} leaked into: {text!r}"


def test_stream_tracer_lines_and_redaction() -> None:
    out = io.StringIO()
    tracer = StreamTracer(out)
    tracer.atr(bytes.fromhex("3B6D0000"))
    _secret_session(tracer)
    text = out.getvalue()
    _assert_no_pin(text)
    lines = text.splitlines()
    assert lines[0] == "ATR 3B 6D 00 00"
    assert lines[1] == "> 00 20 00 00 <4 bytes redacted>"
    assert lines[2].startswith("< 9000 (") and lines[2].endswith(" ms)")
    assert lines[4].startswith("< 63C5 (")
    assert "> 00 B2 03 28 06" in lines
    assert any(line.startswith("< 07 04 33 2E 30 30 9000 (") for line in lines)


def test_log_tracer_redacts(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sscard.apdu"):
        _secret_session(LogTracer())
    assert len(caplog.records) == 8
    _assert_no_pin(caplog.text)
    assert "00 20 00 00 <4 bytes redacted>" in caplog.text


def test_recording_tracer_keeps_only_headers_of_secret_commands() -> None:
    tracer = RecordingTracer(atr=bytes.fromhex("3B6D0000"))
    _secret_session(tracer)
    exported = tracer.to_json()
    _assert_no_pin(json.dumps(exported))
    _assert_no_pin(repr(tracer.exchanges))
    assert exported[0] == {"atr": "3b6d0000"}
    assert exported[1] == {"c": "00200000", "r": "9000", "redacted": 4}
    assert exported[2]["c"] == "805e0100" and exported[2]["redacted"] == 8
    assert exported[4] == {"c": "00b2032806", "r": "0704332e30309000"}
