"""A PSAM card in a second reader as the terminal's security module (card-profile §11).

The card keys never leave the PSAM: the terminal sends it the diversification factors and the
user card's challenge (DELIVERY SESSION KEY, ``BF DE``), then has it encrypt or MAC with the
session key it derived (CIPHER DATA, ``80 FA``).  On opening, the PSAM's MF is selected by name to
learn its algorithm (``sx1.sh.社会保障`` = DES, ``sx3.sh.社会保障`` = SM4 [one source]), EF 0015
(PSAM serial) and EF 0016 (terminal number) are read for the national output format, and the
application DF01 is selected by AID.

CHOICE: one PSAM holds the keys of one algorithm; a PSAM whose algorithm differs from the card's
is refused with a typed error before anything is sent, rather than one object juggling two PSAMs.
"""

from __future__ import annotations

import secrets

from apdu import codec, commands, status
from apdu.commands import CIPHER_ENCRYPT_LAST, CIPHER_MAC_SINGLE, mac_input
from apdu.crypto import (
    Algorithm,
    Diversification,
    block8,
    block_size,
    data_block,
    fold_block8,
)
from apdu.errors import (
    CardNotSupportedError,
    CryptoError,
    DataFormatError,
    ResponseFormatError,
    UsageError,
)
from apdu.names import PSAM_ADF_AID, PSAM_EF_SERIAL, PSAM_EF_TERMINAL
from apdu.psam import ENVIRONMENTS, MAC_SIZE, PSAM_KEYS, SERIAL_SIZE, TERMINAL_SIZE, levels
from drivers.channel import CardChannel
from terminal.sam.base import SecurityModule

NOT_A_PSAM = "the card in the PSAM reader is not a social security PSAM"


def _digits(raw: bytes) -> str:
    """A ``cn`` identifier; one that is not clean BCD is shown as hex rather than lost."""
    try:
        return codec.cn_decode(raw)
    except DataFormatError:
        return codec.hex_decode(raw)


class PsamSam(SecurityModule):
    """Drives a PSAM through its own :class:`CardChannel` (a second reader, already connected).

    Construction does the opening I/O (up to 5 command APDUs) and raises
    :class:`CardNotSupportedError` when the card there is not a PSAM.
    """

    def __init__(self, channel: CardChannel) -> None:
        self.channel = channel
        self.algorithm = self._select_environment()
        try:
            #: EF 0015: the PSAM serial (digits), and EF 0016: the terminal number (digits).
            self.serial = _digits(self._read_ef(PSAM_EF_SERIAL, SERIAL_SIZE))
            self.terminal_number = _digits(self._read_ef(PSAM_EF_TERMINAL, TERMINAL_SIZE))
            self.channel.send(commands.select_by_name(PSAM_ADF_AID))
        except status.StatusError as exc:
            # A user card answers to the DES PSAM's MF name too (it is the SSSE name, §2, §11),
            # so "not a PSAM" often shows only here.
            raise CardNotSupportedError(f"{NOT_A_PSAM} ({exc})") from None
        self.label = f"PSAM {self.serial} ({self.algorithm.name}) in {channel.reader.name}"
        self._closed = False

    # -- opening -----------------------------------------------------------------------------------

    def _select_environment(self) -> Algorithm:
        for name, alg in ENVIRONMENTS:
            resp = self.channel.transmit(commands.select_by_name(name))
            if resp.sw == status.SUCCESS:
                return alg
        raise CardNotSupportedError(NOT_A_PSAM)

    def _read_ef(self, sfi: int, size: int) -> bytes:
        data = self.channel.send(commands.read_binary(0, le=size, sfi=sfi))
        if len(data) > size:
            raise ResponseFormatError(f"PSAM EF 00{sfi:02X} returned {len(data)} bytes, not {size}")
        return data

    # -- the PSAM commands -------------------------------------------------------------------------

    def check_algorithm(self, alg: Algorithm) -> None:
        if Algorithm(alg) is not self.algorithm:
            raise UsageError(
                f"this PSAM holds {self.algorithm.name} keys; the card uses {Algorithm(alg).name}"
            )

    def _deliver(self, alg: Algorithm, key: str, div: Diversification, r: bytes) -> None:
        """DELIVERY SESSION KEY: the PSAM diversifies ``key`` for this card and keeps SK(R)."""
        self.check_algorithm(alg)
        try:
            usage, key_id = PSAM_KEYS[key]
        except KeyError:
            raise CryptoError(f"the PSAM key table has no key {key!r}") from None
        factors = div.lowest_first()[: levels(usage)]
        self.channel.send(commands.delivery_session_key(usage, key_id, factors, block8(alg, r)))

    def _cipher(self, p1: int, data: bytes, expect: int) -> bytes:
        out = self.channel.send(commands.cipher_data(p1, data, le=expect))
        if len(out) != expect:
            raise ResponseFormatError(f"CIPHER DATA returned {len(out)} bytes, expected {expect}")
        return out

    def _encrypt_8(self, alg: Algorithm, data8: bytes) -> bytes:
        """DES: E(SK, x); SM4: fold8(E(SK, x || 00*8)) - the §7.4/§7.5 8-byte cryptogram."""
        block = block8(alg, data8)
        return fold_block8(alg, self._cipher(CIPHER_ENCRYPT_LAST, block, len(block)))

    # -- SecurityModule ----------------------------------------------------------------------------

    def external_auth(
        self, alg: Algorithm, key: str, div: Diversification, challenge: bytes
    ) -> tuple[bytes, bytes]:
        self._deliver(alg, key, div, challenge)
        d = secrets.token_bytes(8)
        return self._encrypt_8(alg, d), d

    def internal_auth(self, alg: Algorithm, div: Diversification, r1: bytes, r2: bytes) -> bytes:
        self._deliver(alg, "IRK", div, r1)
        return self._encrypt_8(alg, r2)

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
        body = None if plaintext is None else data_block(alg, plaintext)  # §7.3, before any APDU
        self._deliver(alg, key, div, challenge)
        data = b"" if body is None else self._cipher(CIPHER_ENCRYPT_LAST, body, len(body))
        cla, ins, p1, p2 = header
        message = bytes(block_size(alg)) + mac_input(cla, ins, p1, p2, data)
        return data + self._cipher(CIPHER_MAC_SINGLE, message, MAC_SIZE)

    def close(self) -> None:
        """Power the PSAM off (its reader is this module's own); idempotent."""
        if not self._closed:
            self._closed = True
            self.channel.reader.disconnect()

    def __repr__(self) -> str:
        return f"<PsamSam {self.algorithm.name} serial={self.serial}>"
