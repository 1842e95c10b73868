"""PIN operations on the social security PIN: status, verify, change, unblock, reset.

Card-profile §6 (the PIN and its commands), §7.3 (MAC and encryption), §7.6 (unblock/reset
sequence).  Every function works on a :class:`terminal.session.CardSession`, which selects the
SSSE only when the card is outside the PIN's domain (the PIN lives in the SSSE, P2 = 00, and
counts in its DFs, §2: after a bank step a PIN command selects the SSSE again by itself).

The rules a holder relies on, each enforced here in one place:

- **status first**: :func:`verify` asks the empty VERIFY (no try used, §6) before anything else.
  A blocked PIN is reported (:class:`~apdu.status.PinBlocked`) and NOT tried; a PIN that is not
  enabled needs no verification (the result says so and no PIN is even asked for).
- **one VERIFY, never retried**: a wrong PIN raises :class:`~apdu.status.WrongPin` carrying the
  tries left; retrying is the holder's decision, never the middleware's.
- **refuse before sending**: a PIN that is not 4..16 digits, or a new PIN the
  :class:`~terminal.pinpolicy.PinPolicy` refuses, raises :class:`~apdu.errors.PolicyError` before
  any APDU (a mistyped PIN must not burn a try).  An empty PIN can never become the status query
  (OpenSC CVE-2023-40660): coding refuses it.
- **unblock/reset through the security module** (§7.6): EXTERNAL AUTHENTICATE with the PUK
  (KID 06), GET CHALLENGE, then the SAM computes the MAC (and for reset encrypts
  ``LD ‖ PIN ‖ 80..``) under the session key of the maintenance key STK and that challenge, for
  ``84 24 00 00`` / ``84 24 00 01``.  The key choice is the table :data:`MAINTENANCE_KEYS`
  ([choice] in §7.6, so a region can change it).  The diversification needs 卡的识别码: it is read
  with one READ RECORD (EF05 tag 01 through SFI 5) unless the session already holds it.

APDU costs (command APDUs on a fresh session, GET RESPONSE of a T=0 card not counted):

=========  ===  ==================================================================
status     2    SELECT SSSE, empty VERIFY
verify     3    SELECT SSSE, empty VERIFY, VERIFY (2 when the PIN is not enabled/blocked)
change     3    SELECT SSSE, empty VERIFY, CHANGE PIN
unblock    6    SELECT SSSE, READ RECORD 01, GET CHALLENGE, EXT AUTH PUK, GET CHALLENGE, 84 24
reset      6    as unblock
=========  ===  ==================================================================

With a PSAM the security module adds its own APDUs on its own reader (not counted here).  Later
in the same session every SELECT, READ RECORD 01 and PUK authentication the session already has
is not sent again (e.g. a second verify: 2; unblock after unblock: 2).

On the reader's PIN pad (a :class:`~terminal.pinsource.PinPadPinSource`, PC/SC part 10) verify
and change cost the same APDUs: the pad's VERIFY / CHANGE PIN is one command on the wire, filled
by the reader (:func:`pad_verify`, :func:`pad_change`); the rules that need digits cannot run
there (see :func:`pad_change`).

Secrecy: PINs are taken as ``bytearray`` (wiped here after coding), ``bytes`` or ``str``;
``bytes`` and ``str`` cannot be wiped, and the APDU objects hold an immutable copy for as long as
the exchange lasts.  No result, repr or message here contains a PIN.  The channel's tracer
redacts VERIFY / CHANGE PIN / 84 24 data (:mod:`apdu.redact`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from apdu import commands, status
from apdu.codec import pin_encode
from apdu.command import CommandAPDU
from apdu.crypto import Algorithm
from apdu.elements import BY_TAG_EF05
from apdu.errors import PolicyError, ResponseFormatError, SSCardError, TlvError, UsageError
from apdu.keys import key_name_for_kid
from apdu.names import SFI_EF05, Kid
from apdu.tlv import simple_record
from terminal.pinpolicy import INITIAL_PIN, PinInput, PinPolicy, card_format_ok, same_pin
from terminal.pinsource import PinPadPinSource, PinSource, wipe
from terminal.pinstatus import PinStatus, pin_status
from terminal.session import CardSession

#: §7.6: which card key authorises unblock/reset, and which one keys the MAC and the encryption.
#: [choice] in card-profile §7.6 (MAC key STK) — kept as data so that a region can follow its own.
MAINTENANCE_KEYS: Mapping[str, int] = MappingProxyType({"authenticate": Kid.PUK, "mac": Kid.STK})

#: What a prompt calls each PIN (the same words on every front end; never the PIN itself).
PROMPT_PIN = "social security PIN"
PROMPT_CURRENT = "current social security PIN"
PROMPT_NEW = "new social security PIN"

_HEADER_UNBLOCK = bytes((0x84, commands.INS_PIN_UNBLOCK_RESET, 0x00, commands.P2_UNBLOCK))
_HEADER_RESET = bytes((0x84, commands.INS_PIN_UNBLOCK_RESET, 0x00, commands.P2_RESET))


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify` when the card did not refuse.

    ``outcome`` is ``"verified"`` (VERIFY answered 9000) or ``"not_enabled"`` (no PIN to verify:
    nothing was sent but the status query).  ``tries_left`` is what the status query reported
    before the VERIFY (a correct VERIFY restores the counter on the card, §6).
    """

    outcome: Literal["verified", "not_enabled"]
    tries_left: int | None
    apdus: int

    @property
    def verified(self) -> bool:
        return self.outcome == "verified"

    def to_json(self) -> dict[str, object]:
        return {"result": self.outcome, "tries_left": self.tries_left, "apdus": self.apdus}


