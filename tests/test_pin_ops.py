"""Every PIN path of card-profile §6 in-process (terminal.pin), on DES (2nd generation) and SM4
(3rd generation) cards, unblock and reset with both security modules (software SAM and a simulated
PSAM behind its own reader, §7.6, §11).

The card's counter is always read from the card itself through a second channel (the empty VERIFY,
which uses no try), never from the code under test.
"""

from __future__ import annotations

import pytest

from apdu import status
from apdu.errors import PolicyError, UsageError
from apdu.keys import KeySet
from terminal import pin as pinops
from terminal.pinsource import ListPinSource
from terminal.pinstatus import PinStatus
from terminal.sam.software import SoftwareSam
from tests.helpers_pin import DISTINCTIVE_NEW, DISTINCTIVE_PIN, GENERATIONS, SAMS, bench

PIN = DISTINCTIVE_PIN.encode()
NEW = DISTINCTIVE_NEW.encode()
WRONG = b"000111"


def _block(b, tries: int = 6) -> None:  # type: ignore[no-untyped-def]
    """Use up every try with wrong PINs, each a separate, explicit VERIFY."""
    for _ in range(tries):
        with pytest.raises(status.WrongPin):
            pinops.verify(b.session, WRONG)


# --- status and verify --------------------------------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_status_uses_no_try(generation: int) -> None:
    with bench(generation, pin=DISTINCTIVE_PIN) as b:
        for _ in range(3):
            assert pinops.status_of(b.session) == PinStatus("enabled", 6)
        assert b.observe() == PinStatus("enabled", 6)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_right_pin_verifies_with_status_first(generation: int) -> None:
    with bench(generation, pin=DISTINCTIVE_PIN) as b:
        result = pinops.verify(b.session, PIN)
        assert result.verified and result.tries_left == 6
        assert result.apdus == 4  # SELECT SSSE (+ GET RESPONSE: T=0), empty VERIFY, VERIFY
        assert b.observe() == PinStatus("enabled", 6)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_wrong_pins_count_down_and_are_never_retried(generation: int) -> None:
    with bench(generation, pin=DISTINCTIVE_PIN) as b:
        pinops.ensure_ssse(b.session)
        for left in (5, 4, 3):
            source = ListPinSource([WRONG, PIN])  # the right PIN is there, but never asked for
            before = b.channel.apdu_count
            with pytest.raises(status.WrongPin) as info:
                pinops.verify(b.session, source)
            assert info.value.tries_left == left
            assert source.remaining == 1
            assert b.channel.apdu_count - before == 2  # one status query + ONE VERIFY
            assert b.observe() == PinStatus("enabled", left)
        # a right PIN restores the counter
        pinops.verify(b.session, PIN)
        assert b.observe() == PinStatus("enabled", 6)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_blocked_pin_is_reported_not_tried(generation: int) -> None:
    with bench(generation, pin=DISTINCTIVE_PIN, pin_tries=3) as b:
        _block(b, 3)
        assert b.observe() == PinStatus("blocked", 0)
        source = ListPinSource([PIN])
        before = b.channel.apdu_count
        with pytest.raises(status.PinBlocked):
            pinops.verify(b.session, source)
        assert b.channel.apdu_count - before == 1  # the status query only
        assert source.remaining == 1  # the holder was not even asked
        with pytest.raises(status.PinBlocked):
            pinops.change(b.session, PIN, NEW)
        assert b.observe() == PinStatus("blocked", 0)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_not_enabled_pin_needs_no_verification(generation: int) -> None:
    with bench(generation, pin_not_enabled=True) as b:
        source = ListPinSource([PIN])
        result = pinops.verify(b.session, source)
        assert result.outcome == "not_enabled" and not result.verified
        assert result.apdus == 3  # SELECT SSSE (+ GET RESPONSE), the status query; no VERIFY
        assert source.remaining == 1
        assert b.observe() == PinStatus("not_enabled", None)


def test_empty_or_short_pin_never_becomes_a_status_query() -> None:
    with bench(3) as b:
        for entry in (b"", b"1", b"123"):
            with pytest.raises(PolicyError):
                pinops.verify(b.session, entry)
        assert b.observe() == PinStatus("enabled", 6)


