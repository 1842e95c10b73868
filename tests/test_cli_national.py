"""``sscard national FUNCTION ARGS`` and ``sscard service [status]`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers_national import (
    CARD_INFO,
    NO_PSAM_TERMINAL,
    REPO,
    PinQueue,
    card_file,
    expected_line,
    pin_queue,
)
from tests.helpers_service import RunningService, running_service
from tests.hsm_helper import basic_key

SSCARD = [sys.executable, "-m", "terminal.cli.main"]


def sscard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([*SSCARD, *args], cwd=REPO, capture_output=True, text=True,
                          encoding="utf-8", timeout=120, env=dict(os.environ, **(env or {})),
                          check=False)


@pytest.fixture
def pins(tmp_path: Path) -> PinQueue:
    return pin_queue(tmp_path)


@pytest.fixture
def svc(tmp_path: Path, pins: PinQueue) -> Iterator[RunningService]:
    with running_service(tmp_path, ["--sim", str(card_file(tmp_path, 3))], pins=pins) as running:
        yield running


def test_national_prints_the_code_and_the_output(svc: RunningService, tmp_path: Path) -> None:
    done = sscard("national", "--socket", str(svc.socket), "iReadCardBas", "3")
    assert done.returncode == 0, done.stderr
    code, line, end = done.stdout.split("\n")
    assert (code, end) == ("0", "")
    assert line == expected_line(tmp_path / "card3.json", NO_PSAM_TERMINAL)


def test_national_failure_exits_1_with_the_text(svc: RunningService) -> None:
    done = sscard("national", "iReadCardBas", "2", env={"SSCARD_SOCKET": str(svc.socket)})
    assert done.returncode == 1
    assert done.stdout == "-1\n卡类型不对(未配置非接触读卡器)\n"
    done = sscard("national", "--socket", str(svc.socket), "iReadCard", "3", "2", CARD_INFO,
                  "DF04EF05|84|$SSSEEF05|07|$")
    assert done.returncode == 0 and done.stdout == "0\nDF04EF05|420100|$SSSEEF05|D2143569X|$\n"


def test_national_hsm_steps_from_a_shell_share_nothing(svc: RunningService) -> None:
    step1 = sscard("national", "--socket", str(svc.socket), "iReadCardBas_HSM_Step1", "3")
    assert step1.returncode == 0
    # each `sscard national` is its own connection: Step2 in another process is out of turn
    step2 = sscard("national", "--socket", str(svc.socket), "iReadCardBas_HSM_Step2",
                   basic_key(step1.stdout.split("\n")[1]))
    assert step2.returncode == 1 and step2.stdout.startswith("-12\n")


def test_national_reader_info_prints_both_outputs(svc: RunningService) -> None:
    done = sscard("national", "--socket", str(svc.socket), "iGetReaderInfo")
    lines = done.stdout.split("\n")
    assert lines[0] == "0" and lines[1].startswith("sscard simulator")
    assert lines[2] == NO_PSAM_TERMINAL


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["iNoSuch"], "not a national function"),
        (["iReadCardBas"], "takes 1 argument(s): iType"),
        (["iReadCardBas", "three"], "iType is an integer"),
        (["iReadCard", "3", "2", CARD_INFO], "takes 4 argument(s)"),
    ],
)
def test_national_usage_errors(args: list[str], words: str, tmp_path: Path) -> None:
    done = sscard("national", "--socket", str(tmp_path / "none.sock"), *args)
    assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1


def test_no_service_is_one_line(tmp_path: Path) -> None:
    done = sscard("national", "--socket", str(tmp_path / "none.sock"), "iReadCardBas", "3")
    assert done.returncode == 2 and "no sscard service" in done.stderr
    done = sscard("service", "status", "--socket", str(tmp_path / "none.sock"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_service_status(svc: RunningService) -> None:
    svc.call("iReadCardBas", 3)
    done = sscard("service", "status", "--socket", str(svc.socket))
    assert done.returncode == 0 and "running" in done.stdout and "security: software" in done.stdout
    status = json.loads(sscard("service", "status", "--socket", str(svc.socket), "--json").stdout)
    assert status["calls"] == 1 and status["readers"][0]["card_present"] is True


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sim", "x.json", "--config", "y.toml"], "not both"),
        (["--psam", "p.json"], "go with --sim"),
        (["--config", "/nonexistent/service.toml"], "cannot read configuration"),
        (["--sim", "/nonexistent/card.json"], "card"),
    ],
)
def test_service_refuses_with_one_line(args: list[str], words: str, tmp_path: Path) -> None:
    done = sscard("service", *args, "--socket", str(tmp_path / "s.sock"),
                  env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr


def test_service_without_configuration_says_what_to_do(tmp_path: Path) -> None:
    done = sscard("service", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert done.returncode == 2 and "--config FILE" in done.stderr and "--sim" in done.stderr


def test_the_systemd_unit_runs_the_service() -> None:
    unit = (REPO / "terminal" / "service" / "sscard.service").read_text()
    assert "ExecStart=" in unit and "sscard service" in unit and "WantedBy=default.target" in unit


# --- the README's examples run --------------------------------------------------------------


def _readme_block(prefix: str) -> str:
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```[a-z]*\n(.*?)```", text, re.S) if b.startswith(prefix)]
    assert blocks, f"README has no example starting with {prefix!r}"
    return blocks[0]


def test_readme_national_session(tmp_path: Path, pins: PinQueue) -> None:
    import shlex

    from tests.test_readme import _session

    block = _readme_block("$ sscard national iReadCardBas 3")
    with running_service(tmp_path, ["--sim"], pins=pins) as svc:
        for command, expected in _session(block):
            argv = shlex.split(command)
            done = sscard(*argv[1:], env={"SSCARD_SOCKET": str(svc.socket)})
            assert done.stdout.splitlines() == expected, command


def test_readme_c_example_compiles_and_runs(tmp_path: Path, pins: PinQueue) -> None:
    import os

    source = tmp_path / "pos.c"
    source.write_text(_readme_block("#include <stdio.h>"))
    done = subprocess.run(["make", "-s", "national"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    build = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", str(source),
         f"-I{REPO / 'terminal/national/c'}", f"-L{REPO / 'build/national'}", "-lsscard-national",
         "-o", str(tmp_path / "pos")],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    with running_service(tmp_path, ["--sim"], pins=pins) as svc:
        run = subprocess.run([str(tmp_path / "pos")], capture_output=True, timeout=60, check=False,
                             env=dict(os.environ, SSCARD_SOCKET=str(svc.socket),
                                      LD_LIBRARY_PATH=str(REPO / "build/national")))
    assert run.returncode == 0
    assert run.stdout.decode("gbk").startswith("0 420100|420102198505151238|D2143569X|")


def test_national_line_is_the_line_of_sscard_read(tmp_path: Path, pins: PinQueue) -> None:
    import shutil

    card = card_file(tmp_path, 2)
    copy = tmp_path / "copy.json"  # the service holds its card file; the reader gets a copy
    shutil.copy(card, copy)
    read = sscard("read", "--sim", str(copy), "--format", "national")  # as the issue says
    assert read.returncode == 0, read.stderr
    with running_service(tmp_path, ["--sim", str(card)], pins=pins) as svc:
        done = sscard("national", "--socket", str(svc.socket), "iReadCardBas", "3")
    assert done.stdout == "0\n" + read.stdout
