"""``sscard sim``: issue simulated cards and talk to them (card-profile §2-§6, issue 2 §5).

Registered in the ``sscard`` command through the ``sscard.cli`` entry point, so the terminal
package never imports the simulator. Commands:

- ``sscard sim issue --out CARD.json [...]``: with no options, the complete valid 3rd-generation
  sample card (:mod:`simulator.samples`), T=0 like every real contact card; options replace
  single fields. ``--pin`` is the card's personalisation data: the one place in sscard where a
  PIN may be a command-line argument.  Impossible data: one line per problem on stderr, exit 2,
  no file written (``--allow-invalid`` issues it anyway, for testing a terminal's checks); what
  real cards carry (historical area codes, province-level issuers, card numbers without the V2
  check character, ...) is issued with one ``sscard: note: ...`` line each on stderr.
  ``--t0`` (the old spelling of the default) is still accepted and does nothing.
- ``sscard sim apdu --card CARD.json HEX [HEX ...]``: power on, send each APDU, print one line per
  command: response data in hex, a space, SW1SW2 (just SW1SW2 when there is no data).  The card
  holds its file (the lock of simulator/store.py) for the whole run and saves each change as it
  happens; when the card reported an internal fault (6F00) or a failed write (6581), the command
  says so on stderr and exits 2.
- the PC/SC bridge commands of :mod:`simulator.cli_serve` (issue-psam, serve, eject, insert).
"""

from __future__ import annotations

import datetime as dt
import os
import string
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from apdu.errors import SSCardError
from apdu.keys import TEST_KEYS, KeySet
from apdu.text import printable
from simulator.card import close_card
from simulator.cli_serve import SERVE_COMMANDS
from simulator.extensions import ExtensionError, extension_of, read_extension_file
from simulator.loader import load_card
from simulator.personalisation import PersonalisationError, notices
from simulator.photo import PhotoError, load_photo
from simulator.samples import apply_overrides, sample_personalisation
from simulator.usercard import UserCard


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYYMMDD") from None


class CardFaultError(SSCardError):
    """The simulated card answered 6F00 (an internal fault) or 6581 (its file could not be
    written) during ``sim apdu``: an I/O or simulator failure, exit 2."""


@click.group()
def sim() -> None:
    """Software social security cards (TEST keys only): issue them and send them APDUs."""


