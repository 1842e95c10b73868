"""A complete, valid sample card (card-profile §4, §8, §9): the default of ``sscard sim issue``.

The holder 张三丰 of Wuhan (area 420102, city code 420100), born 1985-05-15, male; card number
D2143569X (the worked example of §8.2); issued 2024-05-01, valid to 2034-05-01; medical area
420100; a UnionPay debit PAN with a valid Luhn digit; PIN 123456 (the issuer default of §6).
Check characters are computed with :mod:`apdu.identifiers`, so the sample is consistent by
construction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from apdu.errors import UsageError
from apdu.identifiers import luhn_check_digit, ssn_check_char
from apdu.keys import TEST_KEYS, KeySet
from simulator.personalisation import (
    BankInfo,
    CardInfo,
    CardOptions,
    Holder,
    Personalisation,
)
from simulator.profile import PAD_FOR_GENERATION
from simulator.usercard import UserCard

SAMPLE_AREA = "420102"
SAMPLE_CITY = "420100"
SAMPLE_BIRTH = dt.date(1985, 5, 15)  # 420102 exists in GB/T 2260 since 1983
SAMPLE_SEQUENCE = "123"  # odd: male (§8.1)
SAMPLE_PIN = "123456"


def luhn_complete(partial: str) -> str:
    """``partial`` followed by its Luhn check digit (§9 PAN)."""
    return partial + luhn_check_digit(partial)


def sample_ssn(area: str = SAMPLE_AREA, birth: dt.date = SAMPLE_BIRTH, seq: str = "123") -> str:
    first17 = f"{area}{birth:%Y%m%d}{seq}"
    return first17 + ssn_check_char(first17)


def sample_personalisation(generation: int = 3) -> Personalisation:
    """A complete VALID personalisation for a 1st (1.00, DES, 0x20 padding), 2nd (DES) or 3rd
    (SM4) generation card."""
    return Personalisation(
        holder=Holder(
            name="张三丰",
            ssn=sample_ssn(),
            sex="1",
            ethnicity="01",
            birthplace=SAMPLE_AREA,
            birth_date=SAMPLE_BIRTH,
        ),
        card=CardInfo(
            card_number="D2143569X",
            city_code=SAMPLE_CITY,
            serial="00000001",
            card_type="3",
            generation=generation,  # type: ignore[arg-type]
            issue_date=dt.date(2024, 5, 1),
            expiry_date=dt.date(2034, 5, 1),
            medical_area_code=SAMPLE_CITY,
        ),
        bank=BankInfo(
            pan=luhn_complete("621483" + "420100000001"),
            cardholder_name="ZHANG/SANFENG",
            expiry=dt.date(2034, 5, 31),
            pan_seq=1,
        ),
        pin=SAMPLE_PIN,  # type: ignore[arg-type]
        options=CardOptions(pad=PAD_FOR_GENERATION[generation]),  # type: ignore[arg-type]
    )


def apply_overrides(perso: Personalisation, overrides: dict[str, Any]) -> Personalisation:
    """A copy with fields replaced by name, wherever they live (holder, card, options, top level,
    bank); an unknown name raises UsageError."""
    parts: dict[str, dict[str, Any]] = {"holder": {}, "card": {}, "options": {}, "bank": {}}
    top: dict[str, Any] = {}
    for name, value in overrides.items():
        if name in Personalisation.model_fields:
            top[name] = value
            continue
        for part, model in (("holder", Holder), ("card", CardInfo), ("options", CardOptions),
                            ("bank", BankInfo)):
            if name in model.model_fields:
                parts[part][name] = value
                break
        else:
            raise UsageError(f"unknown personalisation field {name!r}")
    data = perso.model_dump()
    data["pin"] = perso.pin
    for part, fields in parts.items():
        if fields:
            if data.get(part) is None:
                raise UsageError(f"this card has no {part} to override")
            data[part].update(fields)
    data.update(top)
    return Personalisation.model_validate(data)


def sample_card(generation: int = 3, **overrides: Any) -> UserCard:
    """The sample card, in memory. Overrides name any personalisation field (``t0=True``,
    ``pin_not_enabled=True``, ``pin="8888"``, ``ssn=...``), plus ``keys`` (a KeySet) and
    ``allow_invalid``."""
    keys: KeySet = overrides.pop("keys", TEST_KEYS)
    allow_invalid = bool(overrides.pop("allow_invalid", False))
    perso = apply_overrides(sample_personalisation(generation), overrides)
    return UserCard.issue(perso, keys=keys, allow_invalid=allow_invalid)
