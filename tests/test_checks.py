"""The checks: fake, blocked, unusable or inconsistent cards fail; what real cards carry warns.

Issue 9 §1, §2.  Each defect is caught by exactly the check that should catch it; each rule that
real cards break is a warning of exactly one check, and the verdict stays ok; what was not proved
(genuineness, the holder's data) makes the verdict "unverified", never "ok".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu import areas
from apdu.identifiers import ssn_check_char
from apdu.keys import KeySet
from apdu.names import SSSE_NAME
from apdu.tlv import ber_encode
from simulator.samples import sample_ssn
from terminal.checks import CHECKS, area_name, evaluate
from terminal.models import CardRead, HolderData, IssuerData
from terminal.pinstatus import PinStatus
from tests.helpers_checks import TODAY, defective, inspect, with_fci, with_record, with_state


def _ssn_with_check(first17: str) -> str:
    return first17 + ssn_check_char(first17)


def _wrong_check(ssn: str) -> str:
    return ssn[:17] + ("0" if ssn[17] != "0" else "1")


GOOD = sample_ssn()
#: the SSN of the real 1.00 card of the corpus: Huangyan 332603 (abolished 1994), born 1979.
HUANGYAN = "332603197912225416"

#: defect -> (personalisation overrides, the one check that must fail).
DEFECTS: dict[str, tuple[dict[str, Any], str]] = {
    "ssn check char": ({"ssn": _wrong_check(GOOD)}, "ssn_check_char"),
    "no ssn (not personalised)": ({"ssn": ""}, "ssn_check_char"),
    "ssn birth date": ({"birth_date": dt.date(1990, 1, 2)}, "ssn_birth_date"),
    "sex parity": ({"sex": "2"}, "ssn_sex"),
    "sex not a code": ({"sex": "5"}, "ssn_sex"),
    "card id structure": (
        {"card_id": "420100D15600000600000001FFFFFFFF"}, "card_id_structure"
    ),
    "issued after expiry": (
        {"issue_date": dt.date(2025, 6, 1), "expiry_date": dt.date(2025, 1, 1)}, "dates"
    ),
}

#: rule that real cards break -> (overrides, the one check that warns).  The real card that
#: breaks it is named where the corpus has one (tests/data/real_cards).
WARNINGS: dict[str, tuple[dict[str, Any], str]] = {
    # hangzhou-1.00: 332603 abolished 1994; wuxi-*: 320223; shenzhen-2.00-a: 441522
    "historical ssn area": (
        {"ssn": HUANGYAN, "birth_date": dt.date(1979, 12, 22)}, "ssn_area"
    ),
    "ssn area never in GB/T 2260": ({"ssn": _ssn_with_check("420188" + GOOD[6:17])}, "ssn_area"),
    "ssn area of no province": ({"ssn": _ssn_with_check("990000" + GOOD[6:17])}, "ssn_area"),
    "historical birthplace": ({"birthplace": "332603"}, "birthplace_area"),
    "birthplace never in GB/T 2260": ({"birthplace": "990000"}, "birthplace_area"),
    # hangzhou-3.00 AA0368350, quzhou HC0876929
    "card number check char": ({"card_number": "AA0368350"}, "card_number_check_char"),
    # wuxi-*: 9 digits, no letter
    "card number of digits": ({"card_number": "113435692"}, "card_number_check_char"),
    "card id city unknown": (
        {"card_id": "990100D15600000500000001FFFFFFFF"}, "card_id_structure"
    ),
    "card id city historical": (
        {"card_id": "332600D15600000500000001FFFFFFFF"}, "card_id_structure"
    ),
    "institution prefix": ({"init_institution": "915600000342010042010001"}, "init_institution"),
    # fuyang-2.00: ...34010A0C; quzhou ...3301009E; zunyi ...5202006A
    "institution not BCD": ({"init_institution": "915600000234120034010A0C"}, "init_institution"),
    "expired": (
        {"issue_date": dt.date(2010, 1, 1), "expiry_date": dt.date(2020, 1, 1)}, "not_expired"
    ),
    "issued in the future": ({"issue_date": dt.date(2030, 1, 1)}, "dates"),
    "spec version unknown": ({"spec_version": "3.50"}, "spec_version_known"),
    "card type unknown": ({"card_type": "7"}, "card_type_known"),
    "sex unspecified": ({"sex": "9"}, "ssn_sex"),
    "sex unknown (0)": ({"sex": "0"}, "ssn_sex"),
}

#: what real cards carry and passes: province-level issuers, "2.0"-style versions, "1.01".
PASSES: dict[str, tuple[dict[str, Any], str]] = {
    "province-level issuer": (
        {"card_id": "429900D15600000500000001FFFFFFFF"}, "card_id_structure"
    ),
    "province code": ({"card_id": "420000D15600000500000001FFFFFFFF"}, "card_id_structure"),
    "spec version 3.0 + padding": ({"spec_version": "3.0"}, "spec_version_known"),
}


def test_valid_card_passes_every_check() -> None:
    report = inspect(defective(), photo=True).checks
    assert report is not None
    assert report.ok and report.verdict == "ok" and report.unproved == []
    assert {c.status for c in report.checks} == {"pass"}
    assert [c.name for c in report.checks] == list(CHECKS)


@pytest.mark.parametrize("generation", [2, 3])
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_is_caught_by_exactly_its_check(defect: str, generation: int) -> None:
    overrides, expected = DEFECTS[defect]
    report = inspect(defective(generation, **overrides)).checks
    assert report is not None
    assert report.failed == [expected], report.to_json()
    assert not report.ok and report.verdict == "failed"


@pytest.mark.parametrize("generation", [2, 3])
@pytest.mark.parametrize("rule", list(WARNINGS))
def test_each_real_card_rule_only_warns(rule: str, generation: int) -> None:
    overrides, expected = WARNINGS[rule]
    report = inspect(defective(generation, **overrides)).checks
    assert report is not None
    assert report.failed == [] and report.warnings == [expected], report.to_json()
    assert report.verdict == "ok"


@pytest.mark.parametrize("case", list(PASSES))
def test_what_real_cards_carry_passes(case: str) -> None:
    overrides, name = PASSES[case]
    report = inspect(defective(2, **overrides)).checks
    assert report is not None and report.verdict == "ok", report.to_json()
    assert report.by_name(name).status == "pass"


def test_province_level_issuer_is_named() -> None:
    report = inspect(defective(2, card_id="429900D15600000500000001FFFFFFFF")).checks
    assert report is not None
    assert "429900 湖北省本级" in report.by_name("card_id_structure").detail


def test_historical_area_says_when_it_was_valid() -> None:
    report = inspect(defective(2, ssn=HUANGYAN, birth_date=dt.date(1979, 12, 22))).checks
    assert report is not None
    assert report.by_name("ssn_area").detail == (
        "332603 浙江省黄岩市: historical code (valid 1989–1994)"
    )


@pytest.mark.parametrize(
    ("tag", "value", "check"),
    [
        (0x0D, b"\xff" * 4, "ssn_birth_date"),  # 出生日期 FF-filled (some 2.0 cards)
        (0x0D, b"\x00" * 4, "ssn_birth_date"),
        (0x0C, b"\xff" * 3, "birthplace_area"),  # 出生地 FF-filled
    ],
)
def test_unpersonalised_items_are_absent_and_warn(tag: int, value: bytes, check: str) -> None:
    card = with_record(defective(2), "MF/SSSE/EF06", tag, value)
    found = inspect(card)
    assert found.card is not None and found.card.decode_errors == {}
    report = found.checks
    assert report is not None and report.warnings == [check] and report.verdict == "ok"


def test_ff_filled_ethnicity_is_absent() -> None:
    found = inspect(with_record(defective(2), "MF/SSSE/EF06", 0x0B, b"\xff"))
    assert found.card is not None and found.card.holder is not None
    assert found.card.holder.ethnicity is None
    assert found.checks is not None and found.checks.verdict == "ok"


def test_a_name_that_does_not_decode_fails() -> None:
    card = with_record(defective(2), "MF/SSSE/EF06", 0x09, b"\x81\x20" + bytes(28))
    report = inspect(card).checks
    assert report is not None and report.failed == ["data_decodes"]
    assert "name" in report.by_name("data_decodes").detail


def test_a_garbage_birth_date_warns_where_it_belongs() -> None:
    card = with_record(defective(2), "MF/SSSE/EF06", 0x0D, bytes.fromhex("19791322"))
    report = inspect(card).checks
    assert report is not None and report.warnings == ["ssn_birth_date"] and report.failed == []
    assert "does not decode" in report.by_name("ssn_birth_date").detail


# --- genuineness: fail closed (issue 9 §2) -------------------------------------------------------


def test_counterfeit_2x_fails_genuine_and_nothing_else() -> None:
    report = inspect(defective(2, keys=KeySet.counterfeit())).checks
    assert report is not None
    assert report.failed == ["genuine"] and report.verdict == "failed"


def test_counterfeit_3_00_fails_genuine_and_the_holder_checks() -> None:
    """A 3.00 counterfeit cannot open EF06 with the real RKSSSE: the holder is not proved."""
    found = inspect(defective(3, keys=KeySet.counterfeit()))
    report = found.checks
    assert report is not None and found.card is not None
    assert found.card.ef06_access == "auth_failed"
    assert set(report.failed) == {"genuine", "ssn_check_char", "ssn_birth_date", "ssn_sex",
                                  "ssn_area", "birthplace_area"}
    assert "EF06 could not be opened" in report.by_name("ssn_check_char").detail


#: the counterfeit of the issue: its ATR cut to 12 historical bytes, so there is no card factor.
CUT_ATR = bytes.fromhex("3B680000008653494D534342")


@pytest.mark.parametrize("generation", [2, 3])
def test_counterfeit_whose_atr_prevents_authentication_fails(generation: int) -> None:
    card = with_state(defective(generation, keys=KeySet.counterfeit()), atr=CUT_ATR)
    found = inspect(card)
    report = found.checks
    assert report is not None and report.verdict == "failed"
    assert "genuine" in report.failed
    assert "cannot be performed" in report.by_name("genuine").detail
    assert found.genuine is False


def _fci(flag: int) -> bytes:
    prop = ber_encode(0x88, b"\x0b") + ber_encode(0x9F0C, ber_encode(0x86, bytes((flag,))))
    return ber_encode(0x6F, [ber_encode(0x84, SSSE_NAME), ber_encode(0xA5, prop)])


@pytest.mark.parametrize("flag", [0x02, 0x07])  # SSF33 (no implementation), an unknown flag
def test_counterfeit_whose_algorithm_flag_prevents_authentication_fails(flag: int) -> None:
    card = with_fci(defective(2, keys=KeySet.counterfeit()), _fci(flag))
    report = inspect(card).checks
    assert report is not None and report.failed == ["genuine"]


def test_no_card_id_fails_genuine_with_a_security_module() -> None:
    found = inspect(with_record(defective(2), "MF/SSSE/EF05", 0x01, b""))
    report = found.checks
    assert report is not None
    assert report.by_name("card_id_structure").status == "warn"
    assert report.failed == ["genuine"]
    assert "no card identification code" in report.by_name("genuine").detail


def test_without_a_security_module_2x_is_unverified() -> None:
    report = inspect(defective(2), sam=False).checks
    assert report is not None
    assert report.failed == [] and report.verdict == "unverified" and not report.ok
    assert report.by_name("genuine").status == "skip"
    assert report.unproved == [
        "the card's genuineness (no security module (SAM): the card's genuineness is unverified)"
    ]
    assert report.to_json()["ok"] is False and report.to_json()["verdict"] == "unverified"


def test_without_a_security_module_3_00_holder_and_genuineness_are_unproved() -> None:
    report = inspect(defective(3), sam=False).checks
    assert report is not None and report.verdict == "unverified"
    assert report.by_name("ssn_check_char").status == "skip"
    assert "SAM" in report.by_name("ssn_check_char").detail
    assert report.by_name("card_number_check_char").status == "pass"
    assert len(report.unproved) == 2 and report.unproved[1].startswith("the holder's data")


def test_a_security_module_that_did_not_judge_fails_closed() -> None:
    report = evaluate(_card(), today=TODAY, sam_present=True)
    assert report.failed == ["genuine"]


# --- blocked ----------------------------------------------------------------------------------


def test_blocked_application_is_a_result() -> None:
    found = inspect(with_state(defective(), application_blocked=True))
    assert found.application_blocked and found.card is None
    assert found.checks is not None and found.checks.failed == ["application_not_blocked"]


def test_blocked_card_is_a_result() -> None:
    found = inspect(with_state(defective(), card_blocked=True))
    assert found.card_blocked
    assert found.checks is not None and found.checks.failed == ["card_not_blocked"]


def test_blocked_pin_fails_pin_state_only() -> None:
    report = inspect(with_state(defective(), pin={"tries_left": 0})).checks
    assert report is not None and report.failed == ["pin_state"]


def test_pin_states() -> None:
    report = inspect(defective(pin_not_enabled=True)).checks
    assert report is not None and report.by_name("pin_state").status == "warn"
    low = inspect(with_state(defective(), pin={"tries_left": 2})).checks
    assert low is not None and low.by_name("pin_state").status == "warn"
    assert "2 tries" in low.by_name("pin_state").detail


# --- pure evaluation ----------------------------------------------------------------------------


def _card(**issuer: Any) -> CardRead:
    base = {
        "card_id": bytes.fromhex("420100D15600000500000001FFFFFFFF"),
        "card_type": "3",
        "spec_version": "2.00",
        "init_institution": "915600000242010042010001",
        "issue_date": dt.date(2024, 5, 1),
        "expiry_date": dt.date(2034, 5, 1),
        "card_number": "D2143569X",
    }
    base.update(issuer)
    holder = HolderData(
        ssn=GOOD, name="张三丰", sex="1", ethnicity="01", birthplace="420102",
        birth_date=dt.date(int(GOOD[6:10]), int(GOOD[10:12]), int(GOOD[12:14])),
    )
    return CardRead(issuer=IssuerData(**base), holder=holder, generation=2)


def test_decode_error_of_a_date_warns_in_its_check() -> None:
    card = _card().model_copy(update={"decode_errors": {"issue_date": "not a date"}})
    report = evaluate(card, today=TODAY, pin=PinStatus("enabled", 6), genuine=True,
                      sam_present=True)
    assert report.failed == [] and report.warnings == ["dates"]
    assert "not a date" in report.by_name("dates").detail


def test_decode_error_of_the_card_id_fails() -> None:
    card = _card().model_copy(update={"decode_errors": {"card_id": "17 bytes"}})
    report = evaluate(card, today=TODAY, genuine=True, sam_present=True)
    assert report.failed == ["card_id_structure"]


def test_decode_error_of_unowned_field_goes_to_data_decodes() -> None:
    card = _card().model_copy(update={"decode_errors": {"name": "not GB18030"}})
    report = evaluate(card, today=TODAY, pin=PinStatus("enabled", 6))
    assert report.failed == ["data_decodes"]
    card = _card().model_copy(update={"decode_errors": {"ethnicity": "not BCD"}})
    assert evaluate(card, today=TODAY).by_name("data_decodes").status == "warn"


def test_empty_items_warn_and_the_verdict_stays_ok() -> None:
    """The Wuxi 2.00 cards of 2015 carry no expiry date; Nanjing's 1.01 card no dates at all."""
    report = evaluate(
        _card(expiry_date=None, issue_date=None, spec_version="1.01", card_number="1888014925"),
        today=TODAY, genuine=True, sam_present=True, pin=PinStatus("enabled", 6),
    )
    assert report.verdict == "ok", report.to_json()
    assert report.by_name("not_expired").status == "skip"
    assert report.by_name("spec_version_known").status == "pass"
    assert set(report.warnings) == {"dates", "card_number_check_char"}


def test_json_schema() -> None:
    out = evaluate(_card(), today=TODAY).to_json()
    assert set(out) == {"ok", "verdict", "unproved", "checks"}
    assert all(set(c) == {"name", "status", "detail"} for c in out["checks"])


def test_area_names_come_from_stdnum() -> None:
    assert area_name("420100") == "湖北省武汉市"
    assert area_name("990000") is None
    assert area_name("42010") is None
    assert area_name("332603") == "浙江省黄岩市"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=6, max_size=6), st.none() | st.integers(1900, 2030))
def test_any_area_code_is_judged_and_never_raises(code: str, year: int | None) -> None:
    judgement = areas.judge(code, year)
    area = areas.lookup(code)
    assert (judgement.standing == "unknown") == (area is None)
    if area is not None and area.current:
        assert judgement.standing == "current"  # a code in force now is never "historical"
    assert judgement.detail.startswith(code)


@given(st.text(max_size=8))
def test_garbage_codes_are_unknown(code: str) -> None:
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        assert areas.judge(code).standing == "unknown"
