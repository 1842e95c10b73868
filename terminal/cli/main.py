"""The ``sscard`` command: one click group, one error policy.

Errors: every :class:`apdu.errors.SSCardError` (and click's usage errors) ends as one readable
line on stderr and a non-zero exit: 1 when the card or a policy refused (``exit_code`` 1), 2 for
usage and I/O.  No traceback for user errors; ``SSCARD_DEBUG=1`` shows one for developers.

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


class SSCardGroup(click.Group):
    """A group that turns our typed errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SSCardError as exc:
            if os.environ.get("SSCARD_DEBUG"):
                raise
            click.echo(f"sscard: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("sscard: interrupted", err=True)
            ctx.exit(130)


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
    cli.main(args=argv, prog_name="sscard")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
