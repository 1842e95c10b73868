"""The simulated social security user card: a card OS over the declarative tree of §2.

Implements :class:`simulator.card.VirtualCard`. Every command of card-profile §5 goes through one
COMMAND TABLE keyed by (CLA, INS) (:data:`COMMANDS`); anything not in it answers ``6D00`` (INS not
supported) or ``6E00`` (CLA not supported). ``transmit`` never raises: a malformed APDU answers
``6700``, an internal fault ``6F00``.

Behaviour, with where it comes from:

- SELECT (§3): by name (P1 04), MF/DF by FID (P1 00), EF under the current DF (P1 02, and P1 00 as
  real terminals send). DFs answer their FCI (P2 00; P2 0C suppresses it); EFs answer ``9000``.
  Selecting SSSE or one of its DFs after APPLICATION BLOCK answers ``9303``.
- READ RECORD (§4): the four P2 modes, exact Le (``6Cxx`` with the record length when Le is wrong
  or absent), ``6A83`` no record, ``6981`` not a record EF, ``6982`` access, ``6A82`` no such SFI.
- READ BINARY (§5): P1 b8 = SFI form; ``6B00`` offset outside the EF.
- UPDATE RECORD (§5): write rule of the EF (UKSSSE for SSSE EFs); by tag, a missing record is
  appended.
- GET CHALLENGE (§5, §7.4): 4, 8 or 16 bytes, usable once: the next command consumes it.
- EXTERNAL AUTHENTICATE (§7.4) / INTERNAL AUTHENTICATE (§7.5) with the card keys derived at issue.
- VERIFY, CHANGE PIN, PIN UNBLOCK / RESET (§6, §7.6); APPLICATION BLOCK, CARD BLOCK (§5).
- GET RESPONSE (§3): T=0 cards answer case-4 commands with ``61xx`` and keep the data.

Security state (§2): a verified PIN holds until power-off/reset and only counts inside SSSE and
its DFs (the bank application is firewalled, §9); an external authentication holds until
power-off or until another DF is selected.

Anti-tearing (§6): PIN and key try counters are decremented and SAVED before the comparison, then
restored on success. In-memory cards (no path) never touch the disk; READ RECORD never writes.
A save happens only when the state differs from the file's, and a state equal to the one the card
was opened with is written back as the very bytes it was read from: a successful VERIFY or
EXTERNAL AUTHENTICATE (a 3.00 read) spends the try durably, then leaves the file byte-identical.

A card opened from a file (:meth:`UserCard.load`, :meth:`UserCard.issue` or :meth:`UserCard.save`
with a path) holds the file's lock (:class:`simulator.store.CardLock`) until :meth:`close`; a
closed card answers ``6581`` to anything that would change its state.  A write that fails answers
``6581`` (memory failure) and an internal fault ``6F00``; each is logged as ONE line naming the INS
(the traceback only with ``SSCARD_DEBUG=1``) and counted in :attr:`UserCard.faults`.

[choice] where the profile is silent: VERIFY / CHANGE PIN / PIN UNBLOCK outside SSSE answer
``6A88`` (no PIN in that application); a malformed PIN block answers ``6A80`` without using a try;
an access rule "never" answers ``6985``; GET RESPONSE with nothing pending answers ``6985``; a
4- or 16-byte challenge feeds the session key as its first 8 bytes (zero-padded).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from apdu.codec import cn_encode, pin_decode
from apdu.command import CommandAPDU
from apdu.commands import (
    ALL_FROM,
    ALL_TO,
    BY_NUMBER,
    BY_TAG,
    INS_APPLICATION_BLOCK,
    INS_CARD_BLOCK,
    INS_CHANGE_PIN,
    INS_EXTERNAL_AUTH,
    INS_GET_CHALLENGE,
    INS_GET_PROCESSING_OPTIONS,
    INS_GET_RESPONSE,
    INS_INTERNAL_AUTH,
    INS_PIN_UNBLOCK_RESET,
    INS_READ_BINARY,
    INS_READ_RECORD,
    INS_SELECT,
    INS_UPDATE_RECORD,
    INS_VERIFY,
    LAST_BY_TAG,
    MULTI_RECORD_MODES,
    NEXT_BY_TAG,
    mac_input,
)
from apdu.crypto import (
    Algorithm,
    Diversification,
    block_size,
    card_key,
    decrypt_data,
    external_auth_cryptogram,
    internal_auth_response,
    mac,
    session_key,
)
from apdu.errors import ApduFormatError, CryptoError, DataFormatError
from apdu.keys import KID_TABLE, TEST_KEYS, KeySet
from apdu.names import MF_FID, Kid
from simulator.card import log_fault
from simulator.extensions import card_extension
from simulator.filesystem import (
    DF,
    EF,
    FREE,
    DFKind,
    RecordEF,
    Rule,
    RuleKind,
    TransparentEF,
)
from simulator.personalisation import Personalisation, validate
from simulator.profile import (
    ALGORITHM_FOR_GENERATION,
    atr,
    build_tree,
    contents,
    fill,
    gpo_answer,
    historical_bytes,
)
from simulator.state import (
    CardState,
    FileContent,
    KeyState,
    PinState,
    key_slot,
    parse_key_slot,
)
from simulator.store import (
    CardFileError,
    CardLock,
    CardWriteError,
    check_card_file,
    check_replaceable,
    check_writable_dir,
    read_card_file,
    real_path,
)

# --- status words as bytes (card-profile §5) -----------------------------------------------------

OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_INCOMPATIBLE = b"\x69\x81"
SW_SECURITY = b"\x69\x82"
SW_BLOCKED = b"\x69\x83"
SW_NO_CHALLENGE = b"\x69\x84"
SW_CONDITIONS = b"\x69\x85"
SW_NO_CURRENT_EF = b"\x69\x86"
SW_WRONG_DATA = b"\x6a\x80"
SW_NOT_SUPPORTED = b"\x6a\x81"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_RECORD_NOT_FOUND = b"\x6a\x83"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_KEY_NOT_FOUND = b"\x6a\x88"
SW_OFFSET = b"\x6b\x00"
SW_INS = b"\x6d\x00"
SW_CLA = b"\x6e\x00"
SW_UNKNOWN = b"\x6f\x00"
SW_MEMORY_FAILURE = b"\x65\x81"
SW_MORE_DATA = b"\x63\x10"
SW_MAC = b"\x93\x02"
SW_APP_BLOCKED = b"\x93\x03"


def _tries(n: int) -> bytes:
    """``63Cx``: verification failed, x tries left."""
    return bytes((0x63, 0xC0 | min(n, 15)))


def _wrong_le(n: int) -> bytes:
    """``6Cxx``: the right Le (00 = 256)."""
    return bytes((0x6C, n & 0xFF))


def _more(n: int) -> bytes:
    """``61xx``: xx bytes waiting for GET RESPONSE (00 = 256 or more)."""
    return bytes((0x61, min(n, 256) & 0xFF))


def _pin_matches(stored: bytes, given: bytes) -> bool:
    """The PIN comparison, constant-time. Its own function so a test can prove the try counter
    was saved before it ran (monkeypatch it to raise, then reload the card file)."""
    return hmac.compare_digest(stored, given)


def _cryptogram_matches(expected: bytes, given: bytes) -> bool:
    """Cryptogram / MAC comparison (EXTERNAL AUTHENTICATE, §7.3 MACs), constant-time."""
    return hmac.compare_digest(expected, given)


def _r8(challenge: bytes) -> bytes:
    """The 8-byte R of §7.2 from a 4-, 8- or 16-byte challenge [choice for 4 and 16]."""
    return (challenge + bytes(8))[:8]


class _Key:
    """A card key (TEST) and its try counter; mutable, plain, fast."""

    __slots__ = ("name", "key", "tries_left", "max_tries")

    def __init__(self, name: str, key: bytes, tries_left: int, max_tries: int) -> None:
        self.name = name
        self.key = key
        self.tries_left = tries_left
        self.max_tries = max_tries

    def __repr__(self) -> str:  # never the key bytes
        return f"<TEST card key {self.name} tries {self.tries_left}/{self.max_tries}>"


Handler = Callable[["UserCard", int, int, bytes, "int | None"], bytes]


class UserCard:
    """A social security user card (2nd generation DES or 3rd generation SM4), TEST keys only."""

    def __init__(
        self,
        state: CardState,
        path: str | os.PathLike[str] | None = None,
        *,
        lock: CardLock | None = None,
    ) -> None:
        """A card on ``state``.  With ``path`` it saves there, under ``lock`` when given (the
        constructors :meth:`load`, :meth:`issue` and :meth:`save` take it; a card built here on a
        path without a lock is for tests that control every writer)."""
        self._path: Path | None = Path(path) if path is not None else None
        self._lock = lock
        self._closed = False
        #: the state the file holds now (None: unknown, the first save writes) and the state the
        #: card was opened with, with the exact bytes that encode it.
        self._disk: dict[str, object] | None = None
        self._base: tuple[dict[str, object], bytes] | None = None
        #: internal faults and failed writes so far (``sim apdu`` exits non-zero on any).
        self.faults = 0
        self._personalisation = state.personalisation
        self._generation = state.generation
        self._alg = Algorithm(state.algorithm)
        self._block = block_size(self._alg)
        self._atr = bytes(state.atr)
        self._options = state.options
        self._t0 = state.options.t0
        self._has_bank = state.has_bank
        self._key_set_label = state.key_set_label
        self._tree = build_tree(state.generation, bank=state.has_bank,
                                extension=card_extension(state.personalisation))
        data: dict[str, list[bytes] | bytes] = {}
        for fpath, content in state.files.items():
            if content.records is not None:
                data[fpath] = list(content.records)
            elif content.data is not None:
                data[fpath] = content.data
        fill(self._tree, data)
        self._ssse: DF = self._tree.by_path["MF/SSSE"]  # type: ignore[assignment]
        self._pin_block = cn_encode(state.pin.digits)
        self._pin_tries = state.pin.tries_left
        self._pin_max = state.pin.max_tries
        self._pin_enabled = state.pin.enabled
        self._keys: dict[tuple[str, int], _Key] = {}
        for slot, ks in state.test_card_keys.items():
            self._keys[parse_key_slot(slot)] = _Key(ks.name, bytes(ks.key), ks.tries_left,
                                                    ks.max_tries)
        self._app_blocked = state.application_blocked
        self._card_blocked = state.card_blocked
        self._power_reset()

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def issue(
        cls,
        perso: Personalisation,
        *,
        keys: KeySet = TEST_KEYS,
        allow_invalid: bool = False,
        path: str | os.PathLike[str] | None = None,
    ) -> UserCard:
        """Personalise a new card. Raises PersonalisationError (one line per problem) unless
        ``allow_invalid``, which skips consistency checks but not encodability. With ``path``,
        the card is saved there (overwriting: refusing is the caller's business)."""
        validate(perso, allow_invalid=allow_invalid)
        gen = perso.card.generation
        alg = ALGORITHM_FOR_GENERATION[gen]
        card_id = perso.card.resolved_card_id()
        hist = historical_bytes(card_id)
        div = Diversification.for_card(card_id, hist)
        kt = perso.options.key_tries
        test_keys = {
            key_slot(domain, kid): KeyState(
                name=name, key=card_key(alg, keys.root(name), div), tries_left=kt, max_tries=kt
            )
            for (domain, kid), name in KID_TABLE.items()
        }
        files: dict[str, FileContent] = {}
        for fpath, value in contents(perso).items():
            if isinstance(value, list):
                files[fpath] = FileContent(records=value)
            else:
                files[fpath] = FileContent(data=value)
        tries = perso.options.pin_tries
        state = CardState(
            generation=gen,
            algorithm=int(alg),
            has_bank=perso.bank is not None,
            atr=atr(hist, t0=perso.options.t0),
            options=perso.options,
            key_set_label=keys.label,
            personalisation=perso.public_dump(),
            pin=PinState(
                digits=perso.pin.get_secret_value(),
                tries_left=tries,
                max_tries=tries,
                enabled=not perso.options.pin_not_enabled,
            ),
            test_card_keys=test_keys,
            files=files,
        )
        card = cls(state)
        if path is not None:
            card.save(path)
        return card

    @classmethod
    def in_memory(
        cls,
        perso: Personalisation | None = None,
        *,
        keys: KeySet = TEST_KEYS,
        allow_invalid: bool = False,
    ) -> UserCard:
        """A card that never touches the disk (the sample 3rd-generation card by default)."""
        if perso is None:
            from simulator.samples import sample_personalisation

            perso = sample_personalisation()
        return cls.issue(perso, keys=keys, allow_invalid=allow_invalid)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, wait: float | None = None) -> UserCard:
        """Open a saved card and hold its file until :meth:`close` (simulator.store: the lock,
        waiting up to ``wait`` seconds for another holder).  The file must be a regular,
        writable file with one name in a writable directory, and a strictly valid card; else
        CardFileError with one line naming the problem."""
        target = real_path(path)
        check_writable_dir(target)
        try:
            st = os.lstat(target)
        except OSError:
            raise CardFileError(f"card file {os.fspath(path)}: no such file") from None
        check_card_file(target, st)
        lock = CardLock.acquire(target, wait)
        try:
            raw, data = read_card_file(target)
            state = CardState.from_json(data, f"card file {os.fspath(path)}")
            card = cls(state, target, lock=lock)
        except BaseException:
            lock.release()
            raise
        # The loaded model's dump is the card's state in the form state() writes (for a file
        # with a short transparent EF or a missing EF, the first save writes the full form).
        card._opened(raw, state.model_dump(mode="json"))
        return card

    def _opened(self, raw: bytes, dump: dict[str, object]) -> None:
        """The file now holds ``raw``, which encodes the state ``dump``: the card's present one."""
        self._disk = dump
        self._base = (dump, raw)

    def close(self) -> None:
        """Release the card file (idempotent).  The card stays usable in memory for reading,
        but any change of state answers 6581: it can no longer be saved."""
        if self._path is not None:
            self._closed = True
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> UserCard:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def state(self) -> CardState:
        """The persistent state as a model (what :meth:`save` writes)."""
        # Built without re-validation (model_construct): the card's own state is valid by
        # construction (validated when it was loaded or issued; commands keep the rules), and
        # this runs at every save, where the checks would only cost time.
        files: dict[str, FileContent] = {}
        for fpath, ef in self._tree.efs():
            if isinstance(ef, RecordEF):
                files[fpath] = FileContent.model_construct(records=list(ef.records), data=None)
            elif isinstance(ef, TransparentEF):
                files[fpath] = FileContent.model_construct(records=None, data=bytes(ef.data))
        return CardState.model_construct(
            generation=self._generation,  # type: ignore[arg-type]
            algorithm=int(self._alg),
            has_bank=self._has_bank,
            atr=self._atr,
            options=self._options,
            key_set_label=self._key_set_label,
            personalisation=self._personalisation,
            pin=PinState.model_construct(
                digits=_pin_digits(self._pin_block),
                tries_left=self._pin_tries,
                max_tries=self._pin_max,
                enabled=self._pin_enabled,
            ),
            test_card_keys={
                key_slot(d, kid): KeyState.model_construct(
                    name=k.name, key=k.key, tries_left=k.tries_left, max_tries=k.max_tries
                )
                for (d, kid), k in self._keys.items()
            },
            files=files,
            application_blocked=self._app_blocked,
            card_blocked=self._card_blocked,
        )

    def save(
        self, path: str | os.PathLike[str] | None = None, *, wait: float | None = None
    ) -> None:
        """Save the card.  With a new ``path``, that file becomes the card's: its lock is taken
        (waiting up to ``wait`` seconds), an existing file there is replaced only if it is a
        card file (simulator.store.check_replaceable), and the previous file is released.
        Without one, the card's own file is written if its state changed; an in-memory card
        does nothing."""
        if path is None or (self._path is not None and real_path(path) == self._path):
            self._persist()
            return
        target = real_path(path)
        check_replaceable(target)  # before the lock file is created beside it (/dev/null...)
        lock = CardLock.acquire(target, wait)
        try:
            check_replaceable(target)  # again, now that no one else may swap it
            state = self.state()
            raw = state.save(target)
        except BaseException:
            lock.release()
            raise
        if self._lock is not None:
            self._lock.release()
        self._path, self._lock, self._closed = target, lock, False
        self._opened(raw, state.model_dump(mode="json"))

    def _persist(self) -> None:
        """Write the state if it differs from the file's (the state the card was opened with
        goes back as the bytes it was read from).  CardWriteError once the card is closed."""
        if self._path is None:
            return
        state = self.state()
        dump = state.model_dump(mode="json")
        if dump == self._disk:
            return
        if self._closed:
            raise CardWriteError(f"card file {self._path}: the card was closed; nothing saved")
        raw = self._base[1] if self._base is not None and dump == self._base[0] else None
        state.save(self._path, raw, dump)
        self._disk = dump

    # --- VirtualCard -----------------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def t0(self) -> bool:
        return self._t0

    def power_on(self) -> bytes:
        self._power_reset()
        return self._atr

    def reset(self) -> bytes:
        self._power_reset()
        return self._atr

    def power_off(self) -> None:
        self._power_reset()

    def _power_reset(self) -> None:
        self._cur_df: DF = self._tree.mf
        self._cur_ef: EF | None = None
        #: index of the current record of the current EF (ISO/IEC 7816-4 record pointer).
        self._cur_rec: int | None = None
        self._gpo_done = False
        self._pin_verified = False
        self._auth_kids: set[int] = set()
        self._challenge: bytes | None = None
        self._chal_in: bytes | None = None
        self._pending: bytes | None = None
        self._pending_in: bytes | None = None

    # --- facts for tests and tools ----------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def algorithm(self) -> Algorithm:
        return self._alg

    @property
    def historical_bytes(self) -> bytes:
        return historical_bytes(self.card_id)

    @property
    def card_id(self) -> bytes:
        rec = self._tree.by_path["MF/SSSE/EF05"]
        assert isinstance(rec, RecordEF)
        found = rec.find_tag(0x01)
        return found[2:] if found else b""

    @property
    def pin_tries_left(self) -> int:
        return self._pin_tries

    @property
    def pin_enabled(self) -> bool:
        return self._pin_enabled

    @property
    def application_blocked(self) -> bool:
        return self._app_blocked

    @property
    def card_blocked(self) -> bool:
        return self._card_blocked

    def force_block(self, *, application: bool = False, card: bool = False) -> None:
        """Block the SSSE application and/or the whole card without the §5 MAC commands, as an
        issuer's back office would: for building test cards (e.g. the terminal's "blocked"
        results). Saved like any other state change."""
        self._app_blocked = self._app_blocked or application
        self._card_blocked = self._card_blocked or card
        self._persist()
        self._power_reset()

    def key_tries_left(self, domain: str, kid: int) -> int:
        return self._keys[(domain, kid)].tries_left

    def __repr__(self) -> str:
        where = str(self._path) if self._path else "in memory"
        return f"<UserCard gen {self._generation} {self._alg.name} ({where}), TEST keys>"

    # --- the APDU loop ---------------------------------------------------------------------------

    def transmit(self, command: bytes) -> bytes:
        """One command APDU in, response data + SW out. Never raises."""
        try:
            return self._process(bytes(command))
        except (OSError, CardWriteError) as exc:
            # The card file could not be written: a real card's EEPROM write failure.
            self.faults += 1
            log_fault("card file write failed", command, exc)
            return SW_MEMORY_FAILURE
        except Exception as exc:
            # A card has a status for everything; an internal fault must still be visible to
            # whoever runs the simulator (the message names the INS, never the data).
            self.faults += 1
            log_fault("internal error", command, exc)
            return SW_UNKNOWN

    def _process(self, cmd: bytes) -> bytes:
        # A challenge and pending T=0 data live for exactly one following command.
        self._chal_in, self._challenge = self._challenge, None
        self._pending_in, self._pending = self._pending, None
        if self._card_blocked:
            return SW_NOT_SUPPORTED
        n = len(cmd)
        if n < 4:
            return SW_WRONG_LENGTH
        ne: int | None
        if n == 4:
            data, ne = b"", None
        elif n == 5:
            data, ne = b"", cmd[4] or 256
        else:
            lc = cmd[4]
            if lc and n == 5 + lc:
                data, ne = cmd[5:], None
            elif lc and n == 6 + lc:
                data, ne = cmd[5 : 5 + lc], cmd[-1] or 256
            elif lc:
                return SW_WRONG_LENGTH
            else:
                try:
                    parsed = CommandAPDU.from_bytes(cmd)
                except ApduFormatError:
                    return SW_WRONG_LENGTH
                data, ne = parsed.data, parsed.ne
        key = (cmd[0], cmd[1])
        handler = COMMANDS.get(key)
        if handler is None:
            if cmd[1] in _KNOWN_INS or cmd[0] not in _KNOWN_CLA:
                return SW_CLA
            return SW_INS
        resp = handler(self, cmd[2], cmd[3], data, ne)
        if self._t0 and data and len(resp) > 2 and resp[-2:] == OK:
            # T=0 (§3): a case-4 answer travels through 61xx + GET RESPONSE.
            self._pending = resp[:-2]
            return _more(len(resp) - 2)
        return resp

    # --- helpers ---------------------------------------------------------------------------

    def _pin_ok(self) -> bool:
        return self._cur_df.pin_domain and (self._pin_verified or not self._pin_enabled)

    def _denied(self, rule: Rule) -> bytes | None:
        """None when the current security state satisfies ``rule``, else the SW to answer."""
        if rule is FREE or rule.allows(self._pin_ok(), self._auth_kids):
            return None
        return SW_CONDITIONS if rule.kind is RuleKind.NEVER else SW_SECURITY

    def _target_ef(self, sfi: int) -> EF | bytes:
        """The EF a command addresses: the current EF (SFI 0) or the one with that SFI."""
        if sfi == 0:
            return self._cur_ef if self._cur_ef is not None else SW_NO_CURRENT_EF
        ef = self._cur_df.by_sfi.get(sfi)
        if ef is None:
            return SW_FILE_NOT_FOUND
        self._set_ef(ef)
        return ef

    def _set_ef(self, ef: EF | None) -> None:
        """Make ``ef`` the current EF; another EF has no current record yet (ISO/IEC 7816-4)."""
        if ef is not self._cur_ef:
            self._cur_rec = None
        self._cur_ef = ef

    def _key_for(self, kid: int) -> _Key | None:
        for domain in self._cur_df.key_domains:
            k = self._keys.get((domain, kid))
            if k is not None:
                return k
        return None

    def _enter_df(self, df: DF, fci: bool) -> bytes:
        if self._app_blocked and self._ssse.in_subtree(df):
            return SW_APP_BLOCKED
        if df is not self._cur_df:
            self._auth_kids = set()  # §2: external authentication ends when another DF is selected
        self._cur_df = df
        self._set_ef(None)
        self._gpo_done = False
        return df.fci + OK if fci and df.fci else OK

    def _mac_ok(self, ins: int, p1: int, p2: int, body: bytes, given: bytes) -> bytes | None:
        """None when ``given`` is the §7.3 MAC under the STK session key of the outstanding
        challenge, else the SW (6984 no challenge, 6A88 no STK, 9302 bad MAC)."""
        chal = self._chal_in
        if chal is None:
            return SW_NO_CHALLENGE
        stk = self._keys.get(("SSSE", Kid.STK))
        if stk is None:
            return SW_KEY_NOT_FOUND
        self._sk = session_key(self._alg, stk.key, _r8(chal))
        expected = mac(self._alg, self._sk, mac_input(0x84, ins, p1, p2, body))
        return None if _cryptogram_matches(expected, given) else SW_MAC

    # --- commands --------------------------------------------------------------------------

    def _select(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p2 not in (0x00, 0x0C):
            return SW_WRONG_P1P2
        fci = p2 == 0x00
        if p1 == 0x04:
            df = self._tree.by_name.get(data)
            return SW_FILE_NOT_FOUND if df is None else self._enter_df(df, fci)
        if p1 not in (0x00, 0x01, 0x02):
            return SW_WRONG_P1P2
        if p1 == 0x00 and not data:  # ISO 7816-4: SELECT with no data selects the MF
            return self._enter_df(self._tree.mf, fci)
        if len(data) != 2:
            return SW_WRONG_LENGTH
        fid = (data[0] << 8) | data[1]
        cur = self._cur_df
        node: DF | EF | None
        if p1 == 0x02:
            node = cur.by_fid.get(fid)
            if not isinstance(node, EF):
                return SW_FILE_NOT_FOUND
        elif fid == MF_FID:
            node = self._tree.mf
        else:
            node = cur.by_fid.get(fid)
            if node is None and cur.fid == fid:
                node = cur
            if node is None and cur.parent is not None:
                sibling = cur.parent.by_fid.get(fid)
                node = sibling if isinstance(sibling, DF) else None
            if p1 == 0x01 and not isinstance(node, DF):
                node = None
        if node is None:
            return SW_FILE_NOT_FOUND
        if isinstance(node, DF):
            return self._enter_df(node, fci)
        self._set_ef(node)
        return OK

    def _read_record(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        """READ RECORD in every ISO/IEC 7816-4 P2 mode (§4 names 00 and 04; issue 9 the rest).

        Modes 0-3: P1 is a record identifier (the tag; 00: any), first / last / next / previous
        occurrence relative to the current record.  Mode 4: record number P1 (00: the current
        record).  Modes 5 and 6: every record from number P1 (00: the current one) to the last,
        or from the last down to P1, concatenated in one answer.  Mode 7 is RFU: ``6A86``.
        """
        if data:
            return SW_WRONG_LENGTH
        mode = p2 & 7
        if mode == 7 or (mode in MULTI_RECORD_MODES and not self._options.multi_record):
            return SW_WRONG_P1P2
        ef = self._target_ef(p2 >> 3)
        if type(ef) is bytes:
            return ef
        if not isinstance(ef, RecordEF):
            return SW_INCOMPATIBLE
        read = ef.read
        if read is not FREE:
            sw = self._denied(read)
            if sw is not None:
                return sw
        if mode in MULTI_RECORD_MODES:
            return self._read_records(ef, p1, mode, ne)
        index = self._record_index(ef, p1, mode)
        if index is None:
            return SW_RECORD_NOT_FOUND
        self._cur_rec = index
        rec = ef.records[index]
        if ne is None or ne < len(rec) or (ne != len(rec) and self._exact_le(ef)):
            return _wrong_le(len(rec))
        return rec + OK

    def _exact_le(self, ef: RecordEF) -> bool:
        """The card profile's text: only the exact Le reads a record (6Cxx otherwise).  Real
        cards answer any Le of at least the record's length (issue 9), the default here."""
        return self._options.exact_le and not ef.le_up_to

    def _record_index(self, ef: RecordEF, p1: int, mode: int) -> int | None:
        """The index of the record a single-record mode addresses, or None when there is none."""
        recs = ef.records
        cur = self._cur_rec
        if mode == BY_NUMBER:
            index = cur if p1 == 0 else p1 - 1
            return index if index is not None and index < len(recs) else None

        def match(i: int) -> bool:
            return p1 == 0 or recs[i][0] == p1

        if mode == BY_TAG:
            order: range = range(len(recs))
        elif mode == LAST_BY_TAG:
            order = range(len(recs) - 1, -1, -1)
        elif mode == NEXT_BY_TAG:
            order = range(0 if cur is None else cur + 1, len(recs))
        else:  # PREVIOUS_BY_TAG
            order = range((len(recs) if cur is None else cur) - 1, -1, -1)
        return next((i for i in order if match(i)), None)

    def _read_records(self, ef: RecordEF, p1: int, mode: int, ne: int | None) -> bytes:
        """Modes 5/6: whole records from P1 to the last (or back), as many as Ne holds.

        Le 00 (Ne 256) gets everything up to 256 bytes at once; an Ne smaller than the whole
        answer gets ``6Cxx`` (the right Le); an answer longer than 256 bytes gets the complete
        records that fit and ``6310`` (more data available) [choice].
        """
        recs = ef.records
        start = self._cur_rec if p1 == 0 else p1 - 1
        if start is None or start >= len(recs):
            return SW_RECORD_NOT_FOUND
        indexes = list(range(start, len(recs)))
        if mode == ALL_TO:
            indexes.reverse()
        total = sum(len(recs[i]) for i in indexes)
        limit = 256 if ne is None else ne
        if total <= 256 and (ne is None or ne < total):
            return _wrong_le(total)
        out = bytearray()
        for i in indexes:
            if len(out) + len(recs[i]) > limit:
                self._cur_rec = i - 1 if mode == ALL_FROM else i + 1
                return bytes(out) + SW_MORE_DATA if out else _wrong_le(len(recs[i]))
            out += recs[i]
        self._cur_rec = indexes[-1]
        return bytes(out) + OK

    def _read_binary(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if data:
            return SW_WRONG_LENGTH
        if p1 & 0x80:
            if p1 & 0x60 or not p1 & 0x1F:
                return SW_WRONG_P1P2
            target = self._target_ef(p1 & 0x1F)
            offset = p2
        else:
            target = self._cur_ef if self._cur_ef is not None else SW_NO_CURRENT_EF
            offset = (p1 << 8) | p2
        if isinstance(target, bytes):
            return target
        if not isinstance(target, TransparentEF):
            return SW_INCOMPATIBLE
        sw = self._denied(target.read)
        if sw is not None:
            return sw
        if offset >= target.size:
            return SW_OFFSET
        avail = target.size - offset
        if ne is None:
            return _wrong_le(min(avail, 256))
        if ne < 256 and ne > avail:
            return _wrong_le(avail)
        count = min(ne, avail)
        return bytes(target.data[offset : offset + count]) + OK

    def _update_record(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if not data:
            return SW_WRONG_LENGTH
        mode = p2 & 7
        if (mode != 4 and mode != 0) or p1 == 0:
            return SW_WRONG_P1P2
        ef = self._target_ef(p2 >> 3)
        if isinstance(ef, bytes):
            return ef
        if not isinstance(ef, RecordEF):
            return SW_INCOMPATIBLE
        sw = self._denied(ef.write)
        if sw is not None:
            return sw
        if len(data) > ef.max_record_len:
            return SW_WRONG_LENGTH
        # The record must be exactly one SIMPLE-TLV object with a one-byte length (§4).
        if len(data) < 2 or data[0] in (0x00, 0xFF) or data[1] == 0xFF or len(data) != 2 + data[1]:
            return SW_WRONG_DATA
        if mode == 0:
            if data[0] != p1:
                return SW_WRONG_DATA
            idx = ef.index_of_tag(p1)
            if idx is None:
                ef.records.append(data)  # §5: a missing record is appended
            else:
                ef.records[idx] = data
        else:
            if p1 > len(ef.records):
                return SW_RECORD_NOT_FOUND
            ef.records[p1 - 1] = data
        self._persist()
        return OK

    def _get_challenge(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return SW_WRONG_P1P2
        if data or ne not in (4, 8, 16):
            return SW_WRONG_LENGTH
        challenge = os.urandom(ne)
        self._challenge = challenge
        return challenge + OK

    def _get_response(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return SW_WRONG_P1P2
        pending = self._pending_in
        if pending is None:
            return SW_CONDITIONS
        if data or ne is None:
            self._pending = pending
            return SW_WRONG_LENGTH
        if ne > len(pending):
            self._pending = pending
            return _wrong_le(len(pending))
        if ne < len(pending):
            self._pending = pending[ne:]
            return pending[:ne] + _more(len(pending) - ne)
        return pending + OK

    def _external_authenticate(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1:
            return SW_WRONG_P1P2
        if len(data) not in (16, 17):
            return SW_WRONG_LENGTH
        k = self._key_for(p2)
        if k is None:
            return SW_KEY_NOT_FOUND
        if k.tries_left == 0:
            return SW_BLOCKED
        chal = self._chal_in
        if chal is None:
            return SW_NO_CHALLENGE
        k.tries_left -= 1
        self._persist()  # §6/§7.4 anti-tearing: the try is spent before the compare
        sk = session_key(self._alg, k.key, _r8(chal))
        expected = external_auth_cryptogram(self._alg, sk, data[8:16])
        if not _cryptogram_matches(expected, data[:8]):
            return _tries(k.tries_left)
        k.tries_left = k.max_tries
        self._persist()
        self._auth_kids.add(p2)
        return OK

    def _internal_authenticate(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1:
            return SW_WRONG_P1P2
        if len(data) != 16:
            return SW_WRONG_LENGTH
        k = self._key_for(p2)
        if k is None or k.name != "IRK":
            return SW_KEY_NOT_FOUND
        return internal_auth_response(self._alg, k.key, data[:8], data[8:]) + OK

    def _verify(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return SW_WRONG_P1P2
        if not self._cur_df.pin_domain:
            return SW_KEY_NOT_FOUND
        if not data:  # §6: the status query uses no try
            if self._pin_tries == 0:
                return SW_BLOCKED
            return OK if not self._pin_enabled else _tries(self._pin_tries)
        if len(data) > 8:
            return SW_WRONG_LENGTH
        try:
            pin_decode(data)
        except DataFormatError:
            return SW_WRONG_DATA
        if self._pin_tries == 0:
            return SW_BLOCKED
        self._pin_tries -= 1
        self._persist()  # §6 anti-tearing: saved before the compare
        if not _pin_matches(self._pin_block, data):
            self._pin_verified = False
            return _tries(self._pin_tries)
        self._pin_tries = self._pin_max
        self._persist()
        self._pin_verified = True
        return OK

    def _change_pin(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 != 0x01 or p2:
            return SW_WRONG_P1P2
        if not self._cur_df.pin_domain:
            return SW_KEY_NOT_FOUND
        sep = data.find(b"\xff")
        if sep <= 0:
            return SW_WRONG_DATA
        old, new = data[:sep], data[sep + 1 :]
        try:
            pin_decode(old)
            pin_decode(new)
        except DataFormatError:
            return SW_WRONG_DATA
        if self._pin_tries == 0:
            return SW_BLOCKED
        self._pin_tries -= 1
        self._persist()
        if not _pin_matches(self._pin_block, old):
            return _tries(self._pin_tries)
        self._pin_block = bytes(new)
        self._pin_tries = self._pin_max
        self._pin_enabled = True  # [choice] changing the initial PIN enables it (§6)
        self._persist()
        return OK

    def _pin_unblock_reset(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2 not in (0x00, 0x01):
            return SW_WRONG_P1P2
        if not self._cur_df.pin_domain:
            return SW_KEY_NOT_FOUND
        if Kid.PUK not in self._auth_kids:
            return SW_SECURITY  # §7.6: EXTERNAL AUTHENTICATE with the PUK first
        if self._chal_in is None:
            return SW_NO_CHALLENGE
        if len(data) < 4:
            return SW_WRONG_LENGTH
        body, given = data[:-4], data[-4:]
        if (p2 == 0 and body) or (p2 == 1 and (not body or len(body) % self._block)):
            return SW_WRONG_LENGTH
        sw = self._mac_ok(INS_PIN_UNBLOCK_RESET, p1, p2, body, given)
        if sw is not None:
            return sw
        if p2 == 1:
            try:
                digits = pin_decode(decrypt_data(self._alg, self._sk, body))
            except (CryptoError, DataFormatError):
                return SW_WRONG_DATA
            self._pin_block = cn_encode(digits.decode("ascii"))
            self._pin_enabled = True
        self._pin_tries = self._pin_max
        self._persist()
        return OK

    def _application_block(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2 != 0x01:
            return SW_WRONG_P1P2
        if len(data) != 4:
            return SW_WRONG_LENGTH
        if not self._ssse.in_subtree(self._cur_df):
            return SW_CONDITIONS
        sw = self._mac_ok(INS_APPLICATION_BLOCK, p1, p2, b"", data)
        if sw is not None:
            return sw
        self._app_blocked = True
        self._persist()
        self._power_reset()  # SSSE is no longer selectable: back to the MF, state forgotten
        return OK

    def _get_processing_options(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        """GET PROCESSING OPTIONS (§9, EMV): the AIP and the AFL pointing at the PAN record.

        Only in the bank ADF (else ``6985``), once per selection (a second one: ``6985``, as EMV
        cards do); the data must be one ``83`` object (the PDOL data; the ADF asks for none, and
        any values are accepted).  Format 1 (``80``) by default, format 2 (``77``) as a card
        option (issue 9: real cards answer both).
        """
        if p1 or p2:
            return SW_WRONG_P1P2
        df = self._cur_df
        if df.kind is not DFKind.ADF or df.domain != "BANK" or self._gpo_done:
            return SW_CONDITIONS
        if len(data) < 2 or data[0] != 0x83 or data[1] != len(data) - 2:
            return SW_WRONG_DATA
        self._gpo_done = True
        return gpo_answer(self._options.gpo_format) + OK

    def _card_block(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return SW_WRONG_P1P2
        if len(data) != 4:
            return SW_WRONG_LENGTH
        sw = self._mac_ok(INS_CARD_BLOCK, p1, p2, b"", data)
        if sw is not None:
            return sw
        self._card_blocked = True
        self._persist()
        return OK


def _pin_digits(block: bytes) -> str:
    return block.hex().upper().rstrip("F")


#: THE command table (§5): (CLA, INS) -> handler.
COMMANDS: dict[tuple[int, int], Handler] = {
    (0x00, INS_SELECT): UserCard._select,
    (0x00, INS_READ_RECORD): UserCard._read_record,
    (0x00, INS_READ_BINARY): UserCard._read_binary,
    (0x00, INS_UPDATE_RECORD): UserCard._update_record,
    (0x00, INS_GET_CHALLENGE): UserCard._get_challenge,
    (0x00, INS_GET_RESPONSE): UserCard._get_response,
    (0x00, INS_EXTERNAL_AUTH): UserCard._external_authenticate,
    (0x00, INS_INTERNAL_AUTH): UserCard._internal_authenticate,
    (0x00, INS_VERIFY): UserCard._verify,
    (0x80, INS_CHANGE_PIN): UserCard._change_pin,
    (0x84, INS_PIN_UNBLOCK_RESET): UserCard._pin_unblock_reset,
    (0x84, INS_APPLICATION_BLOCK): UserCard._application_block,
    (0x84, INS_CARD_BLOCK): UserCard._card_block,
    (0x80, INS_GET_PROCESSING_OPTIONS): UserCard._get_processing_options,
}
_KNOWN_INS = frozenset(ins for _, ins in COMMANDS)
_KNOWN_CLA = frozenset(cla for cla, _ in COMMANDS)
