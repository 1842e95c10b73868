"""The software security module: the published TEST root keys of card-profile §7.7, in memory.

It computes what a PSAM would (§11) with :mod:`apdu.crypto`: the card key by diversifying a root
(§7.1), the session key from the card's challenge (§7.2), and then the external authentication
cryptogram (§7.4), the internal authentication answer (§7.5) or a MAC-protected command's data
(§7.3, §7.6).  It exists so that a simulated card - or a test card personalised with the same
test keys - can be read with no PSAM.  It must never be mistaken for a real one: its label says
TEST, and key bytes appear in no repr, str or error message.
"""

from __future__ import annotations

import secrets
from os import PathLike
from pathlib import Path

from apdu.commands import mac_input
from apdu.crypto import (
    Algorithm,
    Diversification,
    card_key,
    encrypt_data,
    external_auth_cryptogram,
    internal_auth_response,
    mac,
    session_key,
)
from apdu.errors import CryptoError, FileError, UsageError
from apdu.jsonfile import loads_strict, read_regular
from apdu.keys import TEST_KEYS, KeySet
from terminal.sam.base import SecurityModule

#: the root key of internal authentication (§7.5).
IRK = "IRK"


class SoftwareSam(SecurityModule):
    """A security module holding a :class:`KeySet` of TEST root keys (default: §7.7's)."""

    def __init__(self, keys: KeySet = TEST_KEYS) -> None:
        self._keys = keys
        self.label = f"software SAM (TEST keys — not for real cards): {keys.label}"

    @classmethod
    def from_key_file(cls, path: str | PathLike[str]) -> SoftwareSam:
        """A SAM with the keys of a JSON key file written from :meth:`KeySet.to_json`.

        A missing, unreadable or malformed file raises :class:`UsageError` (a bad option value,
        exit 2) naming the file and the reason, never its content.
        """
        where = Path(path)
        try:  # bounded and strict: a FIFO, a device or hostile JSON is one line (apdu.jsonfile)
            raw = read_regular(where, what="key file")
        except FileError as exc:
            raise UsageError(f"cannot read {exc}") from None
        try:
            data = loads_strict(raw, f"key file {where}")
        except FileError as exc:
            raise UsageError(str(exc)) from None
        try:
            return cls(KeySet.from_json(data))
        except CryptoError as exc:
            raise UsageError(f"key file {where}: {exc}") from None

    def _card_key(self, alg: Algorithm, name: str, div: Diversification) -> bytes:
        return card_key(alg, self._keys.root(name), div)

    def external_auth(
        self, alg: Algorithm, key: str, div: Diversification, challenge: bytes
    ) -> tuple[bytes, bytes]:
        d = secrets.token_bytes(8)
        sk = session_key(alg, self._card_key(alg, key, div), challenge)
        return external_auth_cryptogram(alg, sk, d), d

    def internal_auth(self, alg: Algorithm, div: Diversification, r1: bytes, r2: bytes) -> bytes:
        return internal_auth_response(alg, self._card_key(alg, IRK, div), r1, r2)

    def secure_message(
        self,
        alg: Algorithm,
        key: str,
        div: Diversification,
        challenge: bytes,
        header: bytes,
        plaintext: bytes | None = None,
    ) -> bytes:
        if len(header) != 4:
            raise CryptoError(f"a command header has 4 bytes, got {len(header)}")
        sk = session_key(alg, self._card_key(alg, key, div), challenge)
        data = b"" if plaintext is None else encrypt_data(alg, sk, plaintext)
        cla, ins, p1, p2 = header
        return data + mac(alg, sk, mac_input(cla, ins, p1, p2, data))

    def __repr__(self) -> str:
        return f"<SoftwareSam TEST ONLY {self._keys.label!r}>"

    __str__ = __repr__
