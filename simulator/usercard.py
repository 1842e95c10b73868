"""The simulated social security user card: its state, its persistence and its command table.

Implements :class:`simulator.card.VirtualCard` on the card OS both simulated cards share
(:mod:`simulator.cardos`: APDU parsing, the (CLA, INS) dispatch, status words, T=0 GET RESPONSE,
fault handling).  The commands of card-profile §5 live in modules by concern, over the state of
:class:`simulator.usercore.UserCardCore`:

- :mod:`simulator.filecmds`: SELECT, READ RECORD, READ BINARY, UPDATE RECORD (§3-§5);
- :mod:`simulator.authcmds`: GET CHALLENGE, EXTERNAL / INTERNAL AUTHENTICATE, APPLICATION BLOCK,
  CARD BLOCK (§5, §7);
- :mod:`simulator.pincmds`: VERIFY, CHANGE PIN, PIN UNBLOCK / RESET (§6, §7.6);
- :mod:`simulator.bankcmds`: GET PROCESSING OPTIONS (§9).

This module holds what a real card keeps in EEPROM and how it is saved.  Anti-tearing (§6): PIN
and key try counters are decremented and SAVED before the comparison, then restored on success.
In-memory cards (no path) never touch the disk; READ RECORD never writes.  A save happens only
when the state differs from the file's, and a state equal to the one the card was opened with is
written back as the very bytes it was read from: a successful VERIFY or EXTERNAL AUTHENTICATE (a
3.00 read) spends the try durably, then leaves the file byte-identical.

A card opened from a file (:meth:`UserCard.load`, :meth:`UserCard.issue` or :meth:`UserCard.save`
with a path) holds the file's lock (:class:`simulator.store.CardLock`) until :meth:`close`; a
closed card answers ``6581`` to anything that would change its state.  A write that fails answers
``6581`` (memory failure) and an internal fault ``6F00``; each is logged as ONE line naming the INS
(the traceback only with ``SSCARD_DEBUG=1``) and counted in :attr:`UserCard.faults`.

[choice] where the profile is silent: an access rule "never" answers ``6985``; GET RESPONSE with
nothing pending answers ``6985``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from apdu.codec import cn_encode
from apdu.commands import (
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
)
from apdu.crypto import Algorithm, Diversification, block_size, card_key
from apdu.keys import KID_TABLE, TEST_KEYS, KeySet
from simulator.bankcmds import BankCommands
from simulator.cardos import CardOS, Handler
from simulator.extensions import card_extension
from simulator.filecmds import FileCommands
from simulator.filesystem import DF, RecordEF, TransparentEF
from simulator.personalisation import Personalisation, validate
from simulator.pincmds import PinCommands, pin_digits
from simulator.profile import (
    ALGORITHM_FOR_GENERATION,
    atr,
    build_tree,
    contents,
    fill,
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
from simulator.usercore import Key


class UserCard(FileCommands, PinCommands, BankCommands):
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
        self._keys: dict[tuple[str, int], Key] = {}
        for slot, ks in state.test_card_keys.items():
            self._keys[parse_key_slot(slot)] = Key(ks.name, bytes(ks.key), ks.tries_left,
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
        perso: Personalisation,
        *,
        keys: KeySet = TEST_KEYS,
        allow_invalid: bool = False,
    ) -> UserCard:
        """A card that never touches the disk (:func:`simulator.samples.sample_card` is the
        sample card in memory)."""
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
                digits=pin_digits(self._pin_block),
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

    #: THE command table (§5): (CLA, INS) -> handler, for the card OS.
    COMMANDS: ClassVar[Mapping[tuple[int, int], Handler]] = {
        (0x00, INS_SELECT): FileCommands._select,
        (0x00, INS_READ_RECORD): FileCommands._read_record,
        (0x00, INS_READ_BINARY): FileCommands._read_binary,
        (0x00, INS_UPDATE_RECORD): FileCommands._update_record,
        (0x00, INS_GET_CHALLENGE): PinCommands._get_challenge,
        (0x00, INS_GET_RESPONSE): CardOS.get_response,
        (0x00, INS_EXTERNAL_AUTH): PinCommands._external_authenticate,
        (0x00, INS_INTERNAL_AUTH): PinCommands._internal_authenticate,
        (0x00, INS_VERIFY): PinCommands._verify,
        (0x80, INS_CHANGE_PIN): PinCommands._change_pin,
        (0x84, INS_PIN_UNBLOCK_RESET): PinCommands._pin_unblock_reset,
        (0x84, INS_APPLICATION_BLOCK): PinCommands._application_block,
        (0x84, INS_CARD_BLOCK): PinCommands._card_block,
        (0x80, INS_GET_PROCESSING_OPTIONS): BankCommands._get_processing_options,
    }
