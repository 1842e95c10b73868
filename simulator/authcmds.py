"""The user card's key commands: GET CHALLENGE, EXTERNAL / INTERNAL AUTHENTICATE, and the
MAC-protected APPLICATION BLOCK and CARD BLOCK (card-profile §5, §7).

- GET CHALLENGE (§5, §7.4): 4, 8 or 16 bytes, usable once: the next command consumes it.
- EXTERNAL AUTHENTICATE (§7.4) with the card keys derived at issue; the key's try is spent and
  SAVED before the comparison (§6 anti-tearing), then restored on success.
- INTERNAL AUTHENTICATE (§7.5): the IRK answer that proves the card genuine.
- APPLICATION BLOCK / CARD BLOCK (§5): MAC (§7.3) under the STK session key of the outstanding
  challenge (:meth:`AuthCommands._mac_ok`, also used by PIN UNBLOCK / RESET).

[choice] a 4- or 16-byte challenge feeds the session key as its first 8 bytes (zero-padded).
"""

from __future__ import annotations

import os

from apdu import status
from apdu.commands import INS_APPLICATION_BLOCK, INS_CARD_BLOCK, mac_input
from apdu.crypto import external_auth_cryptogram, internal_auth_response, mac, session_key
from apdu.names import Kid
from simulator import usercore
from simulator.cardos import OK, sw, tries
from simulator.usercore import UserCardCore, r8


class AuthCommands(UserCardCore):
    """GET CHALLENGE, EXTERNAL / INTERNAL AUTHENTICATE, APPLICATION BLOCK, CARD BLOCK."""

    def _get_challenge(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return sw(status.WRONG_P1P2)
        if data or ne not in (4, 8, 16):
            return sw(status.WRONG_LENGTH)
        challenge = os.urandom(ne)
        self._challenge = challenge
        return challenge + OK

    def _external_authenticate(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1:
            return sw(status.WRONG_P1P2)
        if len(data) not in (16, 17):
            return sw(status.WRONG_LENGTH)
        k = self._key_for(p2)
        if k is None:
            return sw(status.KEY_NOT_FOUND)
        if k.tries_left == 0:
            return sw(status.AUTH_METHOD_BLOCKED)
        chal = self._chal_in
        if chal is None:
            return sw(status.REFERENCED_DATA_INVALID)
        k.tries_left -= 1
        self._persist()  # §6/§7.4 anti-tearing: the try is spent before the compare
        sk = session_key(self._alg, k.key, r8(chal))
        expected = external_auth_cryptogram(self._alg, sk, data[8:16])
        if not usercore.cryptogram_matches(expected, data[:8]):
            return tries(k.tries_left)
        k.tries_left = k.max_tries
        self._persist()
        self._auth_kids.add(p2)
        return OK

    def _internal_authenticate(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1:
            return sw(status.WRONG_P1P2)
        if len(data) != 16:
            return sw(status.WRONG_LENGTH)
        k = self._key_for(p2)
        if k is None or k.name != "IRK":
            return sw(status.KEY_NOT_FOUND)
        return internal_auth_response(self._alg, k.key, data[:8], data[8:]) + OK

    def _mac_ok(self, ins: int, p1: int, p2: int, body: bytes, given: bytes) -> bytes | None:
        """None when ``given`` is the §7.3 MAC under the STK session key of the outstanding
        challenge, else the SW (6984 no challenge, 6A88 no STK, 9302 bad MAC)."""
        chal = self._chal_in
        if chal is None:
            return sw(status.REFERENCED_DATA_INVALID)
        stk = self._keys.get(("SSSE", Kid.STK))
        if stk is None:
            return sw(status.KEY_NOT_FOUND)
        self._sk = session_key(self._alg, stk.key, r8(chal))
        expected = mac(self._alg, self._sk, mac_input(0x84, ins, p1, p2, body))
        return None if usercore.cryptogram_matches(expected, given) else sw(status.MAC_INVALID)

    def _application_block(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2 != 0x01:
            return sw(status.WRONG_P1P2)
        if len(data) != 4:
            return sw(status.WRONG_LENGTH)
        if not self._ssse.in_subtree(self._cur_df):
            return sw(status.CONDITIONS_NOT_SATISFIED)
        refused = self._mac_ok(INS_APPLICATION_BLOCK, p1, p2, b"", data)
        if refused is not None:
            return refused
        self._app_blocked = True
        self._persist()
        self._power_reset()  # SSSE is no longer selectable: back to the MF, state forgotten
        return OK

    def _card_block(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return sw(status.WRONG_P1P2)
        if len(data) != 4:
            return sw(status.WRONG_LENGTH)
        refused = self._mac_ok(INS_CARD_BLOCK, p1, p2, b"", data)
        if refused is not None:
            return refused
        self._card_blocked = True
        self._persist()
        return OK
