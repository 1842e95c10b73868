"""EXTERNAL and INTERNAL AUTHENTICATE on the simulated card (card-profile §5, §7.4, §7.5)."""

from __future__ import annotations

import json

import pytest

from apdu.crypto import card_key, internal_auth_response
from apdu.keys import TEST_KEYS, KeySet
from simulator import usercore
from simulator.samples import sample_card
from simulator.state import CardState
from simulator.usercard import UserCard
from tests.helpers_sim import (
    card_key_of,
    div,
    ext_auth,
    ext_auth_apdu,
    select_ssse,
    sw,
    tx,
)

R1 = bytes.fromhex("1122334455667788")
R2 = bytes.fromhex("A1A2A3A4A5A6A7A8")


@pytest.fixture(params=[2, 3], ids=["gen2-DES", "gen3-SM4"])
def card(request: pytest.FixtureRequest) -> UserCard:
    c = sample_card(request.param, t0=False)
    select_ssse(c)
    return c


def test_card_keys_are_the_diversified_test_roots(card: UserCard) -> None:
    # §7.1: root -> province -> city -> card, with factors from the card id and the ATR.
    d = div(card)
    assert d.province == b"420000sh" and d.city == b"420100sx"
    assert d.card == card.atr[8 + 5 : 8 + 13]
    assert card._keys[("SSSE", 0x0A)].key == card_key(card.algorithm, TEST_KEYS.root("RKSSSE"), d)


@pytest.mark.parametrize("kid,name", [(0x0A, "RKSSSE"), (0x04, "UKSSSE"), (0x06, "PUK"),
                                      (0x02, "STK")])
def test_external_authenticate_with_each_ssse_key(card: UserCard, kid: int, name: str) -> None:
    assert ext_auth(card, kid, name) == 0x9000


def test_external_authenticate_with_version_byte(card: UserCard) -> None:
    apdu = ext_auth_apdu(card, 0x0A, "RKSSSE")
    assert sw(card, apdu[:4] + b"\x11" + apdu[5:] + b"\x01") == 0x9000


def test_wrong_cryptogram_counts_down_and_locks(card: UserCard) -> None:
    fake = KeySet.counterfeit()
    assert ext_auth(card, 0x0A, "RKSSSE", fake) == 0x63C2
    assert ext_auth(card, 0x0A, "RKSSSE", fake) == 0x63C1
    assert ext_auth(card, 0x0A, "RKSSSE") == 0x9000  # success restores the counter
    assert card.key_tries_left("SSSE", 0x0A) == 3
    for left in (2, 1, 0):
        assert ext_auth(card, 0x0A, "RKSSSE", fake) == 0x63C0 | left
    assert ext_auth(card, 0x0A, "RKSSSE") == 0x6983  # locked, even with the right key
    assert ext_auth(card, 0x04, "UKSSSE") == 0x9000  # each key has its own counter


def test_external_authenticate_errors(card: UserCard) -> None:
    good = ext_auth_apdu(card, 0x0A, "RKSSSE")
    assert sw(card, good) == 0x9000
    assert sw(card, good) == 0x6984  # the challenge was single-use
    tx(card, "0084000008")
    assert sw(card, good[:4] + b"\x0f" + good[5:-1]) == 0x6700
    tx(card, "0084000008")
    assert sw(card, good[:3] + b"\x33" + good[4:]) == 0x6A88  # no such KID
    assert sw(card, good[:2] + b"\x01" + good[3:]) == 0x6A86
    assert card.key_tries_left("SSSE", 0x0A) == 3  # none of these used a try


def test_any_command_consumes_the_challenge(card: UserCard) -> None:
    apdu = ext_auth_apdu(card, 0x0A, "RKSSSE")
    tx(card, "00B2032806")
    assert sw(card, apdu) == 0x6984


