"""``sscard sim issue`` and ``sscard sim apdu`` (issue 2 §5), through the real ``sscard`` group."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from apdu.names import SSSE_NAME
from simulator.samples import sample_ssn
from simulator.usercard import UserCard
from terminal.cli.main import cli

SELECT = "00A404000F" + SSSE_NAME.hex().upper() + "00"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_issue_default_is_a_valid_gen3_card(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    r = run("sim", "issue", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert len(r.output.strip().splitlines()) == 1 and "generation 3" in r.output
    card = UserCard.load(out)
    assert card.generation == 3 and card.t0  # the field's default: T=0
    assert card.atr.startswith(bytes.fromhex("3B6D0000")) and len(card.atr) == 4 + 13
    assert "123456" not in r.output


def test_issue_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    assert run("sim", "issue", "--out", str(out)).exit_code == 0
    before = out.read_bytes()
    r = run("sim", "issue", "--out", str(out), "--generation", "2")
    assert r.exit_code == 2 and out.read_bytes() == before
    r = run("sim", "issue", "--out", str(out), "--generation", "2", "--force")
    assert r.exit_code == 0 and UserCard.load(out).generation == 2


def test_issue_options(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    ssn = sample_ssn(birth=__import__("datetime").date(1990, 1, 2), seq="124")
    r = run("sim", "issue", "--out", str(out), "--generation", "2", "--name", "李四",
            "--ssn", ssn, "--pin", "8642", "--pin-tries", "3", "--t0", "--pad20",
            "--pin-not-enabled", "--expiry", "20300101", "--card-number", "D2143569X",
            "--no-multi-record", "--exact-le", "--gpo-format", "2")
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text("utf-8"))
    assert data["options"] == {"t0": True, "pad": 32, "pin_not_enabled": True, "pin_tries": 3,
                               "key_tries": 3, "multi_record": False, "exact_le": True,
                               "gpo_format": 2}
    assert data["personalisation"]["holder"]["sex"] == "2"  # derived from the SSN
    assert data["personalisation"]["holder"]["birth_date"] == "1990-01-02"
    card = UserCard.load(out)
    assert card.t0 and card.pin_tries_left == 3 and not card.pin_enabled


def test_issue_validation_failure_one_line_per_problem(tmp_path: Path) -> None:
    out = tmp_path / "bad.json"
    r = run("sim", "issue", "--out", str(out), "--sex", "2", "--pin", "12")
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 2 and "sex" in " ".join(lines) and "pin" in " ".join(lines)
    assert "Traceback" not in r.output and not out.exists()
    r = run("sim", "issue", "--out", str(out), "--sex", "2", "--allow-invalid")
    assert r.exit_code == 0 and out.exists()


def test_what_real_cards_carry_is_issued_with_notes(tmp_path: Path) -> None:
    out = tmp_path / "real.json"
    r = CliRunner().invoke(cli, ["sim", "issue", "--out", str(out), "--ssn", "332603197912225416",
                                 "--card-number", "AA0368350"])
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if line.startswith("sscard: note: ")]
    assert len(notes) == 2
    assert "historical code" in notes[0] and "V2 appendix A" in notes[1]
    assert r.stdout.startswith("issued ")


def test_t1_and_generation_1(tmp_path: Path) -> None:
    out = tmp_path / "t1.json"
    assert run("sim", "issue", "--out", str(out), "--t1").exit_code == 0
    card = UserCard.load(out)
    assert not card.t0 and card.atr.startswith(bytes.fromhex("3BED00008131FE45"))
    assert run("sim", "issue", "--out", str(out), "--t1", "--t0", "--force").exit_code == 2
    one = tmp_path / "one.json"
    r = run("sim", "issue", "--out", str(one), "--generation", "1")
    assert r.exit_code == 0 and "generation 1 (DES)" in r.output
    r = run("read", "--sim", str(one), "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["spec_version"] == "1.00" and got["generation"] == 1 and got["name"] == "张三丰"


def test_issue_bad_date_is_usage_error(tmp_path: Path) -> None:
    r = run("sim", "issue", "--out", str(tmp_path / "x.json"), "--expiry", "2030-01-01")
    assert r.exit_code == 2 and "YYYYMMDD" in r.output


def test_counterfeit_card(tmp_path: Path) -> None:
    out = tmp_path / "fake.json"
    r = run("sim", "issue", "--out", str(out), "--counterfeit")
    assert r.exit_code == 0 and "COUNTERFEIT" in r.output
    assert "COUNTERFEIT" in json.loads(out.read_text("utf-8"))["key_set_label"]


def test_apdu_worked_session(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    run("sim", "issue", "--out", str(out))
    r = run("sim", "apdu", "--card", str(out), SELECT, "00B2032806", "0020000003123450",
            "00200000", "0020000003123456", "805E010007123456FF654321")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "611E"  # T=0: the FCI waits for GET RESPONSE
    assert lines[1:] == ["0304332E3030 9000", "63C5", "63C5", "9000", "9000"]
    # the card was saved: the new PIN is in force in the next session
    r = run("sim", "apdu", "--card", str(out), SELECT, "0020000003654321")
    assert r.output.splitlines()[1] == "9000"


def test_apdu_malformed_hex_leaves_card_untouched(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    run("sim", "issue", "--out", str(out))
    before = out.read_bytes()
    for bad in ("0020000003123450 0", "XYZ0", "123"):
        r = run("sim", "apdu", "--card", str(out), SELECT, "0020000003123450", bad)
        assert r.exit_code == 2 and "hex" in r.output
        assert "63C5" not in r.output
    assert out.read_bytes() == before


def test_apdu_missing_or_foreign_card_file(tmp_path: Path) -> None:
    r = run("sim", "apdu", "--card", str(tmp_path / "none.json"), "00200000")
    assert r.exit_code == 2
    other = tmp_path / "other.json"
    other.write_text('{"kind": "mystery"}')
    r = run("sim", "apdu", "--card", str(other), "00200000")
    assert r.exit_code == 2 and "unknown card kind" in r.output and "Traceback" not in r.output
