"""Issue 9 acceptance at the counter: warnings sell, failures stop with their reason, the initial
PIN is refused before any VERIFY (no try lost) or changed on the spot, and the policy is data.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from apdu.errors import PolicyError, UsageError
from apdu.keys import KeySet
from drivers.trace import RecordingTracer
from terminal import pin as pinops
from terminal.checks import CHECKS, CheckReport, CheckResult
from terminal.pinsource import ListPinSource
from terminal.pinstatus import PinStatus
from terminal.policy import NEVER_RELAXED, SalePolicy
from terminal.workflows import CheckFailed
from terminal.workflows.pharmacy import INITIAL_PIN_MESSAGE, InitialPinRefused, pharmacy
from tests.helpers_checks import with_record, with_state
from tests.helpers_pin import DISTINCTIVE_NEW, DISTINCTIVE_PIN, INITIAL, bench, bench_of, run_cli

PIN, NEW = DISTINCTIVE_PIN, DISTINCTIVE_NEW
TODAY = dt.date(2026, 1, 1)

#: warning condition -> personalisation overrides (issued with allow_invalid where needed).
WARNING_CARDS: dict[str, dict[str, Any]] = {
    "historical ssn area": {"ssn": "332603197912225416", "birth_date": dt.date(1979, 12, 22)},
    "card number without V2 check": {"card_number": "AA0368350"},
    "card number of digits": {"card_number": "113435692"},
    "institution not BCD": {"init_institution": "915600000234120034010A0C"},
    "institution prefix": {"init_institution": "915600000342010042010001"},
    "historical birthplace": {"birthplace": "332603"},
    "card id city unknown": {"card_id": "990100D15600000500000001FFFFFFFF"},
    "expired": {"issue_date": dt.date(2010, 1, 1), "expiry_date": dt.date(2020, 1, 1)},
    "issued in the future": {"issue_date": dt.date(2030, 1, 1)},
    "spec version unknown": {"spec_version": "3.50"},
    "card type unknown": {"card_type": "7"},
    "sex unspecified": {"sex": "9"},
    "pin not enabled": {"pin_not_enabled": True},
}

#: failing condition -> (overrides or a state change, the check that stops the sale).
FAILING_CARDS: dict[str, tuple[dict[str, Any], str]] = {
    "ssn check char": ({"ssn": "420102198505151239"}, "ssn_check_char"),
    "ssn birth date": ({"birth_date": dt.date(1990, 1, 2)}, "ssn_birth_date"),
    "sex parity": ({"sex": "2"}, "ssn_sex"),
    "card id structure": ({"card_id": "420100D15600000600000001FFFFFFFF"}, "card_id_structure"),
    "issued after expiry": (
        {"issue_date": dt.date(2025, 6, 1), "expiry_date": dt.date(2025, 1, 1)}, "dates"
    ),
    "counterfeit": ({"keys": KeySet.counterfeit()}, "genuine"),
}


@pytest.mark.parametrize("condition", list(WARNING_CARDS))
def test_a_sale_on_a_card_with_each_warning_goes_through(condition: str) -> None:
    overrides = WARNING_CARDS[condition]
    with bench(2, pin=PIN, allow_invalid=True, **overrides) as b:
        source = ListPinSource([PIN])
        result = pharmacy(b.session, source, today=TODAY)
        assert result.medical_area_code == "420100" and result.genuine is True
        assert len(result.warnings) == 1, result.warnings


@pytest.mark.parametrize("condition", list(FAILING_CARDS))
def test_a_sale_on_a_card_with_each_failure_stops_with_the_checks_reason(condition: str) -> None:
    overrides, check = FAILING_CARDS[condition]
    with bench(2, pin=PIN, allow_invalid=True, **overrides) as b:
        source = ListPinSource([PIN])
        with pytest.raises(CheckFailed) as info:
            pharmacy(b.session, source, today=TODAY)
        assert [name for name, _ in info.value.failures] == [check]
        assert check in str(info.value) and info.value.exit_code == 1
        assert source.remaining == 1  # no PIN asked: no try at risk
        assert b.observe() == PinStatus("enabled", 6)


@pytest.mark.parametrize(
    ("state", "check"),
    [({"application_blocked": True}, "application_not_blocked"),
     ({"card_blocked": True}, "card_not_blocked")],
)
def test_blocked_application_and_card_stop_the_sale(state: dict[str, bool], check: str) -> None:
    """The sale refuses a blocked card with the very check ``sscard check`` fails (issue 11: one
    read-and-check path), before any PIN is asked."""
    card = with_state(bench_card(), **state)
    source = ListPinSource([PIN])
    with bench_of(card) as b, pytest.raises(CheckFailed) as info:
        pharmacy(b.session, source)
    assert [name for name, _ in info.value.failures] == [check]
    assert info.value.exit_code == 1 and source.remaining == 1


def bench_card(**overrides: Any) -> Any:
    from simulator.samples import sample_card

    return sample_card(2, pin=PIN, **overrides)


def test_a_garbage_name_stops_the_sale() -> None:
    card = with_record(bench_card(), "MF/SSSE/EF06", 0x09, b"\x81\x20" + bytes(28))
    with bench_of(card) as b, pytest.raises(CheckFailed) as info:
        pharmacy(b.session, ListPinSource([PIN]))
    assert [name for name, _ in info.value.failures] == ["data_decodes"]


# --- the initial PIN (issue 9 §4) ----------------------------------------------------------------


@pytest.mark.parametrize("generation", [2, 3])
def test_the_initial_pin_is_refused_before_any_verify(generation: int) -> None:
    with bench(generation, pin=INITIAL) as b:
        b.channel.tracer = tracer = RecordingTracer()
        source = ListPinSource([INITIAL])
        with pytest.raises(InitialPinRefused) as info:
            pharmacy(b.session, source)
        text = str(info.value)
        assert "-35 初始密码不能交易" in text and "no PIN try was used" in text
        assert str(info.value) == INITIAL_PIN_MESSAGE
        assert info.value.exit_code == 1 and info.value.national_code == -35
        # no VERIFY with PIN data ever reached the card; only the empty status query
        verifies = [e for e in tracer.exchanges if e.command[1] == 0x20]
        assert [(e.command, e.redacted) for e in verifies] == [(bytes.fromhex("00200000"), 0)]
        # read (T=0), status query, internal authentication (+ GET RESPONSE): nothing more
        assert b.channel.apdu_count == {2: 7, 3: 9}[generation]
        assert b.observe() == PinStatus("enabled", 6)  # no try lost


def test_the_initial_pin_is_refused_even_when_it_is_not_the_cards_pin() -> None:
    """123456 is refused on sight: it is never sent, whatever the card's PIN is."""
    with bench(2, pin=PIN) as b:
        with pytest.raises(InitialPinRefused):
            pharmacy(b.session, ListPinSource([INITIAL]))
        assert b.observe() == PinStatus("enabled", 6)


