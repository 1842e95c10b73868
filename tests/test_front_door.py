"""The front door (issue 11): ``terminal.open_card``, its security modules, one read-and-check.

Regression tests of the issue's defects live here too: a card with a corrupt card
identification code fails the same checks with the same exit code in ``check``, ``pharmacy`` and
``activate`` (it used to be a crypto error, exit 2, in one of them), and ``--sim sample`` reads a
file named ``sample`` (it used to read the built-in card).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import terminal
from apdu.errors import UsageError
from apdu.keys import KeySet
from simulator.samples import sample_card, sample_personalisation
from terminal.cli.main import cli
from terminal.genuine import NO_SAM
from terminal.inspect import read_checked
from terminal.sam.software import SoftwareSam
from terminal.workflows import CheckFailed
from tests.helpers_checks import TODAY, session_for, with_record
from tests.helpers_pin import psam_file


def run(*args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


# --- open_card ------------------------------------------------------------------------------------


def test_three_lines_read_and_check_a_card_with_every_check() -> None:
    with terminal.open_card(sim=True, today=TODAY) as card:
        found = card.check()
    assert found.card is not None and found.card.holder is not None
    assert found.card.holder.name == "张三丰" and found.verdict == "ok" and found.ok
    statuses = {c.name: c.status for c in found.checks.checks}  # type: ignore[union-attr]
    assert statuses["genuine"] == "pass" and statuses["pin_state"] == "pass"
    assert "skip" not in statuses.values()


def test_no_security_module_is_said_once_and_the_verdict_is_unverified() -> None:
    told: list[str] = []
    with terminal.open_card(sim=True, sam=None, notes=told.append, today=TODAY) as card:
        found = card.check()
        assert card.sam is None
    assert told == [NO_SAM]
    assert found.verdict == "unverified" and found.genuine is None


def test_a_module_you_give_is_used_and_left_open() -> None:
    class Counting(SoftwareSam):
        closed = 0

        def close(self) -> None:
            Counting.closed += 1

    module = Counting()
    with terminal.open_card(sim=True, sam=module) as card:
        assert card.sam is module and card.check().genuine is True
    assert Counting.closed == 0


def test_a_key_file_module(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KeySet.counterfeit().to_json()), encoding="utf-8")
    card_path = tmp_path / "card.json"
    sample_card(2, keys=KeySet.counterfeit()).save(card_path)
    with terminal.open_card(sim=card_path, sam=f"keys:{keys}") as card:
        assert card.check(today=TODAY).genuine is True  # the card's own (counterfeit) keys
    with terminal.open_card(sim=card_path) as card:  # the default: the published TEST keys
        assert card.check(today=TODAY).genuine is False


@pytest.mark.parametrize("form", ["path", "prefix"])
def test_a_psam_card_file_module(tmp_path: Path, form: str) -> None:
    psam = psam_file(tmp_path / "psam.json", 3)
    spec: Any = psam if form == "path" else f"psam:{psam}"
    with terminal.open_card(sim=True, sam=spec) as card:
        assert card.check(today=TODAY).genuine is True
        assert card.terminal_number() != "000000000000"
        assert "PSAM" in card.sam.label  # type: ignore[union-attr]


def test_a_psam_in_a_pcsc_reader(pcsc_stack: Any) -> None:
    with terminal.open_card(
        reader=pcsc_stack.card_reader, sam=f"psam-reader:{pcsc_stack.psam_reader}"
    ) as card:
        found = card.check()
        assert card.terminal_number() != "000000000000"
    assert found.genuine is True and found.checks is not None
    assert found.checks.by_name("genuine").status == "pass"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "neither given"),
        ({"reader": "0", "sim": True}, "both given"),
        ({"sim": True, "sam": ""}, "empty PSAM file name"),
        ({"sim": True, "read_strategy": "fast"}, "unknown read strategy"),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message), terminal.open_card(**kwargs) as card:
        card.read()


def test_the_card_is_released_whatever_happens(tmp_path: Path) -> None:
    """The card file's lock is the proof: a second open right after works at once."""
    path = tmp_path / "card.json"
    sample_card(3).save(path)
    with pytest.raises(RuntimeError), terminal.open_card(sim=path):
        raise RuntimeError("the POS program failed")
    with terminal.open_card(sim=path) as card:
        assert card.read().holder is not None


