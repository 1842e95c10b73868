"""The README's examples run as tests, so the documentation cannot rot (jCardSim's lesson).

Each shell session in the README that starts with ``$ sscard`` and needs no PC/SC is replayed in a
temporary directory and its printed output compared; the Python examples are executed.  Where a
date decides an outcome (the sample card expires on 2034-05-01), "today" is a fixed day: the
front door takes it (``open_card(today=...)``), so the examples are run with it set.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import terminal.card
import terminal.cli.read
from tests.helpers_checks import TODAY

README = Path(__file__).resolve().parent.parent / "README.md"
SSCARD = [sys.executable, "-m", "terminal.cli.main"]


def _blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _block_starting(prefix: str) -> str:
    found = [b for b in _blocks() if b.startswith(prefix)]
    assert found, f"README has no example starting with {prefix!r}"
    return found[0]


def _session(block: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each ``$ `` line; ``\\`` continues a command."""
    steps: list[tuple[str, list[str]]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        assert line.startswith("$ "), f"unexpected README line {line!r}"
        command = line[2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + lines[i].strip()
        i += 1
        output: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        steps.append((command.split("  #")[0].strip(), output))
    return steps


def _run(command: str, cwd: Path) -> str:
    argv = shlex.split(command)
    assert argv[0] == "sscard"
    done = subprocess.run(
        [*SSCARD, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ, COLUMNS="100"),
    )
    return done.stdout + done.stderr


def test_the_demo_output_in_the_readme_is_what_make_demo_prints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sscard check --sim``, in-process with a fixed today: the sample card expires in 2034."""
    block = _block_starting("$ sscard check --sim\n")
    (command, expected), = _session(block)
    fixed = functools.partial(terminal.card.open_card, today=TODAY)
    monkeypatch.setattr(terminal.cli.read, "open_card", fixed)
    from terminal.cli.main import cli

    result = CliRunner().invoke(cli, shlex.split(command)[1:], catch_exceptions=False)
    assert result.output.splitlines() == expected


def test_the_worked_apdu_session_in_the_readme_runs_as_shown(tmp_path: Path) -> None:
    issue = _block_starting("$ sscard sim issue --out card.json\nissued")
    apdus = _block_starting("$ sscard sim apdu --card card.json")
    for command, expected in _session(issue) + _session(apdus):
        if command.startswith("sscard sim issue-psam"):
            continue
        assert _run(command, tmp_path).splitlines() == expected, command


@contextlib.contextmanager
def _fixed_today(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``terminal.open_card`` with ``today`` fixed (the front door's own argument)."""
    monkeypatch.setattr(terminal.card, "open_card",
                        functools.partial(terminal.card.open_card, today=TODAY))
    yield


def _front_door_blocks() -> list[str]:
    return [b for b in _blocks() if b.startswith("import terminal\n")]


def _exec(code: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a README Python example in this process (with a fixed today); its stdout."""
    out = io.StringIO()
    with _fixed_today(monkeypatch), contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102
    return out.getvalue()


def test_the_readme_reads_and_checks_a_card_in_three_lines(monkeypatch: Any) -> None:
    """Issue 11's acceptance: at most three lines after the imports, every check included."""
    code = _front_door_blocks()[0]
    statements = [
        line for line in code.splitlines()
        if line.strip() and not line.startswith(("import ", "from ", "#"))
    ]
    assert len(statements) <= 3, statements
    assert _exec(code, monkeypatch).split() == ["张三丰", "ok"]


def test_the_pharmacy_example_in_the_readme_runs(monkeypatch: Any) -> None:
    code = _block_starting("import terminal\nfrom apdu.status import WrongPin")
    assert _exec(code, monkeypatch).split() == [
        "张三丰", "420100", "verified", "True", "14", "[]"
    ]


def test_the_lower_layers_example_in_the_readme_runs(monkeypatch: Any) -> None:
    code = next(b for b in _front_door_blocks() if "card.channel.send" in b)
    # 规范版本 3.00; SELECT + GET RESPONSE (T=0) + READ RECORD
    assert _exec(code, monkeypatch).split() == ["0304332e3030", "SSSE", "3"]


def test_every_front_door_example_in_the_readme_runs_in_a_fresh_interpreter(
    tmp_path: Path,
) -> None:
    """As a reader pastes them: a new process each, nothing patched (only that they run: their
    output, which the date can change, is compared above with a fixed today)."""
    blocks = _front_door_blocks()
    assert len(blocks) == 3
    for code in blocks:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
            timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
