"""Application files on the simulated card (issue 15): personalisation through the shared tables,
the tree's access rules from the same tables, the card's bytes decoded by the terminal-side
decoder; local extensions from a TOML declaration, hostile declarations refused in one line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from apdu.appfiles import APP_DFS, FILES, AppFile, decode_records
from apdu.extensions import Extension, ExtensionError, parse_extension
from apdu.names import SSSE_NAME
from simulator.appdata import tree_path
from simulator.extensions import JIANGSU, read_extension_file
from simulator.personalisation import PersonalisationError
from simulator.profile import build_tree
from simulator.samples import sample_card
from simulator.store import CardFileError
from simulator.usercard import UserCard
from terminal.cli.main import cli
from tests.helpers_sim import ext_auth, select_ssse, sw, tx, verify_apdu

JIANGSU_TEXT = JIANGSU.read_text("utf-8")


def _select(card: UserCard, df: str, ext: Extension | None = None) -> None:
    select_ssse(card)
    if df == "SSSE":
        return
    app = next(d for d in (*APP_DFS, *(ext.dfs if ext else ())) if d.name == df)
    assert sw(card, bytes((0, 0xA4, 4, 0, len(app.aid))) + app.aid + b"\x00") == 0x9000


def _records(card: UserCard, f: AppFile) -> list[bytes]:
    """Every record of ``f`` by number through its SFI with Le 00 (answered at once, as real
    cards do; a card with the card profile's exact-Le rule answers 6Cxx first)."""
    assert f.sfi is not None
    out = []
    for number in range(1, 255):
        data, status = tx(card, bytes((0, 0xB2, number, (f.sfi << 3) | 4, 0)))
        if status == 0x6A83:
            return out
        if status >> 8 == 0x6C:
            data, status = tx(card, bytes((0, 0xB2, number, (f.sfi << 3) | 4, status & 0xFF)))
        assert status == 0x9000
        out.append(data)
    raise AssertionError("no end of records")


def _read_file(card: UserCard, f: AppFile, ext: Extension | None = None) -> list[bytes]:
    _select(card, f.df, ext)
    if f.read.needs_pin or f.read.kind == "pin_or_key":
        assert sw(card, verify_apdu("123456")) == 0x9000
    if f.read.needs_key:
        assert ext_auth(card, f.read.kid, f.read.key) == 0x9000  # type: ignore[arg-type]
    return _records(card, f)


@pytest.mark.parametrize("gen", [2, 3])
def test_every_record_file_decodes_with_the_shared_tables(gen: int) -> None:
    card = sample_card(gen, t0=False)
    for f in FILES.values():
        if f.structure == "binary":
            continue
        decoded = decode_records(f, _read_file(card, f))
        assert decoded.errors == [], f.path
        assert all(i.note is None for i in decoded.items), f.path  # only declared items
    values = decode_records(FILES["DF04/EF05"], _read_file(card, FILES["DF04/EF05"])).values
    assert values == {
        "insurance_types": "310", "medical_area_code": "420100", "insured_category": "11",
        "account_opened": dt.date(2008, 7, 1), "personal_account": "42010000000001",
        "designated_institution_1": "420102001", "card_use_mode": "1"}
    df01 = decode_records(FILES["DF01/EF06"], _read_file(card, FILES["DF01/EF06"])).values
    assert df01["residence_address"] == "湖北省武汉市江岸区沿江大道100号"
    assert df01["residence_area_code"] == "420102"
    settle = decode_records(FILES["DF04/EF06"], _read_file(card, FILES["DF04/EF06"])).values
    assert settle == {"offline_allowed": "0", "offline_total": Decimal("0.00"),
                      "offline_count": "0"}


def test_transaction_log_is_a_few_records_most_recent_first() -> None:
    card = sample_card(3, t0=False)
    log = decode_records(FILES["DF04/EF08"], _read_file(card, FILES["DF04/EF08"]))
    assert [r[0].value for r in log.records] == [3, 2, 1]
    first = {i.field: i.value for i in log.records[0]}
    assert first["time"] == dt.datetime(2024, 6, 3, 10, 15, 30)
    assert first["account_amount"] == Decimal("25.60") and first["terminal"] == "420100000001"


def test_tree_access_rules_come_from_the_tables() -> None:
    tree = build_tree(3)
    for f in FILES.values():
        node = tree.by_path[tree_path(f)]
        assert (node.fid, node.sfi) == (f.fid, f.sfi), f.path
        assert str(node.read).replace("(", " ").rstrip(")").split()[0] == f.read.kind, f.path
        assert node.read.kid == f.read.kid and node.write.kid == f.write.kid, f.path


def test_df03_ef05_opens_with_rk2df03_not_rk1df03() -> None:
    card = sample_card(3, app_data={"DF01/EF05": {"hukou_type": "2"}}, t0=False)
    _select(card, "DF03")
    assert ext_auth(card, 0x84, "RK1DF03") == 0x9000
    assert sw(card, "00B2012C00") == 0x6982  # EF05: PIN or RK2DF03
    assert ext_auth(card, 0x85, "RK2DF03") == 0x9000
    assert sw(card, "00B2012C00") == 0x6A83  # allowed; empty on a fresh card


def test_app_data_from_the_model_and_its_errors() -> None:
    card = sample_card(3, app_data={"DF04/EF06": {"offline_allowed": "1", "offline_total": "298.2",
                                                  "offline_count": "12"}}, t0=False)
    got = decode_records(FILES["DF04/EF06"], _read_file(card, FILES["DF04/EF06"])).values
    assert got["offline_total"] == Decimal("298.20") and got["offline_allowed"] == "1"
    for bad, fragment in (
        ({"DF04/EF06": {"offline_total": "1.234"}}, "DF04/EF06 offline_total"),
        ({"DF04/EF06": {"nonsense": "1"}}, "no item 'nonsense'"),
        ({"DF09/EF05": {}}, "no application file 'DF09/EF05'"),
        ({"DF04/EF08": [{"sequence": 1}]}, "no value for type"),
        ({"DF01/EF05": {"hukou_address": "长" * 41}}, "does not fit 80"),
    ):
        with pytest.raises(PersonalisationError, match=fragment):
            sample_card(3, app_data=bad, t0=False)
        with pytest.raises(PersonalisationError):  # never skipped: it cannot be encoded
            sample_card(3, app_data=bad, allow_invalid=True, t0=False)


# --- extensions -----------------------------------------------------------------------------------


def test_jiangsu_declaration() -> None:
    ext = parse_extension(JIANGSU_TEXT)
    f = ext.file("SSSE/EF0D")
    assert ext.region == "Jiangsu" and (f.fid, f.sfi) == (0xEF0D, 0x0D)
    assert [(e.tag, e.zh, e.format, e.size) for e in f.items] == [
        (0xEA, "人员识别码", "an", 12), (0xEB, "初次申领地", "cn", 3)]
    assert str(f.read) == "FREE" and (f.write.kind, f.write.kid) == ("key", 0x0D)


def test_simulator_and_decoder_agree_on_every_extension_item(tmp_path: Path) -> None:
    ext = parse_extension(JIANGSU_TEXT)
    out = tmp_path / "js.json"
    r = CliRunner().invoke(cli, ["sim", "issue", "--out", str(out), "--extension", str(JIANGSU),
                                 "--t1"])
    assert r.exit_code == 0 and "Jiangsu extension" in r.output, r.output
    card = UserCard.load(out)  # the tree is rebuilt from the card file's declaration
    f = ext.file("SSSE/EF0D")
    decoded = decode_records(f, _read_file(card, f, ext))
    assert decoded.errors == []
    assert decoded.values == ext.samples["SSSE/EF0D"] == {
        "person_id": "320100000001", "first_issue_area": "320100"}
    # record 1 = EA, record 2 = EB, as the Jiangsu writer puts them; writes need key 0D
    assert tx(card, "00B2016C0E")[0][:2] == bytes.fromhex("EA0C")
    assert sw(card, "00DC016C05EA03414243") == 0x6982


def test_a_card_without_the_extension_reads_as_before() -> None:
    plain, extended = sample_card(3, t0=False), sample_card(3, extension=JIANGSU_TEXT, t0=False)
    select_ssse(plain)
    assert sw(plain, "00A4020002EF0D") == 0x6A82
    assert sw(plain, "00B2016C00") == 0x6A82
    for f in FILES.values():
        if f.structure != "binary":
            assert _read_file(plain, f) == _read_file(extended, f), f.path
    for tag in range(1, 8):
        select_ssse(plain)
        select_ssse(extended)
        apdu = bytes((0, 0xB2, tag, 0x2C, 0))
        assert tx(plain, apdu) == tx(extended, apdu)


def test_extension_with_a_new_df_and_an_ef_under_df04() -> None:
    text = JIANGSU_TEXT + '''
[[df]]
name = "DF0A"
aid = "D1560000050A"
zh = "地方应用"
en = "local application"

[[ef]]
path = "DF0A/EF0C"
zh = "地方数据"
en = "local data"
read = "pin"
write = "never"
[[ef.item]]
tag = 0xC1
field = "local_amount"
zh = "地方金额"
en = "local amount"
format = "dec"
size = 4
sample = "12.50"

[[ef]]
path = "DF04/EF0C"
zh = "医保扩展"
en = "medical extension"
read = "pin_or_key:RK1DF04"
write = "pin_and_key:84"
[[ef.item]]
tag = 0xA0
field = "med_whole_no"
zh = "医保整体编号"
en = "medical whole number"
format = "an"
size = 20
sample = "JS0001"
'''
    ext = parse_extension(text)
    assert ext.file("DF04/EF0C").read.kid == 0x84
    card = sample_card(3, extension=text, t0=False)
    local = decode_records(ext.file("DF0A/EF0C"), _read_file(card, ext.file("DF0A/EF0C"), ext))
    assert local.values == {"local_amount": Decimal("12.50")}
    med = decode_records(ext.file("DF04/EF0C"), _read_file(card, ext.file("DF04/EF0C"), ext))
    assert med.values == {"med_whole_no": "JS0001"}


_BASE = 'format = "sscard-extension"\nversion = 1\nregion = "X"\n'
_EF = ('[[ef]]\npath = "SSSE/EF0D"\nzh = "z"\nen = "e"\nread = "free"\nwrite = "key:0D"\n'
       '[[ef.item]]\ntag = 0xEA\nfield = "f"\nzh = "z"\nen = "e"\nformat = "an"\nsize = 4\n')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not = [toml", "not TOML"),
        ("", "format: missing"),
        (_BASE.replace("sscard-extension", "other") + _EF, "format: must be 'sscard-extension'"),
        (_BASE.replace("version = 1", "version = 2") + _EF, "version: must be 1"),
        (_BASE, "ef: must be a non-empty array"),
        (_BASE + _EF + "colour = 1\n", "ef[0].item[0].colour: unknown key"),
        (_BASE + _EF.replace("SSSE/EF0D", "SSSE/EF06"), "ef[0].path: EF06: extension EFs are "),
        (_BASE + _EF.replace("SSSE/EF0D", "DF04/EF15"), "ef[0].path: DF04/EF15 is a national file"),
        (_BASE + _EF.replace("SSSE/EF0D", "DF0B/EF0D"), "DF0B is neither a national DF"),
        (_BASE + _EF.replace("SSSE/EF0D", "SSSE/EF1E"), "ef[0].sfi: SFI 1E is already used"),
        (_BASE + _EF.replace("SSSE/EF0D", "EF0D"), "is not SSSE/EFxx or DFxx/EFxx"),
        (_BASE + _EF.replace("key:0D", "key:ZZ"), "ef[0].write: key 'ZZ'"),
        (_BASE + _EF.replace('"free"', '"sometimes"'), "ef[0].read: 'sometimes' is not"),
        (_BASE + _EF.replace("0xEA", "0xFF"), "ef[0].item[0].tag: must be an integer 1..254"),
        (_BASE + _EF.replace('"an"', '"png"'), "ef[0].item[0].format: 'png' is not one of"),
        (_BASE + _EF.replace("size = 4", "size = 400"), "ef[0].item[0].size: must be"),
        (_BASE + _EF.replace('"an"', '"date"').replace("size = 4", "size = 3"),
         "ef[0].item[0].size: a date takes 4 bytes"),
        (_BASE + _EF.replace('field = "f"', 'field = "Bad Name"'), "ef[0].item[0].field"),
        (_BASE + _EF + 'sample = "too long for it"\n', "ef[0].item[0].sample: text of 15 bytes"),
        (_BASE + _EF + _EF.split("[[ef.item]]")[1].join(["[[ef.item]]", ""]),
         "ef[0].item[1].tag: tag EA twice"),
        (_BASE + _EF + _EF, "ef[1].path: SSSE/EF0D declared twice"),
        (_BASE + '[[df]]\nname = "DF05"\naid = "D156000005AA"\nzh = "z"\nen = "e"\n' + _EF,
         "df[0].name: 'DF05': extension DFs are DF0A and up"),
        (_BASE + '[[df]]\nname = "DF0A"\naid = "D15600000503"\nzh = "z"\nen = "e"\n' + _EF,
         "df[0].aid: must be 5 to 16 bytes, not another DF's AID"),
        (_BASE.replace('"X"', '"bad\\u0007name"') + _EF, "region: must not hold control"),
    ],
)
def test_hostile_declarations_get_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ExtensionError) as info:
        parse_extension(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_extension_files_and_cli_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(_BASE + _EF.replace('"an"', '"png"'), "utf-8")
    with pytest.raises(ExtensionError, match=r"bad.toml: ef\[0\].item\[0\].format"):
        read_extension_file(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ExtensionError, match="not UTF-8"):
        read_extension_file(bad)
    with pytest.raises(ExtensionError, match="not a regular file"):
        read_extension_file(tmp_path)
    bad.write_text(_BASE + _EF.replace("size = 4", "size = 0"), "utf-8")
    out = tmp_path / "c.json"
    r = CliRunner().invoke(cli, ["sim", "issue", "--out", str(out), "--extension", str(bad)])
    assert r.exit_code == 2 and not out.exists()
    assert r.output.strip().splitlines() == [
        f"sscard: extension {bad}: ef[0].item[0].size: must be an integer 1..253 (0x01..0xFD)"]


def test_a_card_file_with_a_broken_declaration_is_a_bad_card_file(tmp_path: Path) -> None:
    import json

    path = tmp_path / "card.json"
    sample_card(3, extension=JIANGSU_TEXT, t0=False).save(path)
    doc = json.loads(path.read_text("utf-8"))
    doc["personalisation"]["extension"] = "format = 1"
    path.write_text(json.dumps(doc), "utf-8")
    with pytest.raises(CardFileError, match="extension declaration is invalid"):
        UserCard.load(path)


def test_ssse_name_unchanged() -> None:  # the extension never touches SSSE's national files
    assert SSSE_NAME.hex().upper() == "7378312E73682EC9E7BBE1B1A3D5CF"


def test_the_readme_extension_session_runs_as_shown(tmp_path: Path) -> None:
    from tests.test_readme import _block_starting, _run, _session

    (tmp_path / "apdu" / "regions").mkdir(parents=True)
    (tmp_path / "apdu" / "regions" / "jiangsu.toml").write_text(JIANGSU_TEXT, "utf-8")
    block = _block_starting("$ sscard sim issue --out js.json --extension")
    for command, expected in _session(block):
        assert _run(command, tmp_path).splitlines() == expected, command
