"""``sscard readers | read | check | status``: the face of the product (issue 3 §6, §7).

- ``readers``: the PC/SC readers with their index and whether a card is present.
- ``read``: the card's data (card-profile §12): a table, JSON (the schema of
  :mod:`terminal.models`) or the national ``iReadCardBas`` line (``--format national``).
- ``check``: the holder's data and every check of :mod:`terminal.checks`; exit 0 only for the
  verdict ``ok``; 1 for ``failed`` (a check failed) and ``unverified`` (nothing failed, but the
  card's genuineness or the holder's data was not proved: a line says what); 2 for usage or I/O.
- ``status``: the activation status of :mod:`terminal.activation`; ``--probe-initial-pin`` asks
  the card once whether the initial PIN 123456 is still set
  (:func:`terminal.pin.probe_initial_pin`).

JSON schemas (stable; keys are only ever added):

- ``read --json``: :meth:`terminal.models.CardRead.to_json`.
- ``check --json``: ``{"ok": bool, "verdict": "ok"|"failed"|"unverified", "unproved": [str],
  "genuine": bool|null, "checks": [{"name", "status", "detail"}], "card": <read>, "apdus": int}``
  (``ok`` is true only for the verdict ``ok``; ``card`` is null when the card or application is
  blocked).
- ``status --json``: :meth:`terminal.activation.ActivationStatus.to_json` plus ``apdus``.

Errors are raised as :class:`apdu.errors.SSCardError` subclasses; the ``sscard`` group prints one
line and exits with their code (terminal/cli/main.py).
"""

from __future__ import annotations

import click

from terminal.card import open_card
from terminal.card import readers as list_readers
from terminal.cli.options import CardOptions, card_options
from terminal.cli.output import (
    card_table,
    checks_table,
    echo_json,
    printable,
    status_table,
    table,
)

FORMATS = ("table", "json", "national")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
def readers(as_json: bool) -> None:
    """List the PC/SC readers (index, name, card present)."""
    found = list_readers()
    if as_json:
        echo_json({"readers": [r.to_json() for r in found]})
        return
    if not found:
        click.echo("no PC/SC reader found")
        return
    shown = {True: "card", False: "empty", None: "?"}
    click.echo(
        table(
            ((str(r.index), printable(r.name), shown[r.card_present]) for r in found),
            ("#", "reader", "slot"),
        )
    )


@click.command()
@card_options
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default=None,
    help="table (default), json, or national (the iReadCardBas line).",
)
@click.option(
    "--terminal-number", default=None,
    help="终端机编号 for --format national (default: the PSAM's, else 000000000000).",
)
@click.option("--device-number", default="", help="终端设备号 for --format national.")
def read(
    opts: CardOptions, fmt: str | None, terminal_number: str | None, device_number: str
) -> None:
    """Read the card's issuer and holder data (card-profile §12)."""
    fmt = fmt or ("json" if opts.json else "table")
    with open_card(**opts.card_kwargs()) as card:
        data = card.read()
        if terminal_number is None:
            terminal_number = card.terminal_number()
    if fmt == "json":
        echo_json(data.to_json())
    elif fmt == "national":
        click.echo(data.national_format(terminal_number, device_number))
    else:
        click.echo(card_table(data))


@click.command()
@card_options
@click.pass_context
def check(ctx: click.Context, opts: CardOptions) -> None:
    """Read the card and run every check; exit 0 only when the verdict is OK.

    Exit 1 when a check failed, and when nothing failed but the card's genuineness or the
    holder's data could not be proved (verdict UNVERIFIED).
    """
    with open_card(**opts.card_kwargs()) as card:
        found = card.check()
    report = found.checks
    assert report is not None
    if opts.json:
        echo_json(found.check_json())
    else:
        if found.card is not None:
            click.echo(card_table(found.card))
        else:
            click.echo("\n".join(f"note: {printable(n)}" for n in found.notes))
        click.echo()
        click.echo(checks_table(report))
    if report.verdict != "ok":
        ctx.exit(1)


@click.command()
@card_options
@click.option(
    "--probe-initial-pin", "probe", is_flag=True,
    help="Ask the card whether the initial PIN 123456 is still set: ONE VERIFY 123456, which "
    "uses a try if the PIN was changed (refused with 2 or fewer tries left).",
)
def status(opts: CardOptions, probe: bool) -> None:
    """Is the card activated?  Genuineness, PIN state, blocks, expiry and bank application."""
    with open_card(**opts.card_kwargs()) as card:
        result = card.status(probe_initial_pin=probe)
        apdus = card.apdus
    if opts.json:
        echo_json({**result.to_json(), "apdus": apdus})
    else:
        click.echo(status_table(result))
