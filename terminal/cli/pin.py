"""``sscard pin status | verify | change | unblock | reset`` (card-profile §6, §7.6).

Every subcommand takes the shared card options (:mod:`terminal.cli.options`) and ``--pin-stdin``
(one PIN per line, in the order the command asks; otherwise a no-echo prompt on the terminal).
PINs are never options or arguments.  ``--pin-pad auto|on|off`` (verify, change, and the
workflows): the holder types the PIN on the reader's PIN pad (PC/SC part 10) when the reader has
one (auto), must (on), or never (off); one line on stderr says which entry is used.

======= ============================================================================
status  the empty VERIFY: not enabled / enabled with N tries left / blocked (no try used)
verify  status, then ONE VERIFY (asks: PIN); a blocked PIN is reported, not tried
change  asks: current PIN, new PIN, new PIN again; the policy is checked before sending
unblock counter staff: PUK external authentication + MAC through the security module
reset   counter staff: asks new PIN, new PIN again; encrypted and MACed by the security module
======= ============================================================================

Exit codes: 0 success; 1 refused by the card or by the policy (the message says why and how many
tries are left); 2 usage.  ``--json`` prints one object on stdout, also for a refusal.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

import terminal.pin as pinops
from apdu import status as sw
from apdu.codec import PIN_MAX_DIGITS, PIN_MIN_DIGITS
from apdu.errors import (
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
    PinPadError,
    PolicyError,
    SSCardError,
    UsageError,
)
from apdu.part10 import DEFAULT_PIN_LENGTH
from terminal.card import Card, open_card
from terminal.cli.options import CardOptions, card_options
from terminal.cli.output import printable, to_json
from terminal.pinpolicy import PinPolicy
from terminal.pinsource import (
    PIN_PAD_MODES,
    AnnouncedPinSource,
    PinPadMode,
    PinPadPinSource,
    PinSource,
    PromptPinSource,
    StdinPinSource,
    describe_entry,
)
from terminal.pinstatus import PinStatus

F = TypeVar("F", bound=Callable[..., Any])


class Refused(SSCardError):
    """A refusal already explained to the user (one line on stderr, exit 1)."""

    exit_code = 1


# --- shared pieces (also used by terminal.cli.workflows) -----------------------------------------


def pin_source_option(func: F) -> F:
    """``--pin-stdin`` and ``--pin-pad auto|on|off``: the command receives ``pin_source:
    PinSource`` (the host entry) and ``pin_pad`` (what :func:`terminal.open_card` takes)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stdin = kwargs.pop("pin_stdin")
        source: PinSource = StdinPinSource() if stdin else PromptPinSource()
        return func(*args, pin_source=source, **kwargs)

    options = [
        click.option(
            "--pin-stdin", "pin_stdin", is_flag=True,
            help="Read PINs from standard input, one per line, in the order the command asks "
            "(on a PIN pad: only the PINs a pad cannot take, e.g. the bank PIN).",
        ),
        click.option(
            "--pin-pad", "pin_pad", type=click.Choice(PIN_PAD_MODES), default=None,
            help="Type the social security PIN on the reader's PIN pad (PC/SC part 10): auto "
            "(the default) = when the reader has one, on = required, off = on this computer.",
        ),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[return-value]


def pin_entry(card: Card, host: PinSource, pin_pad: PinPadMode | None) -> PinSource:
    """The card's PIN entry for this command: the reader's PIN pad or ``host``.

    One line on stderr says which, when the first PIN is asked: always for the pad; for the
    host entry when ``--pin-pad`` was given (without it nothing changed from before the pad
    existed, so nothing is added to the output).
    """
    source = card.pin_source(host)
    assert not isinstance(source, bytes | bytearray | str)
    line = describe_entry(source)
    if isinstance(source, PinPadPinSource):
        source.on_first_use = functools.partial(_tell, line)
        return source
    if pin_pad is None:
        return source
    return AnnouncedPinSource(source, functools.partial(_tell, f"{line} (--pin-pad {pin_pad})"))


def pad_length(policy: PinPolicy) -> int:
    """The PIN length a pad asks for under ``policy``: its exact length, else the default."""
    return policy.length or DEFAULT_PIN_LENGTH


def pad_mode(pin_pad: PinPadMode | None) -> PinPadMode:
    """``--pin-pad`` as :func:`terminal.open_card` takes it (not given: auto)."""
    return pin_pad or "auto"


#: a PIN length option: the card's bounds (card-profile §6).
_PIN_DIGITS = click.IntRange(PIN_MIN_DIGITS, PIN_MAX_DIGITS)


def policy_options(func: F) -> F:
    """New-PIN policy options; the command receives ``policy: PinPolicy``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        length = kwargs.pop("pin_length")
        lo, hi = kwargs.pop("min_length"), kwargs.pop("max_length")
        try:
            free = length is None and (lo is not None or hi is not None)
            policy = PinPolicy(
                length=None if free else (length or 6),
                min_length=lo if lo is not None else PIN_MIN_DIGITS,
                max_length=hi if hi is not None else PIN_MAX_DIGITS,
                forbid_initial=not kwargs.pop("allow_initial"),
                forbid_trivial=not kwargs.pop("allow_trivial"),
                forbid_birth_date=kwargs.pop("forbid_birth_date"),
            )
        except UsageError as exc:
            raise click.UsageError(str(exc)) from None
        return func(*args, policy=policy, **kwargs)

    options = [
        click.option("--pin-length", "pin_length", type=_PIN_DIGITS, default=None,
                     help="Exact length of a new PIN (default 6)."),
        click.option("--min-length", "min_length", type=_PIN_DIGITS, default=None,
                     help="Allow new PINs of this many digits or more (instead of exactly 6)."),
        click.option("--max-length", "max_length", type=_PIN_DIGITS, default=None,
                     help="Allow new PINs of up to this many digits (instead of exactly 6)."),
        click.option("--allow-initial", is_flag=True,
                     help="Accept the initial PIN 123456 as a new PIN."),
        click.option("--allow-trivial", is_flag=True,
                     help="Accept 000000, 123456-style runs and the like."),
        click.option("--forbid-birth-date", is_flag=True,
                     help="Refuse the holder's birth date (YYMMDD, DDMMYY, ...) as a new PIN."),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[return-value]


def emit(opts: CardOptions, data: dict[str, Any], lines: list[str]) -> None:
    """JSON on stdout with ``--json``, else the human lines."""
    if opts.json:
        click.echo(to_json(data))
    else:
        for line in lines:
            click.echo(printable(line))


def describe_status(st: PinStatus) -> str:
    if st.state == "not_enabled":
        return "no PIN is enabled on this card (initial state of some regions)"
    if st.state == "blocked":
        return "the PIN is blocked (0 tries left); it must be unblocked or reset at a counter"
    n = st.tries_left
    return f"the PIN is enabled, {n} {'try' if n == 1 else 'tries'} left"


@contextmanager
def refusals(opts: CardOptions) -> Iterator[None]:
    """Turn the card's PIN refusals, policy refusals and the PIN pad's results (cancel, timeout,
    mismatch, length: the card received nothing) into one explained line (exit 1)."""
    try:
        yield
    except (sw.WrongPin, sw.PinBlocked) as exc:
        message = pinops.explain(exc)
        notes = getattr(exc, "__notes__", [])
        if opts.json:
            tries = exc.tries_left if isinstance(exc, sw.WrongPin) else 0
            kind = "wrong_pin" if isinstance(exc, sw.WrongPin) and tries else "blocked"
            click.echo(json.dumps({"result": kind, "tries_left": tries, "message": message}))
        raise Refused("\nsscard: ".join([message, *notes])) from None
    except PolicyError as exc:
        if opts.json:
            click.echo(json.dumps({"result": "refused", "message": str(exc)}))
        raise
    except PinPadError as exc:
        result = next((k for cls, k in _PAD_RESULTS if isinstance(exc, cls)), None)
        if result is None:  # the pad's firmware refused the structure: not the holder's doing
            raise
        message = f"{exc}; the card received nothing, no PIN try was used"
        if opts.json:
            click.echo(json.dumps({"result": result, "message": message}))
        raise Refused(message) from None


#: the PIN pad's own results (PC/SC part 10) -> the ``result`` of ``--json``.
_PAD_RESULTS: tuple[tuple[type[PinPadError], str], ...] = (
    (PinEntryCancelled, "cancelled"),
    (PinEntryTimeout, "timeout"),
    (PinEntryMismatch, "mismatch"),
    (PinLengthError, "length"),
)


def _tell(text: str) -> None:
    """A progress line for the person at the terminal (stderr: stdout stays for results)."""
    click.echo(text, err=True)


# --- the commands --------------------------------------------------------------------------------


@click.group("pin")
def pin() -> None:
    """The social security PIN: status, verify, change, unblock, reset (card-profile §6)."""


@pin.command("status")
@card_options
def status_cmd(opts: CardOptions) -> None:
    """Show the PIN state with the empty VERIFY (uses no try)."""
    with open_card(**opts.card_kwargs()) as card:
        st = card.pin.status()
    emit(opts, st.to_json(), [describe_status(st)])


@pin.command("verify")
@card_options
@pin_source_option
def verify_cmd(opts: CardOptions, pin_source: PinSource, pin_pad: PinPadMode | None) -> None:
    """Verify the PIN once (asks: PIN).  Never retried; a blocked PIN is not tried."""
    with refusals(opts), open_card(**opts.card_kwargs(), pin_pad=pad_mode(pin_pad)) as card:
        source = pin_entry(card, pin_source, pin_pad)
        st = card.pin.status()
        if st.state == "enabled":
            _tell(describe_status(st))
        result = card.pin.verify(source, known_status=st)
    line = (
        "PIN verified"
        if result.verified
        else "no PIN is enabled on this card: nothing to verify"
    )
    emit(opts, result.to_json(), [line])


@pin.command("change")
@card_options
@pin_source_option
@policy_options
def change_cmd(
    opts: CardOptions, pin_source: PinSource, pin_pad: PinPadMode | None, policy: PinPolicy
) -> None:
    """Change the PIN (asks: current PIN, new PIN, new PIN again)."""
    with refusals(opts), open_card(
        **opts.card_kwargs(), pin_pad=pad_mode(pin_pad), pin_pad_length=pad_length(policy)
    ) as card:
        source = pin_entry(card, pin_source, pin_pad)
        on_pad = isinstance(source, PinPadPinSource)
        birth = None if on_pad else card.pin.birth_date_for(policy)
        st = card.pin.status()
        _tell(describe_status(st))
        result = card.pin.change(source, policy=policy, birth_date=birth, known_status=st)
    emit(opts, result.to_json(), ["PIN changed"])


@pin.command("unblock")
@card_options
def unblock_cmd(opts: CardOptions) -> None:
    """Counter staff: reset the try counter, keep the PIN (needs the security module)."""
    with refusals(opts), open_card(**opts.card_kwargs()) as card:
        result = card.pin.unblock()
        st = card.pin.status()
    data = {**result.to_json(), **st.to_json()}
    emit(opts, data, [f"PIN unblocked: {describe_status(st)}"])


@pin.command("reset")
@card_options
@pin_source_option
@policy_options
def reset_cmd(
    opts: CardOptions, pin_source: PinSource, pin_pad: PinPadMode | None, policy: PinPolicy
) -> None:
    """Counter staff: set a new PIN without the old one (asks: new PIN, new PIN again).

    The new PIN is encrypted by the security module, which a PIN pad cannot do: it is always
    typed on this computer (``--pin-pad on`` is refused)."""
    if pin_pad == "on":
        raise UsageError("pin reset: the new PIN is encrypted by the security module, which a "
                         "PC/SC PIN pad cannot do; use --pin-pad off")
    with refusals(opts), open_card(**opts.card_kwargs()) as card:
        result = card.pin.reset(pin_source, policy=policy)
        st = card.pin.status()
    data = {**result.to_json(), **st.to_json()}
    emit(opts, data, [f"PIN reset: {describe_status(st)}"])


__all__ = [
    "pin", "pad_length", "pad_mode", "pin_entry", "pin_source_option", "policy_options",
    "refusals", "emit", "describe_status",
]
