"""The user card in memory: its state and the checks every command shares (card-profile §2).

:class:`UserCardCore` is the part of :class:`simulator.usercard.UserCard` that the command
modules (:mod:`simulator.filecmds`, :mod:`simulator.authcmds`, :mod:`simulator.pincmds`,
:mod:`simulator.bankcmds`) work on: the file tree and the current DF/EF/record, the PIN and the
card keys with their try counters, and the volatile security state.

Security state (§2): a verified PIN holds until power-off/reset and only counts inside SSSE and
its DFs (the bank application is firewalled, §9); an external authentication holds until
power-off or until another DF is selected.
"""

from __future__ import annotations

import hmac

from apdu import status
from apdu.crypto import Algorithm
from simulator.cardos import OK, CardOS, sw
from simulator.filesystem import DF, EF, FREE, FileTree, Rule, RuleKind
from simulator.personalisation import CardOptions


class Key:
    """A card key (TEST) and its try counter; mutable, plain, fast."""

    __slots__ = ("name", "key", "tries_left", "max_tries")

    def __init__(self, name: str, key: bytes, tries_left: int, max_tries: int) -> None:
        self.name = name
        self.key = key
        self.tries_left = tries_left
        self.max_tries = max_tries

    def __repr__(self) -> str:  # never the key bytes
        return f"<TEST card key {self.name} tries {self.tries_left}/{self.max_tries}>"


def cryptogram_matches(expected: bytes, given: bytes) -> bool:
    """Cryptogram / MAC comparison (EXTERNAL AUTHENTICATE, §7.3 MACs), constant-time."""
    return hmac.compare_digest(expected, given)


def r8(challenge: bytes) -> bytes:
    """The 8-byte R of §7.2 from a 4-, 8- or 16-byte challenge [choice for 4 and 16: the first
    8 bytes, zero-padded]."""
    return (challenge + bytes(8))[:8]


class UserCardCore(CardOS):
    """The user card's in-memory state and shared checks (the commands live in mixins)."""

    _tree: FileTree
    _ssse: DF
    _alg: Algorithm
    _block: int
    _options: CardOptions
    _pin_block: bytes
    _pin_tries: int
    _pin_max: int
    _pin_enabled: bool
    _keys: dict[tuple[str, int], Key]
    _app_blocked: bool
    # volatile (power-on) state
    _cur_df: DF
    _cur_ef: EF | None
    #: index of the current record of the current EF (ISO/IEC 7816-4 record pointer).
    _cur_rec: int | None
    _gpo_done: bool
    _pin_verified: bool
    _auth_kids: set[int]
    _sk: bytes | None

    def _persist(self) -> None:
        """Write the state if it changed (the card's file; nothing for an in-memory card)."""
        raise NotImplementedError

    def _power_reset(self) -> None:
        super()._power_reset()
        self._cur_df = self._tree.mf
        self._cur_ef = None
        self._cur_rec = None
        self._gpo_done = False
        self._pin_verified = False
        self._auth_kids = set()
        self._sk = None

    # --- the checks every command shares ----------------------------------------------------------

    def _pin_ok(self) -> bool:
        return self._cur_df.pin_domain and (self._pin_verified or not self._pin_enabled)

    def _denied(self, rule: Rule) -> bytes | None:
        """None when the current security state satisfies ``rule``, else the SW to answer."""
        if rule is FREE or rule.allows(self._pin_ok(), self._auth_kids):
            return None
        if rule.kind is RuleKind.NEVER:
            return sw(status.CONDITIONS_NOT_SATISFIED)
        return sw(status.SECURITY_STATUS_NOT_SATISFIED)

    def _target_ef(self, sfi: int) -> EF | bytes:
        """The EF a command addresses: the current EF (SFI 0) or the one with that SFI."""
        if sfi == 0:
            return self._cur_ef if self._cur_ef is not None else sw(status.NO_CURRENT_EF)
        ef = self._cur_df.by_sfi.get(sfi)
        if ef is None:
            return sw(status.FILE_NOT_FOUND)
        self._set_ef(ef)
        return ef

    def _set_ef(self, ef: EF | None) -> None:
        """Make ``ef`` the current EF; another EF has no current record yet (ISO/IEC 7816-4)."""
        if ef is not self._cur_ef:
            self._cur_rec = None
        self._cur_ef = ef

    def _key_for(self, kid: int) -> Key | None:
        for domain in self._cur_df.key_domains:
            k = self._keys.get((domain, kid))
            if k is not None:
                return k
        return None

    def _enter_df(self, df: DF, fci: bool) -> bytes:
        if self._app_blocked and self._ssse.in_subtree(df):
            return sw(status.APPLICATION_BLOCKED)
        if df is not self._cur_df:
            self._auth_kids = set()  # §2: external authentication ends when another DF is selected
        self._cur_df = df
        self._set_ef(None)
        self._gpo_done = False
        return df.fci + OK if fci and df.fci else OK
