"""APDU tracers for :class:`drivers.channel.CardChannel` (issue 3 §1: a redacted APDU trace).

Every command goes through :func:`apdu.redact.describe_command`, so the data of VERIFY, CHANGE PIN,
PIN UNBLOCK/RESET and CIPHER DATA (card-profile §6, §11) never reaches a log, a file or a
recording: only the header and the length of what was hidden.  pySim, vicc and jcecard printed
PINs in their traces (lessons-from-peers, "PINs leak"); here no tracer ever sees the formatting
of secret bytes.

Formats (the replay driver, :mod:`drivers.replay`, reads both back):

- text: ``> 00 A4 04 00 0F 73 78 ...`` then ``< 6F 1C ... 9000 (0.12 ms)``; an ``ATR 3B ...`` line
  when the ATR is known;
- JSON: ``[{"atr": hex}?, {"c": hex, "r": hex}, ...]``; a secret command is stored as its 4-byte
  header with ``"redacted": N`` (the number of bytes hidden).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from apdu.redact import describe_command, is_secret


def describe_response(response: bytes) -> str:
    """``data hex`` then the status word as 4 hex digits (responses hold no PIN)."""
    raw = bytes(response)
    if len(raw) < 2:
        return raw.hex(" ").upper() or "(empty)"
    sw = raw[-2:].hex().upper()
    data = raw[:-2].hex(" ").upper()
    return f"{data} {sw}" if data else sw


def _ms(seconds: float) -> str:
    return f"({seconds * 1000:.2f} ms)"


class LogTracer:
    """Logs each exchange at DEBUG on ``logger`` (``sscard.apdu`` by default)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("sscard.apdu")

    def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("> %s", describe_command(command))
            self.logger.debug("< %s %s", describe_response(response), _ms(seconds))


class StreamTracer:
    """Writes ``>`` / ``<`` lines to a text stream (stderr by default, or an open file)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr

    def atr(self, atr: bytes) -> None:
        """Record the ATR line (call after connect) so that the trace can be replayed."""
        self.stream.write(f"ATR {bytes(atr).hex(' ').upper()}\n")

    def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
        self.stream.write(
            f"> {describe_command(command)}\n< {describe_response(response)} {_ms(seconds)}\n"
        )
        self.stream.flush()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One recorded exchange; ``command`` is the header only when ``redacted`` > 0."""

    command: bytes
    response: bytes
    redacted: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"c": self.command.hex(), "r": self.response.hex()}
        if self.redacted:
            out["redacted"] = self.redacted
        return out


class RecordingTracer:
    """Keeps every exchange in memory (secret command data dropped at once, not at export)."""

    def __init__(self, atr: bytes | None = None) -> None:
        self.atr: bytes | None = bytes(atr) if atr is not None else None
        self.exchanges: list[Exchange] = []

    def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
        raw = bytes(command)
        if is_secret(raw):
            self.exchanges.append(Exchange(raw[:4], bytes(response), len(raw) - 4, seconds))
        else:
            self.exchanges.append(Exchange(raw, bytes(response), 0, seconds))

    def to_json(self) -> list[dict[str, Any]]:
        """``[{"atr": hex}]`` (when known) followed by ``{"c", "r"[, "redacted"]}`` per exchange."""
        head: list[dict[str, Any]] = [{"atr": self.atr.hex()}] if self.atr is not None else []
        return head + [e.to_json() for e in self.exchanges]

    def clear(self) -> None:
        self.exchanges.clear()
