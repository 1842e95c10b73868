"""The user card's PIN commands: VERIFY, CHANGE PIN, PIN UNBLOCK / RESET (card-profile §6, §7.6).

Anti-tearing (§6): the try counter is decremented and SAVED before the comparison, then restored
on success, so pulling the card mid-command never gives a try back.  An empty VERIFY is the
status query and uses no try.

[choice] where the profile is silent: VERIFY / CHANGE PIN / PIN UNBLOCK outside SSSE answer
``6A88`` (no PIN in that application); a malformed PIN block answers ``6A80`` without using a
try; changing the initial PIN enables it.
"""

from __future__ import annotations

import hmac

from apdu import status
from apdu.codec import cn_encode, pin_decode
from apdu.commands import INS_PIN_UNBLOCK_RESET
from apdu.crypto import decrypt_data
from apdu.errors import CryptoError, DataFormatError
from apdu.names import Kid
from simulator.authcmds import AuthCommands
from simulator.cardos import OK, sw, tries


def _pin_matches(stored: bytes, given: bytes) -> bool:
    """The PIN comparison, constant-time. Its own function so a test can prove the try counter
    was saved before it ran (monkeypatch it to raise, then reload the card file)."""
    return hmac.compare_digest(stored, given)


def pin_digits(block: bytes) -> str:
    """The digits of a stored PIN block (what the card file keeps)."""
    return block.hex().upper().rstrip("F")


class PinCommands(AuthCommands):
    """VERIFY, CHANGE PIN and PIN UNBLOCK / RESET (the last needs the MAC check of
    :class:`simulator.authcmds.AuthCommands`)."""

    def _pin_compare(self, given: bytes) -> bool:
        """§6 anti-tearing: one try is spent and SAVED before ``given`` is compared with the PIN;
        on a match the counter is restored (the caller saves it with the rest of its change)."""
        self._pin_tries -= 1
        self._persist()
        if not _pin_matches(self._pin_block, given):
            return False
        self._pin_tries = self._pin_max
        return True

    def _verify(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2:
            return sw(status.WRONG_P1P2)
        if not self._cur_df.pin_domain:
            return sw(status.KEY_NOT_FOUND)
        if not data:  # §6: the status query uses no try
            if self._pin_tries == 0:
                return sw(status.AUTH_METHOD_BLOCKED)
            return OK if not self._pin_enabled else tries(self._pin_tries)
        if len(data) > 8:
            return sw(status.WRONG_LENGTH)
        try:
            pin_decode(data)
        except DataFormatError:
            return sw(status.WRONG_DATA)
        if self._pin_tries == 0:
            return sw(status.AUTH_METHOD_BLOCKED)
        if not self._pin_compare(data):
            self._pin_verified = False
            return tries(self._pin_tries)
        self._persist()
        self._pin_verified = True
        return OK

    def _change_pin(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 != 0x01 or p2:
            return sw(status.WRONG_P1P2)
        if not self._cur_df.pin_domain:
            return sw(status.KEY_NOT_FOUND)
        sep = data.find(b"\xff")
        if sep <= 0:
            return sw(status.WRONG_DATA)
        old, new = data[:sep], data[sep + 1 :]
        try:
            pin_decode(old)
            pin_decode(new)
        except DataFormatError:
            return sw(status.WRONG_DATA)
        if self._pin_tries == 0:
            return sw(status.AUTH_METHOD_BLOCKED)
        if not self._pin_compare(old):
            return tries(self._pin_tries)
        self._pin_block = bytes(new)
        self._pin_enabled = True  # [choice] changing the initial PIN enables it (§6)
        self._persist()
        return OK

    def _pin_unblock_reset(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        if p1 or p2 not in (0x00, 0x01):
            return sw(status.WRONG_P1P2)
        if not self._cur_df.pin_domain:
            return sw(status.KEY_NOT_FOUND)
        if Kid.PUK not in self._auth_kids:
            # §7.6: EXTERNAL AUTHENTICATE with the PUK first
            return sw(status.SECURITY_STATUS_NOT_SATISFIED)
        if self._chal_in is None:
            return sw(status.REFERENCED_DATA_INVALID)
        if len(data) < 4:
            return sw(status.WRONG_LENGTH)
        body, given = data[:-4], data[-4:]
        if (p2 == 0 and body) or (p2 == 1 and (not body or len(body) % self._block)):
            return sw(status.WRONG_LENGTH)
        refused = self._mac_ok(INS_PIN_UNBLOCK_RESET, p1, p2, body, given)
        if refused is not None:
            return refused
        if p2 == 1:
            assert self._sk is not None  # set by the MAC check
            try:
                digits = pin_decode(decrypt_data(self._alg, self._sk, body))
            except (CryptoError, DataFormatError):
                return sw(status.WRONG_DATA)
            self._pin_block = cn_encode(digits.decode("ascii"))
            self._pin_enabled = True
        self._pin_tries = self._pin_max
        self._persist()
        return OK
