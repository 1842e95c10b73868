"""The ``sscard`` command: one click group, one error policy.

Errors: every expected failure ends as ONE readable line on stderr and a non-zero exit: 1 when
the card or a policy refused (an :class:`apdu.errors.SSCardError` with ``exit_code`` 1), 2 for
usage and I/O: our typed errors, click's usage errors (``--wait nan``), and the operating
system's (a missing directory, a full disk, a closed or broken standard output, text that does
not encode).  Every line goes through :func:`apdu.text.printable`, so text from a card or a file
in a message cannot control the terminal.  With standard output closed a command refuses to run
(it would otherwise succeed in silence), and output that could not be written ends in exit 2,
never 0.  No traceback for user errors; ``SSCARD_DEBUG=1`` shows one for developers.

Command groups are registered from a table (:data:`GROUPS`) of ``module:attribute`` names, and
plugins under the entry-point group ``sscard.cli``: the simulator's ``sscard sim`` arrives that
way, so the terminal package never imports the simulator (the layering rule of DEVELOPERS.md).
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points
from typing import Any

import click

from apdu.errors import SSCardError
from apdu.text import printable

#: the terminal's own commands: name -> "module:attribute" (imported when the CLI starts).
GROUPS: dict[str, str] = {
    "readers": "terminal.cli.read:readers",
    "read": "terminal.cli.read:read",
    "check": "terminal.cli.read:check",
    "status": "terminal.cli.read:status",
    "pin": "terminal.cli.pin:pin",
    "pharmacy": "terminal.cli.workflows:pharmacy",
    "activate": "terminal.cli.workflows:activate",
    "service": "terminal.cli.service:service",
    "national": "terminal.cli.service:national",
}

PLUGIN_GROUP = "sscard.cli"


def _load(target: str) -> click.Command | None:
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        if os.environ.get("SSCARD_DEBUG"):
            raise
        return None


def error_line(message: str) -> None:
    """``sscard: MESSAGE`` on stderr, control characters escaped (a message may quote a card or
    a file); a message of several lines (a refusal and its notes) keeps its lines.  An error
    while writing it (stderr closed or full) is ignored: the exit code still tells."""
    text = "\n".join(printable(line) for line in message.split("\n"))
    try:
        click.echo(f"sscard: {text}", err=True)
    except (OSError, ValueError, AttributeError):
        pass


def os_error_text(exc: OSError) -> str:
    """One line for an operating-system error, naming the file when there is one."""
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, BrokenPipeError):
        return "output closed before everything was written (broken pipe)"
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return f"I/O error: {reason}"


class SSCardGroup(click.Group):
    """A group that turns every expected failure into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("SSCARD_DEBUG") or not isinstance(exc, _EXPECTED):
                raise
            message, code = _describe(exc)
            error_line(message)
            ctx.exit(code)
        except KeyboardInterrupt:
            error_line("interrupted")
            ctx.exit(130)


#: What a user can cause; anything else is a bug and keeps its traceback.
_EXPECTED = (SSCardError, click.ClickException, OSError, UnicodeError)


def _describe(exc: BaseException) -> tuple[str, int]:
    """(one line, exit code) for an expected failure."""
    if isinstance(exc, SSCardError):
        return str(exc), exc.exit_code
    if isinstance(exc, click.ClickException):
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, click.UsageError) and ctx is not None:
            message += f" (see '{ctx.command_path} -h')"
        return message, exc.exit_code if exc.exit_code != 1 else 2
    if isinstance(exc, OSError):
        return os_error_text(exc), 2
    return f"text that cannot be encoded or decoded ({type(exc).__name__})", 2


def _silence_stdout() -> None:
    """After a failed write to stdout, point fd 1 at /dev/null: Python flushes stdout again at
    exit and would print a second error (a traceback-like 'Exception ignored' block)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


@click.group(cls=SSCardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sscard")
def cli() -> None:
    """Read, check and use China's social security card (社会保障卡), on a PC/SC reader or on the
    built-in software card simulator (--sim)."""


def _register() -> None:
    for name, target in GROUPS.items():
        command = _load(target)
        if command is not None:
            cli.add_command(command, name)
    for ep in entry_points(group=PLUGIN_GROUP):
        command = _load(ep.value)
        if command is not None:
            cli.add_command(command, ep.name)


_register()


def main(argv: list[str] | None = None) -> None:
    if sys.stdout is None:  # started with fd 1 closed: every result would vanish with exit 0
        error_line("standard output is closed: nowhere to write the result")
        raise SystemExit(2)
    code: int | str | None = 0
    try:
        cli.main(args=argv, prog_name="sscard")
    except SystemExit as exc:
        code = exc.code
    try:
        sys.stdout.flush()
    except OSError as exc:
        _silence_stdout()
        if not code:
            error_line(os_error_text(exc))
            code = 2
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
