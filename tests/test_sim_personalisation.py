"""Issue-time validation of a personalisation (card-profile §4, §6, §8, §9)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from apdu.tlv import simple_record
from simulator.personalisation import (
    Personalisation,
    PersonalisationError,
    notices,
    problems,
    split_name,
)
from simulator.samples import apply_overrides, sample_card, sample_personalisation, sample_ssn
from simulator.usercard import UserCard
from tests.helpers_sim import ext_auth, select_ssse, tx


@pytest.mark.parametrize("gen", [2, 3])
def test_sample_is_valid(gen: int) -> None:
    p = sample_personalisation(gen)
    assert problems(p) == []
    assert p.holder.name == "张三丰" and p.card.resolved_spec_version() == f"{gen}.00"
    card_id = p.card.resolved_card_id()
    assert card_id.hex().upper() == "420100D15600000500000001FFFFFFFF"


def _one(overrides: dict[str, Any]) -> list[str]:
    return problems(apply_overrides(sample_personalisation(3), overrides))


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        ({"ssn": sample_ssn()[:17] + ("0" if sample_ssn()[17] != "0" else "1")}, "check char"),
        ({"birth_date": dt.date(1981, 5, 15)}, "birth date"),
        ({"sex": "2"}, "parity"),
        ({"card_id": bytes.fromhex("420100AAAAAAAAAA00000001FFFFFFFF")}, "card_id"),
        ({"expiry_date": dt.date(2020, 1, 1)}, "issue_date is after"),
        ({"pin": "12"}, "pin"),
        ({"birthplace": "4201"}, "birthplace"),
        ({"pan": "6214834201000000010"}, "Luhn"),
        ({"spec_version": "2.00"}, "generation"),
        ({"spec_version": "3.5"}, "generation"),
    ],
)
def test_each_impossibility_gives_exactly_one_message(overrides: dict, fragment: str) -> None:
    found = _one(overrides)
    assert len(found) == 1, found
    assert fragment in found[0]


def _noticed(overrides: dict[str, Any]) -> list[str]:
    p = apply_overrides(sample_personalisation(3), overrides)
    assert problems(p) == []
    UserCard.issue(p)  # issued, not refused
    return notices(p)


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        # the real 1.00 card's SSN: Huangyan 332603, abolished 1994, holder born 1979
        ({"ssn": "332603197912225416", "birth_date": dt.date(1979, 12, 22)},
         "historical code (valid 1989–1994)"),
        ({"birthplace": "429999"}, "not a GB/T 2260 code"),
        ({"birthplace": "332603"}, "historical code"),
        ({"card_number": "D2143569Y"}, "V2 appendix A"),
        ({"card_number": "113435692"}, "V2 appendix A"),  # Wuxi: 9 digits
        ({"card_id": bytes.fromhex("429900D15600000500000001FFFFFFFF")}, "province-level"),
        ({"card_id": bytes.fromhex("332600D15600000500000001FFFFFFFF")}, "historical"),
        ({"spec_version": "3.0"}, "first three characters"),
        ({"init_institution": "915600000234120034010A0C"}, "non-BCD"),  # the real Fuyang card
        ({"init_institution": "915600000342010042010001"}, "does not start with"),
        ({"card_type": "7"}, "card_type"),
    ],
)
def test_what_real_cards_carry_is_issued_with_one_notice(overrides: dict, fragment: str) -> None:
    found = _noticed(overrides)
    assert len(found) == 1, found
    assert fragment in found[0]


def test_the_sample_needs_no_notice() -> None:
    assert notices(sample_personalisation(3)) == []
    # an area code in force now is current even for a holder born before it existed
    assert _noticed({"ssn": sample_ssn(birth=dt.date(1950, 1, 1)),
                     "birth_date": dt.date(1950, 1, 1)}) == []


def test_non_bcd_institution_is_written_as_real_cards_hold_it() -> None:
    c = sample_card(2, t0=False, init_institution="915600000234120034010A0C")
    select_ssse(c)
    data, status = tx(c, "00B204280E")
    assert status == 0x9000 and data[2:] == bytes.fromhex("915600000234120034010A0C")


def test_issue_refuses_invalid_and_lists_every_problem() -> None:
    p = apply_overrides(sample_personalisation(3), {"sex": "2", "pin": "12"})
    with pytest.raises(PersonalisationError) as exc:
        UserCard.issue(p)
    assert len(exc.value.problems) == 2


def test_allow_invalid_issues_a_defective_card() -> None:
    bad_ssn = sample_ssn()[:17] + ("0" if sample_ssn()[17] != "0" else "1")
    c = sample_card(2, ssn=bad_ssn, card_number="D2143569Y", allow_invalid=True, t0=False)
    select_ssse(c)
    data, status = tx(c, "00B2083014")
    assert status == 0x9000 and simple_record(data, 0x08).decode() == bad_ssn
    assert tx(c, "00B207280B")[0][2:] == b"D2143569Y"


def test_unencodable_data_is_refused_even_with_allow_invalid() -> None:
    with pytest.raises(PersonalisationError, match="name"):
        sample_card(3, name="张" * 26, allow_invalid=True)  # 52 bytes > 30 + 20
    with pytest.raises(PersonalisationError, match="card_number"):
        sample_card(3, card_number="D2143569XX", allow_invalid=True)


def test_long_name_spills_into_4e() -> None:
    name = "欧阳" + "娜" * 16  # 36 bytes in GBK
    head, ext = split_name(name)
    assert len(head) == 30 and head + ext == name.encode("gbk")
    c = sample_card(3, name=name, t0=False)
    select_ssse(c)
    assert ext_auth(c, 0x0A, "RKSSSE") == 0x9000
    d09, _ = tx(c, "00B2093020")
    d4e, _ = tx(c, "00B24E3016")
    text = (simple_record(d09, 0x09).rstrip(b"\0") + simple_record(d4e, 0x4E).rstrip(b"\0"))
    assert text.decode("gbk") == name


def test_pin_never_in_repr_or_dump() -> None:
    p = apply_overrides(sample_personalisation(3), {"pin": "97531"})
    assert "97531" not in repr(p) and "97531" not in str(p)
    assert "97531" not in str(p.public_dump())
    assert p.pin.get_secret_value() == "97531"


def test_generation_and_spec_version_written_to_ef05() -> None:
    c = sample_card(3, spec_version="3.00", t0=False)
    select_ssse(c)
    assert tx(c, "00B2032806")[0] == b"\x03\x043.00"


def test_model_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Personalisation.model_validate({"holder": {}, "card": {}, "nonsense": 1})
