"""A reader that answers from a recorded trace: replay tests and fuzzing (issue 3 §1, acceptance).

Two uses:

- **replay**: :meth:`ReplayReader.from_json` (a :class:`drivers.trace.RecordingTracer` export) or
  :meth:`ReplayReader.from_text` (``ATR`` / ``>`` / ``<`` lines of ``StreamTracer``).
  Each command must equal the recorded one; a difference raises :class:`apdu.errors.ProtocolError`
  naming what was expected and what came (both redacted).  A secret command (VERIFY, CHANGE PIN,
  ...; card-profile §6) was recorded as its header only, so it is matched on its header only.
- **fuzzing**: :meth:`ReplayReader.from_responses` answers the given responses in order whatever is
  sent, like OpenSC's fuzzing reader (ATR first, then ``[response]`` blocks); when they run out the
  card answers ``6F00``.

Reader control requests (PC/SC part 10, issue 13) replay too: a recorded ``CONTROL`` step answers
:meth:`ReplayReader.control` with the same code and structure (a redacted structure is matched on
its code only); a fuzzing script answers control requests from the same queue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from apdu import atr as atr_mod
from apdu import status
from apdu.errors import DataFormatError, NoCardError, ProtocolError
from apdu.redact import describe_command, is_secret
from drivers.base import Protocol, Reader

#: answer once a fuzzing script is exhausted: "no precise diagnosis" (card-profile §5).
EXHAUSTED_SW = status.sw_bytes(status.NO_PRECISE_DIAGNOSIS)

_REDACTED = re.compile(r"<\s*(\d+)\s+bytes\s+redacted\s*>", re.IGNORECASE)
_TIMING = re.compile(r"\(\s*[\d.]+\s*ms\s*\)\s*$")
_CONTROL = re.compile(r"^CONTROL\s+([0-9A-Fa-f]{1,8})\s+\S+\s*(.*)$")


@dataclass(frozen=True, slots=True)
class Step:
    """One expected exchange.  ``command`` None: any command (fuzzing); ``header_only``: secret.

    ``control`` is the control code of a recorded reader control request (``command`` is then
    its structure; with ``header_only`` only the code is matched).
    """

    command: bytes | None
    response: bytes
    header_only: bool = False
    control: int | None = None


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(" ", "").replace(":", ""))
    except ValueError:
        raise DataFormatError(f"trace: {what} is not hex: {text[:40]!r}") from None


def _control_code(text: str, where: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise DataFormatError(f"trace: {where}: control code is not hex: {text[:12]!r}") from None


def parse_text(text: str) -> tuple[bytes | None, list[Step]]:
    """The ATR (None when the text has no ``ATR`` line) and the exchanges of a text trace.

    Lines are ``ATR hex``, ``> command`` (or a control request) and ``< response [(t ms)]``;
    ``#`` starts a comment.  A command shown with ``<N bytes redacted>`` becomes a header-only
    step.  Raises :class:`DataFormatError` for anything else (a trace file is untrusted input).
    """
    atr: bytes | None = None
    steps: list[Step] = []
    pending: tuple[bytes, bool, int | None] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.upper().startswith("ATR"):
            atr = _hex(line[3:].lstrip(" :"), f"line {lineno}")
        elif line.startswith(">"):
            if pending is not None:
                raise DataFormatError(f"trace line {lineno}: two commands without a response")
            body = line[1:].strip()
            secret = _REDACTED.search(body) is not None
            body = _REDACTED.sub("", body)
            control = _CONTROL.match(body)
            if control is not None:
                code = _control_code(control.group(1), f"line {lineno}")
                structure = _hex(control.group(2), f"line {lineno}")
                pending = (b"" if secret else structure, secret, code)
                continue
            command = _hex(body, f"line {lineno}")
            pending = (command[:4] if secret else command, secret, None)
        elif line.startswith("<"):
            if pending is None:
                raise DataFormatError(f"trace line {lineno}: a response without a command")
            answer = _TIMING.sub("", line[1:]).strip()
            response = b"" if answer == "(empty)" else _hex(answer, f"line {lineno}")
            steps.append(Step(pending[0], response, pending[1], pending[2]))
            pending = None
        else:
            raise DataFormatError(f"trace line {lineno}: expected ATR, '>' or '<'")
    if pending is not None:
        raise DataFormatError("trace: the last command has no response")
    return atr, steps


class ReplayReader(Reader):
    """Answers from a script of :class:`Step`; replays from the start on every connect."""

    def __init__(self, atr: bytes, steps: Sequence[Step], name: str = "replay") -> None:
        self.name = name
        self._atr_value = bytes(atr)
        try:  # a fuzzing ATR may be anything; the protocol then defaults to T=0
            self._protocol: Protocol = atr_mod.preferred_protocol(self._atr_value)
        except DataFormatError:
            self._protocol = "T0"
        self.steps = list(steps)
        self.position = 0
        self._connected = False

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_responses(cls, atr: bytes, responses: Iterable[bytes]) -> ReplayReader:
        """Answer ``responses`` in order whatever the commands (a fuzzing reader)."""
        return cls(atr, [Step(None, bytes(r)) for r in responses], name="fuzz")

    @classmethod
    def from_json(cls, data: str | list[dict[str, Any]], atr: bytes | None = None) -> ReplayReader:
        """From a RecordingTracer export (the list or its JSON text); ``atr`` if not in it."""
        items = json.loads(data) if isinstance(data, str) else data
        if not isinstance(items, list):
            raise DataFormatError("trace: a JSON trace is a list of exchanges")
        steps: list[Step] = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise DataFormatError(f"trace: entry {n} is not an object")
            if "atr" in item:
                atr = _hex(str(item["atr"]), "ATR")
                continue
            if "c" not in item or "r" not in item:
                raise DataFormatError(f"trace: entry {n} lacks 'c' or 'r'")
            redacted = bool(item.get("redacted"))
            command = _hex(str(item["c"]), f"command {n}")
            response = _hex(str(item["r"]), "r")
            if "ctl" in item:
                code = _control_code(str(item["ctl"]), f"entry {n}")
                steps.append(Step(b"" if redacted else command, response, redacted, code))
                continue
            steps.append(Step(command[:4] if redacted else command, response, redacted))
        if atr is None:
            raise DataFormatError("trace: no ATR (record it or pass atr=...)")
        return cls(atr, steps)

    @classmethod
    def from_text(cls, text: str, atr: bytes | None = None) -> ReplayReader:
        """From ``ATR ...`` / ``> cmd`` / ``< resp [(t ms)]`` lines; ``#`` starts a comment."""
        found, steps = parse_text(text)
        atr = found if found is not None else atr
        if atr is None:
            raise DataFormatError("trace: no ATR line")
        return cls(atr, steps)

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> ReplayReader:
        """A ``.json`` RecordingTracer export, or a text trace."""
        text = Path(path).read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            return cls.from_json(text)
        return cls.from_text(text)

    # -- Reader ------------------------------------------------------------------------------------

    def connect(self) -> bytes:
        self._connected = True
        self.position = 0
        return self._atr_value

    def disconnect(self) -> None:
        self._connected = False

    def reset(self) -> bytes:
        self._need()
        return self._atr_value

    @property
    def atr(self) -> bytes:
        return self._atr_value

    @property
    def protocol(self) -> Protocol:
        return self._protocol

    @property
    def finished(self) -> bool:
        """True when every recorded exchange was replayed (tests assert it at the end)."""
        return self.position >= len(self.steps)

    def transmit_raw(self, command: bytes) -> bytes:
        self._need()
        raw = bytes(command)
        if self.position >= len(self.steps):
            if self.steps and self.steps[-1].command is None:
                return EXHAUSTED_SW
            raise ProtocolError(f"replay: the recording ended; got {describe_command(raw)}")
        step = self.steps[self.position]
        if step.control is not None:
            raise ProtocolError(
                f"replay: exchange {self.position + 1} expected CONTROL {step.control:08X}, "
                f"got {describe_command(raw)}"
            )
        if step.command is not None:
            got = raw[:4] if step.header_only or is_secret(raw) else raw
            if step.header_only != is_secret(raw) or got != step.command:
                expected = (
                    f"{step.command.hex(' ').upper()} <redacted>"
                    if step.header_only
                    else describe_command(step.command)
                )
                raise ProtocolError(
                    f"replay: exchange {self.position + 1} expected {expected}, "
                    f"got {describe_command(raw)}"
                )
        self.position += 1
        return step.response

    def control(self, code: int, data: bytes = b"") -> bytes:
        """The recorded answer to this control request (no connection needed, as on PC/SC)."""
        raw = bytes(data)
        if self.position >= len(self.steps):
            if self.steps and self.steps[-1].command is None:
                return EXHAUSTED_SW
            raise ProtocolError(f"replay: the recording ended; got CONTROL {code:08X}")
        step = self.steps[self.position]
        if step.command is not None or step.control is not None:  # None and None: fuzzing
            matches = step.control == code and (step.header_only or step.command == raw)
            if not matches:
                expected = (
                    f"CONTROL {step.control:08X}" if step.control is not None
                    else describe_command(step.command or b"")
                )
                raise ProtocolError(
                    f"replay: exchange {self.position + 1} expected {expected}, "
                    f"got CONTROL {code:08X} ({len(raw)} bytes)"
                )
        self.position += 1
        return step.response

    def _need(self) -> None:
        if not self._connected:
            raise NoCardError(f"{self.name}: not connected (call connect() first)")

    def __repr__(self) -> str:
        return f"ReplayReader({self.name!r}, {self.position}/{len(self.steps)} exchanges)"