@dataclass(frozen=True)
class PinOpResult:
    """The outcome of change / unblock / reset: what was done and what it cost."""

    operation: Literal["change", "unblock", "reset"]
    apdus: int

    def to_json(self) -> dict[str, object]:
        return {"result": "ok", "operation": self.operation, "apdus": self.apdus}


# --- helpers --------------------------------------------------------------------------------------


def ensure_ssse(session: CardSession) -> Algorithm:
    """Be where the PIN counts (the SSSE, or a DF of it: §2) and return the card's algorithm.

    Nothing is sent when the session knows the card is there already (:class:`CardSession`
    owns the selection: after a bank step it selects the SSSE again, at no cost otherwise).
    """
    session.enter_pin_domain()
    return session.algorithm


def status_of(session: CardSession) -> PinStatus:
    """The PIN state (§6, empty VERIFY: no try used), in the PIN's domain (selected if needed)."""
    session.enter_pin_domain()
    return pin_status(session.channel)


def _take(pin: PinInput | PinSource, prompt: str, *, confirm: bool = False) -> PinInput:
    if isinstance(pin, bytes | bytearray | str):
        return pin
    if hasattr(pin, "get"):
        return pin.get(prompt, confirm=confirm)
    raise UsageError("a PIN is given as bytes, text or a PIN source")


def _forget(*pins: PinInput | None) -> None:
    wipe(*(p for p in pins if isinstance(p, bytearray)))


def encode_pin(pin: PinInput, what: str = "PIN") -> bytes:
    """§6 BCD coding, after refusing anything that is not 4..16 digits (no APDU is sent then)."""
    if not card_format_ok(pin):
        raise PolicyError(f"the {what} must have 4 to 16 decimal digits")
    raw = pin if isinstance(pin, str) else bytes(pin)
    return pin_encode(raw)


def _refuse_blocked(st: PinStatus) -> None:
    if st.blocked:
        raise status.PinBlocked(status.AUTH_METHOD_BLOCKED, commands.INS_VERIFY)


def _usable_status(session: CardSession, known: PinStatus | None) -> PinStatus:
    """The PIN state (the empty VERIFY unless the caller ``known`` it), in the PIN's domain; a
    blocked PIN raises :class:`~apdu.status.PinBlocked` before anything else is sent."""
    if known is None:
        st = status_of(session)
    else:
        session.enter_pin_domain()
        st = known
    _refuse_blocked(st)
    return st


def _send(session: CardSession, command: CommandAPDU) -> None:
    resp = session.channel.transmit(command)
    status.check(resp.sw, command.ins)


# --- §6 verify and change -------------------------------------------------------------------------