def test_t0_card_verifies() -> None:
    with bench(3, pin=DISTINCTIVE_PIN, t0=True) as b:
        assert pinops.verify(b.session, PIN).verified


# --- change -------------------------------------------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_change_sets_the_new_pin(generation: int) -> None:
    with bench(generation, pin=DISTINCTIVE_PIN) as b:
        result = pinops.change(b.session, PIN, NEW, new_again=NEW)
        assert result.apdus == 4  # SELECT SSSE (+ GET RESPONSE), status, CHANGE PIN
        with pytest.raises(status.WrongPin):
            pinops.verify(b.session, PIN)
        assert pinops.verify(b.session, NEW).verified


@pytest.mark.parametrize("generation", GENERATIONS)
def test_change_with_a_wrong_old_pin_uses_a_try(generation: int) -> None:
    with bench(generation, pin=DISTINCTIVE_PIN) as b:
        with pytest.raises(status.WrongPin) as info:
            pinops.change(b.session, WRONG, NEW)
        assert info.value.tries_left == 5
        assert b.observe() == PinStatus("enabled", 5)
        pinops.change(b.session, PIN, NEW)  # success restores the counter (§6)
        assert b.observe() == PinStatus("enabled", 6)


def test_change_from_the_initial_pin_enables_a_not_enabled_pin() -> None:
    with bench(2, pin_not_enabled=True) as b:
        pinops.change(b.session, b"123456", NEW)
        assert b.observe() == PinStatus("enabled", 6)


def test_change_asks_a_source_in_order() -> None:
    with bench(3, pin=DISTINCTIVE_PIN) as b:
        source = ListPinSource([PIN, NEW, NEW])
        pinops.change(b.session, source, source)
        assert source.remaining == 0
        assert pinops.verify(b.session, NEW).verified


# --- unblock and reset (§7.6) -------------------------------------------------------------------


@pytest.mark.parametrize("sam", SAMS)
@pytest.mark.parametrize("generation", GENERATIONS)
def test_unblock_restores_the_counter_and_keeps_the_pin(generation: int, sam: str) -> None:
    with bench(generation, sam, pin=DISTINCTIVE_PIN, pin_tries=3) as b:
        _block(b, 3)
        result = pinops.unblock(b.session)
        # READ RECORD 01, GET CHALLENGE, EXT AUTH (PUK), GET CHALLENGE, 84 24 00 00; the SSSE
        # was selected by the verifies before
        assert result.apdus == 5
        assert b.observe() == PinStatus("enabled", 3)
        assert pinops.verify(b.session, PIN).verified


@pytest.mark.parametrize("sam", SAMS)
@pytest.mark.parametrize("generation", GENERATIONS)
def test_reset_sets_a_new_pin_without_the_old(generation: int, sam: str) -> None:
    with bench(generation, sam, pin=DISTINCTIVE_PIN, pin_tries=3) as b:
        _block(b, 3)
        result = pinops.reset(b.session, NEW)
        assert result.apdus == 5
        assert b.observe() == PinStatus("enabled", 3)
        assert pinops.verify(b.session, NEW).verified
        with pytest.raises(status.WrongPin):
            pinops.verify(b.session, PIN)


@pytest.mark.parametrize("generation", GENERATIONS)
def test_fresh_session_costs_of_unblock_and_reset(generation: int) -> None:
    with bench(generation) as b:
        assert pinops.unblock(b.session).apdus == 6 + 1  # T=0: GET RESPONSE for the FCI
    with bench(generation, t0=False) as b:
        assert pinops.reset(b.session, NEW).apdus == 6


def test_reset_policy_is_checked_before_anything_is_sent() -> None:
    from terminal.pinpolicy import PinPolicy

    with bench(3) as b:
        with pytest.raises(PolicyError):
            pinops.reset(b.session, b"111111", PinPolicy())
        with pytest.raises(PolicyError):
            pinops.reset(b.session, NEW, new_again=b"739250")
        assert b.channel.apdu_count == 0


def test_unblock_needs_a_security_module() -> None:
    with bench(3, sam=None) as b:
        with pytest.raises(UsageError, match="security module"):
            pinops.unblock(b.session)
        assert b.channel.apdu_count == 0