def test_a_policy_may_accept_the_initial_pin() -> None:
    with bench(2, pin=INITIAL) as b:
        result = pharmacy(b.session, ListPinSource([INITIAL]),
                          policy=SalePolicy(refuse_initial_pin=False))
        assert result.pin == "verified"


@pytest.mark.parametrize("t0", [False, True])
def test_the_holder_changes_the_initial_pin_at_the_counter_and_the_sale_goes_on(t0: bool) -> None:
    with bench(3, pin=INITIAL, t0=t0) as b:
        source = ListPinSource([INITIAL, NEW, NEW])
        result = pharmacy(b.session, source, change_initial_pin=True)
        assert result.pin == "verified" and result.initial_pin_changed
        assert result.medical_area_code == "420100" and source.remaining == 0
        # CHANGE PIN and a VERIFY with the new PIN instead of one VERIFY: one APDU more
        assert result.apdus == 10 + 1 + (3 if t0 else 0)
        assert b.observe() == PinStatus("enabled", 6)
    with bench_of(b.card) as again:
        assert pinops.verify(again.session, NEW.encode()).verified


@pytest.mark.parametrize("new", [["111111", "111111"], [NEW, "739252"], [INITIAL, INITIAL]])
def test_a_weak_new_pin_is_refused_before_anything_is_sent(new: list[str]) -> None:
    with bench(2, pin=INITIAL) as b:
        with pytest.raises(PolicyError):
            pharmacy(b.session, ListPinSource([INITIAL, *new]), change_initial_pin=True)
        assert b.observe() == PinStatus("enabled", 6)
        assert pinops.verify(b.session, INITIAL.encode()).verified


# --- the policy object ----------------------------------------------------------------------------


def _report(**statuses: str) -> CheckReport:
    return CheckReport([CheckResult(name, statuses.get(name, "pass"), "why") for name in CHECKS])  # type: ignore[arg-type]


def test_defaults_fail_stops_warn_does_not_genuine_required() -> None:
    policy = SalePolicy()
    assert policy.require_genuine and policy.refuse_initial_pin and not policy.overrides
    assert policy.decide(_report(ssn_area="warn")).allowed
    assert not policy.decide(_report(ssn_sex="fail")).allowed
    decision = policy.decide(_report(genuine="skip"))
    assert decision.stops[0][0] == "genuine"
    assert SalePolicy(require_genuine=False).decide(_report(genuine="skip")).allowed


def test_overrides_stop_on_a_warning_or_let_a_failure_through() -> None:
    policy = SalePolicy(overrides={"not_expired": "stop", "ssn_area": "warn"})
    assert not policy.decide(_report(not_expired="warn")).allowed
    decision = policy.decide(_report(ssn_area="fail"))
    assert decision.allowed and "let through" in decision.warnings[0]
    assert SalePolicy().stopping_on("dates").overrides == {"dates": "stop"}