def verify(
    session: CardSession,
    pin: PinInput | PinSource,
    *,
    known_status: PinStatus | None = None,
) -> VerifyResult:
    """Status first, then ONE VERIFY (§6).  Never retried.

    ``pin`` is the PIN or a :class:`PinSource` (asked only when a PIN is actually needed).
    ``known_status`` skips the status query when the caller has just made it.

    Raises :class:`~apdu.status.PinBlocked` (blocked: the card is not tried),
    :class:`~apdu.status.WrongPin` (``.tries_left``), :class:`~apdu.errors.PolicyError` (the entry
    is not 4..16 digits: nothing sent).
    """
    start = session.channel.apdu_count
    st = _usable_status(session, known_status)
    if st.state == "not_enabled":
        return VerifyResult("not_enabled", None, session.channel.apdu_count - start)
    if isinstance(pin, PinPadPinSource):
        pad_verify(session, pin)
        return VerifyResult("verified", st.tries_left, session.channel.apdu_count - start)
    entry = _take(pin, PROMPT_PIN)
    try:
        block = encode_pin(entry, "PIN")
    finally:
        _forget(entry)
    status.check(session.verify(block), commands.INS_VERIFY)
    return VerifyResult("verified", st.tries_left, session.channel.apdu_count - start)


def change(
    session: CardSession,
    old: PinInput | PinSource,
    new: PinInput | PinSource,
    policy: PinPolicy | None = None,
    holder_birth_date: dt.date | None = None,
    *,
    new_again: PinInput | None = None,
    known_status: PinStatus | None = None,
) -> PinOpResult:
    """CHANGE PIN ``80 5E 01 00 Lc old FF new`` (§6), the policy checked before anything is sent.

    ``old``/``new`` are PINs or PIN sources (``new`` is then asked twice).  ``new_again`` is the
    second entry when the caller collected it (None: the source already compared them).
    The status query comes after the policy check, so a refused PIN costs no APDU at all; a
    blocked PIN is reported without sending the old PIN.  A wrong old PIN raises
    :class:`~apdu.status.WrongPin` (the card used a try).
    """
    policy = policy or PinPolicy()
    pad = old if isinstance(old, PinPadPinSource) else new
    if isinstance(pad, PinPadPinSource):
        return pad_change(session, pad, policy, known_status=known_status)
    old_pin = new_pin = None
    try:
        old_pin = _take(old, PROMPT_CURRENT)
        new_pin = _take(new, PROMPT_NEW, confirm=True)
        policy.check(old_pin, new_pin, new_again, holder_birth_date)
        old_block = encode_pin(old_pin, "current PIN")
        new_block = encode_pin(new_pin, "new PIN")
    finally:
        _forget(old_pin, new_pin)
    start = session.channel.apdu_count
    _usable_status(session, known_status)  # a blocked PIN: the old PIN is not sent
    session.pin_changed()
    _send(session, commands.change_pin(old_block, new_block))
    return PinOpResult("change", session.channel.apdu_count - start)


# --- §6 on the reader's PIN pad (PC/SC part 10) ---------------------------------------------------


def _bound(session: CardSession, source: PinPadPinSource) -> None:
    if source.pad.channel is not session.channel:
        raise UsageError("the PIN pad belongs to another card channel than this session's")


def pad_verify(session: CardSession, source: PinPadPinSource) -> None:
    """ONE VERIFY typed on the pad, in the PIN's domain; the session remembers the outcome.

    The terminal sends the template ``00 20 00 00 Lc FF..`` and the reader inserts the digits;
    raises the pad's results (:class:`~apdu.errors.PinEntryCancelled`, ``...Timeout``,
    ``...Length``: the card received nothing) or the card's (``WrongPin``, ``PinBlocked``).
    """
    _bound(session, source)
    session.enter_pin_domain()
    session.pin_verified = False
    source.verify()
    session.pin_verified = True


def pad_length(source: PinPadPinSource, policy: PinPolicy) -> PinPadPinSource:
    """The pad asking for the length the policy wants (part 10 inserts one fixed count for the
    current and the new PIN alike): the policy's exact length, else the pad's when the policy's
    range holds it; a :class:`~apdu.errors.PolicyError` otherwise (nothing sent)."""
    if policy.length is not None:
        return source.with_length(policy.length)
    if not policy.min_length <= source.pin_length <= policy.max_length:
        raise PolicyError(
            f"the PIN pad asks for {source.pin_length} digits, outside the policy's "
            f"{policy.min_length}..{policy.max_length}"
        )
    return source


