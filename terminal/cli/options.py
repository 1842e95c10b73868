"""Shared options of every card command, parsed into the front door's call (issue 3 §6, issue 11).

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

This module only parses: the options arrive collapsed into one :class:`CardOptions`, whose
:meth:`CardOptions.card_kwargs` are exactly the keyword arguments of
:func:`terminal.open_card` — the front door POS programs call — so the CLI has no card logic of
its own::

    @click.command()
    @card_options
    def status(opts: CardOptions) -> None:
        with open_card(**opts.card_kwargs()) as card:
            result = card.status()

The security module by a table of choices rather than branches: ``--psam FILE`` is
``sam=Path(FILE)``, ``--psam-reader R`` is ``sam="psam-reader:R"``, ``--keys FILE`` is
``sam="keys:FILE"`` (at most one of them); otherwise the front door's default: the software SAM
with the published TEST keys for ``--sim`` (so a simulated 3.00 card reads with no options), none
for ``--reader`` (a 3.00 card still yields EF05, and every command says on stderr that the card's
genuineness is unverified: issue 9, fail closed).  A bare ``--sim`` is the built-in sample card;
``--sim FILE`` is that file, whatever its name (a file named ``sample`` included: issue 11).
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from apdu.errors import UsageError
from terminal.reading import READ_STRATEGIES

#: What click hands over for ``--sim`` given with no file: the built-in sample card.  A NUL
#: cannot occur in a command-line argument (argv strings end at one), so no file name given as
#: ``--sim NAME`` can ever be taken for it (``--sim sample`` reads the file ``sample``).
SAMPLE = "\x00sample"

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
        """What :func:`terminal.open_card` takes as ``sim``: True for the sample card (a bare
        ``--sim``), else the card file named, whatever its name."""
        if self.sim is None:
            return None
        return True if self.sim == SAMPLE else Path(self.sim)

    @property
    def sam_spec(self) -> Any:
        """What :func:`terminal.open_card` takes as ``sam`` (module docstring): at most one of
        ``--psam``, ``--psam-reader``, ``--keys``; none given: the front door's default."""
        chosen = [
            name for name in ("psam", "psam_reader", "keys") if getattr(self, name) is not None
        ]
        if len(chosen) > 1:
            flags = " and ".join("--" + name.replace("_", "-") for name in chosen)
            raise UsageError(f"choose one security module, not {flags}")
        if self.psam is not None:
            return Path(self.psam)
        if self.psam_reader is not None:
            return f"psam-reader:{self.psam_reader}"
        if self.keys is not None:
            return f"keys:{self.keys}"
        from terminal.card import DEFAULT

        return DEFAULT

    def card_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`terminal.open_card` these options stand for.

        Raises :class:`apdu.errors.UsageError` for a bad combination, before anything is opened.
        """
        check_target(self)
        return {
            "reader": self.reader,
            "sim": self.sim_target,
            "sam": self.sam_spec,
            "wait": self.wait,
            "trace": self.trace,
            "read_strategy": self.read_strategy,
            "notes": note,
            "on_waiting": Spinner() if self.wait else None,
        }


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


# --- what the card tells the operator ---------------------------------------------------------


def note(text: str) -> None:
    """``sscard: note: TEXT`` on stderr (the front door's ``notes``: no security module, the
    initial-PIN probe's cost)."""
    click.echo(f"sscard: note: {text}", err=True)


# --- the card source ----------------------------------------------------------------------------


def check_target(opts: CardOptions) -> None:
    """Exactly one of ``--reader`` and ``--sim``: refuse before anything is opened."""
    if (opts.reader is None) == (opts.sim is None):
        which = "both" if opts.reader is not None else "neither"
        raise UsageError(f"give exactly one of --reader R or --sim [CARD.json] ({which} given)")
