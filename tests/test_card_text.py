"""Text from a card is data, never terminal control (issue 10 §5).

A deliberately defective card (``--allow-invalid``: an issuer would refuse it, a forger would
not) carries an OSC title sequence, a bidi override, a vertical tab, a file separator and a NUL
in the holder's name.  Every human output shows them as visible escapes, JSON keeps the value
(escaped, so it is inert on a terminal and equal once parsed), and the national line has no
control character at all.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from apdu.crypto import Algorithm
from apdu.text import is_control, printable, strip_controls
from terminal.activation import ActivationStatus
from terminal.checks import CheckReport, CheckResult
from terminal.cli.main import cli
from terminal.cli.output import card_table, checks_table, status_table, to_json
from terminal.models import CardRead, HolderData, IssuerData
from tests.helpers_files import write_card

HOSTILE = "张\x1b]0;pwned\x07三\u202e丰\x0b\x1c\x00\x9b"


def _no_raw_control(text: str) -> None:
    raw = [hex(ord(ch)) for ch in text if ch != "\n" and is_control(ch)]
    assert raw == [], raw


@pytest.fixture
def hostile_card(tmp_path: Path) -> Path:
    return write_card(tmp_path / "evil.json", name=HOSTILE, allow_invalid=True)


def test_read_table_escapes_the_name(hostile_card: Path) -> None:
    result = CliRunner().invoke(cli, ["read", "--sim", str(hostile_card)])
    assert result.exit_code == 0, result.stderr
    _no_raw_control(result.stdout)
    assert "张\\x1b]0;pwned\\x07三\\u202e丰\\x0b\\x1c\\x00\\x9b" in result.stdout


def test_check_and_workflow_outputs_escape_the_name(hostile_card: Path) -> None:
    pharmacy = ["pharmacy", "--pin-stdin", "--accept-initial-pin"]
    for args, stdin in ((["check"], ""), (pharmacy, "123456\n")):
        result = CliRunner().invoke(cli, [*args, "--sim", str(hostile_card)], input=stdin)
        _no_raw_control(result.stdout)
        _no_raw_control(result.stderr)
        assert "\\x1b]0;pwned" in result.stdout + result.stderr


def test_json_keeps_the_value_and_travels_inert(hostile_card: Path) -> None:
    result = CliRunner().invoke(cli, ["read", "--sim", str(hostile_card), "--json"])
    assert result.exit_code == 0
    _no_raw_control(result.stdout)
    assert json.loads(result.stdout)["name"] == HOSTILE.rstrip("\x00")  # NUL is padding (§4)


def test_national_line_has_no_control_character(hostile_card: Path) -> None:
    result = CliRunner().invoke(cli, ["read", "--sim", str(hostile_card), "--format", "national"])
    assert result.exit_code == 0
    line = result.stdout.rstrip("\n")
    assert "\n" not in line and not any(is_control(ch) for ch in line)
    assert line.split("|")[4] == "张]0;pwned三丰"  # the name field, controls dropped
    assert line.count("|") == 11


def test_notes_decode_errors_checks_and_reasons_are_escaped() -> None:
    card = CardRead(
        issuer=IssuerData(card_number="D2143569X", issue_date=dt.date(2024, 5, 1)),
        holder=HolderData(name="a\x1b[2Jb"),
        algorithm=Algorithm.SM4,
        notes=["card says \x1b]0;x\x07"],
        decode_errors={"name\x1b": "bad \u202e text"},
    )
    text = card_table(card)
    _no_raw_control(text)
    assert "a\\x1b[2Jb" in text and "note: card says \\x1b]0;x\\x07" in text
    assert "decode error: name\\x1b: bad \\u202e text" in text
    report = CheckReport(checks=[CheckResult(name="genuine", status="fail",
                                             detail="\x1b[31mforged\u2028x")])
    _no_raw_control(checks_table(report).replace("\x1b[", ""))  # our own colour codes only
    assert "\\x1b[31mforged\\u2028x" in checks_table(report)
    status = ActivationStatus(activated=False, verdict="not_activated", pin="enabled",
                              tries_left=3, application_blocked=False, card_blocked=False,
                              expired=False, bank_application=None,
                              reasons=["\x1b]0;x\x07 reason"])
    assert "\\x1b]0;x\\x07 reason" in status_table(status)


def test_the_escape_rule() -> None:
    assert printable("张三丰 D2143569X") == "张三丰 D2143569X"
    assert printable("\x00\x7f\x85\u200b\u2066\U000e0001\ud800") == (
        "\\x00\\x7f\\x85\\u200b\\u2066\\U000e0001\\ud800")
    assert strip_controls("a\x0b\x1c\x00b\u202ec") == "abc"
    assert json.loads(to_json({"n": "\u202e\U000e0001\x9b"})) == {"n": "\u202e\U000e0001\x9b"}
