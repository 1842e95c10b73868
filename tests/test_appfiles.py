"""The application-file tables (issue 15): every item's vectors, both ways; the decoder on card
bytes (good, hostile, unknown); the access rules; the old element names still importable."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu import appfiles
from apdu.appfiles import (
    APP_DFS,
    FILES,
    AppFile,
    Element,
    Field,
    binary_chunks,
    decode_item,
    decode_records,
    encode_item,
    encode_log_record,
    read_value,
)
from apdu.elements import BY_TAG_EF05, DF04_EF05, EF05, EF06
from apdu.errors import DataFormatError
from apdu.formats import FORMATS, to_json
from apdu.keys import KID_TABLE


def _every_element() -> list[tuple[str, Element | Field]]:
    out: list[tuple[str, Element | Field]] = []
    for f in FILES.values():
        out += [(f"{f.path} {e.tag:02X}", e) for e in f.items]
        out += [(f"{f.path} {x.field}", x) for x in f.layout]
    return out


EVERY = _every_element()


@pytest.mark.parametrize(("where", "element"), EVERY, ids=[w for w, _ in EVERY])
def test_every_element_vectors_round_trip(where: str, element: Element | Field) -> None:
    """One test walks every element: each has vectors, each decodes to its value and encodes to
    its bytes with the element's declared codec and size."""
    assert element.format in FORMATS
    assert element.vectors, f"{where} has no test vector"
    for vector in element.vectors:
        assert decode_item(element, vector.raw) == vector.value, where
        if vector.value is not None:
            assert element.codec.encode(vector.value, element.size) == vector.raw, where
        if isinstance(element, Element):
            # the paths both sides take: the terminal's read of a record, personalisation's write
            assert read_value(element, vector.raw) == vector.value, where
            if vector.value is not None:
                record = encode_item(element, vector.value)
                assert record == bytes((element.tag, len(vector.raw))) + vector.raw, where


def test_hex_ok_items_carry_what_real_cards_carry() -> None:
    """初始化机构编号 with non-BCD sequence bytes (issue 9): written from hex text, read as hex;
    other ``cn`` items refuse it."""
    institution = BY_TAG_EF05[0x04]
    assert institution.hex_ok
    record = encode_item(institution, "915600000242010042010A0B")
    assert record == bytes.fromhex("040C915600000242010042010A0B")
    assert read_value(institution, record[2:]) == "915600000242010042010A0B"
    short = bytes.fromhex("9156000002420100420AFFFF")
    assert read_value(institution, short) == "9156000002420100420A"
    with pytest.raises(DataFormatError):
        encode_item(institution, "not hex")
    ethnicity = next(e for e in EF06 if e.field == "ethnicity")
    assert not ethnicity.hex_ok
    with pytest.raises(DataFormatError):
        encode_item(ethnicity, "0A")
    with pytest.raises(DataFormatError):
        read_value(ethnicity, b"\x0a")
    expiry = BY_TAG_EF05[0x06]
    assert read_value(expiry, b"\xff" * 4) is None and read_value(expiry, bytes(4)) is None


def test_tables_are_consistent() -> None:
    for f in FILES.values():
        assert f.structure in ("records", "cyclic", "binary")
        tags = [e.tag for e in f.items]
        assert len(tags) == len(set(tags)), f.path
        for e in f.items:
            assert 1 <= e.size <= 253 and 0x01 <= e.tag <= 0xFE, (f.path, e.tag)
            assert e.named == bool(e.en), (f.path, e.tag)  # a Chinese name has an English one
        if f.structure == "cyclic":
            assert f.layout == () or f.record_len > 0
            assert f.capacity > 0
        if f.structure == "binary":
            assert f.size > 0
    # the DF04 log has at least 30 records (§2) and the fields of application-files §2
    log = FILES["DF04/EF08"]
    assert log.capacity >= 30
    assert [x.zh for x in log.layout] == ["交易序号", "交易类型", "终端机编号", "交易时间",
                                          "个人账户交易金额", "个人自付金额", "统筹基金支付金额"]
    assert log.record_len == 28


def test_access_rules_follow_application_files_section_1() -> None:
    rules = {p: (str(f.read_rule()), f.read.kid) for p, f in FILES.items()}
    assert rules["DF01/EF05"] == ("PIN or RK1DF01", 0x88)
    assert rules["DF02/EF06"] == ("PIN or RK1DF02", 0x88)
    assert rules["DF03/EF05"] == ("PIN or RK2DF03", 0x85)
    assert rules["DF03/EF07"] == ("PIN or RK1DF03", 0x84)
    assert rules["DF04/EF05"] == ("PIN or RK1DF04", 0x84)
    assert rules["DF04/EF15"] == ("PIN or RK1DF04", 0x84)
    assert rules["DF04/EF06"] == ("PIN and RK1DF04", 0x84)
    assert rules["DF04/EF08"] == ("PIN", None)
    assert str(FILES["DF04/EF08"].write) == "NEVER"
    assert str(FILES["SSSE/EF08"].read) == "RKSSSE" and FILES["SSSE/EF08"].read.kid == 0x0A
    assert str(FILES["SSSE/EF06"].read_rule(2)) == "FREE"
    assert str(FILES["SSSE/EF06"].read_rule(3)) == "RKSSSE"
    # every key named in a rule is one of the card's keys (apdu.keys), by its KID
    for f in FILES.values():
        for rule in (f.read, f.write):
            if rule.key is not None:
                domain = f.df if (f.df, rule.kid) in KID_TABLE else "SSSE"
                assert KID_TABLE[(domain, rule.kid)] == rule.key


