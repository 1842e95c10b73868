"""``sscard readers | read | check | status`` through click's CliRunner (issue 3 §6, §7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import terminal.card as front_door
from drivers.simulated import SimulatedReader
from simulator.samples import sample_card
from terminal.cli.main import cli
from tests.helpers_checks import defective, with_state


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line_error(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_read_json_schema_and_apdu_count() -> None:
    result = run("read", "--sim", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in ("ssn", "name", "sex", "birth_date", "card_number", "card_id", "spec_version",
                "generation", "issue_date", "expiry_date", "apdus"):
        assert key in out
    assert out["name"] == "张三丰"
    # a 3.00 T=0 card: SELECT + GET RESPONSE, EF05 and EF06 in one READ RECORD each, GET
    # CHALLENGE + EXTERNAL AUTHENTICATE (17 + 1 by tag)
    assert out["apdus"] == 6
    assert len(out["birth_date"]) == 10 and out["birth_date"][4] == "-"


def test_read_table_shows_holder() -> None:
    result = run("read", "--sim")
    assert result.exit_code == 0
    assert "张三丰" in result.stdout and "D2143569X" in result.stdout


def test_read_national_format() -> None:
    result = run("read", "--sim", "--format", "national", "--terminal-number", "T1")
    assert result.exit_code == 0
    fields = result.stdout.strip().split("|")
    assert len(fields) == 12 and fields[-1] == ""
    assert fields[0] == "420100" and fields[2] == "D2143569X" and fields[4] == "张三丰"
    assert fields[9] == "T1"


def test_check_sample_card_passes_and_shows_everything() -> None:
    result = run("check", "--sim")
    assert result.exit_code == 0, result.output
    for text in ("张三丰", "ssn_check_char", "genuine", "pin_state", "PASS"):
        assert text in result.stdout
    assert "FAIL" not in result.stdout


def test_check_json(tmp_path: Path) -> None:
    result = run("check", "--sim", "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["ok"] is True
    assert all(set(c) >= {"name", "status", "detail"} for c in out["checks"])


def test_check_bad_card_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "BAD.json"
    defective(sex="2").save(bad)
    result = run("check", "--sim", str(bad), "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False
    assert [c["name"] for c in out["checks"] if c["status"] == "fail"] == ["ssn_sex"]


def test_status_json() -> None:
    result = run("status", "--sim", "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["activated"] is True and out["pin"] == "enabled"
    assert out["tries_left"] == 6 and isinstance(out["reasons"], list)


def test_status_table() -> None:
    result = run("status", "--sim")
    assert result.exit_code == 0 and "ACTIVATED" in result.stdout


def test_trace_is_redacted_on_stderr() -> None:
    result = run("status", "--sim", "--trace")
    assert result.exit_code == 0
    assert "> 00 A4 04 00" in result.stderr
    # the empty VERIFY is shown; no VERIFY with data leaves the terminal here
    assert "> 00 20 00 00" in result.stderr
    assert "> " not in result.stdout


def test_trace_redacts_pin_data(tmp_path: Path) -> None:
    import io

    from apdu.commands import verify
    from drivers.channel import CardChannel
    from drivers.trace import StreamTracer

    stream = io.StringIO()
    reader = SimulatedReader(sample_card())
    reader.connect()
    channel = CardChannel(reader, tracer=StreamTracer(stream))
    channel.transmit(verify(bytes.fromhex("123456")))
    reader.disconnect()
    assert "12 34 56" not in stream.getvalue() and "redacted" in stream.getvalue()


def test_reader_and_sim_together_is_a_usage_error() -> None:
    result = run("read", "--sim", "--reader", "0")
    assert result.exit_code == 2
    assert "exactly one" in one_line_error(result)


def test_neither_reader_nor_sim_is_a_usage_error() -> None:
    result = run("check")
    assert result.exit_code == 2
    one_line_error(result)


def test_missing_card_file_is_one_line() -> None:
    result = run("read", "--sim", "/nonexistent/card.json")
    assert result.exit_code == 2
    one_line_error(result)


def test_no_such_reader_is_one_line() -> None:
    result = run("read", "--reader", "no-such-reader-sscard-test")
    assert result.exit_code == 2
    assert one_line_error(result).startswith("sscard: ")


class _ForeignCard:
    """A card with no social security application: 6A82 to every command."""

    def atr(self) -> bytes:
        return bytes.fromhex("3B 00")

    def t0(self) -> bool:
        return True

    def power_on(self) -> bytes:
        return self.atr()

    def reset(self) -> bytes:
        return self.atr()

    def power_off(self) -> None:
        return None

    def transmit(self, command: bytes) -> bytes:
        return bytes.fromhex("6A82")


def test_unknown_card_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(front_door, "open_reader", lambda **_: SimulatedReader(_ForeignCard()))
    result = run("check", "--sim")
    assert result.exit_code == 2
    assert "no social security application" in one_line_error(result)


def test_a_blocked_card_is_named_as_such_by_read(tmp_path: Path) -> None:
    """A blocked card answers 6A81 to SELECT SSSE (§5): ``read`` says the card may be blocked
    (``check`` judges it: card_not_blocked FAIL), never only "not a social security card"."""
    path = tmp_path / "blocked.json"
    with_state(sample_card(3), card_blocked=True).save(path)
    result = run("read", "--sim", str(path))
    assert result.exit_code == 2
    assert "the card is blocked" in one_line_error(result)
    assert "6A81" in one_line_error(result)


def test_card_removed_mid_read_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class Pulled(SimulatedReader):
        def transmit_raw(self, command: bytes) -> bytes:
            if command[1] == 0xB2 and command[3] == 0x35:  # EF06
                self.remove()
            return super().transmit_raw(command)

    monkeypatch.setattr(front_door, "open_reader", lambda **_: Pulled(sample_card()))
    result = run("read", "--sim")
    assert result.exit_code == 2
    one_line_error(result)
