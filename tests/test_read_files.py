"""The terminal reads the card's application files and its photo (issue 15), on the in-process
simulator through the real front door and CLI: ``read --photo`` (fewest READ BINARY, extended Le
when the link allows, the image's real end, safe saves), ``read --files`` (access with what is at
hand, one multi-record READ RECORD per file, the transaction log), region extensions decoded with
the simulator's own declaration, the ``photo`` check, the photo in ``activate --json``, and
hostile answers ending in one typed line."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import terminal
from apdu.appfiles import DF04_FILES
from apdu.errors import ResponseFormatError, SSCardError
from apdu.extensions import parse_extension
from apdu.images import ImageFormatError
from drivers.base import Reader
from drivers.faults import FaultyReader
from drivers.simulated import SimulatedReader
from simulator.appdata import SAMPLE_LOG
from simulator.extensions import JIANGSU
from simulator.filesystem import TransparentEF
from simulator.photo import synthetic_portrait
from simulator.samples import sample_card
from terminal.cli.main import cli
from terminal.photo import EXTENDED_LE_REFUSALS, minimum_reads, save_photo
from terminal.pinsource import ListPinSource
from tests.helpers_checks import TODAY

JIANGSU_TEXT = JIANGSU.read_text("utf-8")
ACTIVATE_PINS = "135790\n135790\n123456\n246810\n246810\n"


def run(*args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def _jpeg(size: tuple[int, int] = (30, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "JPEG", quality=70)
    return out.getvalue()


def _bmp(size: tuple[int, int] = (20, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, "BMP")
    return out.getvalue()


class Rewriting(FaultyReader):
    """A reader that hands every answer of ``inner`` to ``rule(command, answer)`` first: a card
    that answers what a test wants (a hostile one, one refusing extended Le)."""

    def __init__(self, inner: SimulatedReader, rule: Callable[[bytes, bytes], bytes],
                 *, extended: bool = True) -> None:
        super().__init__(inner, "rewriting")
        self.rule = rule
        self.extended_apdu = extended

    def transmit_raw(self, command: bytes) -> bytes:
        return self.rule(command, super().transmit_raw(command))


def _opened(reader: Reader) -> Any:
    return terminal.open_card(reader=reader, sam="test", today=TODAY)


# --- the photo ----------------------------------------------------------------------------------


def test_read_photo_writes_the_personalised_image_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "p.jpg"
    r = run("read", "--photo", str(out), "--sim")
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == synthetic_portrait()  # padding stripped, nothing else changed
    with Image.open(out) as img:
        img.load()
        assert img.format == "JPEG" and img.size == (102, 126)
    # T=0 sample: SELECT SSSE + GET RESPONSE, EF05 tag 01, GET CHALLENGE, EXTERNAL AUTHENTICATE,
    # and the fewest short reads that hold the 2512-byte image (10, where EF08 holds 16)
    assert "10 READ BINARY, 15 APDUs" in r.output
    assert minimum_reads(len(synthetic_portrait()), 256) == 10


@pytest.mark.parametrize("make", [_jpeg, _bmp], ids=["jpeg", "bmp"])
def test_a_photo_given_at_issue_comes_back_identical(tmp_path: Path, make: Any) -> None:
    photo = tmp_path / "given"
    photo.write_bytes(make())
    card = tmp_path / "card.json"
    assert run("sim", "issue", "--out", str(card), "--photo", str(photo)).exit_code == 0
    out = tmp_path / "back"
    r = run("read", "--photo", str(out), "--sim", str(card), "--json")
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == photo.read_bytes()
    shown = json.loads(r.output)["photo"]
    assert base64.b64decode(shown["base64"]) == photo.read_bytes()
    assert shown["reads"] == minimum_reads(len(photo.read_bytes()), 256)
    with Image.open(out) as img:
        img.load()


def test_extended_le_reads_the_photo_in_one_command_when_reader_and_card_allow() -> None:
    reader = SimulatedReader(sample_card(3, t0=False))
    with _opened(reader) as card:
        photo = card.photo()
    assert photo.data == synthetic_portrait()
    assert (photo.reads, photo.max_le) == (1, 0x1000)
    assert photo.apdus == 5  # SELECT SSSE, EF05 tag 01, GET CHALLENGE, EXT AUTH, READ BINARY


def test_a_reader_without_extended_apdus_gets_the_largest_short_reads() -> None:
    reader = SimulatedReader(sample_card(3, t0=False))
    reader.extended_apdu = False  # a CCID reader at the short-APDU level
    with _opened(reader) as card:
        photo = card.photo()
    assert (photo.reads, photo.max_le) == (10, 256) and photo.data == synthetic_portrait()


def test_a_card_refusing_extended_le_falls_back_once_and_its_model_is_remembered() -> None:
    def no_extended(command: bytes, answer: bytes) -> bytes:
        return bytes.fromhex("6700") if len(command) > 5 and command[4] == 0 else answer

    for expected_reads in (11, 10):  # 1 refused + 10 short, then straight to short reads
        reader = Rewriting(SimulatedReader(sample_card(3, t0=False)), no_extended)
        with _opened(reader) as card:
            photo = card.photo()
        assert photo.reads == expected_reads and photo.data == synthetic_portrait()
    assert len(EXTENDED_LE_REFUSALS) == 1


def test_an_answer_longer_than_asked_is_a_typed_error() -> None:
    def longer(command: bytes, answer: bytes) -> bytes:
        if command[1] == 0xB0 and answer[-2:] == b"\x90\x00":
            return answer[:-2] + b"\x00" * 300 + answer[-2:]
        return answer

    reader = Rewriting(SimulatedReader(sample_card(3)), longer, extended=False)
    with _opened(reader) as card, pytest.raises(ResponseFormatError, match="Le was 256"):
        card.photo()


def test_a_card_answering_no_data_does_not_loop() -> None:
    def empty(command: bytes, answer: bytes) -> bytes:
        if command[1] == 0xB0 and command[2] & 0x80 == 0 and answer[-2:] == b"\x90\x00":
            return b"\x90\x00"
        return answer

    reader = Rewriting(SimulatedReader(sample_card(3)), empty, extended=False)
    with _opened(reader) as card, pytest.raises(ResponseFormatError, match="no data at offset"):
        card.photo()


def test_a_hostile_photo_is_one_line_and_no_file(tmp_path: Path, monkeypatch: Any) -> None:
    def garbage(command: bytes, answer: bytes) -> bytes:  # a JPEG whose segment runs past EF08
        if command[1] == 0xB0 and answer[-2:] == b"\x90\x00":
            body = b"\xff\xd8\xff\xe0\xff\xf0" + b"\x00" * (len(answer) - 8)
            return (body if command[2] & 0x80 else b"\x00" * (len(answer) - 2)) + b"\x90\x00"
        return answer

    reader = Rewriting(SimulatedReader(sample_card(3)), garbage, extended=False)
    with _opened(reader) as card, pytest.raises(ImageFormatError, match="claims 65520 bytes"):
        card.photo()
    with _opened(reader) as card:
        found = card.check(photo=True)
    assert found.checks is not None
    assert found.checks.by_name("photo").status == "warn"


def test_the_photo_check_passes_only_what_was_read() -> None:
    with terminal.open_card(sim=True, today=TODAY) as card:
        plain = card.check()
    with terminal.open_card(sim=True, today=TODAY) as card:
        read = card.check(photo=True)
    with terminal.open_card(sim=True, sam=None, today=TODAY) as card:
        no_sam = card.check(photo=True)
    checks = [f.checks.by_name("photo") for f in (plain, read, no_sam)]  # type: ignore[union-attr]
    assert [c.status for c in checks] == ["skip", "pass", "skip"]
    assert checks[1].detail == "JPEG 102x126, 2512 bytes"
    assert "security module" in checks[2].detail
    r = run("check", "--sim", "--photo", "--json")
    assert json.loads(r.output)["photo"]["state"] == "ok"


def test_read_photo_of_a_card_without_one_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    assert run("sim", "issue", "--out", str(card), "--generation", "2").exit_code == 0
    out = tmp_path / "p.jpg"
    r = run("read", "--photo", str(out), "--sim", str(card), "--keys", str(_no_rk_keys(tmp_path)))
    assert r.exit_code == 1 and not out.exists(), r.output
    assert "photo: NOT READ" in r.output and "not written" in r.output
    assert "Traceback" not in r.output


def _no_rk_keys(tmp_path: Path) -> Path:
    """A TEST key file without RKSSSE: the module cannot open EF08."""
    from apdu.keys import TEST_KEYS

    keys = TEST_KEYS.to_json()
    keys["keys"].pop("RKSSSE")
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keys))
    return path


def test_an_empty_ef08_warns() -> None:
    card = sample_card(3)
    ef08 = card._tree.by_path["MF/SSSE/EF08"]
    assert isinstance(ef08, TransparentEF)
    ef08.data[:] = bytes(len(ef08.data))
    with _opened(SimulatedReader(card)) as opened:
        found = opened.check(photo=True)
    photo = found.checks.by_name("photo")  # type: ignore[union-attr]
    assert (photo.status, photo.detail) == ("warn", "EF08 holds no photo (empty)")
    assert found.verdict == "ok"  # a warning: the card itself is sound


def test_save_photo_replaces_only_a_previous_photo(tmp_path: Path) -> None:
    image = synthetic_portrait()
    target = tmp_path / "p.jpg"
    save_photo(target, _jpeg())
    save_photo(target, image)  # a photo replaces a photo
    assert target.read_bytes() == image
    text = tmp_path / "notes.txt"
    text.write_text("keep me")
    link = tmp_path / "link.jpg"
    link.symlink_to(target)
    hard = tmp_path / "hard.jpg"
    os.link(target, hard)
    for path, why in ((text, "does not hold a JPEG or BMP"), (tmp_path, "a directory"),
                      (link, "a symbolic link"), (hard, "2 hard links")):
        r = run("read", "--photo", str(path), "--sim")
        assert r.exit_code == 2 and why in r.output and "Traceback" not in r.output, r.output
    assert text.read_text() == "keep me" and target.read_bytes() == image
    r = run("read", "--photo", str(tmp_path / "no" / "such" / "p.jpg"), "--sim")
    assert r.exit_code == 2 and "no such directory" in r.output


# --- the application files ---------------------------------------------------------------------


def _values(doc: dict[str, Any], path: str) -> dict[str, Any]:
    f = next(f for f in doc["files"] if f["path"] == path)
    return {i["field"]: i["value"] for i in f["items"]}


def test_read_files_df04_with_the_pin_decodes_every_item_and_the_log() -> None:
    r = run("read", "--files", "DF04", "--sim", "--pin-stdin", "--json", stdin="123456\n")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["complete"] is True and doc["pin"] == "verified" and doc["not_opened"] == []
    assert [f["path"] for f in doc["files"]] == [f.path for f in DF04_FILES]
    assert {f["outcome"] for f in doc["files"]} == {"read"}
    assert _values(doc, "DF04/EF05") == {
        "insurance_types": "310", "medical_area_code": "420100", "insured_category": "11",
        "account_opened": "2008-07-01", "personal_account": "42010000000001",
        "designated_institution_1": "420102001", "card_use_mode": "1"}
    assert _values(doc, "DF04/EF06") == {
        "offline_allowed": "0", "offline_total": "0.00", "offline_count": "0"}
    every = [i for f in doc["files"] for i in f["items"]] + [
        x for f in doc["files"] for rec in f["records"] for x in rec]
    assert every and all(i["error"] is None and i["zh"] for i in every)
    log = next(f for f in doc["files"] if f["path"] == "DF04/EF08")
    assert [{x["field"]: x["value"] for x in rec} for rec in log["records"]] == [
        {**rec, "sequence": rec["sequence"]} for rec in SAMPLE_LOG]
    # SELECT SSSE + GET RESPONSE and EF05 tag 01 (EF06 needs RK1DF04), SELECT DF04 + GET
    # RESPONSE, PIN status + VERIFY, one READ RECORD P2=05 per file, RK1DF04 for EF06 (+2)
    assert doc["apdus"] == 13


def test_without_the_pin_it_names_what_it_could_not_open_and_exits_1() -> None:
    r = run("read", "--files", "DF04", "--sim")
    assert r.exit_code == 1
    assert "DF04/EF06: needs the PIN and RK1DF04: no PIN was given" in r.output
    assert "DF04/EF08: needs the PIN: no PIN was given" in r.output
    assert "opened with RK1DF04" in r.output and "420100" in r.output  # EF05 through the key
    with terminal.open_card(sim=True, sam=None, today=TODAY) as card:
        found = card.read_files("DF04")
    assert [r.path for r in found.not_opened] == [f.path for f in DF04_FILES]
    assert found.file("DF04/EF05").reason == (
        "needs the PIN or RK1DF04: no PIN was given; no security module (SAM)")


def test_a_wrong_pin_is_tried_once_and_the_files_say_so() -> None:
    with terminal.open_card(sim=True, today=TODAY) as card:
        found = card.read_files("DF04,DF01", pin=ListPinSource(["654321", "123456"]))
        tries = card.pin.status().tries_left
    assert found.pin == "wrong" and tries == 5  # ONE VERIFY, never retried
    assert found.file("DF04/EF08").reason == "needs the PIN: the PIN was wrong (5 tries left)"
    assert found.file("DF04/EF05").opened_with == "RK1DF04"  # "PIN or key": the key then
    assert found.file("DF01/EF05").outcome == "read"
    with terminal.open_card(sim=True, today=TODAY) as card:  # no key foreseen: found on the way
        found = card.read_files("DF01/EF05", pin="999999")
    assert found.file("DF01/EF05").opened_with == "RK1DF01" and found.pin == "wrong"


def test_all_reads_every_df_in_the_fewest_apdus() -> None:
    with terminal.open_card(sim=True, today=TODAY) as card:
        found = card.read_files("all", pin="123456")
    assert found.complete and found.pin == "verified"
    read = [r.path for r in found.files if r.outcome == "read"]
    assert "DF01/EF06" in read and "DF03/EF05" in read and "DF07/EF05" in read
    assert found.file("DF01/EF05").decoded.values["hukou_type"] == "1"  # type: ignore[union-attr]
    # each file costs one READ RECORD: no file is read item by item
    files = len(found.files)
    assert found.apdus <= files + 5 * 2 + 2 + 3 + 2


def test_a_card_refusing_multi_record_is_read_by_tag_and_remembered() -> None:
    def refuse(command: bytes, answer: bytes) -> bytes:
        if command[1] == 0xB2 and command[3] & 7 == 5:
            return bytes.fromhex("6A86")
        return answer

    results = []
    for _ in range(2):
        reader = Rewriting(SimulatedReader(sample_card(3)), refuse, extended=False)
        with _opened(reader) as card:
            results.append(card.read_files("DF04", pin="123456"))
    first, second = results
    assert first.complete and second.complete
    assert first.file("DF04/EF05").decoded == second.file("DF04/EF05").decoded
    assert [len(r.file("DF04/EF08").decoded.records) for r in results] == [3, 3]  # type: ignore
    assert first.apdus == second.apdus + 1  # the refused probe, once for the model


def test_garbage_records_are_decode_errors_not_tracebacks() -> None:
    def garbage(command: bytes, answer: bytes) -> bytes:
        if command[1] == 0xB2 and command[3] == (5 << 3 | 5) and answer[-2:] == b"\x90\x00":
            return b"\x81\x40\x33" + answer[-2:]  # a length past the answer's end
        if command[1] == 0xB2 and command[3] == (8 << 3 | 5) and answer[-2:] == b"\x90\x00":
            return answer[:-3] + answer[-2:]  # log records cut short
        return answer

    reader = Rewriting(SimulatedReader(sample_card(3)), garbage, extended=False)
    with _opened(reader) as card:
        found = card.read_files("DF04", pin="123456")
    assert found.file("DF04/EF08").outcome == "error"
    assert "not whole records of 28 bytes" in (found.file("DF04/EF08").reason or "")
    ef05 = found.file("DF04/EF05").decoded
    assert ef05 is not None and ef05.values["medical_area_code"] == "420100"  # re-read by tag
    r = run("read", "--files", "nonsense", "--sim")
    assert r.exit_code == 2 and "no DF or file 'NONSENSE'" in r.output


# --- local extensions ---------------------------------------------------------------------------


def test_the_extension_file_makes_simulator_and_terminal_agree(tmp_path: Path) -> None:
    card = tmp_path / "js.json"
    assert run("sim", "issue", "--out", str(card), "--extension", str(JIANGSU)).exit_code == 0
    r = run("read", "--files", "SSSE/EF0D", "--extension", str(JIANGSU), "--sim", str(card),
            "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["extension"] == "Jiangsu"
    ext = parse_extension(JIANGSU_TEXT)
    assert _values(doc, "SSSE/EF0D") == ext.samples["SSSE/EF0D"]
    shown = run("read", "--files", "SSSE/EF0D", "--extension", str(JIANGSU), "--sim", str(card))
    assert "人员识别码 person identification code  320100000001" in shown.output


def test_a_card_without_the_extension_reads_as_before(tmp_path: Path) -> None:
    plain = run("read", "--files", "all", "--sim", "--pin-stdin", "--json", stdin="123456\n")
    card = tmp_path / "js.json"
    assert run("sim", "issue", "--out", str(card), "--extension", str(JIANGSU)).exit_code == 0
    extended = run("read", "--files", "all", "--sim", str(card), "--pin-stdin", "--json",
                   stdin="123456\n")
    assert json.loads(plain.output)["files"] == json.loads(extended.output)["files"]
    # the declaration on a card without the extension: its file is absent, the rest as before
    r = run("read", "--files", "all", "--extension", str(JIANGSU), "--sim", "--pin-stdin",
            "--json", stdin="123456\n")
    doc = json.loads(r.output)
    national = [f for f in doc["files"] if f["path"] != "SSSE/EF0D"]
    assert r.exit_code == 0 and national == json.loads(plain.output)["files"]
    assert doc["files"][0]["path"] == "SSSE/EF0D" and doc["files"][0]["outcome"] == "absent"


def test_an_extension_df_is_entered_by_its_aid(tmp_path: Path) -> None:
    text = JIANGSU_TEXT + (
        '\n[[df]]\nname = "DF0A"\naid = "D1560000050A"\nzh = "地方应用"\nen = "local"\n'
        '[[ef]]\npath = "DF0A/EF0C"\nzh = "地方数据"\nen = "local data"\nread = "pin"\n'
        'write = "never"\n[[ef.item]]\ntag = 0xC1\nfield = "local_amount"\nzh = "地方金额"\n'
        'en = "local amount"\nformat = "dec"\nsize = 4\nsample = "12.50"\n')
    decl = tmp_path / "local.toml"
    decl.write_text(text, "utf-8")
    reader = SimulatedReader(sample_card(3, extension=text))
    with _opened(reader) as card:
        found = card.read_files("DF0A", pin="123456", extension=decl)
    assert found.file("DF0A/EF0C").decoded.values == {  # type: ignore[union-attr]
        "local_amount": __import__("decimal").Decimal("12.50")}


# --- the activation kiosk -----------------------------------------------------------------------


def test_activate_json_includes_the_photo(tmp_path: Path) -> None:
    out = tmp_path / "kiosk.jpg"
    r = run("activate", "--sim", "--pin-stdin", "--name", "张三丰", "--id-number",
            "420102198505151238", "--json", "--photo", str(out), stdin=ACTIVATE_PINS)
    assert r.exit_code == 0, r.output
    photo = json.loads(r.output)["photo"]
    assert photo["state"] == "ok" and (photo["width"], photo["height"]) == (102, 126)
    assert base64.b64decode(photo["base64"]) == synthetic_portrait() == out.read_bytes()


# --- the README's examples run as shown ---------------------------------------------------------


def test_the_readme_read_files_and_photo_session_runs_as_shown(tmp_path: Path) -> None:
    from tests.test_readme import SSCARD, _block_starting, _session

    block = _block_starting("$ echo 123456 | sscard read --sim --files DF04 --pin-stdin\n")
    for command, expected in _session(block):
        stdin = ""
        if command.startswith("echo "):
            echoed, _, command = command.partition(" | ")
            stdin = echoed.split(" ", 1)[1] + "\n"
        done = __import__("subprocess").run(
            [*SSCARD, *command.split()[1:]], cwd=tmp_path, input=stdin, capture_output=True,
            text=True, timeout=60, check=False, env=dict(os.environ, COLUMNS="100"),
        )
        assert (done.stdout + done.stderr).splitlines() == expected, command
    assert (tmp_path / "photo.jpg").read_bytes() == synthetic_portrait()


# --- any answer at all: a result or one typed error -------------------------------------------

_ANY = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@_ANY
@given(st.binary(max_size=300), st.sampled_from(["9000", "6310", "6282", "6A83", "6982", "6A86"]))
def test_any_record_answer_is_a_result_or_a_typed_error(body: bytes, sw_hex: str) -> None:
    def hostile(command: bytes, answer: bytes) -> bytes:
        if command[1] == 0xB2 and command[3] & 0xF8 in (5 << 3, 8 << 3):  # DF04 EF05, the log
            return body + bytes.fromhex(sw_hex)
        return answer

    reader = Rewriting(SimulatedReader(sample_card(3)), hostile, extended=False)
    with _opened(reader) as card:
        try:
            found = card.read_files("DF04", pin="123456")
        except SSCardError:
            return
    json.dumps(found.to_json(), ensure_ascii=False)  # whatever came, it serialises


@_ANY
@given(st.binary(max_size=300), st.integers(0, 15))
def test_any_photo_answer_is_a_photo_or_a_typed_error(body: bytes, which: int) -> None:
    seen = []

    def hostile(command: bytes, answer: bytes) -> bytes:
        if command[1] == 0xB0:
            seen.append(command)
            if len(seen) - 1 == which:
                return body + b"\x90\x00"
        return answer

    reader = Rewriting(SimulatedReader(sample_card(3)), hostile, extended=False)
    with _opened(reader) as card:
        try:
            photo = card.photo()
        except SSCardError:
            return
    assert photo.data and len(photo.data) <= 0x1000


def test_every_item_of_every_df04_file_decodes_when_the_card_holds_them_all() -> None:
    """Each item personalised with its table vector's value (tag 84: the card's area code);
    the terminal gets every one back, and a full 30-record log (840 bytes: several answers)."""
    from apdu.appfiles import FILES
    from simulator.appdata import SAMPLE_LOG as LOG

    data: dict[str, Any] = {}
    for f in DF04_FILES:
        if f.structure == "records":
            data[f.path] = {e.field: e.vectors[0].value for e in f.items if e.tag != 0x84}
    log = [{**LOG[i % 3], "sequence": 30 - i} for i in range(FILES["DF04/EF08"].capacity)]
    data["DF04/EF08"] = log
    card = sample_card(3, app_data=data)
    with _opened(SimulatedReader(card)) as opened:
        found = opened.read_files("DF04", pin="123456")
    assert found.complete
    for f in DF04_FILES:
        decoded = found.file(f.path).decoded
        assert decoded is not None and decoded.errors == [], f.path
        if f.structure == "records":
            expected = {**data[f.path], **({"medical_area_code": "420100"}
                                           if f.path == "DF04/EF05" else {})}
            assert decoded.values == expected, f.path
    records = found.file("DF04/EF08").decoded.records  # type: ignore[union-attr]
    assert [r[0].value for r in records] == list(range(30, 0, -1))


@pytest.mark.parametrize(("generation", "outcome"), [(2, "read"), (3, "not_opened")])
def test_without_a_module_ssse_ef06_is_tried_and_the_card_decides(
    generation: int, outcome: str
) -> None:
    reader = SimulatedReader(sample_card(generation))
    with terminal.open_card(reader=reader, sam=None, today=TODAY) as card:
        found = card.read_files("SSSE")
    ef06 = found.file("SSSE/EF06")
    assert found.file("SSSE/EF05").outcome == "read" and ef06.outcome == outcome
    if outcome == "read":
        assert ef06.decoded.values["name"] == "张三丰"  # type: ignore[union-attr]
    else:
        assert "the card refused it" in (ef06.reason or "")


def test_a_cos_without_read_binary_by_sfi_gets_select_ef08() -> None:
    def no_sfi(command: bytes, answer: bytes) -> bytes:
        return bytes.fromhex("6A86") if command[1] == 0xB0 and command[2] & 0x80 else answer

    reader = Rewriting(SimulatedReader(sample_card(3)), no_sfi, extended=False)
    with _opened(reader) as card:
        photo = card.photo()
    assert photo.data == synthetic_portrait() and photo.reads == 11  # the refused one + 10
    assert photo.apdus == 15 + 2  # + the refused READ BINARY and SELECT EF08


def test_a_card_without_ef08_has_no_photo_and_warns() -> None:
    def no_ef08(command: bytes, answer: bytes) -> bytes:
        return bytes.fromhex("6A82") if command[1] == 0xB0 else answer

    reader = Rewriting(SimulatedReader(sample_card(3)), no_ef08, extended=False)
    with _opened(reader) as card:
        found = card.check(photo=True)
    photo = found.checks.by_name("photo")  # type: ignore[union-attr]
    assert photo.status == "warn" and "6A82" in photo.detail


def test_a_photo_target_that_would_be_refused_stops_the_kiosk_before_the_card(
    tmp_path: Path,
) -> None:
    card = tmp_path / "card.json"
    assert run("sim", "issue", "--out", str(card)).exit_code == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    r = run("activate", "--sim", str(card), "--pin-stdin", "--name", "张三丰", "--id-number",
            "420102198505151238", "--photo", str(notes), stdin=ACTIVATE_PINS)
    assert r.exit_code == 2 and "does not hold a JPEG or BMP photo" in r.output
    assert "Bank PIN" not in r.output and notes.read_text() == "keep me"
    status = run("pin", "status", "--sim", str(card))
    assert "6 tries left" in status.output  # the card was not touched


def test_read_files_with_pin_pad_on_and_no_pad_is_refused_before_any_pin() -> None:
    """``--pin-pad on`` is a requirement: a reader without a pad is one clear line (exit 2),
    never a silent read without the PIN nor a fallback to the keyboard."""
    result = CliRunner().invoke(cli, ["read", "--files", "DF04", "--sim", "--pin-pad", "on"])
    assert result.exit_code == 2, result.output
    assert "PIN pad" in result.output and "Traceback" not in result.output
    assert "DF04/EF05" not in result.stdout


def test_pin_pad_without_files_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["read", "--sim", "--pin-pad", "auto"])
    assert result.exit_code == 2 and "--pin-pad goes with --files" in result.output