@pytest.mark.parametrize("name", sorted(NEVER_RELAXED))
def test_the_checks_that_prove_the_card_can_never_be_relaxed(name: str) -> None:
    with pytest.raises(UsageError):
        SalePolicy(overrides={name: "warn"})


def test_a_policy_is_frozen_and_checks_its_names() -> None:
    policy = SalePolicy(overrides={"not_expired": "stop"})
    with pytest.raises(TypeError):
        policy.overrides["dates"] = "stop"  # type: ignore[index]
    with pytest.raises(UsageError):
        SalePolicy(overrides={"nonsense": "stop"})
    with pytest.raises(UsageError):
        SalePolicy(overrides={"dates": "maybe"})  # type: ignore[dict-item]
    assert hash(policy) == hash(SalePolicy(overrides={"not_expired": "stop"}))


# --- the CLI --------------------------------------------------------------------------------------


def _card(tmp_path: Path, **overrides: Any) -> str:
    from tests.helpers_pin import card_file

    return str(card_file(tmp_path / "card.json", 2, **overrides))


def test_cli_refuses_the_initial_pin_with_the_national_meaning(tmp_path: Path) -> None:
    card = _card(tmp_path)
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin"], f"{INITIAL}\n")
    assert r.exit_code == 1
    assert "-35 初始密码不能交易" in r.stderr and "--change-initial-pin" in r.stderr
    r = run_cli(["pin", "status", "--sim", card, "--json"])
    assert json.loads(r.stdout)["tries_left"] == 6  # no try lost
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin", "--accept-initial-pin"], f"{INITIAL}\n")
    assert r.exit_code == 0, r.stderr


def test_cli_changes_the_initial_pin_right_there(tmp_path: Path) -> None:
    card = _card(tmp_path)
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin", "--change-initial-pin", "--json"],
                f"{INITIAL}\n{NEW}\n{NEW}\n")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["pin"] == "verified" and out["initial_pin_changed"] is True
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin"], f"{NEW}\n")
    assert r.exit_code == 0 and "verified" in r.stdout


def test_cli_no_security_module_needs_the_policy_switch(tmp_path: Path, monkeypatch: Any) -> None:
    """A counter without a security module (here: the simulator with the SAM taken away)."""
    import terminal.card as front_door

    monkeypatch.setattr(front_door, "open_sam", lambda sam, stack, **_: None)
    card = _card(tmp_path, pin=PIN)
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin"], f"{PIN}\n")
    assert r.exit_code == 1 and "--no-genuine-required" in r.stderr
    assert "genuineness is unverified" in r.stderr
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin", "--no-genuine-required"], f"{PIN}\n")
    assert r.exit_code == 0, r.stderr
    assert "not checked (policy)" in r.stdout


# --- the activation kiosk follows the same policy -------------------------------------------------


@pytest.mark.parametrize("what", ["counterfeit", "atr cut"])
def test_the_activation_kiosk_refuses_a_counterfeit(what: str) -> None:
    from simulator.samples import sample_personalisation
    from terminal.bankhost import LoopbackBankHost
    from terminal.workflows.activation import activate

    card = bench_card(keys=KeySet.counterfeit())
    if what == "atr cut":
        card = with_state(card, atr=bytes.fromhex("3B680000008653494D534342"))
    h = sample_personalisation(2).holder
    host = LoopbackBankHost()
    with bench_of(card) as b:
        source = ListPinSource(["582047", "582047", PIN, NEW, NEW])
        with pytest.raises(CheckFailed) as info:
            activate(b.session, clerk_name=h.name, clerk_id_number=h.ssn, pin_source=source,
                     bank_host=host)
        assert [name for name, _ in info.value.failures] == ["genuine"]
        assert source.remaining == 5 and not host.requests


def test_the_activation_kiosk_without_a_security_module_needs_the_policy_switch() -> None:
    from simulator.samples import sample_personalisation
    from terminal.bankhost import LoopbackBankHost
    from terminal.workflows.activation import activate

    h = sample_personalisation(2).holder
    with bench_of(bench_card(), sam=None) as b:
        with pytest.raises(CheckFailed):
            activate(b.session, clerk_name=h.name, clerk_id_number=h.ssn,
                     pin_source=ListPinSource([]), bank_host=LoopbackBankHost())
    with bench_of(bench_card(), sam=None) as b:
        result = activate(
            b.session, clerk_name=h.name, clerk_id_number=h.ssn,
            pin_source=ListPinSource(["582047", "582047", PIN, NEW, NEW]),
            bank_host=LoopbackBankHost(), sale_policy=SalePolicy(require_genuine=False),
        )
        # the card changed hands properly, but genuineness was never proved: not "activated"
        assert result.ss_pin_changed and result.status.verdict == "unverified"
        assert not result.activated
