"""The social security PIN on the simulated card (card-profile §6, §7.6), DES and SM4."""

from __future__ import annotations

import json

import pytest

from apdu.codec import pin_encode
from simulator import pincmds
from simulator.samples import sample_card
from simulator.state import CardState
from simulator.usercard import UserCard
from tests.helpers_sim import (
    change_apdu,
    ext_auth,
    maced,
    reset_apdu,
    select_ssse,
    sw,
    tx,
    verify_apdu,
)


@pytest.fixture(params=[2, 3], ids=["gen2-DES", "gen3-SM4"])
def card(request: pytest.FixtureRequest) -> UserCard:
    c = sample_card(request.param, t0=False)
    select_ssse(c)
    return c


def test_wrong_pin_counts_down_then_blocks(card: UserCard) -> None:
    for left in range(5, -1, -1):
        assert sw(card, verify_apdu("000000")) == 0x63C0 | left
    assert sw(card, verify_apdu("000000")) == 0x6983
    assert sw(card, verify_apdu("123456")) == 0x6983  # blocked even for the right PIN
    assert sw(card, "00200000") == 0x6983
    assert card.pin_tries_left == 0


def test_right_pin_restores_the_counter_and_opens_pin_files(card: UserCard) -> None:
    assert sw(card, verify_apdu("111111")) == 0x63C5
    assert sw(card, verify_apdu("123456")) == 0x9000
    assert sw(card, "00200000") == 0x63C6  # the query does not say "verified" (§6)
    assert card.pin_tries_left == 6


def test_empty_verify_is_a_status_query_that_uses_no_try(card: UserCard) -> None:
    for _ in range(10):
        assert sw(card, "00200000") == 0x63C6
    assert sw(card, verify_apdu("111111")) == 0x63C5
    assert sw(card, "00200000") == 0x63C5
    assert card.pin_tries_left == 5


def test_pin_verified_until_power_off() -> None:
    c = sample_card(2, t0=False)
    select_ssse(c)
    df04 = bytes.fromhex("00A4040006D15600000503")
    assert sw(c, df04) == 0x9000
    assert sw(c, "00B2842805") == 0x6982
    assert sw(c, verify_apdu("123456")) == 0x9000
    assert sw(c, "00B2842805") == 0x9000
    select_ssse(c)
    assert sw(c, df04) == 0x9000
    assert sw(c, "00B2842805") == 0x9000  # still verified after changing DF
    c.power_off()
    c.power_on()
    select_ssse(c)
    sw(c, df04)
    assert sw(c, "00B2842805") == 0x6982
    c.reset()
    select_ssse(c)
    sw(c, df04)
    assert sw(c, "00B2842805") == 0x6982


def test_a_wrong_verify_drops_the_verified_state(card: UserCard) -> None:
    assert sw(card, verify_apdu("123456")) == 0x9000
    assert sw(card, verify_apdu("123450")) == 0x63C5
    sw(card, "00A4040006D15600000503")
    assert sw(card, "00B2842805") == 0x6982


@pytest.mark.parametrize("tries", [3, 8])
def test_issuer_try_limit(tries: int) -> None:
    c = sample_card(3, pin_tries=tries, t0=False)
    select_ssse(c)
    assert sw(c, "00200000") == 0x63C0 | tries
    assert sw(c, verify_apdu("999999")) == 0x63C0 | (tries - 1)


def test_verify_format_errors_use_no_try(card: UserCard) -> None:
    assert sw(card, "00200000031234AB") == 0x6A80
    assert sw(card, "002000000A" + "11" * 10) == 0x6700
    assert sw(card, "0020000103123456") == 0x6A86
    assert card.pin_tries_left == 6


def test_odd_length_pin() -> None:
    c = sample_card(3, pin="12345", t0=False)
    select_ssse(c)
    assert tx(c, "00200000") == (b"", 0x63C6)
    assert sw(c, verify_apdu("12345")) == 0x9000
    assert sw(c, verify_apdu("123456")) == 0x63C5


# --- CHANGE PIN -----------------------------------------------------------------------------------


def test_change_pin(card: UserCard) -> None:
    assert sw(card, change_apdu("000000", "654321")) == 0x63C5  # wrong old PIN uses a try
    assert sw(card, change_apdu("123456", "654321")) == 0x9000
    assert card.pin_tries_left == 6  # reset to the maximum
    assert sw(card, verify_apdu("123456")) == 0x63C5
    assert sw(card, verify_apdu("654321")) == 0x9000
    assert sw(card, change_apdu("654321", "8888")) == 0x9000
    assert sw(card, verify_apdu("8888")) == 0x9000


def test_change_pin_errors(card: UserCard) -> None:
    assert sw(card, "805E010003123456") == 0x6A80  # no FF separator
    assert sw(card, "805E010007123456FF6543") == 0x6700  # Lc mismatch
    assert sw(card, "805E010005123456FF65") == 0x6A80  # new PIN too short
    assert sw(card, "805E000007123456FF654321") == 0x6A86
    assert sw(card, "005E010007123456FF654321") == 0x6E00  # CLA must be 80
    assert card.pin_tries_left == 6
    for _ in range(6):
        sw(card, verify_apdu("000000"))
    assert sw(card, change_apdu("123456", "654321")) == 0x6983


