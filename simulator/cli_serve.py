"""``sscard sim`` PC/SC bridge commands: issue a PSAM, serve cards to vpcd, eject and insert.

- ``issue-psam --out PSAM.json [--sm4] [--force]``: a simulated PSAM (card-profile §11) over the
  published TEST keys (§7.7).
- ``serve --card CARD.json [--psam PSAM.json] [--vpcd HOST:PORT] [--control PATH]``: the user card
  in vpcd slot 0 (``Virtual PCD 00 00``), the PSAM in slot 1 (port + 1), until Ctrl-C / SIGTERM.
  SIGUSR1 toggles slot 0 (pull the card / put it back).
- ``eject [--slot N]`` / ``insert [--slot N] [--card CARD.json]``: tell a running ``serve`` to pull
  a card out or put one in (the same or another file), through its control socket.
- PIN pad (issue 13): ``serve --pinpad-socket PATH [--pinpad-card CARD.json] [--keypad
  control|terminal]`` also serves a PIN-pad reader to pcscd's ``libifd-sscard.so``;
  ``keypad DIGITS | --stdin | --cancel | --timeout | --clear | --status`` types on its keypad.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from apdu.crypto import Algorithm
from apdu.text import printable
from simulator.psam import Psam
from simulator.vpcd import DEFAULT_HOST, DEFAULT_PORT, control, parse_hostport

_CONTROL_HELP = (
    "control socket of the running server (default: sim.sock in $XDG_RUNTIME_DIR/sscard/, "
    "else in /tmp/sscard-UID/, a private 0700 directory)"
)


@click.command("issue-psam")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--sm4", is_flag=True, help="an SM4 PSAM (sx3.sh.社会保障) instead of DES")
@click.option(
    "--terminal-number",
    default="420100000001",
    show_default=True,
    help="EF 0016, 12 digits, the city code first",
)
@click.option("--t0", is_flag=True, help="answer case-4 commands through 61xx + GET RESPONSE")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def issue_psam(out: Path, sm4: bool, terminal_number: str, t0: bool, force: bool) -> None:
    """Issue a simulated PSAM holding the published TEST keys (never real keys)."""
    if os.path.lexists(out) and not force:
        raise click.UsageError(f"{out} exists (use --force to overwrite)")
    psam = Psam.issue(
        algorithm=Algorithm.SM4 if sm4 else Algorithm.DES,
        terminal_number=terminal_number,
        t0=t0,
        path=out,
    )
    click.echo(
        f"issued {out}: {psam.algorithm.name} PSAM, terminal {psam.terminal_number}, "
        f"{psam.keys.label}"
    )


@click.command("serve")
@click.option("--card", "card", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--psam", "psam", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--vpcd",
    "vpcd",
    default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="vpcd's slot-0 address; the PSAM goes to PORT+1",
)
@click.option("--control", "control_path", help=_CONTROL_HELP)
@click.option(
    "--pinpad-socket",
    help="also serve a PIN-pad reader on this Unix socket (pcscd driver libifd-sscard.so)",
)
@click.option(
    "--pinpad-card",
    type=click.Path(exists=True, dir_okay=False),
    help="the card in the PIN-pad reader (default: --card, which then leaves vpcd slot 0)",
)
@click.option(
    "--keypad",
    type=click.Choice(["control", "terminal"]),
    default="control",
    show_default=True,
    help="PIN-pad keys from `sscard sim keypad`, or typed on this terminal when asked",
)
@click.option("-v", "--verbose", count=True, help="-v connections, -vv every APDU (PINs redacted)")
def serve_command(
    card: str, psam: str | None, vpcd: str, control_path: str | None, pinpad_socket: str | None,
    pinpad_card: str | None, keypad: str, verbose: int,
) -> None:
    """Serve the card (and PSAM) to pcscd through vsmartcard's vpcd until Ctrl-C."""
    from simulator.vpcd import serve

    if pinpad_card and not pinpad_socket:
        raise click.UsageError("--pinpad-card needs --pinpad-socket")
    host, port = parse_hostport(vpcd)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(asctime)s %(message)s",
    )
    def ready(control: str) -> None:  # said once the cards and the control socket are ready
        click.echo(
            f"serving {card} on vpcd {host}:{port}"
            + (f" and {psam} on {host}:{port + 1}" if psam else "")
            + f"; control {control}; Ctrl-C stops",
            err=True,
        )

        if pinpad_socket:
            click.echo(
                f"PIN-pad reader on {pinpad_socket} holding {pinpad_card or card}; "
                f"keypad: {keypad}",
                err=True,
            )

    serve(card, psam, host, port, control_path, on_ready=ready, pinpad_socket=pinpad_socket,
          pinpad_card=pinpad_card, keypad=keypad)


@click.command("eject")
@click.option("--slot", default=0, show_default=True, type=click.IntRange(0, 15))
@click.option("--control", "control_path", help=_CONTROL_HELP)
def eject(slot: int, control_path: str | None) -> None:
    """Pull the card out of a slot of a running `sscard sim serve`."""
    click.echo(printable(control({"command": "eject", "slot": slot}, control_path)))


@click.command("insert")
@click.option("--slot", default=0, show_default=True, type=click.IntRange(0, 15))
@click.option(
    "--card",
    "card",
    type=click.Path(exists=True, dir_okay=False),
    help="insert this card file instead of the slot's previous card",
)
@click.option("--control", "control_path", help=_CONTROL_HELP)
def insert(slot: int, card: str | None, control_path: str | None) -> None:
    """Put a card (back) into a slot of a running `sscard sim serve`."""
    request: dict[str, object] = {"command": "insert", "slot": slot}
    if card:
        request["card"] = str(Path(card).resolve())  # the server runs elsewhere: a full path
    click.echo(printable(control(request, control_path)))


# --- PIN pad (issue 13) -------------------------------------------------------------------------


@click.command("keypad")
@click.argument("digits", required=False)
@click.option("--stdin", "from_stdin", is_flag=True, help="read the digits from stdin (not argv)")
@click.option("--cancel", is_flag=True, help="press Cancel")
@click.option("--timeout", "time_out", is_flag=True, help="let the pad time out at once")
@click.option("--clear", is_flag=True, help="drop every queued entry")
@click.option("--status", is_flag=True, help="how many entries are queued")
@click.option("--control", "control_path", help=_CONTROL_HELP)
def keypad(
    digits: str | None, from_stdin: bool, cancel: bool, time_out: bool, clear: bool,
    status: bool, control_path: str | None,
) -> None:
    """Type on the simulated PIN pad of a running `sscard sim serve --pinpad-socket`.

    An entry is queued: the pad takes the next one when it asks (or at once if it is asking).
    DIGITS on the command line are visible to other local users (ps): they are meant for test
    PINs; use --stdin for anything else.
    """
    if from_stdin:
        digits = sys.stdin.readline().strip()
    given = [w for w, on in (("cancel", cancel), ("timeout", time_out), ("clear", clear),
                             ("status", status)) if on]
    if (digits is not None) + len(given) != 1:
        raise click.UsageError(
            "give exactly one of DIGITS, --stdin, --cancel, --timeout, --clear, --status"
        )
    if digits is not None and not (digits.isascii() and digits.isdigit()):
        raise click.UsageError("a keypad entry is made of the digits 0-9 only")
    entry = digits if digits is not None else given[0]
    click.echo(printable(control({"command": "keypad", "entry": entry}, control_path)))


SERVE_COMMANDS: list[click.Command] = [issue_psam, serve_command, eject, insert, keypad]
