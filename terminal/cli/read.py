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
- ``read --files ... --json`` / ``read --photo FILE --json``: :meth:`terminal.appread.FilesRead.
  to_json` (``complete``, ``pin``, ``extension``, ``files``, ``not_opened``, ``notes``) and/or
  ``photo`` (:meth:`terminal.photo.Photo.to_json` plus ``path``; when it could not be read,
  ``{"state", "detail", ... null, "path": null}``), and ``apdus``.  Exit 1 when a file or the
  photo could not be read (each one named, with why, on stderr; no photo file written then).
- ``check --json``: ``{"ok": bool, "verdict": "ok"|"failed"|"unverified", "unproved": [str],
  "genuine": bool|null, "checks": [{"name", "status", "detail"}], "card": <read>, "apdus": int}``
  (``ok`` is true only for the verdict ``ok``; ``card`` is null when the card or application is
  blocked).
- ``status --json``: :meth:`terminal.activation.ActivationStatus.to_json` plus ``apdus``.

Errors are raised as :class:`apdu.errors.SSCardError` subclasses; the ``sscard`` group prints one
line and exits with their code (terminal/cli/main.py).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from apdu.errors import SSCardError, UsageError
from terminal.appread import load_extension, read_files, select_files
from terminal.card import open_card
from terminal.card import readers as list_readers
from terminal.cli.options import CardOptions, card_options
from terminal.cli.output import (
    card_table,
    checks_table,
    echo_json,
    files_table,
    printable,
    status_table,
    table,
)
from terminal.cli.pin import pad_mode, pin_source_option
from terminal.photo import check_photo_target, save_photo, try_photo
from terminal.pinsource import PinPadMode, PinSource, PromptPinSource

FORMATS = ("table", "json", "national")


class NotAllRead(SSCardError):
    """``read --files`` / ``--photo``: a file or the photo could not be read (each named, why)."""

    exit_code = 1


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


def _pin_at_hand(source: PinSource) -> PinSource | None:
    """``read --files`` asks for the PIN only where someone can answer: ``--pin-stdin`` (or
    another explicit source), or a prompt when standard input is a terminal; otherwise it reads
    what the keys open and names the files the PIN would have opened."""
    if isinstance(source, PromptPinSource):
        stdin = sys.stdin
        try:
            interactive = stdin is not None and stdin.isatty()
        except (ValueError, OSError):
            interactive = False
        return source if interactive else None
    return source


def _read_extras(
    opts: CardOptions, files: str | None, photo_path: Path | None,
    extension_path: Path | None, pin_source: PinSource, pin_pad: PinPadMode | None,
) -> None:
    """``read --files`` / ``read --photo``: one card session, the photo first (SSSE).  What
    could not be read is said on stderr, one line each, after the output: exit 1."""
    ext = load_extension(extension_path) if extension_path is not None else None
    selection = select_files(files, ext) if files is not None else None  # before any card I/O
    if photo_path is not None:
        check_photo_target(photo_path)
    out: dict[str, object] = {}
    lines: list[str] = []
    problems: list[str] = []
    with open_card(**opts.card_kwargs(), pin_pad=pad_mode(pin_pad)) as card:
        if photo_path is not None:
            found_photo = try_photo(card.session)
            photo = found_photo.photo
            if photo is not None:
                save_photo(photo_path, photo.data)
                out["photo"] = {**photo.to_json(), "path": str(photo_path)}
                lines.append(
                    f"photo: {photo.summary()} -> {printable(str(photo_path))} "
                    f"({photo.reads} READ BINARY, {photo.apdus} APDUs)"
                )
            else:  # nothing is written
                out["photo"] = {**found_photo.to_json(image=True), "path": None}
                lines.append(f"photo: NOT READ: {printable(found_photo.detail)}")
                problems.append(f"  photo: {found_photo.detail}; {photo_path} not written")
        if selection is not None:
            at_hand = _pin_at_hand(pin_source)
            # the reader's PIN pad when it has one (issue 13); with --pin-pad on the holder
            # answers on the pad even when no one can answer on standard input
            if at_hand is not None or pin_pad == "on":
                pad_or_host = card.pin_source(at_hand if at_hand is not None else pin_source)
                assert not isinstance(pad_or_host, bytes | bytearray | str)
                at_hand = pad_or_host
            found = read_files(card.session, selection, pin_source=at_hand, extension=ext)
            out.update(found.to_json())
            lines.append(files_table(found))
            problems += [f"  {r.path}: {r.reason}" for r in found.failed]
        out["apdus"] = card.apdus
    if opts.json:
        echo_json(out)
    else:
        click.echo("\n\n".join(lines))
    if problems:
        raise NotAllRead(f"could not read {len(problems)} of what was asked:\n"
                         + "\n".join(problems))


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
@click.option(
    "--files", "files", metavar="DF04[,DF01,...|all]", default=None,
    help="Read and decode application files: DFs (DF01..DF04, DF07, an extension's), single "
    "files (DF04/EF08) or all.  Exit 1 when a file could not be opened.",
)
@click.option(
    "--photo", "photo_path", metavar="FILE", default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the holder's photo (SSSE EF08, needs the security module) into FILE (JPEG or "
    "BMP); only a previous photo file is ever replaced.",
)
@click.option(
    "--extension", "extension_path", metavar="FILE", default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A region's extension declaration (TOML, as given to `sscard sim issue --extension`).",
)
@pin_source_option
def read(
    opts: CardOptions, fmt: str | None, terminal_number: str | None,
    device_number: str, files: str | None, photo_path: Path | None,
    extension_path: Path | None, pin_source: PinSource, pin_pad: PinPadMode | None,
) -> None:
    """Read the card's issuer and holder data (card-profile §12), or its application files
    (--files) and its photo (--photo)."""
    if pin_pad is not None and files is None:
        raise UsageError("--pin-pad goes with --files (the only read that may need the PIN)")
    if files is not None or photo_path is not None:
        if fmt not in (None, "json", "table"):
            raise UsageError("--format national reads the basic data; not with --files/--photo")
        if fmt == "json":
            opts = replace(opts, json=True)
        _read_extras(opts, files, photo_path, extension_path, pin_source, pin_pad)
        return
    if extension_path is not None:
        raise UsageError("--extension goes with --files")
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
@click.option(
    "--photo", "photo", is_flag=True,
    help="Read the photo (SSSE EF08) too, so that the photo check judges it.",
)
def check(ctx: click.Context, opts: CardOptions, photo: bool) -> None:
    """Read the card and run every check; exit 0 only when the verdict is OK.

    Exit 1 when a check failed, and when nothing failed but the card's genuineness or the
    holder's data could not be proved (verdict UNVERIFIED).
    """
    with open_card(**opts.card_kwargs()) as card:
        found = card.check(photo=photo)
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
