"""Each defect is caught by exactly the check that should catch it (issue 3 §4, acceptance)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from apdu.identifiers import ssn_check_char
from apdu.keys import KeySet
from simulator.samples import sample_ssn
from terminal.checks import CHECKS, area_name, evaluate
from terminal.models import CardRead, HolderData, IssuerData
from terminal.pinstatus import PinStatus
from tests.helpers_checks import defective, inspect, with_state


def _ssn_with_check(first17: str) -> str:
    return first17 + ssn_check_char(first17)


def _wrong_check(ssn: str) -> str:
    return ssn[:17] + ("0" if ssn[17] != "0" else "1")


GOOD = sample_ssn()

#: defect -> (personalisation overrides, the one check that must fail).
DEFECTS: dict[str, tuple[dict[str, Any], str]] = {
    "ssn check char": ({"ssn": _wrong_check(GOOD)}, "ssn_check_char"),
    "ssn birth date": ({"birth_date": dt.date(1990, 1, 2)}, "ssn_birth_date"),
    "sex parity": ({"sex": "2"}, "ssn_sex"),
    "ssn area": ({"ssn": _ssn_with_check("990000" + GOOD[6:17])}, "ssn_area"),
    "birthplace area": ({"birthplace": "990000"}, "birthplace_area"),
    "card number": ({"card_number": "D21435690"}, "card_number_check_char"),
    "card id structure": (
        {"card_id": "420100D15600000600000001FFFFFFFF"}, "card_id_structure"
    ),
    "card id city": ({"card_id": "990100D15600000500000001FFFFFFFF"}, "card_id_structure"),
    "institution": ({"init_institution": "915600000342010042010001"}, "init_institution"),
    "expired": (
        {"issue_date": dt.date(2010, 1, 1), "expiry_date": dt.date(2020, 1, 1)}, "dates"
    ),
    "issued in the future": ({"issue_date": dt.date(2030, 1, 1)}, "dates"),
    "spec version": ({"spec_version": "3.50"}, "spec_version_known"),
    "card type": ({"card_type": "7"}, "card_type_known"),
}


def test_valid_card_passes_every_check() -> None:
    report = inspect(defective()).checks
    assert report is not None
    assert report.ok
    assert {c.status for c in report.checks} == {"pass"}
    assert [c.name for c in report.checks] == list(CHECKS)


@pytest.mark.parametrize("generation", [2, 3])
@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_is_caught_by_exactly_its_check(defect: str, generation: int) -> None:
    overrides, expected = DEFECTS[defect]
    report = inspect(defective(generation, **overrides)).checks
    assert report is not None
    assert report.failed == [expected], report.to_json()
    assert not report.ok


@pytest.mark.parametrize("generation", [2, 3])
def test_counterfeit_fails_genuine_and_nothing_else(generation: int) -> None:
    report = inspect(defective(generation, keys=KeySet.counterfeit())).checks
    assert report is not None
    assert report.failed == ["genuine"]


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


def test_unspecified_sex_warns() -> None:
    report = inspect(defective(sex="9")).checks
    assert report is not None and report.ok
    assert report.by_name("ssn_sex").status == "warn"


def test_without_sam_holder_checks_skip_on_3_00_and_genuine_skips() -> None:
    report = inspect(defective(3), sam=False).checks
    assert report is not None and report.ok
    assert report.by_name("genuine").status == "skip"
    assert report.by_name("ssn_check_char").status == "skip"
    assert "SAM" in report.by_name("ssn_check_char").detail
    assert report.by_name("card_number_check_char").status == "pass"


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


def test_decode_error_fails_the_fields_check() -> None:
    card = _card().model_copy(update={"decode_errors": {"issue_date": "not a date"}})
    report = evaluate(card, today=dt.date(2026, 1, 1), pin=PinStatus("enabled", 6))
    assert report.failed == ["dates"]
    assert "not a date" in report.by_name("dates").detail


def test_decode_error_of_unowned_field_fails_data_decodes() -> None:
    card = _card().model_copy(update={"decode_errors": {"name": "not GB18030"}})
    report = evaluate(card, today=dt.date(2026, 1, 1), pin=PinStatus("enabled", 6))
    assert report.failed == ["data_decodes"]


def test_json_schema() -> None:
    out = evaluate(_card(), today=dt.date(2026, 1, 1)).to_json()
    assert set(out) == {"ok", "checks"}
    assert all(set(c) == {"name", "status", "detail"} for c in out["checks"])


def test_area_names_come_from_stdnum() -> None:
    assert area_name("420100") == "湖北省武汉市"
    assert area_name("990000") is None
    assert area_name("42010") is None
