"""The security module (SAM) interface: what the terminal asks of whoever holds the keys.

Card-profile §7.4 (external authentication), §7.5 (internal authentication), §7.6 (PIN
unblock/reset MAC and encryption).  Two implementations: :mod:`terminal.sam.software` (the
published TEST keys of §7.7) and :mod:`terminal.sam.psam` (a PSAM card in a second reader, §11).
The card's keys never leave the module; the terminal only sees cryptograms.
"""

from __future__ import annotations

import abc

from apdu.crypto import Algorithm, Diversification


class SecurityModule(abc.ABC):
    """Holds (or reaches) the root keys; derives card keys by diversification."""

    #: shown to the user, e.g. "software SAM (TEST keys)" or "PSAM in reader 1".
    label: str = "security module"

    @abc.abstractmethod
    def external_auth(
        self, alg: Algorithm, key: str, div: Diversification, challenge: bytes
    ) -> tuple[bytes, bytes]:
        """Return ``(AD, D)`` for EXTERNAL AUTHENTICATE with the card key named ``key`` (§7.4)."""

    @abc.abstractmethod
    def internal_auth(
        self, alg: Algorithm, div: Diversification, r1: bytes, r2: bytes
    ) -> bytes:
        """The 8 bytes a genuine card answers to INTERNAL AUTHENTICATE R1 R2 (§7.5, key IRK)."""

    @abc.abstractmethod
    def secure_message(
        self,
        alg: Algorithm,
        key: str,
        div: Diversification,
        challenge: bytes,
        header: bytes,
        plaintext: bytes | None = None,
    ) -> bytes:
        """Command data for a MAC-protected command (§7.3, §7.6).

        ``header`` is CLA INS P1 P2.  The session key comes from the card key ``key`` and the
        card's ``challenge``.  With ``plaintext`` the data is ``Enc(LD || plaintext || 80..)``;
        the result is that data followed by the 4-byte MAC over ``header || Lc || data``.
        """

    def check_algorithm(self, alg: Algorithm) -> None:  # noqa: B027 - most modules do both
        """Raise :class:`apdu.errors.UsageError` when this module cannot serve ``alg``.

        Called before the first APDU of an authentication, so that a mismatch (a DES PSAM with
        an SM4 card) costs the card nothing, not even a challenge.
        """

    def close(self) -> None:  # noqa: B027 - optional hook: most modules hold nothing
        """Release whatever the module holds (a PSAM reader); idempotent."""
