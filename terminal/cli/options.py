"""Shared options of every card command, and :func:`open_session` (issue 3 §6).

Every command that talks to a card (``read``, ``check``, ``status``, ``pin ...``, ``pharmacy``,
``activate``) takes the same options, so a user learns them once::

    --reader R           a PC/SC reader: its index (0, 1, ...), its exact name or a pattern
    --sim [CARD.json]    the in-process simulator; with no file, the built-in sample card
    --psam FILE          a simulated PSAM card file, used as the SAM through a second reader
    --psam-reader R      a PSAM card in a PC/SC reader, used as the SAM
    --keys FILE          a software SAM key file (TEST keys only)
    --json               machine output (a documented, stable schema)
    --trace              the APDU trace on stderr, PIN data redacted (apdu.redact)
    --wait SECONDS       wait that long for a card (a spinner on stderr when it is a TTY)
    --read-strategy S    auto (default), by-tag or multi-record (terminal.reading)

Use in a command (the options arrive collapsed into one :class:`CardOptions` argument)::

    @click.command()
    @card_options
    def status(opts: CardOptions) -> None:
        with open_session(opts) as session:
            session.select_ssse()
            ...

:func:`open_session` yields a :class:`terminal.session.CardSession` on a connected card, nothing
selected yet, inside one reader transaction (lessons-from-peers: hold the transaction across a
whole workflow so no other process slips in between our SELECT and our VERIFY).  Whatever happens
(a card error, Ctrl-C), the transaction, the card, the PSAM's reader and the SAM are released.

The security module (card-profile §7, §11), by a table of choices rather than branches:
``--psam`` / ``--psam-reader`` / ``--keys`` pick one explicitly (at most one of them); otherwise
``--sim`` gets the software SAM holding the published TEST keys (so a simulated 3.00 card reads
with no options) and ``--reader`` gets none (a 3.00 card still yields EF05 and the read says that
EF06 needs a SAM).  Without a security module every command says so on stderr (``sscard: note:
no security module (SAM): the card's genuineness is unverified``): issue 9, fail closed.
The terminal never imports the simulator: ``--sim`` is hosted by
:func:`drivers.open.open_reader`.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from apdu.errors import UsageError
from drivers.base import Reader
from drivers.channel import CardChannel
from drivers.open import open_reader
from terminal.genuine import NO_SAM
from terminal.reading import READ_STRATEGIES
from terminal.sam.base import SecurityModule
from terminal.session import CardSession

#: ``--sim`` given with no file: the built-in sample card.
SAMPLE = "sample"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class CardOptions:
    """The shared options, as one value (easy to build in tests and in other front ends)."""

    reader: str | None = None
    sim: str | None = None
    psam: str | None = None
    psam_reader: str | None = None
    keys: str | None = None
    json: bool = False
    trace: bool = False
    wait: float | None = None
    read_strategy: str = "auto"

    @property
    def sim_target(self) -> bool | Path | None:
        """What :func:`drivers.open.open_reader` takes as ``sim``: True for the sample card."""
        if self.sim is None:
            return None
        return True if self.sim == SAMPLE else Path(self.sim)


class Seconds(click.ParamType):
    """A finite number of seconds >= 0 (``nan`` and ``inf`` are not waits)."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(f"{value!r} is not a finite number of seconds >= 0", param, ctx)
        return seconds


SECONDS = Seconds()

_OPTION_NAMES = (
    "reader", "sim", "psam", "psam_reader", "keys", "json", "trace", "wait", "read_strategy",
)


