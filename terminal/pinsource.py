"""Where PINs come from: a no-echo prompt, standard input, or (later) a PIN pad (card-profile §6).

A PIN is the holder's secret and every wrong try burns one of a handful, so PIN entry is one small
interface, :class:`PinSource`, that every PIN command and workflow asks in the same order:

- :class:`PromptPinSource`: the terminal prompts without echo (on stderr, so ``--json`` output on
  stdout stays clean); a new PIN (``confirm=True``) is asked twice;
- :class:`StdinPinSource`: ``--pin-stdin``, one PIN per line in the order the command asks (a new
  PIN takes two lines: the PIN and its repetition); a missing line is a usage error;
- :class:`PinPadPinSource`: the reader's PC/SC part 10 PIN pad (VERIFY/MODIFY_PIN_DIRECT): the PIN
  is typed on the reader and never reaches the host; the source yields no digit at all, and
  :mod:`terminal.pin` runs the pad's own VERIFY / CHANGE PIN for it.

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
from typing import TYPE_CHECKING, Literal, Protocol, TextIO, runtime_checkable

import click

from apdu.errors import PolicyError, UsageError
from terminal.pinpolicy import same_pin

if TYPE_CHECKING:
    from drivers.pinpad import PinPad


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


PinPadMode = Literal["auto", "on", "off"]
#: the choices of ``--pin-pad`` / ``open_card(pin_pad=...)``.
PIN_PAD_MODES: tuple[PinPadMode, ...] = ("auto", "on", "off")


class PinPadPinSource:
    """The reader's PIN pad (PC/SC part 10 VERIFY/MODIFY_PIN_DIRECT): the PIN never reaches us.

    The holder types on the reader, and the reader inserts the digits into the APDU template the
    terminal sent (:class:`drivers.pinpad.PinPad`).  So this source **never yields a digit**:
    :meth:`get` refuses, and the PIN operations of :mod:`terminal.pin` recognise the source and
    run :meth:`verify` / :meth:`change` instead of "get the PIN, then send VERIFY".

    ``host`` is where the PINs a part 10 pad cannot take come from (the bank PIN of the
    activation kiosk, which goes to the bank host as an ISO 9564 block, and the new PIN of a
    counter-staff reset, which the security module encrypts): :meth:`host_entry`.  None: such a
    PIN is refused with a clear error.
    """

    #: what the CLI and the results call this way of entering the PIN.
    kind = "pin-pad"

    def __init__(self, pad: PinPad, host: PinSource | None = None) -> None:
        self.pad = pad
        self.host = host
        #: called once, just before the pad first asks the holder (the CLI's "PIN entry" line).
        self.on_first_use: Callable[[], None] | None = None

    def _used(self) -> None:
        tell, self.on_first_use = self.on_first_use, None
        if tell is not None:
            tell()

    @property
    def reader_name(self) -> str:
        return self.pad.channel.reader.name

    @property
    def pin_length(self) -> int:
        """The fixed PIN length the pad asks for (part 10 inserts a fixed count, see README)."""
        return self.pad.pin_length

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        """Never a digit: the PIN is typed on the pad and goes from the pad to the card."""
        raise UsageError(
            f"the {prompt} is typed on the PIN pad of {self.reader_name}; "
            "the terminal never sees it"
        )

    def host_entry(self, what: str) -> PinSource:
        """The host source for a PIN a part 10 pad cannot take (``what`` names it)."""
        if self.host is None:
            raise UsageError(f"the {what} cannot be typed on a PC/SC PIN pad and no other PIN "
                             "entry was given")
        return self.host

    def with_length(self, pin_length: int) -> PinPadPinSource:
        """The same pad asking for ``pin_length`` digits (e.g. the policy's exact length)."""
        if pin_length == self.pad.pin_length:
            return self
        from drivers.pinpad import PinPad

        pad = PinPad(self.pad.channel, self.pad.info, pin_length=pin_length,
                     timeout=self.pad.timeout, lang_id=self.pad.lang_id)
        other = PinPadPinSource(pad, self.host)
        other.on_first_use = self.on_first_use
        return other

    def verify(self) -> None:
        """VERIFY typed on the pad (raises the pad's and the card's typed errors)."""
        self._used()
        self.pad.verify()

    def change(self) -> None:
        """CHANGE PIN typed on the pad: current PIN, new PIN, new PIN again."""
        self._used()
        self.pad.change()

    def __repr__(self) -> str:
        return f"PinPadPinSource({self.reader_name!r}, {self.pad.pin_length} digits)"


class AnnouncedPinSource:
    """A host :class:`PinSource` that calls ``on_first_use`` once, before the first PIN is asked
    (the CLI tells the operator where the PIN is typed, and only when one is)."""

    def __init__(self, inner: PinSource, on_first_use: Callable[[], None]) -> None:
        self.inner = inner
        self.on_first_use: Callable[[], None] | None = on_first_use

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        tell, self.on_first_use = self.on_first_use, None
        if tell is not None:
            tell()
        return self.inner.get(prompt, confirm=confirm)

    def __repr__(self) -> str:
        return f"AnnouncedPinSource({self.inner!r})"


def describe_entry(source: object) -> str:
    """One line for the operator: where the PIN is typed (never what)."""
    if isinstance(source, PinPadPinSource):
        return (f"PIN entry: the PIN pad of {source.reader_name} "
                f"({source.pin_length} digits; the PIN never reaches this computer)")
    if isinstance(source, StdinPinSource):
        return "PIN entry: standard input (--pin-stdin)"
    return "PIN entry: this computer's keyboard"
