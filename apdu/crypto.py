"""The symmetric cryptography of the social security card (card-profile §7, §10, §11). No I/O.

Both sides use this one module: the simulator (as the card) and the terminal's software security
module (as the PSAM of §11), so a formula lives in exactly one place:

- §7.1 key diversification: national root -> province -> city -> card, 8-byte factors built from
  the city code of 卡的识别码 (§8.3) and the ATR historical bytes T6..T13 (§10);
- §7.2 session key from the card's 8-byte challenge;
- §7.3 MAC (ISO 9797-1 method 2 padding, CBC, zero IV) and data encryption (LD || data || 80 00..);
- §7.4 external authentication cryptogram, §7.5 internal authentication response.

Algorithms are the SSSE FCI algorithm flag of §3: DES/3DES (two-key 3DES card keys, single-DES
session keys, 8-byte blocks) and SM4 (16-byte keys and blocks). SSF33 is a flag value that a card
may announce, but no implementation is available in `cryptography`; every operation refuses it with
:class:`~apdu.errors.CryptoError` so that the caller can report "unsupported card" cleanly.

Secrets: no exception message, repr or log line produced here ever contains key bytes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from apdu import atr
from apdu.errors import CryptoError, DataFormatError

__all__ = [
    "CARD_KEY_LENGTH",
    "CHALLENGE_LENGTH",
    "FACTOR_LENGTH",
    "Algorithm",
    "Diversification",
    "block8",
    "block_size",
    "card_factor",
    "card_key",
    "cbc_encrypt_last_block",
    "city_code_from_card_id",
    "city_factor",
    "complement",
    "data_block",
    "decrypt_data",
    "decrypt_ecb",
    "diversify",
    "diversify_path",
    "encrypt_data",
    "encrypt_ecb",
    "external_auth_cryptogram",
    "fold4",
    "fold8",
    "fold_block8",
    "internal_auth_response",
    "mac",
    "pad80",
    "province_factor",
    "session_key",
]


class Algorithm(enum.IntEnum):
    """Symmetric algorithm of a card; the value is the SSSE FCI algorithm flag (§3, tag 86)."""

    DES = 1  # DES/3DES family: 16-byte card keys as two-key 3DES, 8-byte session keys and blocks
    SSF33 = 2  # Chinese national algorithm, not available in `cryptography`: always refused
    SM4 = 3  # GB/T 32907: 16-byte keys, 16-byte blocks


_BLOCK_SIZE = {Algorithm.DES: 8, Algorithm.SSF33: 16, Algorithm.SM4: 16}
#: Card (root, province, city, card) keys are 16 bytes for every algorithm (§7.1).
CARD_KEY_LENGTH = 16
#: Session key length per algorithm (§7.2): DES gives a single-DES key, SM4 a full SM4 key.
_SESSION_KEY_LENGTH = {Algorithm.DES: 8, Algorithm.SM4: 16}
_DES_KEY_LENGTHS = (8, 16, 24)
FACTOR_LENGTH = 8
CHALLENGE_LENGTH = 8
_CITY_CODE = re.compile(r"[0-9]{6}")


# --- primitives ----------------------------------------------------------------------------------


def _algorithm(alg: Algorithm | int) -> Algorithm:
    """Coerce a flag value to :class:`Algorithm`, refusing unknown flags and SSF33."""
    try:
        a = Algorithm(alg)
    except ValueError:
        raise CryptoError(f"unknown algorithm flag {alg!r}") from None
    if a is Algorithm.SSF33:
        raise CryptoError("SSF33 is not supported (no implementation available)")
    return a


def _as_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise CryptoError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _check_len(value: object, length: int, what: str) -> bytes:
    """Return `value` as bytes if it has exactly `length` bytes; the message never shows content."""
    b = _as_bytes(value, what)
    if len(b) != length:
        raise CryptoError(f"{what} must be {length} bytes, got {len(b)}")
    return b


def block_size(alg: Algorithm | int) -> int:
    """Cipher block size in bytes: 8 for DES, 16 for SM4 (and SSF33, a 128-bit block cipher).

    SSF33 is answered rather than refused because the size is a fact about framing (e.g. an Lc),
    not an operation on data.
    """
    try:
        return _BLOCK_SIZE[Algorithm(alg)]
    except ValueError:
        raise CryptoError(f"unknown algorithm flag {alg!r}") from None


def _cipher(alg: Algorithm, key: object) -> Cipher[modes.ECB]:
    """An ECB cipher object for `key`; DES keys are always expanded to 24 bytes (K1K2K3).

    A 24-byte key is given to TripleDES even for single DES (KKK) and two-key 3DES (K1K2K1): the
    results are identical and `cryptography` emits no deprecation warning for 24-byte keys.
    """
    if alg is Algorithm.DES:
        k = _as_bytes(key, "DES key")
        if len(k) not in _DES_KEY_LENGTHS:
            raise CryptoError(f"DES key must be 8, 16 or 24 bytes, got {len(k)}")
        k24 = k * 3 if len(k) == 8 else (k + k[:8] if len(k) == 16 else k)
        return Cipher(TripleDES(k24), modes.ECB())
    k = _check_len(key, 16, "SM4 key")
    return Cipher(algorithms.SM4(k), modes.ECB())


def _run(ctx: CipherContext, data: bytes) -> bytes:
    return ctx.update(data) + ctx.finalize()


def _aligned(alg: Algorithm, data: object, what: str = "data") -> bytes:
    b = _as_bytes(data, what)
    if len(b) % _BLOCK_SIZE[alg]:
        raise CryptoError(
            f"{what} length {len(b)} is not a multiple of the {alg.name} block size "
            f"{_BLOCK_SIZE[alg]}"
        )
    return b


def encrypt_ecb(alg: Algorithm | int, key: bytes, data: bytes) -> bytes:
    """ECB-encrypt block-aligned `data` (§7). DES family: 8-byte key = single DES, 16 = two-key
    3DES, 24 = three-key 3DES; SM4: 16-byte key."""
    a = _algorithm(alg)
    d = _aligned(a, data)
    return _run(_cipher(a, key).encryptor(), d)


def decrypt_ecb(alg: Algorithm | int, key: bytes, data: bytes) -> bytes:
    """ECB-decrypt block-aligned `data`; key lengths as for :func:`encrypt_ecb`."""
    a = _algorithm(alg)
    d = _aligned(a, data)
    return _run(_cipher(a, key).decryptor(), d)


def cbc_encrypt_last_block(
    alg: Algorithm | int, key: bytes, data: bytes, iv: bytes | None = None
) -> bytes:
    """CBC-encrypt non-empty block-aligned `data` and return only the last ciphertext block.

    This is the MAC primitive of §7.3 (and of the PSAM CIPHER DATA MAC modes of §11, where a
    message is MACed in parts and the previous part's last block becomes the next IV). The IV is
    all zeros unless given.
    """
    a = _algorithm(alg)
    bs = _BLOCK_SIZE[a]
    d = _aligned(a, data)
    if not d:
        raise CryptoError("CBC needs at least one block of data")
    v = bytes(bs) if iv is None else _check_len(iv, bs, "IV")
    return _run(Cipher(_cipher(a, key).algorithm, modes.CBC(v)).encryptor(), d)[-bs:]


def pad80(data: bytes, block: int) -> bytes:
    """ISO 9797-1 method 2 padding (§7.3): `80` then `00`s to a multiple of `block`.

    A whole block `80 00..` is added when `data` is already aligned, as the MAC of §7.3 requires,
    so that padding is always present and unambiguous.
    """
    d = _as_bytes(data, "data")
    if not isinstance(block, int) or block <= 0:
        raise CryptoError(f"block size must be a positive integer, got {block!r}")
    fill = block - len(d) % block
    return d + b"\x80" + bytes(fill - 1)


def complement(data: bytes) -> bytes:
    """Every bit inverted (`~f` of §7.1), used to build the right half of a diversified key."""
    return bytes(b ^ 0xFF for b in _as_bytes(data, "data"))


def fold8(block16: bytes) -> bytes:
    """`b[0:8] XOR b[8:16]`: how SM4 cryptograms are cut to 8 bytes (§7.4, §7.5)."""
    b = _check_len(block16, 16, "block to fold")
    return bytes(x ^ y for x, y in zip(b[:8], b[8:], strict=True))


def fold4(block16: bytes) -> bytes:
    """`b[0:4] ^ b[4:8] ^ b[8:12] ^ b[12:16]`: how an SM4 MAC is cut to 4 bytes (§7.3)."""
    b = _check_len(block16, 16, "block to fold")
    return bytes(b[i] ^ b[i + 4] ^ b[i + 8] ^ b[i + 12] for i in range(4))


def block8(alg: Algorithm | int, value8: bytes) -> bytes:
    """An 8-byte value (a challenge R, the data D, R2) as one cipher block: itself for DES,
    followed by 8 zero bytes for SM4 (§7.2, §7.4, §7.5).  The challenge a terminal sends a PSAM
    with DELIVERY SESSION KEY has this form too (§11)."""
    v = _check_len(value8, 8, "8-byte value")
    return v if _algorithm(alg) is Algorithm.DES else v + bytes(8)


def fold_block8(alg: Algorithm | int, block: bytes) -> bytes:
    """An enciphered :func:`block8` cut to the 8-byte cryptogram: DES as it is, SM4 folded
    (:func:`fold8`; §7.4, §7.5)."""
    return bytes(block) if _algorithm(alg) is Algorithm.DES else fold8(block)


def data_block(alg: Algorithm | int, plaintext: bytes) -> bytes:
    """§7.3: what :func:`encrypt_data` enciphers, ``LD || plaintext || 80 00..`` (LD =
    len(plaintext), 1 byte).

    CHOICE (the spec is silent; PBOC convention): when LD || plaintext is already a multiple of
    the block size, NO padding is added.  A 6-digit PIN under DES is `03 12 34 56 80 00 00 00`,
    and under SM4 `03 12 34 56 80 00..00` (16 bytes).  A PSAM enciphers the same block (the
    terminal formats it and has CIPHER DATA encrypt it), so every side formats through here.
    """
    a = _algorithm(alg)
    p = _as_bytes(plaintext, "plaintext")
    if len(p) > 0xFF:
        raise CryptoError(f"plaintext too long for a 1-byte LD: {len(p)} bytes")
    body = bytes([len(p)]) + p
    bs = _BLOCK_SIZE[a]
    return pad80(body, bs) if len(body) % bs else body


# --- §7.1 diversification ------------------------------------------------------------------------


def diversify(alg: Algorithm | int, key: bytes, factor: bytes) -> bytes:
    """One diversification step of §7.1: a 16-byte parent key and an 8-byte factor give a child.

    DES/3DES: child = 3DES(K, f) || 3DES(K, ~f). SM4: child = SM4(K, f || ~f).
    """
    a = _algorithm(alg)
    k = _check_len(key, CARD_KEY_LENGTH, "parent key")
    f = _check_len(factor, FACTOR_LENGTH, "diversification factor")
    # One ECB call covers both: for DES the two 8-byte blocks f and ~f are enciphered separately
    # (left || right), for SM4 f || ~f is the single 16-byte block.
    return encrypt_ecb(a, k, f + complement(f))


def diversify_path(alg: Algorithm | int, root: bytes, factors: Sequence[bytes]) -> bytes:
    """Apply :func:`diversify` with each factor in the order given (root-to-card: province, city,
    card). With no factors the root itself is returned (a key with no levels left, §11)."""
    a = _algorithm(alg)
    k = _check_len(root, CARD_KEY_LENGTH, "root key")
    for f in factors:
        k = diversify(a, k, f)
    return k


def _city_code(city_code: object) -> str:
    if not isinstance(city_code, str) or not _CITY_CODE.fullmatch(city_code):
        raise CryptoError(f"city code must be 6 decimal digits, got {city_code!r}")
    return city_code


def province_factor(city_code: str) -> bytes:
    """Province factor of §7.1: ASCII of the first 2 digits of the city code + "0000sh"."""
    return (_city_code(city_code)[:2] + "0000sh").encode("ascii")


def city_factor(city_code: str, *, zhejiang_rule: bool = True) -> bytes:
    """City factor of §7.1: ASCII of the 6-digit city code + "sx".

    Zhejiang (codes starting "33") uses the first 4 digits + "00sx" [one source]; `zhejiang_rule`
    keeps that configurable, as the spec asks for single-source rules.
    """
    c = _city_code(city_code)
    if zhejiang_rule and c.startswith("33"):
        return (c[:4] + "00sx").encode("ascii")
    return (c + "sx").encode("ascii")


def card_factor(historical_bytes: bytes) -> bytes:
    """Card factor of §7.1/§10: ATR historical bytes T6..T13 (card maker, area, serial), as
    :func:`apdu.atr.card_factor` (the one home of the ATR's form) finds them; CryptoError when
    there are fewer than 13."""
    h = _as_bytes(historical_bytes, "historical bytes")
    try:
        return atr.card_factor(h)
    except DataFormatError as exc:
        raise CryptoError(str(exc)) from None


def city_code_from_card_id(card_id: bytes) -> str:
    """The city code: the first 3 bytes (6 BCD digits) of 卡的识别码 (§7.1, §8.3).

    Only the first 3 bytes are read, so a short or oddly padded identifier still works; they must
    be proper BCD because the code goes into the diversification factors.
    """
    c = _as_bytes(card_id, "card identification code")
    if len(c) < 3:
        raise CryptoError(f"card identification code too short: {len(c)} bytes")
    digits = c[:3].hex()
    if not digits.isdigit():
        raise CryptoError(f"city code in card identification code is not BCD: {digits.upper()}")
    return digits


@dataclass(frozen=True)
class Diversification:
    """The three 8-byte diversification factors of one card (§7.1). Factors are public data."""

    province: bytes
    city: bytes
    card: bytes

    def __post_init__(self) -> None:
        for name in ("province", "city", "card"):
            _check_len(getattr(self, name), FACTOR_LENGTH, f"{name} factor")

    @classmethod
    def for_card(
        cls, card_id: bytes, historical_bytes: bytes, *, zhejiang_rule: bool = True
    ) -> Diversification:
        """Factors from 卡的识别码 (EF05 tag 01, §8.3) and the ATR historical bytes (§10)."""
        city = city_code_from_card_id(card_id)
        return cls(
            province=province_factor(city),
            city=city_factor(city, zhejiang_rule=zhejiang_rule),
            card=card_factor(historical_bytes),
        )

    def factors(self) -> tuple[bytes, bytes, bytes]:
        """(province, city, card): the root-to-card order :func:`diversify_path` applies."""
        return (self.province, self.city, self.card)

    def lowest_first(self) -> tuple[bytes, bytes, bytes]:
        """(card, city, province): the order DELIVERY SESSION KEY sends them to a PSAM (§11)."""
        return (self.card, self.city, self.province)


def card_key(alg: Algorithm | int, root: bytes, div: Diversification) -> bytes:
    """The card's own key: root -> province -> city -> card (§7.1)."""
    return diversify_path(alg, root, div.factors())


# --- §7.2 to §7.5 --------------------------------------------------------------------------------


def _session_key_len(a: Algorithm, key: object) -> bytes:
    return _check_len(key, _SESSION_KEY_LENGTH[a], f"{a.name} session key")


def session_key(alg: Algorithm | int, card_key: bytes, challenge: bytes) -> bytes:
    """§7.2: SK = E(K_card, R) for the card's 8-byte challenge R.

    DES: 3DES(K_card, R), an 8-byte single-DES key. SM4: SM4(K_card, R || 00*8), 16 bytes.
    """
    a = _algorithm(alg)
    k = _check_len(card_key, CARD_KEY_LENGTH, "card key")
    r = _check_len(challenge, CHALLENGE_LENGTH, "challenge")
    return encrypt_ecb(a, k, block8(a, r))


def mac(
    alg: Algorithm | int, session_key: bytes, message: bytes, iv: bytes | None = None
) -> bytes:
    """§7.3: 4-byte MAC of `message` (CLA INS P1 P2 Lc || data, Lc counting the MAC).

    pad80, CBC under SK with a zero IV (or `iv`), then DES: the left 4 bytes of the last block
    (single DES, 8-byte SK); SM4: the last 16-byte block XOR-folded to 4 bytes (:func:`fold4`).
    """
    a = _algorithm(alg)
    sk = _session_key_len(a, session_key)
    last = cbc_encrypt_last_block(a, sk, pad80(message, _BLOCK_SIZE[a]), iv)
    return last[:4] if a is Algorithm.DES else fold4(last)


def encrypt_data(alg: Algorithm | int, session_key: bytes, plaintext: bytes) -> bytes:
    """§7.3 encryption: ECB under SK of :func:`data_block` (LD || plaintext || 80 00..).

    The simulator and the terminal share this function, so both sides agree.
    """
    a = _algorithm(alg)
    sk = _session_key_len(a, session_key)
    return encrypt_ecb(a, sk, data_block(a, plaintext))


def decrypt_data(alg: Algorithm | int, session_key: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`encrypt_data`, strict: the result must be exactly what encrypt_data would
    have produced for the returned plaintext (LD fits, padding is `80 00..` shorter than a block,
    or absent only when LD || plaintext is aligned). LD comes from the other party, so it is
    treated as untrusted; any inconsistency raises CryptoError without showing the content.
    """
    a = _algorithm(alg)
    sk = _session_key_len(a, session_key)
    c = _as_bytes(ciphertext, "ciphertext")
    if not c:
        raise CryptoError("ciphertext is empty")
    clear = decrypt_ecb(a, sk, c)
    ld = clear[0]
    end = 1 + ld
    if end > len(clear):
        raise CryptoError(f"LD {ld} exceeds the {len(clear) - 1} decrypted data bytes")
    pad = clear[end:]
    if pad and (len(pad) >= _BLOCK_SIZE[a] or pad[0] != 0x80 or any(pad[1:])):
        raise CryptoError("bad padding after decryption")
    return clear[1:end]


def _encrypt_8(a: Algorithm, sk: bytes, data8: bytes) -> bytes:
    """DES(SK, D) for DES; fold8(SM4(SK, D || 00*8)) for SM4 (§7.4, §7.5)."""
    return fold_block8(a, encrypt_ecb(a, sk, block8(a, data8)))


def external_auth_cryptogram(alg: Algorithm | int, session_key: bytes, d: bytes) -> bytes:
    """§7.4: AD for EXTERNAL AUTHENTICATE. DES: DES(SK, D). SM4: fold8(SM4(SK, D || 00*8))."""
    a = _algorithm(alg)
    sk = _session_key_len(a, session_key)
    return _encrypt_8(a, sk, _check_len(d, 8, "external authentication data D"))


def internal_auth_response(
    alg: Algorithm | int, irk_card_key: bytes, r1: bytes, r2: bytes
) -> bytes:
    """§7.5: the card's 8-byte INTERNAL AUTHENTICATE answer: E(SK, R2) with SK = E(K_IRK, R1).

    SM4 answers are folded to 8 bytes like §7.4. The terminal computes the same value with its
    security module and compares (use a constant-time comparison, e.g. hmac.compare_digest).
    """
    a = _algorithm(alg)
    sk = session_key(a, irk_card_key, _check_len(r1, 8, "R1"))
    return _encrypt_8(a, sk, _check_len(r2, 8, "R2"))
