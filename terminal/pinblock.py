"""ISO 9564-1 PIN blocks for the bank host: format 0 (3DES) and format 4 (16-byte block cipher).

Card-profile §9: bank activation (re)sets the BANK PIN, an online PIN checked by the bank host and
not stored on the chip.  The kiosk captures it and sends it to the host as an enciphered PIN block,
bound to the card's PAN so that a block captured for one account is useless for another.

Format 0 (8 bytes, for a 64-bit block cipher; ISO 9564-1 §9.3.2, = ANSI X9.8):

- plain PIN field: nibbles ``0 N P..P F..F`` (N = PIN length 4..12, fill F);
- PAN field: ``0000`` followed by the 12 rightmost PAN digits excluding the check digit;
- block = PIN field XOR PAN field, enciphered with 3DES under the terminal PIN key (16-byte
  double-length or 24-byte triple-length key; handed to ``cryptography`` as 24 bytes).

Format 4 (16 bytes; ISO 9564-1:2017 §9.4.2):

- plain PIN field: nibbles ``4 N P..P A..A`` (14 - N fill nibbles ``A``), then 16 random nibbles;
- PAN field: nibble M = PAN length - 12 (0 when shorter than 12, the PAN then left-padded with 0
  to 12 digits), the PAN digits, then ``0`` to 32 nibbles;
- A = E(K, PIN field); B = A XOR PAN field; block = E(K, B).  Deciphering reverses the steps.

ISO 9564-1:2017 defines format 4 for AES.  Here the same structure is applied with **SM4** (the
other 16-byte-block cipher of this project, GB/T 32907) for Chinese bank hosts; AES is offered too
so the construction can be checked against the published AES examples.  Saying "format 4 with
SM4" is this project's naming: the standard itself only names AES.

All keys held here are TEST keys (no real bank key is, or can be, in this project).  PINs enter as
``bytes``/``bytearray`` of ASCII digits; nothing here logs, and no exception message shows a PIN,
a PIN field or a key.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from apdu.errors import CryptoError, DataFormatError, FileError, UsageError
from apdu.jsonfile import loads_strict, read_regular

BlockCipherName = Literal["3DES", "SM4", "AES"]

#: ISO 9564-1: PIN lengths a format 0 or 4 block can carry.
MIN_PIN_DIGITS = 4
MAX_PIN_DIGITS = 12
#: The formats this module builds, with their block size and the cipher used by default.
FORMATS: dict[int, tuple[int, BlockCipherName]] = {0: (8, "3DES"), 4: (16, "SM4")}

_DIGITS = frozenset(b"0123456789")


# --- keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PinKey:
    """A terminal PIN key (TPK), TEST ONLY: its bytes never appear in a repr, str or message."""

    key: bytes
    cipher: BlockCipherName
    label: str = "TEST terminal PIN key"

    def __post_init__(self) -> None:
        sizes = {"3DES": (16, 24), "SM4": (16,), "AES": (16, 24, 32)}
        if self.cipher not in sizes:
            raise CryptoError(f"unknown PIN-block cipher {self.cipher!r}")
        if not isinstance(self.key, bytes) or len(self.key) not in sizes[self.cipher]:
            allowed = " or ".join(str(n) for n in sizes[self.cipher])
            raise CryptoError(f"a {self.cipher} PIN key has {allowed} bytes")

    @property
    def block_size(self) -> int:
        return 8 if self.cipher == "3DES" else 16

    def _cipher(self) -> Cipher[modes.ECB]:
        if self.cipher == "3DES":
            k = self.key if len(self.key) == 24 else self.key + self.key[:8]  # K1 K2 K1
            return Cipher(TripleDES(k), modes.ECB())
        if self.cipher == "SM4":
            return Cipher(algorithms.SM4(self.key), modes.ECB())
        return Cipher(algorithms.AES(self.key), modes.ECB())

    def encrypt(self, block: bytes) -> bytes:
        self._check_block(block)
        e = self._cipher().encryptor()
        return e.update(bytes(block)) + e.finalize()

    def decrypt(self, block: bytes) -> bytes:
        self._check_block(block)
        d = self._cipher().decryptor()
        return d.update(bytes(block)) + d.finalize()

    def _check_block(self, block: bytes) -> None:
        if len(block) != self.block_size:
            raise CryptoError(f"a {self.cipher} PIN block has {self.block_size} bytes")

    def __repr__(self) -> str:
        return f"<PinKey TEST ONLY {self.cipher} {self.label!r}>"

    __str__ = __repr__

    @classmethod
    def test(cls, fmt: int) -> PinKey:
        """The built-in TEST key for ``fmt``: ``SHA-256("sscard test pin key " + cipher)``,
        cut to 16 bytes (a double-length 3DES key, or an SM4 key).  Published, not secret."""
        cipher = _format(fmt)[1]
        raw = hashlib.sha256(b"sscard test pin key " + cipher.encode("ascii")).digest()[:16]
        return cls(raw, cipher, f"sscard built-in TEST {cipher} PIN key (not real, published)")

    @classmethod
    def from_file(cls, path: str | Path, fmt: int) -> PinKey:
        """A key file: either hex (whitespace ignored) or JSON ``{"key": HEX, "label": ...}``.

        The cipher follows the format (0: 3DES, 4: SM4) unless the JSON names ``"cipher"``.
        """
        try:  # bounded and non-blocking: a FIFO or a device is refused (apdu.jsonfile)
            text = read_regular(path, limit=4096, what="PIN key file").decode("utf-8").strip()
        except FileError as exc:
            raise UsageError(f"cannot read {exc}") from None
        except UnicodeDecodeError:
            raise CryptoError(f"PIN key file {path} is not text") from None
        cipher: str = _format(fmt)[1]
        label = f"TEST PIN key from {Path(path).name}"
        if text.startswith("{"):
            try:
                data = loads_strict(text.encode("utf-8"), f"PIN key file {path}")
                hexkey = data["key"]
                cipher = data.get("cipher", cipher)
                label = str(data.get("label") or label)
            except (FileError, KeyError, TypeError, AttributeError):
                raise CryptoError(f"PIN key file {path} is not a key object") from None
        else:
            hexkey = "".join(text.split())
        try:
            raw = bytes.fromhex(hexkey)
        except (TypeError, ValueError):
            raise CryptoError(f"PIN key file {path} does not hold hex") from None
        if cipher not in ("3DES", "SM4", "AES"):
            raise CryptoError(f"PIN key file {path} names an unknown cipher")
        key = cls(raw, cipher, label)  # type: ignore[arg-type]
        if key.block_size != _format(fmt)[0]:
            raise CryptoError(f"a {cipher} key cannot build a format {fmt} PIN block")
        return key


def _format(fmt: int) -> tuple[int, BlockCipherName]:
    try:
        return FORMATS[fmt]
    except (KeyError, TypeError):
        raise UsageError(f"PIN block format {fmt!r} is not supported (0 or 4)") from None


# --- fields --------------------------------------------------------------------------------------


def _pin_digits(pin: bytes | bytearray) -> bytes | bytearray:
    if not isinstance(pin, bytes | bytearray):
        raise DataFormatError("a PIN is given as bytes of ASCII digits")
    if not MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS or any(b not in _DIGITS for b in pin):
        raise DataFormatError(
            f"a PIN block carries {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} decimal digits"
        )
    return pin


def _pan_digits(pan: str, minimum: int) -> str:
    if not isinstance(pan, str) or not (pan.isascii() and pan.isdigit()):
        raise DataFormatError("a PAN is made of decimal digits")
    if not minimum <= len(pan) <= 19:
        raise DataFormatError(f"a PAN has {minimum} to 19 digits")
    return pan


def _nibbles_to_bytes(nibbles: list[int]) -> bytearray:
    return bytearray((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def _pin_field(control: int, pin: bytes | bytearray, fill: int, total: int) -> bytearray:
    """``C N P..P fill..`` as ``total`` nibbles, built without a str copy of the PIN."""
    nib = [control, len(pin)] + [b - 0x30 for b in pin]
    nib += [fill] * (total - len(nib))
    out = _nibbles_to_bytes(nib)
    nib[:] = [0] * len(nib)
    return out


def pan_field_format0(pan: str) -> bytes:
    """``0000`` + the 12 rightmost PAN digits excluding the check digit (8 bytes); a shorter
    PAN is right-justified with zeros on the left, as ISO 9564-1 says."""
    digits = _pan_digits(pan, 2)
    return bytes.fromhex("0000" + digits[:-1][-12:].rjust(12, "0"))


def pan_field_format4(pan: str) -> bytes:
    """M (length - 12, 0..7) + PAN (left-padded to 12 digits) + ``0`` fill to 16 bytes."""
    digits = _pan_digits(pan, 1)
    m = max(len(digits) - 12, 0)
    return bytes.fromhex(f"{m:X}{digits.rjust(12, '0')}".ljust(32, "0"))


def _xor(a: bytes | bytearray, b: bytes | bytearray) -> bytearray:
    return bytearray(x ^ y for x, y in zip(a, b, strict=True))


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


# --- format 0 ------------------------------------------------------------------------------------


def format0_clear(pin: bytes | bytearray, pan: str) -> bytearray:
    """The clear format 0 block (PIN field XOR PAN field); wipe it after use."""
    field = _pin_field(0x0, _pin_digits(pin), 0xF, 16)
    try:
        return _xor(field, pan_field_format0(pan))
    finally:
        _wipe(field)


def format0_encrypt(pin: bytes | bytearray, pan: str, key: PinKey) -> bytes:
    """The enciphered format 0 block: 3DES(TPK, PIN field XOR PAN field), 8 bytes."""
    if key.cipher != "3DES":
        raise CryptoError("format 0 PIN blocks are enciphered with a 3DES key")
    clear = format0_clear(pin, pan)
    try:
        return key.encrypt(bytes(clear))
    finally:
        _wipe(clear)


def format0_decrypt(block: bytes, pan: str, key: PinKey) -> bytearray:
    """Recover the PIN (ASCII digits) from a format 0 block: for the TEST bank host only."""
    if key.cipher != "3DES":
        raise CryptoError("format 0 PIN blocks are enciphered with a 3DES key")
    field = _xor(key.decrypt(block), pan_field_format0(pan))
    try:
        return _parse_pin_field(field, control=0x0, fill=frozenset({0xF}), nibbles=16)
    finally:
        _wipe(field)


# --- format 4 ------------------------------------------------------------------------------------


def format4_pin_field(pin: bytes | bytearray, random_fill: bytes | None = None) -> bytearray:
    """``4 N P..P A..A`` (16 nibbles) + 8 random bytes; ``random_fill`` only for known answers."""
    fill = secrets.token_bytes(8) if random_fill is None else bytes(random_fill)
    if len(fill) != 8:
        raise DataFormatError("the format 4 random fill has 8 bytes")
    return _pin_field(0x4, _pin_digits(pin), 0xA, 16) + fill


def format4_encrypt(
    pin: bytes | bytearray, pan: str, key: PinKey, *, random_fill: bytes | None = None
) -> bytes:
    """A = E(K, PIN field); B = A XOR PAN field; block = E(K, B) (16 bytes)."""
    if key.block_size != 16:
        raise CryptoError("format 4 needs a 16-byte block cipher (SM4 or AES)")
    field = format4_pin_field(pin, random_fill)
    try:
        a = key.encrypt(bytes(field))
    finally:
        _wipe(field)
    return key.encrypt(bytes(_xor(a, pan_field_format4(pan))))


def format4_decrypt(block: bytes, pan: str, key: PinKey) -> bytearray:
    """Recover the PIN from a format 4 block: B = D(K, block); A = B XOR PAN; field = D(K, A)."""
    if key.block_size != 16:
        raise CryptoError("format 4 needs a 16-byte block cipher (SM4 or AES)")
    a = _xor(key.decrypt(block), pan_field_format4(pan))
    field = bytearray(key.decrypt(bytes(a)))
    try:
        return _parse_pin_field(field[:8], control=0x4, fill=frozenset({0xA}), nibbles=16)
    finally:
        _wipe(field)


def _parse_pin_field(
    field: bytes | bytearray, *, control: int, fill: frozenset[int], nibbles: int
) -> bytearray:
    """The PIN digits of a clear PIN field; any inconsistency is one message without content."""
    nib = [n for b in field for n in (b >> 4, b & 0x0F)][:nibbles]
    try:
        n = nib[1]
        ok = (
            nib[0] == control
            and MIN_PIN_DIGITS <= n <= MAX_PIN_DIGITS
            and all(d <= 9 for d in nib[2 : 2 + n])
            and all(f in fill for f in nib[2 + n :])
        )
        if not ok:
            raise CryptoError("the PIN block does not decipher to a valid PIN field")
        return bytearray(0x30 + d for d in nib[2 : 2 + n])
    finally:
        nib[:] = [0] * len(nib)


# --- by format number ----------------------------------------------------------------------------

_ENCRYPT: dict[int, Callable[[bytes | bytearray, str, PinKey], bytes]] = {
    0: format0_encrypt,
    4: format4_encrypt,
}
_DECRYPT: dict[int, Callable[[bytes, str, PinKey], bytearray]] = {
    0: format0_decrypt,
    4: format4_decrypt,
}


def encrypt_pin_block(fmt: int, pin: bytes | bytearray, pan: str, key: PinKey) -> bytes:
    """The enciphered PIN block of format ``fmt`` (0 or 4) for ``pin`` bound to ``pan``."""
    _format(fmt)
    return _ENCRYPT[fmt](pin, pan, key)


def decrypt_pin_block(fmt: int, block: bytes, pan: str, key: PinKey) -> bytearray:
    """The PIN inside an enciphered block (TEST bank host only); wipe the result after use."""
    _format(fmt)
    return _DECRYPT[fmt](block, pan, key)