def pad_change_ready(source: PinPadPinSource, policy: PinPolicy) -> PinPadPinSource:
    """The refusals of a CHANGE PIN on the pad that need no card: the birth-date rule asked for
    explicitly (it needs digits a pad never gives), the fixed length against the policy and the
    pad's own limits.  A workflow runs them before its first irreversible step."""
    if policy.forbid_birth_date:  # asked for explicitly: refused rather than silently skipped
        raise UsageError("the birth-date rule needs the new PIN's digits, which a PIN pad never "
                         "gives the terminal; use host entry (--pin-pad off) to apply it")
    source = pad_length(source, policy)
    source.pad.info.limits.check(source.pin_length)  # the pad's limits: before anything is sent
    return source


def pad_change(
    session: CardSession,
    source: PinPadPinSource,
    policy: PinPolicy,
    *,
    known_status: PinStatus | None = None,
) -> PinOpResult:
    """CHANGE PIN typed on the pad: current PIN, new PIN, new PIN again (§6).

    What the policy can still enforce without digits is enforced: the length (the pad's fixed
    count, checked against the policy and the pad's own limits before anything is sent; the pad
    refuses another count with ``6403``) and the confirmation (the pad's ``6402``).  The checks
    that need the digits (trivial, initial, birth date, same as the current PIN) cannot run: the
    card applies its own rules.  A blocked PIN is reported before the pad asks anything.
    """
    _bound(session, source)
    source = pad_change_ready(source, policy)
    start = session.channel.apdu_count
    _usable_status(session, known_status)
    session.pin_changed()
    source.change()
    return PinOpResult("change", session.channel.apdu_count - start)


# --- §6/§7.6 unblock and reset --------------------------------------------------------------------


def read_card_id(session: CardSession) -> bytes:
    """卡的识别码 (EF05 tag 01) with one READ RECORD through SFI 5 and the exact Le (§4, §12),
    in the SSSE; nothing is sent when the session read it already."""
    if session.card_id is not None:
        return session.card_id
    session.enter("SSSE")
    element = BY_TAG_EF05[0x01]
    data = session.channel.send(
        commands.read_record(element.tag, by_tag=True, sfi=SFI_EF05, le=element.le)
    )
    session.named_by_sfi()
    try:
        value = simple_record(data, element.tag)
    except TlvError as exc:
        raise ResponseFormatError(f"EF05 record 01 does not parse: {exc}") from None
    if len(value) < 3:
        raise ResponseFormatError("EF05 record 01 is too short to hold a city code")
    session.card_id = value
    return value


def _maintenance(session: CardSession) -> tuple[Algorithm, bytes, str]:
    """The steps before the MAC: SSSE, card id, EXTERNAL AUTH with the PUK, a fresh challenge."""
    if session.sam is None:
        raise UsageError("PIN unblock and reset need a security module (--psam, --keys or --sim)")
    session.enter("SSSE")
    alg = session.algorithm
    read_card_id(session)
    auth_kid = MAINTENANCE_KEYS["authenticate"]
    session.external_auth(key_name_for_kid(auth_kid, "SSSE"), auth_kid)  # none when it holds
    challenge = session.challenge()
    return alg, challenge, key_name_for_kid(MAINTENANCE_KEYS["mac"], "SSSE")


def unblock(session: CardSession) -> PinOpResult:
    """PIN UNBLOCK ``84 24 00 00 04 MAC`` (§6, §7.6): the try counter is reset, the PIN kept.

    Counter staff only; needs the security module.  A refused external authentication raises
    :class:`~apdu.status.WrongKey` / :class:`~apdu.status.KeyBlocked`; a MAC the card refuses
    :class:`~apdu.status.MacInvalid`.
    """
    start = session.channel.apdu_count
    alg, challenge, mac_key = _maintenance(session)
    assert session.sam is not None
    div = session.diversification()
    mac = session.sam.secure_message(alg, mac_key, div, challenge, _HEADER_UNBLOCK)
    session.pin_changed()
    _send(session, commands.pin_unblock(mac[-commands.MAC_LEN :]))
    return PinOpResult("unblock", session.channel.apdu_count - start)


