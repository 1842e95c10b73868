"""Where PINs come from: a no-echo prompt, standard input, or (later) a PIN pad (card-profile §6).

A PIN is the holder's secret and every wrong try burns one of a handful, so PIN entry is one small
interface, :class:`PinSource`, that every PIN command and workflow asks in the same order:

- :class:`PromptPinSource`: the terminal prompts without echo (on stderr, so ``--json`` output on
  stdout stays clean); a new PIN (``confirm=True``) is asked twice;
- :class:`StdinPinSource`: ``--pin-stdin``, one PIN per line in the order the command asks (a new
  PIN takes two lines: the PIN and its repetition); a missing line is a usage error;
- :class:`PinPadPinSource`: room for a PC/SC part 10 PIN pad (FEATURE_VERIFY_PIN_DIRECT), where the
  PIN never reaches the host at all.  Not implemented: it refuses clearly.

PINs are never taken from argv.  They travel as short-lived ``bytearray`` of ASCII digits, so the
caller can :func:`wipe` them (zero the bytes) as soon as they have been coded into an APDU.
Python ``str`` objects read from a terminal or a stream cannot be wiped; they are converted at
once and dropped.  No repr, str, log record or exception message here contains a PIN: prompts and
messages name what is asked ("current PIN"), never what was typed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO, runtime_checkable

import click

from apdu.errors import PolicyError, UsageError
from terminal.pinpolicy import same_pin


@runtime_checkable
class PinSource(Protocol):
    """Something that can be asked for one PIN at a time."""

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        """Return the PIN asked for by ``prompt`` (e.g. "current PIN") as ASCII digits.

        ``confirm=True`` (a new PIN): the source asks twice and raises
        :class:`~apdu.errors.PolicyError` when the two entries differ, before anything is sent.
        """
        ...


def wipe(*buffers: bytearray | None) -> None:
    """Overwrite each buffer with zeros (best effort: copies made by libraries are out of reach)."""
    for buf in buffers:
        if isinstance(buf, bytearray):
            buf[:] = bytes(len(buf))


@contextmanager
def held(pin: bytearray) -> Iterator[bytearray]:
    """``with held(source.get(...)) as pin:`` – the PIN is wiped when the block ends."""
    try:
        yield pin
    finally:
        wipe(pin)


def confirmed(first: bytearray, second: bytearray, prompt: str) -> bytearray:
    """``first`` when the two entries of a new PIN match (``second`` is wiped either way, and
    ``first`` too when they differ: :class:`~apdu.errors.PolicyError`).  For every source."""
    try:
        if not same_pin(first, second):
            wipe(first)
            raise PolicyError(f"the two entries of the {prompt} do not match")
        return first
    finally:
        wipe(second)


def _have_terminal() -> bool:
    """True when a controlling terminal can be opened (getpass asks there, not on stdin)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


class PromptPinSource:
    """No-echo prompt on the controlling terminal (via click, which uses getpass underneath)."""

    def __init__(self, *, prompt_func: Callable[..., str] | None = None) -> None:
        self._prompt = prompt_func or click.prompt

    def _ask(self, text: str) -> bytearray:
        if sys.stdin is None and not _have_terminal():
            raise UsageError("no terminal to ask for the PIN (standard input is closed); "
                             "use --pin-stdin")
        try:
            value = self._prompt(text, hide_input=True, err=True, default="", show_default=False)
        except OSError as exc:
            raise UsageError(f"cannot ask for the PIN: {exc.strerror or exc}") from None
        return bytearray(str(value).encode("utf-8", "replace"))

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        first = self._ask(f"Enter the {prompt}")
        if not confirm:
            return first
        return confirmed(first, self._ask(f"Enter the {prompt} again"), prompt)

    def __repr__(self) -> str:
        return "PromptPinSource()"


class StdinPinSource:
    """``--pin-stdin``: one PIN per line, in the order the command asks for them."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        #: how many lines were consumed (for messages: "line 3"), never their content.
        self.lines_read = 0

    def _line(self, prompt: str) -> bytearray:
        stream = self._stream if self._stream is not None else sys.stdin
        if stream is None:
            raise UsageError("--pin-stdin: standard input is closed")
        try:
            line = stream.readline()
        except OSError as exc:
            raise UsageError(f"--pin-stdin: cannot read standard input: {exc.strerror}") from None
        except UnicodeDecodeError:  # never the bytes in the message: they may be a PIN
            raise UsageError(f"--pin-stdin: line {self.lines_read + 1} is not text") from None
        if not line:
            raise UsageError(
                f"--pin-stdin: no line for the {prompt} (line {self.lines_read + 1} is missing)"
            )
        self.lines_read += 1
        return bytearray(line.rstrip("\r\n").encode("utf-8", "replace"))

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        first = self._line(prompt)
        if not confirm:
            return first
        try:
            second = self._line(f"{prompt} (repeated)")
        except UsageError:
            wipe(first)
            raise
        return confirmed(first, second, prompt)

    def __repr__(self) -> str:
        return f"StdinPinSource(lines_read={self.lines_read})"


class ListPinSource:
    """PINs given by a program (POS software, tests): handed out in order, each once.

    The list is consumed: every entry is handed over (and the caller wipes it); a missing entry
    is a :class:`~apdu.errors.UsageError` like a missing ``--pin-stdin`` line.
    """

    def __init__(self, pins: list[bytes | bytearray | str]) -> None:
        self._pins = [
            bytearray(p.encode("ascii", "replace") if isinstance(p, str) else p) for p in pins
        ]

    def _next(self, prompt: str) -> bytearray:
        if not self._pins:
            raise UsageError(f"no PIN was provided for the {prompt}")
        return self._pins.pop(0)

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        first = self._next(prompt)
        if not confirm:
            return first
        return confirmed(first, self._next(f"{prompt} (repeated)"), prompt)

    @property
    def remaining(self) -> int:
        return len(self._pins)

    def __repr__(self) -> str:
        return f"ListPinSource(remaining={len(self._pins)})"


#: PC/SC part 10 (CCID) feature tag for a PIN pad that verifies the PIN itself.
FEATURE_VERIFY_PIN_DIRECT = 0x06
#: … and for one that changes it.
FEATURE_MODIFY_PIN_DIRECT = 0x07


class PinPadPinSource:
    """Placeholder for a PC/SC part 10 PIN pad (FEATURE_VERIFY_PIN_DIRECT / MODIFY_PIN_DIRECT).

    With a PIN pad the PIN never reaches the host: the terminal sends a PIN_VERIFY_STRUCTURE
    (the VERIFY template ``00 20 00 00``, BCD format, 4..16 digits, §6) with SCardControl and the
    reader inserts the digits itself.  That is a different flow from "get the PIN, then send
    VERIFY", so it cannot be a drop-in :meth:`get`; this class marks the place and refuses.
    """

    def __init__(self, reader_name: str = "this reader") -> None:
        self.reader_name = reader_name

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        raise UsageError(
            f"PIN pad entry (PC/SC part 10 FEATURE_VERIFY_PIN_DIRECT) is not supported by "
            f"{self.reader_name} in this version of sscard; use the keyboard prompt or --pin-stdin"
        )

    def __repr__(self) -> str:
        return f"PinPadPinSource({self.reader_name!r})"
