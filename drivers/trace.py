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

Reader control requests (PC/SC part 10, issue 13) are recorded like APDUs: text
``> CONTROL 42330006 VERIFY_PIN_DIRECT 1E 1E 81 ... 00 20 00 00 03 FF FF FF`` then ``< 90 00``;
JSON ``{"ctl": "42330006", "c": structure hex, "r": hex}``.  What a PIN pad is sent is a template
(the pad inserts the digits itself); a structure whose PIN area is not blank is recorded as its
length only (:func:`apdu.redact.describe_control`, ``"redacted": N`` with an empty ``c``).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from apdu import part10
from apdu.redact import describe_command, describe_control, is_secret


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

    def control(
        self, code: int, request: bytes, response: bytes, seconds: float, feature: int | None
    ) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("> %s", describe_control(code, request, feature))
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

    def control(
        self, code: int, request: bytes, response: bytes, seconds: float, feature: int | None
    ) -> None:
        self.stream.write(
            f"> {describe_control(code, request, feature)}\n"
            f"< {_control_answer(response, feature)} {_ms(seconds)}\n"
        )
        self.stream.flush()


def _control_answer(response: bytes, feature: int | None) -> str:
    """A control answer: a PIN request's is the card's response (or a reader-made status); a
    discovery answer is data with no status word."""
    if feature in (part10.Feature.VERIFY_PIN_DIRECT, part10.Feature.MODIFY_PIN_DIRECT):
        return describe_response(response)
    return bytes(response).hex(" ").upper() or "(empty)"


def _control_is_blank(code: int, request: bytes, feature: int | None) -> bool:
    return "redacted>" not in describe_control(code, request, feature)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One recorded exchange; ``command`` is the header only when ``redacted`` > 0.

    ``control`` is the control code of a reader control request (``command`` is then the
    structure, or empty when redacted).
    """

    command: bytes
    response: bytes
    redacted: int = 0
    seconds: float = 0.0
    control: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"c": self.command.hex(), "r": self.response.hex()}
        if self.control is not None:
            out = {"ctl": f"{self.control:08X}", **out}
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

    def control(
        self, code: int, request: bytes, response: bytes, seconds: float, feature: int | None
    ) -> None:
        raw = bytes(request)
        if _control_is_blank(code, raw, feature):
            self.exchanges.append(Exchange(raw, bytes(response), 0, seconds, code))
        else:
            self.exchanges.append(Exchange(b"", bytes(response), len(raw), seconds, code))

    def to_json(self) -> list[dict[str, Any]]:
        """``[{"atr": hex}]`` (when known) followed by ``{"c", "r"[, "redacted"]}`` per exchange."""
        head: list[dict[str, Any]] = [{"atr": self.atr.hex()}] if self.atr is not None else []
        return head + [e.to_json() for e in self.exchanges]

    def clear(self) -> None:
        self.exchanges.clear()
