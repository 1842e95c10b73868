"""The national text formats: pFileAddr, pWriteData, pCardInfo, item values, HSM step texts.

Table-driven; every malformed input gets its code (-14 syntax, -20 card id, -23 semantics,
-41/-42 HSM data) and never an exception of another kind.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal.national.codes import NationalError
from terminal.national.fileaddr import (
    FileRef,
    ItemRef,
    format_file,
    format_record,
    parse_address,
    parse_card_info,
    parse_write_data,
    safe_field,
)
from terminal.national.files import key_address, key_for_address, read_access, write_access
from terminal.national.formats import (
    parse_auth_key,
    parse_basic_key,
    parse_secure_key,
    split_fields,
)
from terminal.national.items import decode_item, encode_item, record_items
from terminal.national.signatures import NATIONAL_NAMES, SIGNATURES

# --- pFileAddr ---------------------------------------------------------------------------------

GOOD = [
    ("DF01EF0A|37|$", [FileRef("DF01EF0A", "DF01", 0xEF0A, items=(ItemRef(0x37),))]),
    (
        "DF01EF0A|37|$DF01EF15|2A|40:2|$",  # national-interface §3's own example
        [
            FileRef("DF01EF0A", "DF01", 0xEF0A, items=(ItemRef(0x37),)),
            FileRef("DF01EF15", "DF01", 0xEF15, items=(ItemRef(0x2A), ItemRef(0x40, 2))),
        ],
    ),
    ("MFEF06|08|09|0a|0D|$", [FileRef("MFEF06", "SSSE", 0xEF06, items=tuple(
        ItemRef(t) for t in (0x08, 0x09, 0x0A, 0x0D)))]),
    ("ssseef05|01|$", [FileRef("SSSEEF05", "SSSE", 0xEF05, items=(ItemRef(1),))]),
    ("MF|EF05|01|07|$", [FileRef("MF|EF05", "SSSE", 0xEF05, items=(ItemRef(1), ItemRef(7)))]),
    ("DF04EF08:01$DF04EF08:0A$", [FileRef("DF04EF08", "DF04", 0xEF08, record=1),
                                  FileRef("DF04EF08", "DF04", 0xEF08, record=10)]),
    ("DF04EF08$", [FileRef("DF04EF08", "DF04", 0xEF08, all_records=True)]),
    ("SSSEEF08|00|$", [FileRef("SSSEEF08", "SSSE", 0xEF08, items=(ItemRef(0),))]),
    ("DF03EF06|4A:01|45|4A:2|$", [FileRef("DF03EF06", "DF03", 0xEF06, items=(
        ItemRef(0x4A, 1), ItemRef(0x45), ItemRef(0x4A, 2)))]),
]


@pytest.mark.parametrize(("text", "files"), GOOD, ids=[g[0] for g in GOOD])
def test_addresses_parse(text: str, files: list[FileRef]) -> None:
    assert list(parse_address(text)) == files


BAD = [
    ("", -14),
    ("DF01EF0A|37|", -14),  # no $
    ("DF01EF0A|37$", -14),  # item not |-terminated
    ("DF01EF0A||$", -14),  # empty item
    ("DF01EF0A|3|$", -14),  # one hex digit
    ("DF01EF0A|378|$", -14),
    ("DF01EF0A|3G|$", -14),
    ("DF01EFXA|37|$", -14),
    ("XXEF05|01|$", -14),
    ("DF1EF05|01|$", -14),
    ("DF01EF05|01|$$", -14),  # an empty file
    ("DF04EF08:$", -14),
    ("DF04EF08:123$", -14),
    ("DF04EF08:0G$", -14),
    ("DF04EF08:01|84|$", -14),
    ("DF01EF0A|37:|$", -14),
    ("DF01EF0A|37:100|$", -14),
    ("DF04EF08:00$", -23),  # record 0
    ("DF01EF0A|37:0|$", -23),
    ("SSSEEF08|00|01|$", -23),  # 00 = the whole binary file, alone only
    ("DF01EF0A|FF|$", -23),
    ("DF01EF0A|37|\n$", -14),
]


@pytest.mark.parametrize(("text", "code"), BAD, ids=[repr(b[0]) for b in BAD])
def test_bad_addresses_are_refused_with_their_code(text: str, code: int) -> None:
    with pytest.raises(NationalError) as info:
        parse_address(text)
    assert info.value.code == code and info.value.detail


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="DFEMS0123456789ABCabc|:$\n^x", max_size=40))
def test_any_address_text_parses_or_gets_a_national_code(text: str) -> None:
    try:
        files = parse_address(text)
    except NationalError as exc:
        assert exc.code in (-14, -23)
    else:
        assert files and all(f.label for f in files)


def test_write_data_mirrors_the_address() -> None:
    files = parse_address("DF04EF05|84|86|$SSSEEF05|07|$")
    assert parse_write_data("420100|AB|$D2143569X|$", files) == (("420100", "AB"), ("D2143569X",))


@pytest.mark.parametrize(
    ("addr", "data", "code"),
    [
        ("DF04EF05|84|$", "420100|", -14),  # no $
        ("DF04EF05|84|$", "420100$", -14),
        ("DF04EF05|84|$", "1|2|$", -23),  # two values, one item
        ("DF04EF05|84|$", "1|$2|$", -23),  # two files
        ("DF04EF08:01$", "x|$", -13),  # records are not written
        ("SSSEEF08|00|$", "00|$", -13),
    ],
)
def test_bad_write_data(addr: str, data: str, code: int) -> None:
    with pytest.raises(NationalError) as info:
        parse_write_data(data, parse_address(addr))
    assert info.value.code == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("420100D15600000500000001FFFFFFF|D2143569X|", -20),  # 31 hex digits
        ("420100D15600000500000001FFFFFFFG|D2143569X|", -20),
        ("420100D15600000500000001FFFFFFFF||", -23),
        ("420100D15600000500000001FFFFFFFF|D2143 69X|", -23),
        ("420100D15600000500000001FFFFFFFF", -14),
        ("a|b|c|", -14),
    ],
)
def test_bad_card_info(text: str, code: int) -> None:
    with pytest.raises(NationalError) as info:
        parse_card_info(text)
    assert info.value.code == code


def test_card_info_is_tolerant_of_case_and_a_missing_last_bar() -> None:
    a = parse_card_info("420100d15600000500000001ffffffff|d2143569x")
    assert a.card_id.hex().upper() == "420100D15600000500000001FFFFFFFF"
    assert a.card_number == "D2143569X"


def test_output_layout_and_safe_fields() -> None:
    f = FileRef("DF04EF08", "DF04", 0xEF08, record=1)
    assert format_file(f, [format_record(["a", "b"])]) == "DF04EF08:01|a^b^|$"
    assert format_file(FileRef("DF01EF0A", "DF01", 0xEF0A, items=(ItemRef(0x37),)),
                       ["CHN"]) == "DF01EF0A|CHN|$"
    assert safe_field("张|三$丰^\x1b[0m\n\u202e") == "张三丰[0m"


# --- item values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "ef", "tag", "raw", "text"),
    [
        ("SSSE", 0xEF05, 0x07, b"D2143569X", "D2143569X"),  # an
        ("SSSE", 0xEF05, 0x05, bytes.fromhex("20240501"), "20240501"),  # date
        ("SSSE", 0xEF05, 0x01, bytes.fromhex("420100D156"), "420100D156"),  # b
        ("SSSE", 0xEF06, 0x09, "张三丰".encode("gbk") + bytes(24), "张三丰"),  # an, 00-padded
        ("SSSE", 0xEF06, 0x0C, bytes.fromhex("420102"), "420102"),  # cn
        ("DF04", 0xEF05, 0x84, bytes.fromhex("420100"), "420100"),
        ("DF01", 0xEF0A, 0x37, b"CHN", "CHN"),  # national-interface §3's example item
        ("DF0A", 0xEF0C, 0xEA, b"CHN", "43484E"),  # not in the tables: hex, lossless
        ("DF04", 0xEF06, 0x92, bytes.fromhex("00001234"), "12.34"),  # dec: yuan
        ("SSSE", 0xEF05, 0x05, bytes.fromhex("FFFFFFFF"), ""),  # unpersonalised date
        ("SSSE", 0xEF06, 0x0C, bytes.fromhex("4A0102"), "4A0102"),  # not BCD: shown as hex
    ],
)
def test_item_decoding(app: str, ef: int, tag: int, raw: bytes, text: str) -> None:
    assert decode_item(app, ef, tag, raw) == text


@pytest.mark.parametrize(
    ("app", "ef", "tag", "text", "raw"),
    [
        ("DF04", 0xEF05, 0x84, "430100", bytes.fromhex("430100")),
        ("SSSE", 0xEF05, 0x07, "D2143569X", b"D2143569X"),
        ("SSSE", 0xEF05, 0x05, "20250101", bytes.fromhex("20250101")),
        ("SSSE", 0xEF06, 0x09, "李四", "李四".encode("gbk") + bytes(26)),
        ("DF01", 0xEF0A, 0x37, "CHN", b"CHN"),
        ("DF0A", 0xEF0C, 0xEA, "43484e", b"CHN"),
        ("DF04", 0xEF06, 0x92, "12.34", bytes.fromhex("00001234")),
    ],
)
def test_item_encoding(app: str, ef: int, tag: int, text: str, raw: bytes) -> None:
    assert encode_item(app, ef, tag, text) == raw


@pytest.mark.parametrize(
    ("app", "ef", "tag", "text"),
    [
        ("DF04", 0xEF05, 0x84, "42010A"),
        ("DF04", 0xEF05, 0x84, "4201001"),  # 7 digits in 3 bytes
        ("SSSE", 0xEF05, 0x05, "20251301"),  # not a date
        ("SSSE", 0xEF05, 0x07, "D2143569XX"),  # 10 bytes in 9
        ("DF0A", 0xEF0C, 0xEA, "CHN"),  # unknown items are hex
        ("DF04", 0xEF06, 0x92, "12.345"),  # not whole fen
    ],
)
def test_item_encoding_refuses_what_is_not_the_format(app: str, ef: int, tag: int,
                                                      text: str) -> None:
    with pytest.raises(NationalError) as info:
        encode_item(app, ef, tag, text)
    assert info.value.code == -23


def test_record_items() -> None:
    assert record_items("DF04", 0xEF05, bytes.fromhex("8403420100")) == ["420100"]
    assert record_items("DF04", 0xEF05, bytes.fromhex("8403420100FF")) == ["8403420100FF"]
    assert record_items("DF04", 0xEF08, bytes(28)) == []  # an empty log record: no fields
    log = bytes.fromhex("0003" "31" "420100000001" "20240603101530" "00000A00" "000004D2"
                        "0001E240")
    assert record_items("DF04", 0xEF08, log) == [
        "3", "1", "420100000001", "20240603101530", "25.60", "12.34", "1234.56"]
    assert record_items("DF04", 0xEF08, log[:10]) == [log[:10].hex().upper()]  # wrong length


# --- access and keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "ef", "gen", "auth", "pin", "key"),
    [
        ("SSSE", 0xEF05, 3, 1, False, None),
        ("SSSE", 0xEF06, 2, 1, False, None),
        ("SSSE", 0xEF06, 3, 1, False, "RKSSSE"),  # §1: 3.00 EF06 needs RKSSSE whatever iAuthType
        ("SSSE", 0xEF08, 2, 1, False, "RKSSSE"),
        ("DF01", 0xEF05, 3, 1, True, None),  # PIN or RK: iAuthType 1 = PIN
        ("DF01", 0xEF05, 3, 2, False, "RK1DF01"),  # iAuthType 2 = RK
        ("DF04", 0xEF06, 3, 2, True, "RK1DF04"),  # PIN and RK
        ("DF04", 0xEF08, 3, 2, True, None),  # PIN only
        ("DF0A", 0xEF0C, 3, 2, False, None),  # local extension: tried as free
    ],
)
def test_read_access(app: str, ef: int, gen: int, auth: int, pin: bool, key: str | None) -> None:
    need_pin, need_key = read_access(app, ef, gen).needs(auth)
    assert need_pin == pin and (need_key.name if need_key else None) == key


def test_write_access_and_key_addresses() -> None:
    assert write_access("SSSE", 0xEF05).needs(2) == (False, write_access("SSSE", 0xEF06).key)
    assert write_access("DF04", 0xEF05).needs(2)[0] is True
    from apdu.crypto import Algorithm

    assert key_address("RKSSSE", Algorithm.SM4) == "004E"
    assert key_address("PUK", Algorithm.DES) == "0090"
    assert key_address("UKSSSE", Algorithm.DES) == "UKSSSE"  # no public address: its name
    for name in ("RKSSSE", "IRK", "STK", "RK1DF04", "PUK", "UKSSSE", "RK1DF01"):
        for alg in (Algorithm.DES, Algorithm.SM4):
            assert key_for_address(key_address(name, alg)) == name


# --- HSM step texts ----------------------------------------------------------------------------


def test_basic_key_parsing() -> None:
    ia, r2, ad, d = "11" * 8, "22" * 8, "33" * 8, "44" * 8
    key = parse_basic_key(f"{ia}{r2}|{ad}{d}|", external=True)
    assert (key.internal, key.r2, key.cryptogram, key.d) == (
        bytes.fromhex(ia), bytes.fromhex(r2), bytes.fromhex(ad), bytes.fromhex(d))
    assert parse_basic_key(f"{ia}{r2}|", external=False).cryptogram is None
    assert parse_basic_key(f"{ia.lower()}{r2}", external=False).r2 == bytes.fromhex(r2)


@pytest.mark.parametrize(
    ("text", "external", "code"),
    [
        ("11" * 16 + "|", True, -42),  # the external part is missing
        ("11" * 15 + "|", False, -42),
        ("1G" * 16 + "|", False, -41),
        ("11" * 16 + "|" + "2" * 31 + "|", True, -42),
        ("11" * 16 + "|" + "XY" * 16 + "|", True, -41),
        ("a|b|c|d|", False, -42),
    ],
)
def test_bad_basic_keys(text: str, external: bool, code: int) -> None:
    with pytest.raises(NationalError) as info:
        parse_basic_key(text, external)
    assert info.value.code == code


def test_auth_and_secure_keys() -> None:
    assert parse_auth_key("AB" * 16, required=True) == (b"\xab" * 8, b"\xab" * 8)
    assert parse_auth_key("", required=False) is None
    with pytest.raises(NationalError):
        parse_auth_key("", required=True)
    header = bytes.fromhex("842400010C")
    full = "842400010C" + "11" * 8 + "22" * 4
    assert parse_secure_key(full, header, 8) == (b"\x11" * 8, b"\x22" * 4)  # header + data + MAC
    assert parse_secure_key(full[10:], header, 8) == (b"\x11" * 8, b"\x22" * 4)  # without header
    with pytest.raises(NationalError) as info:
        parse_secure_key(full[:-2], header, 8)
    assert info.value.code == -42
    assert split_fields("a|b|", 3, "x") == ["a", "b", ""]


# --- signatures ---------------------------------------------------------------------------------


def test_signatures_cover_the_spec_table() -> None:
    assert len(NATIONAL_NAMES) == 22
    assert SIGNATURES["iReadCard"].c_prototype() == (
        "long iReadCard(int iType, int iAuthType, char* pCardInfo, char* pFileAddr, "
        "char* pOutInfo)"
    )
    assert [p.size for p in SIGNATURES["iReadCard"].params] == [0, 0, 128, 1024, 20480]
    assert SIGNATURES["iUnblockPIN_HSM_Step3"].arguments[0].size == 18
    assert not SIGNATURES["iGetReaderInfo"].has_out_info
