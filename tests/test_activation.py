"""Activation status from the chip (issue 3 §5) and the PIN status query (card-profile §6)."""

from __future__ import annotations

import datetime as dt

import pytest

from apdu.status import ApplicationBlocked, NotSupported
from terminal.activation import decide
from terminal.pinstatus import PinStatus, pin_status, pin_status_from_sw
from tests.helpers_checks import defective, inspect, session_for, with_state


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
    # 17 (read 3.00) + empty VERIFY + INTERNAL AUTHENTICATE + SELECT bank ADF
    assert found.apdus == 20


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
    for key in ("activated", "verdict", "pin", "tries_left", "reasons"):
        assert key in out