# --- PIN not enabled (regional option) ------------------------------------------------------------


def test_pin_not_enabled_until_changed() -> None:
    c = sample_card(3, pin_not_enabled=True, t0=False)
    select_ssse(c)
    assert sw(c, "00200000") == 0x9000
    sw(c, "00A4040006D15600000503")
    assert sw(c, "00B2842805") == 0x9000  # PIN condition satisfied without VERIFY
    select_ssse(c)
    assert sw(c, change_apdu("123456", "246810")) == 0x9000
    assert c.pin_enabled
    assert sw(c, "00200000") == 0x63C6
    sw(c, "00A4040006D15600000503")
    assert sw(c, "00B2842805") == 0x6982


# --- anti-tearing: the try is spent and SAVED before the compare ----------------------------------


def test_pin_counter_persisted_before_compare(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    c = sample_card(3, t0=False)
    c.save(path)
    c.power_on()
    select_ssse(c)

    def torn(stored: bytes, given: bytes) -> bool:
        # the card is pulled exactly while comparing: what does the file hold now?
        assert json.loads(path.read_text("utf-8"))["pin"]["tries_left"] == 5
        raise RuntimeError("power lost during the compare")

    monkeypatch.setattr(pincmds, "_pin_matches", torn)
    assert c.transmit(verify_apdu("123456")) == b"\x6f\x00"
    c.close()
    assert CardState.load(path).pin.tries_left == 5  # no free try for whoever pulls the card
    monkeypatch.undo()
    reloaded = UserCard.load(path)
    select_ssse(reloaded)
    assert sw(reloaded, verify_apdu("123456")) == 0x9000
    assert CardState.load(path).pin.tries_left == 6


def test_change_pin_counter_persisted_before_compare(tmp_path, monkeypatch) -> None:
    path = tmp_path / "card.json"
    c = sample_card(2, t0=False)
    c.save(path)
    select_ssse(c)
    monkeypatch.setattr(pincmds, "_pin_matches", lambda *a: 1 / 0)
    assert c.transmit(change_apdu("123456", "111111")) == b"\x6f\x00"
    assert CardState.load(path).pin.tries_left == 5


def test_wrong_pin_is_saved(tmp_path) -> None:
    path = tmp_path / "card.json"
    sample_card(3, t0=False).save(path)
    c = UserCard.load(path)
    select_ssse(c)
    assert sw(c, verify_apdu("000000")) == 0x63C5
    assert CardState.load(path).pin.tries_left == 5


# --- PIN UNBLOCK / RESET (§6, §7.6) -----------------------------------------------------------


def _block(card: UserCard) -> None:
    for _ in range(6):
        sw(card, verify_apdu("000000"))
    assert sw(card, "00200000") == 0x6983


def test_unblock_needs_puk_then_fresh_challenge_and_mac(card: UserCard) -> None:
    _block(card)
    assert sw(card, maced(card, 0x84, 0x24, 0x00, 0x00)) == 0x6982  # no PUK authentication
    assert ext_auth(card, 0x06, "PUK") == 0x9000
    assert sw(card, "842400000400000000") == 0x6984  # no challenge
    good = maced(card, 0x84, 0x24, 0x00, 0x00)
    assert sw(card, good[:-1] + bytes([good[-1] ^ 0xFF])) == 0x9302
    assert sw(card, good) == 0x6984  # that challenge was used by the failed attempt
    assert sw(card, maced(card, 0x84, 0x24, 0x00, 0x00)) == 0x9000
    assert sw(card, "00200000") == 0x63C6
    assert sw(card, verify_apdu("123456")) == 0x9000  # PIN kept


def test_reset_sets_a_new_pin(card: UserCard) -> None:
    _block(card)
    assert ext_auth(card, 0x06, "PUK") == 0x9000
    assert sw(card, reset_apdu(card, "13579")) == 0x9000
    assert card.pin_tries_left == 6
    assert sw(card, verify_apdu("123456")) == 0x63C5
    assert sw(card, verify_apdu("13579")) == 0x9000


def test_reset_length_and_data_errors(card: UserCard) -> None:
    assert ext_auth(card, 0x06, "PUK") == 0x9000
    assert sw(card, maced(card, 0x84, 0x24, 0x00, 0x01, b"\x01\x02\x03")) == 0x6700  # unaligned
    block = 8 if card.generation == 2 else 16
    assert sw(card, maced(card, 0x84, 0x24, 0x00, 0x01, bytes(block))) == 0x6A80  # bad plaintext
    assert sw(card, maced(card, 0x84, 0x24, 0x00, 0x00, bytes(block))) == 0x6700  # unblock + data
    assert sw(card, maced(card, 0x84, 0x24, 0x00, 0x02)) == 0x6A86


def test_puk_authentication_ends_with_a_df_change(card: UserCard) -> None:
    assert ext_auth(card, 0x06, "PUK") == 0x9000
    sw(card, "00A4040006D15600000503")
    select_ssse(card)
    assert sw(card, maced(card, 0x84, 0x24, 0x00, 0x00)) == 0x6982


def test_pin_block_encoding_is_bcd() -> None:
    assert pin_encode("123456") == bytes.fromhex("123456")
    assert pin_encode("12345") == bytes.fromhex("12345F")