def test_dfs_have_their_aids() -> None:
    assert [(d.name, d.aid.hex().upper()) for d in APP_DFS] == [
        ("DF01", "D15600000500"), ("DF02", "D15600000501"), ("DF03", "D15600000502"),
        ("DF04", "D15600000503"), ("DF07", "D15600000504")]


def test_old_element_names_keep_their_rows() -> None:
    assert [e.tag for e in EF05] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.tag for e in EF06] == [0x08, 0x09, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D]
    assert [(e.field, e.format, e.size) for e in EF05][:3] == [
        ("card_id", "b", 16), ("card_type", "an", 1), ("spec_version", "an", 4)]
    assert BY_TAG_EF05[0x01].label == "卡的识别码 card identification code"
    assert EF06[1].label == "姓名 name" and EF06[1].le == 32
    assert DF04_EF05[0].tag == 0x84 and DF04_EF05[0].le == 5
    assert DF04_EF05[0].field == "medical_area_code"


def test_decode_records_decodes_named_unnamed_unsourced_and_unknown() -> None:
    f = FILES["DF01/EF15"]
    records = [
        bytes.fromhex("2A0121"),  # unnamed cn item
        bytes.fromhex("40020102"),  # composite: raw, unsourced
        bytes.fromhex("EE03414243"),  # not in the table
    ]
    decoded = decode_records(f, records)
    a, b, c = decoded.items
    assert (a.field, a.value, a.note, a.zh) == ("tag_2a", "21", None, "")
    assert b.value == b"\x01\x02" and b.note is not None and b.note.startswith("unsourced")
    assert c.tag == 0xEE and c.value == b"ABC" and "not in the DF01/EF15 table" in (c.note or "")
    assert decoded.errors == []
    assert decoded.to_json()["items"][2] == {
        "tag": "EE", "field": "tag_ee", "zh": None, "en": None, "format": "raw",
        "value": "414243", "raw": "414243", "error": None,
        "note": "tag EE is not in the DF01/EF15 table: raw SIMPLE-TLV"}


def test_decode_records_reports_bad_card_bytes_without_raising() -> None:
    f = FILES["DF04/EF05"]
    decoded = decode_records(f, [
        b"",  # empty record
        bytes.fromhex("8405420100"),  # length says 5, 3 present
        bytes.fromhex("84044201000000"),  # 4 bytes for a cn 3 item
        bytes.fromhex("8004202413FF"),  # month 13
        bytes.fromhex("8403420100FF"),  # a stray byte
        bytes.fromhex("8C01AB"),  # BCD with A-F
        bytes.fromhex("8403420100"),  # good
    ])
    assert len(decoded.errors) == 6
    assert decoded.values == {"medical_area_code": "420100"}
    assert all(i.error for i in decoded.items[:6])


@given(st.lists(st.binary(max_size=40), max_size=8), st.sampled_from(sorted(FILES)))
def test_decoder_never_raises_on_random_records(records: list[bytes], path: str) -> None:
    decoded = decode_records(FILES[path], records)
    decoded.to_json()


def test_transaction_log_records() -> None:
    log = FILES["DF04/EF08"]
    rec = encode_log_record(log, {
        "sequence": 7, "type": "1", "terminal": "420100000001",
        "time": dt.datetime(2024, 6, 3, 10, 15, 30), "account_amount": Decimal("25.60"),
        "self_paid": "0", "pooled_fund": Decimal("1234.56")})
    assert rec.hex().upper() == ("0007" "31" "420100000001" "20240603101530" "00000A00"
                                 "00000000" "0001E240")
    decoded = decode_records(log, [rec, b"\xff" * 28, b"\x00" * 28, rec[:10]])
    assert decoded.empty_records == 2
    first = {i.field: i.value for i in decoded.records[0]}
    assert first["pooled_fund"] == Decimal("1234.56") and first["sequence"] == 7
    assert decoded.records[1][0].error == "record of 10 bytes, 28 expected"
    assert to_json(first["time"]) == "2024-06-03T10:15:30"
    with pytest.raises(DataFormatError, match="no value for type"):
        encode_log_record(log, {"sequence": 1})


def test_encode_item_refuses_what_does_not_fit() -> None:
    area = FILES["DF04/EF05"].by_tag[0x84]
    assert encode_item(area, "420100") == bytes.fromhex("8403420100")
    with pytest.raises(DataFormatError):
        encode_item(area, "4201000")
    total = FILES["DF04/EF06"].by_tag[0x92]
    with pytest.raises(DataFormatError):
        encode_item(total, "1000000.00")  # 9 digits in 4 BCD bytes
    with pytest.raises(DataFormatError):
        encode_item(total, "1.234")
    with pytest.raises(DataFormatError):
        encode_item(total, "-1")


def test_binary_chunks_are_the_fewest_reads() -> None:
    assert binary_chunks(0x1000, 256) == [(i * 256, 256) for i in range(16)]
    assert binary_chunks(0x1000, 65536) == [(0, 0x1000)]
    assert binary_chunks(300, 256) == [(0, 256), (256, 44)]
    with pytest.raises(DataFormatError):
        binary_chunks(10, 0)


def test_file_identifiers() -> None:
    f: AppFile = FILES["DF04/EF15"]
    assert (f.fid, f.sfi) == (0xEF15, 0x15)
    assert appfiles.lookup("DF04/EF08").record_len == 28
    with pytest.raises(DataFormatError):
        appfiles.lookup("DF09/EF05")
