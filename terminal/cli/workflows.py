"""``sscard pharmacy`` and ``sscard activate``: the two terminal workflows of issue 5.

Both take the shared card options (:mod:`terminal.cli.options`), ``--pin-stdin``, ``--pin-pad
auto|on|off`` (the social security PIN typed on the reader's PIN pad) and the sale
policy switches (:class:`terminal.policy.SalePolicy`): ``--no-genuine-required`` (a counter with
no security module says so; the result then shows "genuineness not checked (policy)"),
``--refuse-expired``, ``--stop-on CHECK`` (a warning of CHECK refuses), and for the pharmacy
``--accept-initial-pin`` / ``--change-initial-pin`` (the initial PIN 123456 entered for a sale is
refused before any VERIFY by default: national code −35; with ``--change-initial-pin`` the holder
changes it right there and the sale continues).  The card session is released whatever happens.
Exit codes: 0 success; 1 refused (a failed check, a card not proved genuine, the initial PIN, a
holder mismatch, a wrong or blocked PIN with the tries left, a weak new PIN, the bank host's
refusal); 2 usage.

``activate`` reads the holder's photo for the clerk (SSSE EF08): ``--json`` carries it as base64
(``photo``: state, kind, size, ``base64``; null fields when absent), ``--photo FILE`` writes it
too; a missing photo is a warning, never a refusal.  It sends the bank PIN block to the built-in
LOOPBACK bank host (TEST: it deciphers the block with the same TEST key to check it, and keeps
nothing); a real bank host plugs in through
:class:`terminal.bankhost.BankHost` in the Python API.  ``--bank-key FILE`` names a TEST terminal
PIN key (hex, or JSON ``{"key": HEX}``); without it the built-in TEST key is used.  Key bytes are
never printed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from apdu.errors import FileError, SSCardError
from terminal.card import open_card
from terminal.checks import CHECKS
from terminal.cli.options import CardOptions, card_options
from terminal.cli.output import printable
from terminal.cli.pin import (
    emit,
    pad_length,
    pad_mode,
    pin_entry,
    pin_source_option,
    policy_options,
    refusals,
)
from terminal.photo import check_photo_target, save_photo
from terminal.pinpolicy import PinPolicy
from terminal.pinsource import PinPadMode, PinSource
from terminal.policy import NOT_CHECKED_BY_POLICY, SalePolicy

SEX_TEXT = {"1": "male", "2": "female", "9": "unspecified"}

F = TypeVar("F", bound=Callable[..., Any])


def sale_policy_options(func: F) -> F:
    """The :class:`SalePolicy` switches; the command receives ``sale_policy: SalePolicy``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stop_on = list(kwargs.pop("stop_on"))
        if kwargs.pop("refuse_expired"):
            stop_on.append("not_expired")
        policy = SalePolicy(
            require_genuine=not kwargs.pop("no_genuine_required")
        ).stopping_on(*stop_on)
        return func(*args, sale_policy=policy, **kwargs)

    options = [
        click.option(
            "--no-genuine-required", is_flag=True,
            help="This counter has no security module: sell without proving the card genuine "
            "(shown as 'genuineness not checked (policy)').",
        ),
        click.option("--refuse-expired", is_flag=True, help="Refuse an expired card."),
        click.option(
            "--stop-on", "stop_on", multiple=True, metavar="CHECK", type=click.Choice(list(CHECKS)),
            help="Refuse when CHECK warns (repeatable).",
        ),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[return-value]


def _genuine_text(genuine: bool | None, notes: list[str]) -> str:
    if genuine is True:
        return "yes"
    if genuine is False:
        return "NO"
    if NOT_CHECKED_BY_POLICY in notes:
        return "not checked (policy)"
    return "unverified"


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
@sale_policy_options
@click.option(
    "--accept-initial-pin", is_flag=True,
    help="Let the initial PIN 123456 verify a sale (refused by default: national code -35).",
)
@click.option(
    "--change-initial-pin", is_flag=True,
    help="When the holder enters the initial PIN, change it right there (asks the new PIN "
    "twice) and go on with the sale.",
)
@policy_options
def pharmacy(
    opts: CardOptions,
    pin_source: PinSource,
    pin_pad: PinPadMode | None,
    sale_policy: SalePolicy,
    accept_initial_pin: bool,
    change_initial_pin: bool,
    policy: PinPolicy,
) -> None:
    """Pharmacy purchase: read, check, PIN (asks: PIN), medical area code.

    The initial PIN 123456 is refused before any VERIFY (no try lost) unless
    --accept-initial-pin; --change-initial-pin asks: PIN, new PIN, new PIN again.
    """
    from dataclasses import replace

    if accept_initial_pin:
        sale_policy = replace(sale_policy, refuse_initial_pin=False)
    with refusals(opts), open_card(
        **opts.card_kwargs(), policy=sale_policy, pin_pad=pad_mode(pin_pad)
    ) as card:
        result = card.pharmacy(
            pin_entry(card, pin_source, pin_pad), change_initial_pin=change_initial_pin,
            pin_policy=policy,
        )
    pin_text = {"verified": "verified", "not_enabled": "not enabled (nothing to verify)"}
    rows: list[tuple[str, object]] = [
        ("Name", result.name),
        ("Social security no.", result.ssn),
        ("Sex", SEX_TEXT.get(result.sex or "", result.sex)),
        ("Birth date", _date(result.birth_date)),
        ("Card number", result.card_number),
        ("Medical area code", result.medical_area_code),
        ("PIN", pin_text.get(result.pin, result.pin)
         + (" (initial PIN changed)" if result.initial_pin_changed else "")),
        ("Genuine card", _genuine_text(result.genuine, result.notes)),
        ("APDUs", result.apdus),
    ]
    lines = _table(rows) + [f"warning: {printable(w)}" for w in result.warnings]
    emit(opts, result.to_json(), lines)


@click.command("activate")
@card_options
@pin_source_option
@sale_policy_options
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
@click.option(
    "--bank-gpo", is_flag=True,
    help="Read the bank PAN the EMV way (GET PROCESSING OPTIONS and the AFL).",
)
@click.option(
    "--photo", "photo_path", metavar="FILE", default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the holder's photo to FILE for the clerk (it is always in --json, base64); "
    "only a previous photo file is ever replaced.",
)
def activate(
    opts: CardOptions,
    pin_source: PinSource,
    pin_pad: PinPadMode | None,
    sale_policy: SalePolicy,
    policy: PinPolicy,
    clerk_name: str,
    clerk_id_number: str,
    bank_key: str | None,
    fmt: str,
    bank_gpo: bool,
    photo_path: Path | None,
) -> None:
    """Bank activation kiosk: match the holder, set the bank PIN, change the social security PIN.

    Asks, in this order: new bank PIN, again; current social security PIN; new social security
    PIN, again.
    """
    if photo_path is not None:
        check_photo_target(photo_path)  # before the card: a kiosk learns it before activating
    try:
        with refusals(opts), open_card(
            **opts.card_kwargs(), policy=sale_policy, pin_pad=pad_mode(pin_pad),
            pin_pad_length=pad_length(policy),
        ) as card:
            result = card.activate(
                clerk_name=clerk_name,
                clerk_id_number=clerk_id_number,
                pin_source=pin_entry(card, pin_source, pin_pad),
                pin_key=bank_key,  # None: the built-in TEST key; the LOOPBACK TEST host
                fmt=int(fmt),
                pin_policy=policy,
                bank_gpo=bank_gpo,
            )
    except SSCardError as exc:
        for note in getattr(exc, "__notes__", []):
            click.echo(f"sscard: {printable(note)}", err=True)
        raise
    st = result.status
    found = result.photo
    photo_text = found.detail if found is not None else "not read"
    if photo_path is not None and found is not None and found.photo is not None:
        try:  # the card is activated by now: a file that cannot be written is a warning
            save_photo(photo_path, found.photo.data)
            photo_text += f" (saved to {photo_path})"
        except FileError as exc:
            photo_text += f" (NOT saved: {exc})"
    rows: list[tuple[str, object]] = [
        ("Name", result.name),
        ("Social security no.", result.ssn),
        ("Bank account", result.masked_pan),
        ("Bank PIN", f"set (format {result.pin_block_format}, "
                     f"host reference {result.bank.reference}; loopback TEST host)"),
        ("Social security PIN", "changed"),
        ("Photo", photo_text),
        ("Status", st.verdict),
        ("APDUs", result.apdus),
    ]
    lines = _table(rows) + [f"warning: {printable(w)}" for w in result.warnings]
    emit(opts, result.to_json(), lines)