def _ssn(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--ssn``: ASCII only (full-width digits are digits to Python, not to GB 11643)."""
    if value is not None and not (value.isascii() and value.isprintable()):
        raise click.BadParameter("use ASCII digits and X (no full-width or control characters)")
    return value


def _ssn_facts(ssn: str) -> dict[str, Any]:
    """Birth date and sex implied by an SSN (§8.1), when it has them, so that ``--ssn`` alone
    issues a consistent card."""
    facts: dict[str, Any] = {}
    if len(ssn) >= 17 and ssn[:17].isascii() and ssn[:17].isdigit():
        try:
            facts["birth_date"] = dt.datetime.strptime(ssn[6:14], "%Y%m%d").date()
        except ValueError:
            pass
        facts["sex"] = "1" if int(ssn[16]) % 2 else "2"
    return facts


def _fail(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"sscard: {printable(line)}", err=True)
    raise SystemExit(2)


@sim.command("issue")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Card file to write (JSON).")
@click.option("--generation", type=click.Choice(["1", "2", "3"]), default="3", show_default=True,
              help="1 = 1.00 (DES, no algorithm flag, 0x20 padding), 2 = financial SSC with DES, "
              "3 = SM4 (EF06 needs RKSSSE).")
@click.option("--name", help="Holder's name (Chinese, GBK).")
@click.option("--ssn", callback=_ssn, help="Social security number (18 characters).")
@click.option("--sex", type=click.Choice(["1", "2", "9"]), help="1 male, 2 female, 9 unspecified.")
@click.option("--birth-date", callback=_date, help="YYYYMMDD (default: from the SSN).")
@click.option("--expiry", callback=_date, help="Card expiry YYYYMMDD.")
@click.option("--card-number", help="卡号, 9 characters (§8.2).")
@click.option("--pin", help="Initial PIN of the simulated card (default 123456).")
@click.option("--pin-tries", type=click.IntRange(1, 15), help="PIN try limit (default 6).")
@click.option("--t1", is_flag=True,
              help="Answer a T=1 ATR (default: T=0, FCI through 61xx, as real cards do).")
@click.option("--t0", is_flag=True, hidden=True,
              help="Accepted for old scripts: T=0 is the default.")
@click.option("--no-multi-record", is_flag=True,
              help="Refuse READ RECORD P2=05/06 (all records at once) with 6A86.")
@click.option("--exact-le", is_flag=True,
              help="Answer 6Cxx to any Le but the record's exact length (the card profile's text).")
@click.option("--gpo-format", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="GET PROCESSING OPTIONS answer: format 1 (80) or 2 (77).")
@click.option("--pad20", is_flag=True, help="Pad text fields with 0x20 like some real cards.")
@click.option("--pin-not-enabled", is_flag=True, help="Initial PIN not enabled (regional).")
@click.option("--counterfeit", is_flag=True, help="Issue under the COUNTERFEIT test key set.")
@click.option("--allow-invalid", is_flag=True, help="Issue even if the data is inconsistent.")
@click.option("--force", is_flag=True, help="Overwrite an existing card file.")
@click.option("--photo", "photo_path", type=click.Path(dir_okay=False, path_type=Path),
              help="EF08 photo: a JPEG or BMP of at most 4 KB (default: a drawn portrait).")
@click.option("--extension", "extension_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A region's extension declaration (TOML) to personalise too.")
def issue(out: Path, generation: str, name: str | None, ssn: str | None, sex: str | None,
          birth_date: dt.date | None, expiry: dt.date | None, card_number: str | None,
          pin: str | None, pin_tries: int | None, t1: bool, t0: bool, no_multi_record: bool,
          exact_le: bool, gpo_format: str, pad20: bool, pin_not_enabled: bool,
          counterfeit: bool, allow_invalid: bool, force: bool, photo_path: Path | None,
          extension_path: Path | None) -> None:
    """Issue a simulated user card (a complete valid 3rd-generation sample by default)."""
    if os.path.lexists(out) and not force:
        raise click.UsageError(f"{out} exists; use --force to overwrite it")
    overrides: dict[str, Any] = {}
    try:
        if photo_path is not None:
            overrides["photo"] = load_photo(photo_path)
        if extension_path is not None:
            overrides["extension"] = read_extension_file(extension_path)
    except (PhotoError, ExtensionError) as exc:
        _fail([str(exc)])
    if ssn is not None:
        overrides.update(_ssn_facts(ssn))
        overrides["ssn"] = ssn
    given = {"name": name, "sex": sex, "birth_date": birth_date, "expiry_date": expiry,
             "card_number": card_number, "pin": pin, "pin_tries": pin_tries}
    overrides.update({k: v for k, v in given.items() if v is not None})
    if t1 and t0:
        raise click.UsageError("--t1 and --t0 contradict each other (T=0 is the default)")
    if t1:
        overrides["t0"] = False
    if no_multi_record:
        overrides["multi_record"] = False
    if exact_le:
        overrides["exact_le"] = True
    if gpo_format != "1":
        overrides["gpo_format"] = int(gpo_format)
    if pad20:
        overrides["pad"] = 0x20
    if pin_not_enabled:
        overrides["pin_not_enabled"] = True
    keys: KeySet = KeySet.counterfeit() if counterfeit else TEST_KEYS
    try:
        perso = apply_overrides(sample_personalisation(int(generation)), overrides)
        perso = perso.model_copy(update={"key_set": "counterfeit" if counterfeit else "test"})
        card = UserCard.issue(perso, keys=keys, allow_invalid=allow_invalid)
        noticed = notices(perso)
    except PersonalisationError as exc:
        _fail(exc.problems)
        return
    except ValidationError as exc:
        _fail([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()])
        return
    card.save(out)  # refuses to replace anything but a card file (simulator/store.py)
    card.close()
    for line in noticed:
        click.echo(f"sscard: note: {line}", err=True)
    click.echo(
        f"issued {out}: generation {card.generation} ({card.algorithm.name}), "
        f"{perso.holder.name}, card {perso.card.card_number}, "
        f"{'T=0' if card.t0 else 'T=1'}, {keys.label}"
        + (f", photo {photo_path}" if photo_path is not None else "")
        + (f", {ext.region} extension" if (ext := extension_of(perso.extension)) else "")
        + (" [INVALID DATA ALLOWED]" if allow_invalid else "")
    )


def _parse_hex(text: str) -> bytes:
    cleaned = "".join(text.split())
    if not cleaned or len(cleaned) % 2 or any(c not in string.hexdigits for c in cleaned):
        raise click.UsageError(f"{text!r} is not an APDU in hex (an even number of hex digits)")
    return bytes.fromhex(cleaned)


@sim.command("apdu")
@click.option("--card", "card_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Card file (user card or PSAM).")
@click.argument("apdus", nargs=-1, required=True)
def apdu(card_path: Path, apdus: tuple[str, ...]) -> None:
    """Power the card on, send each APDU (hex), print 'DATA SW' per command (changes are saved
    as they happen)."""
    commands = [_parse_hex(a) for a in apdus]  # all parsed before the card is touched
    card = load_card(card_path)
    try:
        card.power_on()
        for cmd in commands:
            resp = card.transmit(cmd)
            data, sw = resp[:-2].hex().upper(), resp[-2:].hex().upper()
            click.echo(f"{data} {sw}" if data else sw)
        card.power_off()
    finally:
        close_card(card)
    faults = getattr(card, "faults", 0)
    if faults:
        raise CardFaultError(
            f"the card reported {faults} internal fault(s) or failed write(s) (6F00 / 6581): "
            "see the log line(s) above; SSCARD_DEBUG=1 shows the traceback"
        )


for _command in SERVE_COMMANDS:
    sim.add_command(_command)
