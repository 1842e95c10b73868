"""Helpers for the simulator tests: send hex APDUs, select SSSE, authenticate like a terminal.

Expected cryptograms are computed with apdu.crypto (its known-answer tests live elsewhere) from
the card's own diversification (card id + ATR historical bytes, card-profile §7.1).
"""

from __future__ import annotations

from apdu.codec import pin_encode
from apdu.commands import mac_input
from apdu.crypto import (
    Algorithm,
    Diversification,
    card_key,
    encrypt_data,
    external_auth_cryptogram,
    mac,
    session_key,
)
from apdu.keys import TEST_KEYS, KeySet
from apdu.names import SSSE_NAME
from simulator.usercard import UserCard

SELECT_SSSE = bytes.fromhex("00A404000F") + SSSE_NAME + b"\x00"
D = bytes.fromhex("0102030405060708")


def tx(card: UserCard, apdu: bytes | str) -> tuple[bytes, int]:
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    resp = card.transmit(raw)
    return resp[:-2], int.from_bytes(resp[-2:], "big")


def sw(card: UserCard, apdu: bytes | str) -> int:
    return tx(card, apdu)[1]


def select_ssse(card: UserCard) -> bytes:
    data, status = tx(card, SELECT_SSSE)
    assert status == 0x9000, hex(status)
    return data


def div(card: UserCard) -> Diversification:
    return Diversification.for_card(card.card_id, card.historical_bytes)


def card_key_of(card: UserCard, name: str, keys: KeySet = TEST_KEYS) -> bytes:
    return card_key(card.algorithm, keys.root(name), div(card))


def challenge(card: UserCard) -> bytes:
    data, status = tx(card, "0084000008")
    assert status == 0x9000
    return data


def ext_auth_apdu(card: UserCard, kid: int, name: str, keys: KeySet = TEST_KEYS,
                  d: bytes = D) -> bytes:
    """GET CHALLENGE then the EXTERNAL AUTHENTICATE APDU a terminal would send (§7.4)."""
    r = challenge(card)
    sk = session_key(card.algorithm, card_key_of(card, name, keys), r)
    ad = external_auth_cryptogram(card.algorithm, sk, d)
    return bytes((0x00, 0x82, 0x00, kid, 0x10)) + ad + d


def ext_auth(card: UserCard, kid: int, name: str, keys: KeySet = TEST_KEYS) -> int:
    return sw(card, ext_auth_apdu(card, kid, name, keys))


def stk_session(card: UserCard) -> bytes:
    r = challenge(card)
    return session_key(card.algorithm, card_key_of(card, "STK"), r)


def maced(card: UserCard, cla: int, ins: int, p1: int, p2: int, body: bytes = b"") -> bytes:
    """GET CHALLENGE, then ``cla ins p1 p2 Lc body MAC`` with the STK session key (§7.3)."""
    sk = stk_session(card)
    m = mac(card.algorithm, sk, mac_input(cla, ins, p1, p2, body))
    return bytes((cla, ins, p1, p2, len(body) + 4)) + body + m


def reset_apdu(card: UserCard, new_pin: str) -> bytes:
    """PIN RESET (§6, §7.6) after the PUK authentication: encrypted new PIN + MAC."""
    sk = stk_session(card)
    enc = encrypt_data(card.algorithm, sk, pin_encode(new_pin))
    m = mac(card.algorithm, sk, mac_input(0x84, 0x24, 0x00, 0x01, enc))
    return bytes((0x84, 0x24, 0x00, 0x01, len(enc) + 4)) + enc + m


def verify_apdu(pin: str) -> bytes:
    block = pin_encode(pin)
    return bytes((0x00, 0x20, 0x00, 0x00, len(block))) + block


def change_apdu(old: str, new: str) -> bytes:
    body = pin_encode(old) + b"\xff" + pin_encode(new)
    return bytes((0x80, 0x5E, 0x01, 0x00, len(body))) + body


ALGS = {2: Algorithm.DES, 3: Algorithm.SM4}