def reset(
    session: CardSession,
    new_pin: PinInput | PinSource,
    policy: PinPolicy | None = None,
    *,
    new_again: PinInput | None = None,
    birth_date: dt.date | None = None,
) -> PinOpResult:
    """PIN RESET ``84 24 00 01 Lc Enc(LD ‖ PIN ‖ 80..) ‖ MAC`` (§6, §7.6): new PIN, no old one.

    ``policy`` (optional) vets the new PIN before anything is sent (``birth_date``: the holder's,
    for a policy that forbids it); without one only the card's format (4..16 digits) is checked.
    Counter staff only; needs the security module.
    """
    pin = None
    try:
        if isinstance(new_pin, PinPadPinSource):  # the security module encrypts it: host entry
            new_pin = new_pin.host_entry("new PIN of a reset")
        pin = _take(new_pin, PROMPT_NEW, confirm=True)
        if policy is not None:
            policy.check_new(pin, new_again, birth_date)
        elif new_again is not None and not same_pin(pin, new_again):
            raise PolicyError("the two entries of the new PIN do not match")
        block = encode_pin(pin, "new PIN")
    finally:
        _forget(pin)
    start = session.channel.apdu_count
    alg, challenge, mac_key = _maintenance(session)
    assert session.sam is not None
    div = session.diversification()
    data = session.sam.secure_message(alg, mac_key, div, challenge, _HEADER_RESET, block)
    n = commands.MAC_LEN
    session.pin_changed()
    _send(session, commands.pin_reset(data[:-n], data[-n:]))
    return PinOpResult("reset", session.channel.apdu_count - start)


# --- the initial PIN probe (issue 9 §4) -----------------------------------------------------------

#: the probe refuses when this many tries or fewer are left: a changed PIN loses one.
PROBE_MIN_TRIES = 3

PROBE_CAVEAT = (
    "initial PIN probe: VERIFY 123456 is sent once; if the PIN was changed, that uses one try, "
    "which comes back at the holder's next correct entry"
)


@dataclass(frozen=True)
class ProbeResult:
    """What the initial-PIN probe found: ``still_set`` or ``changed``, and the tries left."""

    initial_pin: Literal["still_set", "changed"]
    tries_left: int | None
    apdus: int

    def to_json(self) -> dict[str, object]:
        return {"initial_pin": self.initial_pin, "tries_left": self.tries_left,
                "apdus": self.apdus}


def probe_initial_pin(
    session: CardSession, *, known_status: PinStatus | None = None, initial: bytes = INITIAL_PIN
) -> ProbeResult:
    """Is the initial PIN 123456 still set?  ONE VERIFY 123456, only when it is safe (§6).

    The caller has told the holder :data:`PROBE_CAVEAT` first.  A PIN that is not enabled is
    the regional initial state: nothing is sent.  Refused (:class:`PolicyError`, nothing sent)
    when :data:`PROBE_MIN_TRIES` - 1 or fewer tries are left; a blocked PIN raises
    :class:`~apdu.status.PinBlocked`.  Never retried.
    """
    start = session.channel.apdu_count
    st = _usable_status(session, known_status)
    if st.state == "not_enabled":
        return ProbeResult("still_set", None, session.channel.apdu_count - start)
    tries = st.tries_left if st.tries_left is not None else 0
    if tries < PROBE_MIN_TRIES:
        raise PolicyError(
            f"refusing to probe the initial PIN: only {tries} "
            f"{'try' if tries == 1 else 'tries'} left (a changed PIN would lose one more)"
        )
    sw = session.verify(pin_encode(initial))
    used = session.channel.apdu_count - start
    if sw == status.SUCCESS:
        return ProbeResult("still_set", tries, used)
    if sw & 0xFFF0 == 0x63C0:
        return ProbeResult("changed", sw & 0x0F, used)
    status.check(sw, commands.INS_VERIFY)
    raise ResponseFormatError(f"VERIFY answered {sw:04X}")


def explain(exc: SSCardError) -> str:
    """One line for a refused PIN operation: why, and how many tries are left (issue 5 §5)."""
    if isinstance(exc, status.WrongPin):
        left = exc.tries_left
        if left == 0:
            return "wrong PIN: the PIN is now blocked; it must be unblocked or reset at a counter"
        return f"wrong PIN: {left} {'try' if left == 1 else 'tries'} left before the PIN is blocked"
    if isinstance(exc, status.PinBlocked):
        return "the PIN is blocked (0 tries left); it must be unblocked or reset at a counter"
    return str(exc)
