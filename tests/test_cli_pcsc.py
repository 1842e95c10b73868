"""The ``sscard`` command against the real PC/SC stack (issue 4 §4): run as a user runs it.

Each test starts the installed ``sscard`` as a separate process against the session's
``pcsc_stack`` (pcscd + vpcd + the simulator: a 3.00 user card in slot 0, an SM4 PSAM in slot 1).
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SSCARD = [sys.executable, "-m", "terminal.cli.main"]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [*SSCARD, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_readers_lists_the_virtual_readers_with_their_cards(pcsc_stack: Any) -> None:
    done = _run("readers", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    text = json.dumps(listed, ensure_ascii=False)
    assert pcsc_stack.card_reader in text and pcsc_stack.psam_reader in text


def test_read_a_3_00_card_with_the_psam_in_slot_1(pcsc_stack: Any) -> None:
    done = _run(
        "read", "--reader", pcsc_stack.card_reader, "--psam-reader", pcsc_stack.psam_reader,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["spec_version"] == "3.00" and card["holder_read"] is True
    assert card["ssn"] == "420102198505151238" and card["name"] == "张三丰"
    # T=0 through pcscd: SELECT + GET RESPONSE, EF05, GET CHALLENGE, EXTERNAL AUTHENTICATE, EF06
    assert card["apdus"] == 6


def test_check_with_the_psam_proves_the_card_genuine(pcsc_stack: Any) -> None:
    done = _run("check", "--reader", "0", "--psam-reader", "1", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    genuine = next(c for c in report["checks"] if c["name"] == "genuine")
    assert report["ok"] is True and genuine["status"] == "pass"


def test_without_a_sam_a_3_00_card_still_gives_ef05_and_says_why_not_ef06(
    pcsc_stack: Any,
) -> None:
    done = _run("read", "--reader", pcsc_stack.card_reader, "--json")
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["card_number"] == "D2143569X" and card["holder_read"] is False
    assert any("SAM" in note or "security module" in note for note in card["notes"])


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """What the terminal ``fd`` shows until ``marker`` (or its end, or ``timeout``)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: every writer closed it
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_read_wait_sees_a_card_inserted_while_it_waits(pcsc_stack: Any) -> None:
    """stderr is a terminal, so ``--wait`` shows its spinner once it is really waiting: the test
    waits for that (not for a guessed time), then inserts the card."""
    pcsc_stack.eject(0)
    term, term_end = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*SSCARD, "read", "--reader", pcsc_stack.card_reader, "--wait", "60", "--json"],
            stdout=subprocess.PIPE, stderr=term_end, text=True,
        )
        os.close(term_end)
        shown = _read_until(term, b"waiting for a card", timeout=60)
        assert b"waiting for a card" in shown, shown
        assert proc.poll() is None, "sscard read --wait returned before a card was inserted"
        pcsc_stack.insert(0)
        err = _read_until(term, b"\0", timeout=60)  # to its end: the process exits
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(term)
        pcsc_stack.restore()
    assert proc.returncode == 0, err
    assert json.loads(out)["card_number"] == "D2143569X"


def test_no_card_gives_one_line_and_exit_2(pcsc_stack: Any) -> None:
    pcsc_stack.eject(0)
    try:
        done = _run("read", "--reader", pcsc_stack.card_reader)
    finally:
        pcsc_stack.restore()
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "card" in done.stderr.lower()


def test_unknown_reader_gives_one_line_and_exit_2(pcsc_stack: Any) -> None:
    done = _run("read", "--reader", "no such reader anywhere")
    assert done.returncode == 2
    assert done.stderr.startswith("sscard: ") and "Traceback" not in done.stderr


def test_national_format_through_pcsc_uses_the_psam_terminal_number(
    pcsc_stack: Any, tmp_path: Path
) -> None:
    done = _run("read", "--reader", "0", "--psam-reader", "1", "--format", "national")
    assert done.returncode == 0, done.stderr
    fields = done.stdout.rstrip("\n").split("|")
    assert fields[1] == "420102198505151238" and fields[6] == "3.00"
