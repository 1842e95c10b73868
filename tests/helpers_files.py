"""Helpers of the hostile-file and hostile-CLI tests (issue 10): run ``sscard`` as a process,
check the one-line promise, make card files and special files inside a test's own directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from apdu.keys import TEST_KEYS
from simulator.psam import Psam
from simulator.samples import sample_card

REPO = Path(__file__).resolve().parent.parent
#: generous: a refusal takes well under a second; this only turns a hang into a failure.
TIMEOUT = 60.0


def sscard(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """``sscard ARGS`` as its own process (what a user runs), text output, no traceback mode."""
    full_env = {k: v for k, v in os.environ.items() if k != "SSCARD_DEBUG"}
    full_env.update(env or {})
    if "stdout" not in popen and "stderr" not in popen:
        popen["capture_output"] = True
    return subprocess.run(
        [sys.executable, "-m", "terminal.cli.main", *args],
        input=stdin,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=timeout,
        **popen,
    )


def one_line(stderr: str) -> str:
    """The single ``sscard: ...`` line of a refusal (asserts there is exactly one, no traceback,
    no raw control character)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("sscard: "), stderr
    assert "Traceback" not in stderr
    assert all(ch.isprintable() for ch in lines[0]), repr(lines[0])
    return lines[0]


def card_json(generation: int = 3, **overrides: Any) -> dict[str, Any]:
    """A valid user card file's JSON (the sample card)."""
    card = sample_card(generation, **overrides)
    return card.state().model_dump(mode="json")  # type: ignore[no-any-return]


def write_card(path: Path, generation: int = 3, **overrides: Any) -> Path:
    """A valid card file at ``path``, written the way the simulator writes it."""
    sample_card(generation, **overrides).save(path)
    return path


def psam_json(sm4: bool = True) -> dict[str, Any]:
    from apdu.crypto import Algorithm

    return Psam.issue(algorithm=Algorithm.SM4 if sm4 else Algorithm.DES).to_json()


def key_json() -> dict[str, Any]:
    return TEST_KEYS.to_json()


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
