"""ISO 9564-1 PIN blocks (terminal.pinblock) and the loopback bank host (terminal.bankhost).

Expected values are computed here independently of the code under test, from the structure the
standard gives (nibble strings built by hand, `cryptography` called directly), and anchored by
published examples: the format 0 clear block of PAN 43219876543210987 / PIN 1234 is
0412AC89ABCDEF67 (EFTlab's and ID TECH's worked example), and the format 4 AES example of the
psec library's documentation (key 00112233..EEFF, PIN 1234, PAN 1234567890123456, random fill
1122334455667788 -> 7CDF645C86CAF763AE34637A66997534).
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu.errors import CryptoError, DataFormatError, UsageError
from terminal import pinblock as pb
from terminal.bankhost import BankHost, LoopbackBankHost
from terminal.pinblock import PinKey

PAN = "6214830000000000003"
KEY16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def _ecb(cipher: object, data: bytes, decrypt: bool = False) -> bytes:
    c = Cipher(cipher, modes.ECB())  # type: ignore[arg-type]
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def _ref_format0(pin: str, pan: str) -> bytes:
    pin_field = bytes.fromhex(("0" + format(len(pin), "X") + pin).ljust(16, "F"))
    pan_field = bytes.fromhex("0000" + pan[:-1][-12:].rjust(12, "0"))
    return bytes(a ^ b for a, b in zip(pin_field, pan_field, strict=True))


def _ref_format4(cipher: object, pin: str, pan: str, fill: bytes) -> bytes:
    pin_field = bytes.fromhex(("4" + format(len(pin), "X") + pin).ljust(16, "A")) + fill
    m = max(len(pan) - 12, 0)
    pan_field = bytes.fromhex((format(m, "X") + pan.rjust(12, "0")).ljust(32, "0"))
    a = _ecb(cipher, pin_field)
    return _ecb(cipher, bytes(x ^ y for x, y in zip(a, pan_field, strict=True)))


# --- format 0 -----------------------------------------------------------------------------------


def test_format0_clear_block_matches_the_published_example() -> None:
    assert pb.format0_clear(b"1234", "43219876543210987").hex().upper() == "0412AC89ABCDEF67"


@pytest.mark.parametrize("pin", ["1234", "739251", "123456789012"])
def test_format0_is_3des_of_pin_field_xor_pan_field(pin: str) -> None:
    key = PinKey(KEY16, "3DES")
    expected = _ecb(TripleDES(KEY16 + KEY16[:8]), _ref_format0(pin, PAN))
    assert pb.format0_encrypt(pin.encode(), PAN, key) == expected
    assert pb.format0_decrypt(expected, PAN, key) == bytearray(pin.encode())


def test_format0_with_a_24_byte_key() -> None:
    k24 = KEY16 + bytes(range(8))
    key = PinKey(k24, "3DES")
    expected = _ecb(TripleDES(k24), _ref_format0("480913", PAN))
    assert pb.encrypt_pin_block(0, b"480913", PAN, key) == expected


def test_format0_block_is_bound_to_the_pan() -> None:
    key = PinKey.test(0)
    block = pb.encrypt_pin_block(0, b"739251", PAN, key)
    other = "6214830000000000011"
    with pytest.raises(CryptoError):
        pb.decrypt_pin_block(0, block, other, key)


# --- format 4 -----------------------------------------------------------------------------------


def test_format4_aes_matches_the_published_example() -> None:
    key = PinKey(bytes.fromhex("00112233445566778899AABBCCDDEEFF"), "AES")
    block = pb.format4_encrypt(
        b"1234", "1234567890123456", key, random_fill=bytes.fromhex("1122334455667788")
    )
    assert block.hex().upper() == "7CDF645C86CAF763AE34637A66997534"


@pytest.mark.parametrize("pan", [PAN, "1234567890123456", "12345678901"])
def test_format4_sm4_follows_the_standard_steps(pan: str) -> None:
    fill = bytes.fromhex("0F1E2D3C4B5A6978")
    key = PinKey(KEY16, "SM4")
    expected = _ref_format4(algorithms.SM4(KEY16), "739251", pan, fill)
    assert pb.format4_encrypt(b"739251", pan, key, random_fill=fill) == expected
    assert pb.format4_decrypt(expected, pan, key) == bytearray(b"739251")


def test_format4_pan_field_layout() -> None:
    assert pb.pan_field_format4("112233445566778899").hex().upper() == (
        "61122334455667788990000000000000"
    )
    assert pb.pan_field_format4("12345").hex().upper() == "0000000012345" + "0" * 19


def test_format4_uses_fresh_random_fill() -> None:
    key = PinKey.test(4)
    assert pb.encrypt_pin_block(4, b"739251", PAN, key) != pb.encrypt_pin_block(
        4, b"739251", PAN, key
    )


@settings(max_examples=60, deadline=None)
@given(
    pin=st.text("0123456789", min_size=4, max_size=12),
    pan=st.text("0123456789", min_size=13, max_size=19),
    fmt=st.sampled_from([0, 4]),
)
def test_round_trip_any_pin_and_pan(pin: str, pan: str, fmt: int) -> None:
    key = PinKey.test(fmt)
    block = pb.encrypt_pin_block(fmt, pin.encode(), pan, key)
    assert len(block) == (8 if fmt == 0 else 16)
    assert pb.decrypt_pin_block(fmt, block, pan, key) == bytearray(pin.encode())


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", [b"123", b"1234567890123", b"12a456", b""])
def test_bad_pins_are_refused_without_showing_them(pin: bytes) -> None:
    with pytest.raises(DataFormatError) as info:
        pb.encrypt_pin_block(0, pin, PAN, PinKey.test(0))
    if pin:
        assert pin.decode() not in str(info.value)


def test_bad_formats_keys_and_pans_are_typed_errors() -> None:
    with pytest.raises(UsageError):
        pb.encrypt_pin_block(1, b"739251", PAN, PinKey.test(0))
    with pytest.raises(CryptoError):
        PinKey(bytes(8), "3DES")
    with pytest.raises(CryptoError):
        pb.format4_encrypt(b"739251", PAN, PinKey.test(0))
    with pytest.raises(CryptoError):
        pb.format0_encrypt(b"739251", PAN, PinKey.test(4))
    with pytest.raises(DataFormatError):
        pb.encrypt_pin_block(0, b"739251", "62148300000000000X3", PinKey.test(0))


def test_pin_key_never_shows_its_bytes() -> None:
    key = PinKey(KEY16, "3DES")
    for text in (repr(key), str(key)):
        assert "TEST" in text
        assert KEY16.hex() not in text.lower()


def test_pin_key_file_hex_and_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "k.hex").write_text(KEY16.hex(" ") + "\n")
    assert PinKey.from_file(tmp_path / "k.hex", 0).key == KEY16
    (tmp_path / "k.json").write_text(json.dumps({"key": KEY16.hex(), "label": "lab TEST"}))
    key = PinKey.from_file(tmp_path / "k.json", 4)
    assert (key.cipher, key.label) == ("SM4", "lab TEST")
    (tmp_path / "bad").write_text("not hex")
    with pytest.raises(CryptoError):
        PinKey.from_file(tmp_path / "bad", 0)
    with pytest.raises(UsageError):
        PinKey.from_file(tmp_path / "missing", 0)


# --- the loopback bank host ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [0, 4])
def test_loopback_host_accepts_a_good_block_and_proves_it(fmt: int) -> None:
    host = LoopbackBankHost()
    assert isinstance(host, BankHost)
    block = pb.encrypt_pin_block(fmt, b"739251", PAN, PinKey.test(fmt))
    result = host.set_bank_pin(PAN, block, fmt)
    assert result.accepted and result.reference
    assert result.masked_pan == "621483*********0003"
    (request,) = host.requests
    assert request.pan == PAN  # the host message carries the full PAN ...
    assert PAN not in repr(request)  # ... nothing else shows it
    assert host.decrypt(request) == bytearray(b"739251")


def test_loopback_host_rejects_a_block_for_another_account() -> None:
    host = LoopbackBankHost()
    block = pb.encrypt_pin_block(0, b"739251", PAN, PinKey.test(0))
    result = host.set_bank_pin("6214830000000000011", block, 0)
    assert not result.accepted
    assert "739251" not in result.message


def test_loopback_host_can_decline() -> None:
    host = LoopbackBankHost(accept=False)
    result = host.set_bank_pin(PAN, pb.encrypt_pin_block(0, b"739251", PAN, PinKey.test(0)), 0)
    assert not result.accepted
    assert host.requests  # recorded even when declined
