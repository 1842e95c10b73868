"""The iReadCardBas basic-read line and the read --json schema (terminal.models)."""

from __future__ import annotations

import datetime as dt
import json

from apdu.crypto import Algorithm
from terminal.models import CardRead, HolderData, IssuerData, generation_of

CARD_ID = bytes.fromhex("420100D156000005000000010123ABCD")
HIST = bytes.fromhex("00112233445566420100000001")


def _read(holder: HolderData | None = None, **issuer: object) -> CardRead:
    fields: dict[str, object] = {
        "card_id": CARD_ID,
        "card_type": "3",
        "spec_version": "3.00",
        "init_institution": "915600000242010042010001",
        "issue_date": dt.date(2021, 3, 4),
        "expiry_date": dt.date(2031, 3, 4),
        "card_number": "D2143569X",
    }
    fields.update(issuer)
    return CardRead(
        issuer=IssuerData(**fields),  # type: ignore[arg-type]
        holder=holder,
        algorithm=Algorithm.SM4,
        generation=3,
        atr=bytes.fromhex("3B6D0000") + HIST,
        historical_bytes=HIST,
        apdus=17,
    )


HOLDER = HolderData(
    ssn="42010219900101001X",
    name="张三",
    sex="1",
    ethnicity="01",
    birthplace="420102",
    birth_date=dt.date(1990, 1, 1),
)


def test_national_line_has_the_eleven_fields_in_the_national_order() -> None:
    line = _read(HOLDER).national_format("T0001", "D42")
    assert line == (
        "420100|42010219900101001X|D2143569X|420100D156000005000000010123ABCD|张三|"
        "00112233445566420100000001|3.00|20210304|20310304|T0001|D42|"
    )
    assert line.count("|") == 11


def test_national_line_without_holder_leaves_holder_fields_empty() -> None:
    fields = _read(None).national_format().split("|")
    assert fields[1] == "" and fields[4] == ""
    assert fields[0] == "420100" and fields[2] == "D2143569X"
    assert fields[9:] == ["", "", ""]


def test_hostile_card_text_cannot_shift_the_fields() -> None:
    evil = HOLDER.model_copy(update={"name": "A|B\nC"})
    fields = _read(evil).national_format().split("|")
    assert len(fields) == 12
    assert fields[4] == "ABC"


def test_unreadable_dates_and_card_id_give_empty_fields() -> None:
    line = _read(HOLDER, card_id=bytes.fromhex("AB0100"), issue_date=None).national_format()
    fields = line.split("|")
    assert fields[0] == ""  # city code of a non-BCD identification code is unknown
    assert fields[7] == ""


def test_json_schema_keys_and_formats() -> None:
    out = _read(HOLDER).to_json()
    json.dumps(out)  # serialisable as is
    required = {
        "ssn", "name", "sex", "birth_date", "card_number", "card_id", "spec_version",
        "generation", "issue_date", "expiry_date", "apdus", "card_type", "ethnicity",
        "birthplace", "init_institution", "algorithm", "holder_read", "notes",
    }
    assert required <= out.keys()
    assert out["card_id"] == CARD_ID.hex().upper() and len(out["card_id"]) == 32
    assert out["birth_date"] == "1990-01-01"
    assert out["issue_date"] == "2021-03-04"
    assert out["algorithm"] == "SM4"
    assert out["holder_read"] is True
    assert out["apdus"] == 17
    assert out["sex_text"] == "male"


def test_json_without_holder_keeps_every_key_with_nulls() -> None:
    out = _read(None).to_json()
    assert out["holder_read"] is False
    assert out["ssn"] is None and out["name"] is None and out["birth_date"] is None
    assert set(out) == set(_read(HOLDER).to_json())


def test_generation_from_the_first_three_characters_of_the_spec_version() -> None:
    assert [generation_of(v) for v in ("1.00", "", None, "2.00", "2.01", "3.00")] == [
        1, 1, 1, 2, 2, 3,
    ]
    assert generation_of("9.99") is None