def test_external_authentication_ends_with_another_df_or_power_off() -> None:
    c = sample_card(3, t0=False)
    select_ssse(c)
    assert ext_auth(c, 0x0A, "RKSSSE") == 0x9000
    assert sw(c, "00B2083014") == 0x9000  # EF06 tag 08 now readable
    select_ssse(c)
    assert sw(c, "00B2083014") == 0x9000  # same DF selected again: kept
    sw(c, "00A4040006D15600000503")
    select_ssse(c)
    assert sw(c, "00B2083014") == 0x6982
    assert ext_auth(c, 0x0A, "RKSSSE") == 0x9000
    c.power_on()
    select_ssse(c)
    assert sw(c, "00B2083014") == 0x6982


def test_df04_read_key_opens_pin_or_key_files_but_not_pin_and_key() -> None:
    c = sample_card(3, t0=False)
    select_ssse(c)
    sw(c, "00A4040006D15600000503")
    assert ext_auth(c, 0x84, "RK1DF04") == 0x9000
    assert tx(c, "00B2842805") == (bytes.fromhex("8403420100"), 0x9000)
    assert sw(c, "00B2863006") == 0x6982  # EF06: PIN and key
    assert sw(c, "00B201AC00") == 0x6A83  # EF15 (SFI 0x15): PIN or key; empty when fresh
    assert sw(c, "00B2014400") == 0x6982  # EF08: PIN only


def test_key_counter_persisted_before_compare(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    c = sample_card(3, t0=False)
    c.save(path)
    select_ssse(c)
    apdu = ext_auth_apdu(c, 0x0A, "RKSSSE")

    def torn(expected: bytes, given: bytes) -> bool:
        assert json.loads(path.read_text("utf-8"))["test_card_keys"]["SSSE:0A"]["tries_left"] == 2
        raise RuntimeError("power lost")

    monkeypatch.setattr(usercore, "cryptogram_matches", torn)
    assert c.transmit(apdu) == b"\x6f\x00"
    assert CardState.load(path).test_card_keys["SSSE:0A"].tries_left == 2


# --- INTERNAL AUTHENTICATE (§7.5) --------------------------------------------------------------


def test_internal_authenticate_answers_e_sk_r2(card: UserCard) -> None:
    data, status = tx(card, bytes.fromhex("0088000010") + R1 + R2 + b"\x00")
    assert status == 0x9000
    assert data == internal_auth_response(card.algorithm, card_key_of(card, "IRK"), R1, R2)
    assert len(data) == 8


def test_counterfeit_card_fails_the_genuineness_check() -> None:
    fake = sample_card(3, keys=KeySet.counterfeit(), t0=False)
    select_ssse(fake)
    data, _ = tx(fake, bytes.fromhex("0088000010") + R1 + R2 + b"\x00")
    assert data != internal_auth_response(fake.algorithm, card_key_of(fake, "IRK"), R1, R2)
    assert data == internal_auth_response(
        fake.algorithm, card_key_of(fake, "IRK", KeySet.counterfeit()), R1, R2
    )


def test_internal_authenticate_errors(card: UserCard) -> None:
    assert sw(card, bytes.fromhex("008800000F") + R1 + R2[:7]) == 0x6700
    assert sw(card, bytes.fromhex("0088000A10") + R1 + R2) == 0x6A88  # RKSSSE is not an IRK
    assert sw(card, bytes.fromhex("0088010010") + R1 + R2) == 0x6A86
    tx(card, "00A40000023F00")
    assert sw(card, bytes.fromhex("0088000010") + R1 + R2) == 0x6A88  # no IRK in the MF


def test_internal_authenticate_on_t0_goes_through_61_08() -> None:
    c = sample_card(2, t0=True)
    tx(c, "00A40400" + "0F7378312E73682EC9E7BBE1B1A3D5CF")
    assert tx(c, bytes.fromhex("0088000010") + R1 + R2) == (b"", 0x6108)
    data, status = tx(c, "00C0000008")
    assert status == 0x9000
    assert data == internal_auth_response(c.algorithm, card_key_of(c, "IRK"), R1, R2)