def card_options(func: F) -> F:
    """Add the shared options to a click command; the command receives ``opts: CardOptions``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _OPTION_NAMES}
        return func(*args, opts=CardOptions(**values), **kwargs)

    decorators = [
        click.option(
            "--reader", "reader", metavar="R", default=None,
            help="PC/SC reader: index, exact name or a pattern (see `sscard readers`).",
        ),
        click.option(
            "--sim", "sim", metavar="[CARD.json]", is_flag=False, flag_value=SAMPLE, default=None,
            help="Use the in-process card simulator; with no file, the built-in sample card.",
        ),
        click.option(
            "--psam", "psam", metavar="FILE", default=None,
            type=click.Path(exists=True, dir_okay=False),
            help="A simulated PSAM card file, used as the security module.",
        ),
        click.option(
            "--psam-reader", "psam_reader", metavar="R", default=None,
            help="A PSAM card in this PC/SC reader, used as the security module.",
        ),
        click.option(
            "--keys", "keys", metavar="FILE", default=None,
            type=click.Path(exists=True, dir_okay=False),
            help="Software security module key file (TEST keys only).",
        ),
        click.option("--json", "json", is_flag=True, help="Machine-readable JSON output."),
        click.option(
            "--trace", "trace", is_flag=True,
            help="Print the APDU trace on stderr (PIN data redacted).",
        ),
        click.option(
            "--wait", "wait", metavar="SECONDS", type=SECONDS, default=None,
            help="Wait up to SECONDS for a card to be inserted.",
        ),
        click.option(
            "--read-strategy", "read_strategy", type=click.Choice(READ_STRATEGIES),
            default="auto", show_default=True,
            help="How EF05/EF06 are read: all records in one READ RECORD (P2=05) when the card "
            "allows (auto), always by tag, or always multi-record.",
        ),
    ]
    decorated: Callable[..., Any] = wrapper
    for decorator in reversed(decorators):
        decorated = decorator(decorated)
    return decorated  # type: ignore[return-value]


# --- waiting ----------------------------------------------------------------------------------


class Spinner:
    """The ``--wait`` feedback: one spinning character on stderr, only when stderr is a TTY.

    Called by the driver each time it polls for a card; :meth:`done` clears the line.
    """

    FRAMES = "|/-\\"

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._frames = itertools.cycle(self.FRAMES)
        self._shown = False

    def __call__(self, *_: object) -> None:
        if not self.enabled:
            return
        self.stream.write(f"\rwaiting for a card {next(self._frames)} ")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * 24 + "\r")
            self.stream.flush()
            self._shown = False


# --- the security module ----------------------------------------------------------------------


def _software_sam(opts: CardOptions, stack: ExitStack) -> SecurityModule:
    from terminal.sam.software import SoftwareSam

    if opts.keys is not None:
        return SoftwareSam.from_key_file(Path(opts.keys))
    return SoftwareSam()  # the published TEST keys of card-profile §7.7


def _psam_sam(reader: Reader, opts: CardOptions, stack: ExitStack) -> SecurityModule:
    from terminal.sam.psam import PsamSam

    stack.enter_context(reader)
    stack.enter_context(reader.transaction())
    return PsamSam(CardChannel(reader, tracer=_tracer(opts)))


def _open_sam(opts: CardOptions, stack: ExitStack) -> SecurityModule | None:
    """The SAM the options ask for (module docstring); released by ``stack``."""
    chosen = [name for name in ("psam", "psam_reader", "keys") if getattr(opts, name) is not None]
    if len(chosen) > 1:
        flags = " and ".join("--" + name.replace("_", "-") for name in chosen)
        raise UsageError(f"choose one security module, not {flags}")
    sam: SecurityModule | None
    if opts.psam is not None:
        sam = _psam_sam(open_reader(sim=Path(opts.psam)), opts, stack)
    elif opts.psam_reader is not None:
        sam = _psam_sam(open_reader(reader=opts.psam_reader), opts, stack)
    elif opts.keys is not None or opts.sim is not None:
        sam = _software_sam(opts, stack)
    else:
        sam = None
    if sam is not None:
        stack.callback(sam.close)
    return sam


def _tracer(opts: CardOptions) -> Any:
    if not opts.trace:
        return None
    from drivers.trace import StreamTracer

    return StreamTracer(sys.stderr)


# --- the session --------------------------------------------------------------------------------


def check_target(opts: CardOptions) -> None:
    """Exactly one of ``--reader`` and ``--sim``: refuse before anything is opened."""
    if (opts.reader is None) == (opts.sim is None):
        which = "both" if opts.reader is not None else "neither"
        raise UsageError(f"give exactly one of --reader R or --sim [CARD.json] ({which} given)")


@contextmanager
def open_session(opts: CardOptions) -> Iterator[CardSession]:
    """A :class:`terminal.session.CardSession` on the card the options name (see module docstring).

    Raises :class:`apdu.errors.UsageError` for a bad combination of options and the typed
    transport errors of :mod:`apdu.errors` (no reader, no card, ...) when the card is not there.
    """
    check_target(opts)
    with ExitStack() as stack:
        spinner = Spinner()
        stack.callback(spinner.done)
        reader = open_reader(
            reader=opts.reader,
            sim=opts.sim_target,
            wait=opts.wait,
            on_waiting=spinner if opts.wait else None,
        )
        stack.enter_context(reader)
        spinner.done()
        stack.enter_context(reader.transaction())
        sam = _open_sam(opts, stack)
        tracer = _tracer(opts)
        if tracer is not None and hasattr(tracer, "atr"):
            tracer.atr(reader.atr)  # the trace then replays (drivers.replay)
        channel = CardChannel(reader, tracer=tracer)
        if sam is None:
            click.echo(f"sscard: note: {NO_SAM}", err=True)
        yield CardSession(channel, sam=sam, read_strategy=opts.read_strategy)