def test_the_lower_layers_are_there_for_apdus() -> None:
    from apdu.commands import verify_status

    with terminal.open_card(sim=True) as card:
        card.session.enter("SSSE")
        assert card.channel.transmit(verify_status()).sw == 0x63C6
        assert card.reader.atr == card.atr


# --- one read-and-check path (issue 11) ----------------------------------------------------------

#: EF05 tag 01 corrupted three ways a card in the field could carry.
CORRUPT_CARD_IDS = {
    "city code not BCD": bytes.fromhex("4A0100D15600000500000001FFFFFFFF"),
    "no D156000005": bytes.fromhex("420100D15600000600000001FFFFFFFF"),
    "one byte": bytes.fromhex("42"),
}


def _corrupt(tmp_path: Path, generation: int, value: bytes) -> str:
    card = with_record(sample_card(generation), "MF/SSSE/EF05", 0x01, value)
    path = tmp_path / "card.json"
    card.save(path)
    card.close()
    return str(path)


@pytest.mark.parametrize("generation", [2, 3])
@pytest.mark.parametrize("corruption", list(CORRUPT_CARD_IDS))
def test_a_corrupt_card_id_fails_the_same_checks_in_check_pharmacy_and_activate(
    tmp_path: Path, generation: int, corruption: str
) -> None:
    path = _corrupt(tmp_path, generation, CORRUPT_CARD_IDS[corruption])
    checked = run("check", "--sim", path, "--json")
    assert checked.exit_code == 1
    failed = {c["name"] for c in json.loads(checked.stdout)["checks"] if c["status"] == "fail"}
    assert "card_id_structure" in failed
    holder = sample_personalisation(generation).holder
    for command in (
        ["pharmacy", "--sim", path, "--pin-stdin"],
        ["activate", "--sim", path, "--pin-stdin", "--name", holder.name, "--id-number",
         holder.ssn],
    ):
        refused = run(*command, stdin="582047\n582047\n123456\n739251\n739251\n")
        assert refused.exit_code == 1, (command[0], refused.stderr)
        line = refused.stderr.strip()
        assert line.startswith("sscard: card check failed ("), (command[0], line)
        named = {name for name in CHECK_NAMES if f"{name}: " in line}
        assert named == failed, (command[0], line)


def test_the_workflows_stop_on_the_failures_check_reports() -> None:
    """In-process, the policy sees the very report ``check`` prints."""
    card = with_record(sample_card(3), "MF/SSSE/EF05", 0x01, CORRUPT_CARD_IDS["one byte"])
    reader, session = session_for(card)
    try:
        checked = terminal.Card(session).check(today=TODAY)
        session.reset()
        with pytest.raises(CheckFailed) as info:
            read_checked(session, today=TODAY)
    finally:
        reader.disconnect()
    assert checked.checks is not None
    assert [name for name, _ in info.value.failures] == checked.checks.failed


def _check_names() -> tuple[str, ...]:
    from terminal.checks import CHECKS

    return tuple(CHECKS)


CHECK_NAMES = _check_names()


# --- --sim: a bare flag is the built-in card, a value is a file (issue 11) ------------------------


def test_sim_sample_reads_the_file_named_sample(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    missing = run("read", "--sim", "sample")
    assert missing.exit_code == 2 and "card file sample: no such file" in missing.stderr
    sample_card(2, name="李四").save(tmp_path / "sample")
    from_file = run("read", "--sim", "sample", "--json")
    assert from_file.exit_code == 0, from_file.stderr
    assert json.loads(from_file.stdout)["name"] == "李四"
    built_in = run("read", "--sim", "--json")
    assert built_in.exit_code == 0 and json.loads(built_in.stdout)["name"] == "张三丰"
    last = run("read", "--json", "--sim")
    assert last.exit_code == 0 and json.loads(last.stdout)["name"] == "张三丰"


def test_sscard_service_sim_sample_is_a_file_too(tmp_path: Path) -> None:
    """The service's ``--sim`` follows the same rule; its configuration keeps the keyword."""
    from terminal.cli.options import SAMPLE as BARE_SIM
    from terminal.cli.service import sim_value
    from terminal.service.config import parse_config

    def source(sim: str) -> Any:
        config = parse_config({"reader": {"sim": sim_value(sim)}, "security": {"mode": "software"}})
        return config.source_config(tmp_path).sim

    assert source(BARE_SIM) is True
    assert source("sample") == tmp_path / "sample"
    assert source("card.json") == tmp_path / "card.json"