@pytest.mark.parametrize("generation", GENERATIONS)
def test_unblock_with_wrong_keys_is_refused_by_the_card(generation: int) -> None:
    with bench(generation, pin=DISTINCTIVE_PIN, pin_tries=3) as b:
        _block(b, 3)
        b.session.sam = SoftwareSam(KeySet.counterfeit())
        with pytest.raises(status.WrongKey):
            pinops.unblock(b.session)
        assert b.observe() == PinStatus("blocked", 0)


def test_explanations_say_how_many_tries_are_left() -> None:
    wrong = status.error_for(0x63C2, 0x20)
    assert "2 tries left" in pinops.explain(wrong)
    assert "1 try left" in pinops.explain(status.error_for(0x63C1, 0x20))
    assert "blocked" in pinops.explain(status.error_for(0x63C0, 0x20))
    assert "blocked" in pinops.explain(status.error_for(0x6983, 0x20))


# --- the CLI: sscard pin ... --------------------------------------------------------------------


@pytest.fixture
def card_path(tmp_path):  # type: ignore[no-untyped-def]
    from tests.helpers_pin import card_file

    return str(card_file(tmp_path / "card.json", 3, pin=DISTINCTIVE_PIN, pin_tries=3))


def test_cli_status_and_verify(card_path: str) -> None:
    from tests.helpers_pin import run_cli

    r = run_cli(["pin", "status", "--sim", card_path, "--json"])
    assert r.exit_code == 0 and '"tries_left": 3' in r.stdout
    r = run_cli(["pin", "verify", "--sim", card_path, "--pin-stdin"], "000111\n")
    assert r.exit_code == 1
    assert "wrong PIN: 2 tries left" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli(["pin", "verify", "--sim", card_path, "--pin-stdin"], f"{DISTINCTIVE_PIN}\n")
    assert r.exit_code == 0 and "PIN verified" in r.stdout


def test_cli_block_then_unblock_then_reset(card_path: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.helpers_pin import psam_file, run_cli

    for left in ("2 tries", "1 try"):
        r = run_cli(["pin", "verify", "--sim", card_path, "--pin-stdin"], "000111\n")
        assert r.exit_code == 1 and f"{left} left" in r.stderr
    r = run_cli(["pin", "verify", "--sim", card_path, "--pin-stdin", "--json"], "000111\n")
    assert r.exit_code == 1
    assert json.loads(r.stdout.splitlines()[0])["result"] == "blocked"
    # blocked: reported, and the PIN on stdin is not even read
    r = run_cli(["pin", "verify", "--sim", card_path, "--pin-stdin"], f"{DISTINCTIVE_PIN}\n")
    assert r.exit_code == 1 and "blocked" in r.stderr
    psam = str(psam_file(tmp_path / "psam.json", 3))
    r = run_cli(["pin", "unblock", "--sim", card_path, "--psam", psam, "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {
        "result": "ok", "operation": "unblock", "apdus": 7, "pin": "enabled", "tries_left": 3
    }
    r = run_cli(["pin", "reset", "--sim", card_path, "--pin-stdin"], "739251\n739251\n")
    assert r.exit_code == 0, r.stderr
    r = run_cli(["pin", "verify", "--sim", card_path, "--pin-stdin"], "739251\n")
    assert r.exit_code == 0


def test_cli_change_refusals_and_usage(card_path: str) -> None:
    from tests.helpers_pin import run_cli

    r = run_cli(["pin", "change", "--sim", card_path, "--pin-stdin"], "480913\n739251\n739215\n")
    assert r.exit_code == 1 and "do not match" in r.stderr
    r = run_cli(["pin", "change", "--sim", card_path, "--pin-stdin"], "480913\n")
    assert r.exit_code == 2 and "--pin-stdin" in r.stderr
    r = run_cli(["pin", "status", "--sim", card_path, "--json"])
    assert '"tries_left": 3' in r.stdout  # nothing was tried
    r = run_cli(
        ["pin", "change", "--sim", card_path, "--pin-stdin", "--min-length", "4"],
        "480913\n7392\n7392\n",
    )
    assert r.exit_code == 0, r.stderr
    r = run_cli(["pin", "verify", "--sim", card_path, "--pin-stdin"], "7392\n")
    assert r.exit_code == 0
    r = run_cli(["pin", "verify", "--sim", card_path, "--reader", "0"])
    assert r.exit_code == 2
