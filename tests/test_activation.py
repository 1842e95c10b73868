"""Activation status from the chip (issue 3 §5) and the PIN status query (card-profile §6)."""

from __future__ import annotations

import datetime as dt

import pytest

from apdu.keys import KeySet
from apdu.status import ApplicationBlocked, NotSupported
from terminal.activation import decide
from terminal.pinstatus import PinStatus, pin_status, pin_status_from_sw
from tests.helpers_checks import defective, inspect, session_for, with_record, with_state


@pytest.mark.parametrize(
    ("sw", "expected"),
    [
        (0x9000, PinStatus("not_enabled", None)),
        (0x63C6, PinStatus("enabled", 6)),
        (0x63C1, PinStatus("enabled", 1)),
        (0x63C0, PinStatus("blocked", 0)),
        (0x6983, PinStatus("blocked", 0)),
    ],
)
def test_pin_status_table(sw: int, expected: PinStatus) -> None:
    assert pin_status_from_sw(sw) == expected


@pytest.mark.parametrize(("sw", "error"), [(0x9303, ApplicationBlocked), (0x6A81, NotSupported)])
def test_pin_status_other_answers_raise_typed_errors(sw: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        pin_status_from_sw(sw)


def test_empty_verify_uses_no_try_and_one_apdu() -> None:
    card = defective()
    reader, session = session_for(card)
    session.select_ssse()
    before = session.channel.apdu_count
    for _ in range(3):
        assert pin_status(session.channel) == PinStatus("enabled", 6)
    assert session.channel.apdu_count - before == 3
    assert card.pin_tries_left == 6
    reader.disconnect()


def test_sample_card_is_activated_with_bank() -> None:
    found = inspect(defective(), checks=False)
    assert found.status is not None
    assert found.status.activated and found.status.verdict == "activated"
    assert found.status.pin == "enabled" and found.status.tries_left == 6
    assert found.status.bank_application is True
    assert found.status.genuine is True and found.status.to_json()["genuine"] is True
    # 5 (read 3.00) + empty VERIFY + INTERNAL AUTHENTICATE + SELECT bank ADF, and a T=0 card's
    # GET RESPONSE for the SSSE FCI, the internal authentication and the bank FCI
    assert found.apdus == 8 + 3


def test_initial_pin_not_enabled_is_not_activated() -> None:
    status = inspect(defective(pin_not_enabled=True), checks=False).status
    assert status is not None
    assert status.verdict == "not_activated" and not status.activated
    assert status.pin == "not_enabled" and status.tries_left is None
    assert any("initial" in r for r in status.reasons)


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"pin": {"tries_left": 0}}, None),
        ({"application_blocked": True}, "application_blocked"),
        ({"card_blocked": True}, "card_blocked"),
    ],
)
def test_blocked_verdicts(changes: dict[str, object], flag: str | None) -> None:
    status = inspect(with_state(defective(), **changes), checks=False).status
    assert status is not None
    assert status.verdict == "blocked" and not status.activated
    if flag:
        assert getattr(status, flag)
    else:
        assert status.pin == "blocked"


@pytest.mark.parametrize("generation", [2, 3])
def test_counterfeit_is_never_activated(generation: int) -> None:
    status = inspect(defective(generation, keys=KeySet.counterfeit()), checks=False).status
    assert status is not None
    assert status.verdict == "counterfeit" and not status.activated and status.genuine is False
    assert any(r.startswith("not genuine: ") for r in status.reasons)


def test_counterfeit_whose_atr_prevents_authentication_is_not_activated() -> None:
    card = with_state(defective(2, keys=KeySet.counterfeit()),
                      atr=bytes.fromhex("3B680000008653494D534342"))
    status = inspect(card, checks=False).status
    assert status is not None
    assert status.verdict == "counterfeit" and status.genuine is False
    assert any("cannot be performed" in r for r in status.reasons)


def test_without_a_security_module_the_verdict_is_unverified() -> None:
    status = inspect(defective(2), sam=False, checks=False).status
    assert status is not None
    assert status.verdict == "unverified" and not status.activated and status.genuine is None
    assert status.to_json()["genuine"] is None
    assert any("genuineness unverified" in r for r in status.reasons)


def test_a_blocked_or_inactive_card_says_so_before_unverified() -> None:
    status = inspect(defective(2, pin_not_enabled=True), sam=False, checks=False).status
    assert status is not None and status.verdict == "not_activated"
    blocked = inspect(with_state(defective(2), application_blocked=True), sam=False,
                      checks=False).status
    assert blocked is not None and blocked.verdict == "blocked"


def test_no_expiry_date_does_not_decide() -> None:
    """Real 2.00 cards of 2015 (Wuxi) carry no expiry date: they can still be activated."""
    card = with_record(defective(2), "MF/SSSE/EF05", 0x06, b"\xff" * 4)
    status = inspect(card, checks=False).status
    assert status is not None and status.verdict == "activated"
    assert "the expiry date is not on the card" in status.reasons


def test_expired_card_is_not_activated() -> None:
    card = defective(issue_date=dt.date(2010, 1, 1), expiry_date=dt.date(2020, 1, 1))
    status = inspect(card, checks=False).status
    assert status is not None
    assert status.expired and status.verdict == "not_activated"


def test_no_bank_application() -> None:
    status = inspect(defective(bank=None), checks=False).status
    assert status is not None and status.bank_application is False
    assert status.activated  # the bank does not decide activation (§9)


def test_json_schema() -> None:
    out = decide(None, PinStatus("enabled", 3), today=dt.date(2026, 1, 1)).to_json()
    for key in ("activated", "verdict", "pin", "tries_left", "reasons", "genuine", "initial_pin"):
        assert key in out
    assert out["initial_pin"] == "unknown"
