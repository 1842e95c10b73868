"""The README's examples run as tests, so the documentation cannot rot (jCardSim's lesson).

Each shell session in the README that starts with ``$ sscard`` and needs no PC/SC is replayed in a
temporary directory and its printed output compared; the Python example is executed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

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


def test_the_demo_output_in_the_readme_is_what_make_demo_prints(tmp_path: Path) -> None:
    block = _block_starting("$ sscard check --sim\n")
    (command, expected), = _session(block)
    assert _run(command, tmp_path).splitlines() == expected


def test_the_worked_apdu_session_in_the_readme_runs_as_shown(tmp_path: Path) -> None:
    issue = _block_starting("$ sscard sim issue --out card.json\nissued")
    apdus = _block_starting("$ sscard sim apdu --card card.json")
    for command, expected in _session(issue) + _session(apdus):
        if command.startswith("sscard sim issue-psam"):
            continue
        assert _run(command, tmp_path).splitlines() == expected, command


def test_the_python_example_in_the_readme_runs(tmp_path: Path) -> None:
    code = _block_starting("from drivers.open import open_reader")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["张三丰", "6", "ok", "True"]


def test_the_pharmacy_example_in_the_readme_runs(tmp_path: Path) -> None:
    code = _block_starting("from apdu.status import WrongPin")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["张三丰", "420100", "verified", "True", "14", "[]"]
