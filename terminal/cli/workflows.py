"""``sscard pharmacy`` and ``sscard activate``: the two terminal workflows of issue 5.

Both take the shared card options (:mod:`terminal.cli.options`) and ``--pin-stdin``; the card
session is released whatever happens.  Exit codes: 0 success; 1 refused (a failed check, a holder
mismatch, a wrong or blocked PIN with the tries left, a weak new PIN, the bank host's refusal);
2 usage.

``activate`` sends the bank PIN block to the built-in LOOPBACK bank host (TEST: it deciphers the
block with the same TEST key to check it, and keeps nothing); a real bank host plugs in through
:class:`terminal.bankhost.BankHost` in the Python API.  ``--bank-key FILE`` names a TEST terminal
PIN key (hex, or JSON ``{"key": HEX}``); without it the built-in TEST key is used.  Key bytes are
never printed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from apdu.errors import SSCardError
from terminal.cli.options import CardOptions, card_options, open_session
from terminal.cli.output import printable
from terminal.cli.pin import emit, pin_source_option, policy_options, refusals
from terminal.pinpolicy import PinPolicy
from terminal.pinsource import PinSource

SEX_TEXT = {"1": "male", "2": "female", "9": "unspecified"}


def _table(rows: list[tuple[str, object]]) -> list[str]:
    """Label / value lines; values (names, numbers from the card) are shown escaped."""
    width = max(len(label) for label, _ in rows)
    return [
        f"{label.ljust(width)}  {'' if value is None else printable(str(value))}"
        for label, value in rows
    ]


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


@click.command("pharmacy")
@card_options
@pin_source_option
def pharmacy(opts: CardOptions, pin_source: PinSource) -> None:
    """Pharmacy purchase: read, check, PIN (asks: PIN), medical area code."""
    from terminal.workflows.pharmacy import pharmacy as run

    with refusals(opts), open_session(opts) as session:
        result = run(session, pin_source)
    rows: list[tuple[str, object]] = [
        ("Name", result.name),
        ("Social security no.", result.ssn),
        ("Sex", SEX_TEXT.get(result.sex or "", result.sex)),
        ("Birth date", _date(result.birth_date)),
        ("Card number", result.card_number),
        ("Medical area code", result.medical_area_code),
        ("PIN", "verified" if result.pin == "verified" else "not enabled (nothing to verify)"),
        ("Genuine card", {True: "yes", False: "NO", None: "not checked (no SAM)"}[result.genuine]),
        ("APDUs", result.apdus),
    ]
    lines = _table(rows) + [f"warning: {printable(w)}" for w in result.warnings]
    emit(opts, result.to_json(), lines)


def _pin_key(path: str | None, fmt: int) -> Any:
    from terminal.pinblock import PinKey

    return PinKey.from_file(path, fmt) if path else PinKey.test(fmt)


@click.command("activate")
@card_options
@pin_source_option
@policy_options
@click.option("--name", "clerk_name", required=True, help="The holder's name, from the ID card.")
@click.option(
    "--id-number", "clerk_id_number", required=True, help="The holder's citizen ID number."
)
@click.option(
    "--bank-key", "bank_key", metavar="FILE", default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="TEST terminal PIN key file (default: the built-in TEST key).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["0", "4"]), default="0", show_default=True,
    help="ISO 9564 PIN block format: 0 (3DES) or 4 (SM4).",
)
def activate(
    opts: CardOptions,
    pin_source: PinSource,
    policy: PinPolicy,
    clerk_name: str,
    clerk_id_number: str,
    bank_key: str | None,
    fmt: str,
) -> None:
    """Bank activation kiosk: match the holder, set the bank PIN, change the social security PIN.

    Asks, in this order: new bank PIN, again; current social security PIN; new social security
    PIN, again.
    """
    from terminal.bankhost import LoopbackBankHost
    from terminal.workflows.activation import activate as run

    number = int(fmt)
    key = _pin_key(bank_key, number)
    host = LoopbackBankHost(keys={number: key})
    try:
        with refusals(opts), open_session(opts) as session:
            result = run(
                session,
                clerk_name=clerk_name,
                clerk_id_number=clerk_id_number,
                pin_source=pin_source,
                bank_host=host,
                policy=policy,
                pin_key=key,
                fmt=number,
            )
    except SSCardError as exc:
        for note in getattr(exc, "__notes__", []):
            click.echo(f"sscard: {printable(note)}", err=True)
        raise
    st = result.status
    rows: list[tuple[str, object]] = [
        ("Name", result.name),
        ("Social security no.", result.ssn),
        ("Bank account", result.masked_pan),
        ("Bank PIN", f"set (format {result.pin_block_format}, "
                     f"host reference {result.bank.reference}; loopback TEST host)"),
        ("Social security PIN", "changed"),
        ("Status", getattr(st, "verdict", "activated" if result.activated else "not activated")),
        ("APDUs", result.apdus),
    ]
    lines = _table(rows) + [f"warning: {printable(w)}" for w in result.warnings]
    emit(opts, result.to_json(), lines)
