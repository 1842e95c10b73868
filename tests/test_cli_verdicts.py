"""Issue 9 acceptance through ``sscard``: check's three verdicts and exit codes, status with
``genuine`` and the initial-PIN probe, counterfeits refused, ``--format national``'s 终端机编号.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import terminal.card as front_door
from apdu.keys import KeySet
from drivers.simulated import SimulatedReader
from simulator.samples import sample_card
from terminal.cli.main import cli
from tests.helpers_checks import with_fci, with_state
from tests.helpers_pin import DISTINCTIVE_PIN, psam_file

CUT_ATR = bytes.fromhex("3B680000008653494D534342")


def run(*args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def _saved(tmp_path: Path, card: Any, name: str = "card.json") -> str:
    path = tmp_path / name
    card.save(path)
    card.close()  # one owner per card file: the command under test opens it again
    return str(path)


def _no_sam(monkeypatch: pytest.MonkeyPatch) -> None:
    """A counter without a security module: the simulator with the software SAM taken away."""
    monkeypatch.setattr(front_door, "open_sam", lambda sam, stack, **_: None)


# --- check --------------------------------------------------------------------------------------


def test_check_ok_json_has_verdict_and_genuine() -> None:
    r = run("check", "--sim", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["ok"] is True and out["verdict"] == "ok" and out["unproved"] == []
    assert out["genuine"] is True and out["apdus"] == 9  # 6 (read, T=0) + VERIFY + IA (+ GR)


def test_check_unverified_without_a_security_module_exits_1_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_sam(monkeypatch)
    r = run("check", "--sim")
    assert r.exit_code == 1
    assert "UNVERIFIED:" in r.stdout and "FAIL " not in r.stdout
    assert "not proved: the card's genuineness" in r.stdout
    assert "not proved: the holder's data" in r.stdout  # a 3.00 card: EF06 needs a SAM
    assert "genuineness is unverified" in r.stderr
    r = run("check", "--sim", "--json")
    out = json.loads(r.stdout)
    assert r.exit_code == 1 and out["ok"] is False and out["verdict"] == "unverified"
    assert out["genuine"] is None


@pytest.mark.parametrize("generation", [2, 3])
def test_check_counterfeit_exits_1(tmp_path: Path, generation: int) -> None:
    card = _saved(tmp_path, sample_card(generation, keys=KeySet.counterfeit()))
    r = run("check", "--sim", card, "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["verdict"] == "failed" and out["genuine"] is False
    assert "genuine" in [c["name"] for c in out["checks"] if c["status"] == "fail"]


def test_the_issues_counterfeit_with_its_atr_cut_fails_check(tmp_path: Path) -> None:
    fake = with_state(sample_card(3, keys=KeySet.counterfeit()), atr=CUT_ATR)
    r = run("check", "--sim", _saved(tmp_path, fake))
    assert r.exit_code == 1
    assert "FAILED:" in r.stdout and "cannot be performed" in r.stdout


def test_a_counterfeit_announcing_ssf33_fails_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_checks import _fci

    fake = with_fci(sample_card(2, keys=KeySet.counterfeit()), _fci(0x02))
    monkeypatch.setattr(front_door, "open_reader", lambda **_: SimulatedReader(fake))
    r = run("check", "--sim", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["genuine"] is False


# --- status -------------------------------------------------------------------------------------


def test_status_json_has_genuine_and_initial_pin() -> None:
    r = run("status", "--sim", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["activated"] is True and out["verdict"] == "activated"
    assert out["genuine"] is True and out["initial_pin"] == "unknown"


def test_status_table_says_the_initial_pin_is_unknown() -> None:
    r = run("status", "--sim")
    assert "initial PIN          unknown (not probed" in r.stdout
    assert "genuine              yes" in r.stdout


@pytest.mark.parametrize("generation", [2, 3])
def test_status_of_a_counterfeit(tmp_path: Path, generation: int) -> None:
    card = _saved(tmp_path, sample_card(generation, keys=KeySet.counterfeit()))
    out = json.loads(run("status", "--sim", card, "--json").stdout)
    assert out["activated"] is False and out["verdict"] == "counterfeit"
    assert out["genuine"] is False
    r = run("status", "--sim", card)
    assert "COUNTERFEIT" in r.stdout and "genuine              NO" in r.stdout


def test_status_of_the_cut_atr_counterfeit(tmp_path: Path) -> None:
    fake = _saved(tmp_path, with_state(sample_card(2, keys=KeySet.counterfeit()), atr=CUT_ATR))
    out = json.loads(run("status", "--sim", fake, "--json").stdout)
    assert out["verdict"] == "counterfeit" and out["genuine"] is False


def test_status_without_a_security_module_is_unverified(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_sam(monkeypatch)
    r = run("status", "--sim", "--json")
    out = json.loads(r.stdout)
    assert out["verdict"] == "unverified" and out["genuine"] is None and not out["activated"]
    assert "genuineness is unverified" in r.stderr
    r = run("status", "--sim")
    assert "UNVERIFIED" in r.stdout and "genuine              unverified" in r.stdout


def test_probe_says_still_set_and_uses_no_try(tmp_path: Path) -> None:
    card = _saved(tmp_path, sample_card(2))
    r = run("status", "--sim", card, "--probe-initial-pin", "--json")
    assert r.exit_code == 0, r.output
    assert "uses one try" in r.stderr  # said before the VERIFY is sent
    out = json.loads(r.stdout)
    assert out["initial_pin"] == "still_set" and out["tries_left"] == 6
    assert any("-35" in reason for reason in out["reasons"])
    r = run("status", "--sim", card)
    assert "still set (123456)" not in r.stdout  # a plain status does not probe


def test_probe_says_changed_and_costs_one_try_until_the_next_right_entry(tmp_path: Path) -> None:
    card = _saved(tmp_path, sample_card(2, pin=DISTINCTIVE_PIN))
    r = run("status", "--sim", card, "--probe-initial-pin")
    assert r.exit_code == 0, r.output
    assert "initial PIN          changed" in r.stdout
    out = json.loads(run("pin", "status", "--sim", card, "--json").stdout)
    assert out["tries_left"] == 5
    run("pin", "verify", "--sim", card, "--pin-stdin", stdin=f"{DISTINCTIVE_PIN}\n")
    assert json.loads(run("pin", "status", "--sim", card, "--json").stdout)["tries_left"] == 6


def test_probe_refuses_with_two_tries_or_fewer(tmp_path: Path) -> None:
    card = _saved(tmp_path, with_state(sample_card(2, pin=DISTINCTIVE_PIN), pin={"tries_left": 2}))
    r = run("status", "--sim", card, "--probe-initial-pin")
    assert r.exit_code == 1
    assert "refusing to probe" in r.stderr and "2 tries left" in r.stderr
    out = json.loads(run("pin", "status", "--sim", card, "--json").stdout)
    assert out["tries_left"] == 2  # nothing was sent


def test_probe_of_a_pin_that_is_not_enabled_sends_nothing(tmp_path: Path) -> None:
    card = _saved(tmp_path, sample_card(2, pin_not_enabled=True))
    out = json.loads(run("status", "--sim", card, "--probe-initial-pin", "--json").stdout)
    assert out["initial_pin"] == "still_set" and out["pin"] == "not_enabled"


# --- read -----------------------------------------------------------------------------------------


def test_national_format_without_a_psam_has_terminal_number_zeros() -> None:
    fields = run("read", "--sim", "--format", "national").stdout.strip().split("|")
    assert fields[9] == "000000000000" and fields[10] == ""


def test_national_format_with_a_psam_has_its_terminal_number(tmp_path: Path) -> None:
    psam = str(psam_file(tmp_path / "psam.json", 3))
    r = run("read", "--sim", "--psam", psam, "--format", "national")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().split("|")[9] == "420100000001"
    r = run("read", "--sim", "--psam", psam, "--format", "national", "--terminal-number", "T1")
    assert r.stdout.strip().split("|")[9] == "T1"


@pytest.mark.parametrize(("strategy", "apdus"), [("auto", 6), ("by-tag", 18), ("multi-record", 6)])
def test_read_json_reports_the_count_of_each_strategy(strategy: str, apdus: int) -> None:
    out = json.loads(run("read", "--sim", "--json", "--read-strategy", strategy).stdout)
    assert out["apdus"] == apdus


def test_read_of_a_card_refusing_p2_05_costs_one_more_the_first_time(tmp_path: Path) -> None:
    card = _saved(tmp_path, sample_card(2, multi_record=False, t0=False))
    first = json.loads(run("read", "--sim", card, "--json").stdout)
    assert first["apdus"] == 15 + 1
    r = run("read", "--sim", card, "--json", "--read-strategy", "multi-record")
    assert r.exit_code == 1 and "6A86" in r.stderr
