"""The terminal's PIN pad path through the real pcscd (issue 13, terminal part).

The PIN-pad reader is the test stack's ``sscard PIN pad 00 00`` (``libifd-sscard.so`` in the
private pcscd, its firmware in another process); the holder's fingers are ``sscard sim keypad``
(another process again).  ``sscard`` and ``sscard service`` run as processes of their own, so the
digits go keypad -> firmware -> card and never exist in the terminal's process: what the card
received is read on the card's side (the firmware records it), and everything the terminal
process printed, traced and logged is searched for the digits.  Keypad entries are queued
before the command that consumes them (the pad takes the next entry when it asks), so no test
waits on timing; the card's PIN is 123456 with 6 tries before and after every test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_national import REPO
from tests.helpers_pinpad import stack_pad
from tests.helpers_service import running_service
from tests.stack import PinPadHarness

SSCARD = [sys.executable, "-m", "terminal.cli.main"]
VERIFY_123456 = bytes.fromhex("0020000003123456")
NATIONAL_LIB = REPO / "build" / "national" / "libsscard-national.so"
NATIONAL_TEST = REPO / "build" / "national" / "national_test"


def sscard(*args: str, stdin: str = "", env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SSCARD, *args], cwd=REPO, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})),
                          check=False)


def pin_commands(received: list[bytes]) -> list[bytes]:
    return [c for c in received if (c[1] == 0x20 and len(c) > 4) or c[1] == 0x5E]


class Pad:
    """The stack's PIN-pad reader, its keys typed with ``sscard sim keypad``."""

    def __init__(self, harness: PinPadHarness) -> None:
        self.harness = harness
        self.reader = harness.reader
        self.mark = len(harness.received())

    def type(self, *entries: str) -> None:
        """Each entry through ``sscard sim keypad`` (digits on stdin: never in argv)."""
        for entry in entries:
            flag = {"cancel": ["--cancel"], "timeout": ["--timeout"]}.get(entry, ["--stdin"])
            done = sscard("sim", "keypad", *flag, "--control", str(self.harness.control_path),
                          stdin=entry + "\n")
            assert done.returncode == 0, done.stderr

    def received(self) -> list[bytes]:
        return pin_commands(self.harness.received()[self.mark:])

    def tries(self) -> int:
        done = sscard("pin", "status", "--reader", self.reader, "--json")
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["tries_left"])


@pytest.fixture
def pad(pcsc_stack: Any) -> Iterator[Pad]:
    harness = stack_pad(pcsc_stack)
    p = Pad(harness)
    yield p
    assert harness.keypad("status") == "keypad 0 entries queued", "a test left keypad entries"
    assert p.tries() == 6, "a test left the PIN pad's card with a try spent"


# --- sscard pin verify / change --reader R --pin-pad on ----------------------------------------


def test_pin_verify_on_the_pad_through_pcscd(pad: Pad) -> None:
    pad.type("123456")
    done = sscard("pin", "verify", "--reader", pad.reader, "--pin-pad", "on")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "PIN verified"
    assert f"PIN entry: the PIN pad of {pad.reader}" in done.stderr
    assert pad.received() == [VERIFY_123456]


def test_auto_is_the_pad_on_a_pad_reader(pad: Pad) -> None:
    pad.type("123456")
    done = sscard("pin", "verify", "--reader", pad.reader, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "verified"
    assert "PIN entry: the PIN pad" in done.stderr and pad.received() == [VERIFY_123456]


def test_pin_change_on_the_pad_through_pcscd(pad: Pad) -> None:
    pad.type("123456", "739251", "739251")
    done = sscard("pin", "change", "--reader", pad.reader, "--pin-pad", "on")
    assert done.returncode == 0, done.stderr
    pad.type("739251", "123456", "123456")  # back to the stack's PIN (policy allows it here)
    back = sscard("pin", "change", "--reader", pad.reader, "--allow-initial", "--allow-trivial")
    assert back.returncode == 0, back.stderr
    assert pad.received() == [bytes.fromhex("805E010007123456FF739251"),
                              bytes.fromhex("805E010007739251FF123456")]


@pytest.mark.parametrize(
    ("command", "entries", "result", "words"),
    [
        ("verify", ["cancel"], "cancelled", "cancelled"),
        ("verify", ["timeout"], "timeout", "timed out"),
        ("change", ["123456", "739251", "739250"], "mismatch", "differ"),
    ],
    ids=["cancel", "timeout", "mismatch"],
)
def test_the_pads_results_exit_1_and_use_no_try(pad: Pad, command: str, entries: list[str],
                                                 result: str, words: str) -> None:
    pad.type(*entries)
    done = sscard("pin", command, "--reader", pad.reader, "--pin-pad", "on")
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("sscard: ") and words in last and "no PIN try was used" in last
    assert "Traceback" not in done.stderr
    pad.type(*entries)
    as_json = sscard("pin", command, "--reader", pad.reader, "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["result"] == result
    assert pad.received() == []  # the card received nothing (tries: checked on teardown)


def test_on_with_a_reader_without_a_pad_is_a_clear_error(pcsc_stack: Any) -> None:
    done = sscard("pin", "verify", "--reader", pcsc_stack.card_reader, "--pin-pad", "on")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"sscard: {pcsc_stack.card_reader} has no PIN pad (PC/SC part 10); "
        "use --pin-pad auto or off"
    )
    assert "Traceback" not in done.stderr


def test_off_types_on_the_host_and_says_so(pad: Pad) -> None:
    done = sscard("pin", "verify", "--reader", pad.reader, "--pin-pad", "off", "--pin-stdin",
                  stdin="123456\n")
    assert done.returncode == 0, done.stderr
    assert "PIN entry: standard input (--pin-stdin) (--pin-pad off)" in done.stderr
    assert pad.received() == [VERIFY_123456]  # the host made it: the pad asked nothing


def test_pharmacy_on_the_pad(pad: Pad, pcsc_stack: Any) -> None:
    pad.type("123456")
    done = sscard("pharmacy", "--reader", pad.reader, "--psam-reader", pcsc_stack.psam_reader,
                  "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pin"] == "verified" and result["genuine"] is True
    assert any("cannot be checked" in note for note in result["notes"])
    assert pad.received() == [VERIFY_123456]


def test_activation_on_the_pad_takes_only_the_bank_pin_from_stdin(pad: Pad,
                                                                   pcsc_stack: Any) -> None:
    from simulator.samples import sample_personalisation

    holder = sample_personalisation(3).holder
    pad.type("123456", "739251", "739251")
    done = sscard("activate", "--reader", pad.reader, "--psam-reader", pcsc_stack.psam_reader,
                  "--name", holder.name, "--id-number", holder.ssn, "--pin-stdin", "--json",
                  stdin="582047\n582047\n")  # the bank PIN, twice: it leaves as a PIN block
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["activated"] is True and result["ss_pin_changed"] is True
    pad.type("739251", "123456", "123456")
    back = sscard("pin", "change", "--reader", pad.reader, "--allow-initial", "--allow-trivial")
    assert back.returncode == 0, back.stderr
    assert pad.received() == [bytes.fromhex("805E010007123456FF739251"),
                              bytes.fromhex("805E010007739251FF123456")]


def test_reset_on_the_pad_is_refused_with_the_reason(pad: Pad) -> None:
    done = sscard("pin", "reset", "--reader", pad.reader, "--pin-pad", "on")
    assert done.returncode == 2
    assert "security module" in done.stderr and "--pin-pad off" in done.stderr
    assert pad.received() == []


# --- no digit in the terminal's process ----------------------------------------------------------


def test_no_pin_digit_in_anything_the_terminal_process_says(pad: Pad) -> None:
    """``--trace`` and ``SSCARD_DEBUG=1`` on, distinctive PINs, wrong ones too: the trace holds
    the templates only (``FF`` where the digits go), and no output of the process the digits."""
    outputs = []
    for command, entries, code in (
        ("change", ["123456", "480913", "480913"], 0),
        ("verify", ["480914"], 1),
        ("change", ["480913", "480913", "480912"], 1),
        ("verify", ["480913"], 0),
        ("change", ["480913", "123456", "123456"], None),
    ):
        pad.type(*entries)
        extra = ["--allow-initial", "--allow-trivial"] if code is None else []
        done = sscard("pin", command, "--reader", pad.reader, "--pin-pad", "on", "--trace",
                      *extra, env={"SSCARD_DEBUG": "1"})
        assert done.returncode == (code or 0), done.stderr
        outputs.append(done.stdout + done.stderr)
    said = "\n".join(outputs)
    assert "VERIFY_PIN_DIRECT" in said and "MODIFY_PIN_DIRECT" in said
    for secret in ("480913", "48 09 13", "480914", "48 09 14", "480912", "48 09 12"):
        assert secret not in said.upper().replace("0X", "")
    assert bytes.fromhex("0020000003480914") in pad.received()  # the card did get them


# --- the national functions from the C library, through the service, on the pad ----------------


@pytest.fixture(scope="module")
def national() -> None:
    """``make national``: the library and its C test program (national_test ... pin)."""
    built = subprocess.run(["make", "-s", "national"], cwd=REPO, capture_output=True, text=True,
                           timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr


def test_national_pin_functions_from_c_on_the_pad(pad: Pad, national: None,
                                                   tmp_path: Path) -> None:
    config = tmp_path / "service.toml"
    config.write_text(f'[reader]\npcsc = "{pad.reader}"\n[security]\nmode = "hsm"\n'
                      '[pin]\nentry = "pad"\nprogram = "/nonexistent/pinentry"\ntimeout = 30\n')
    # in order: right PIN, cancel, timeout, wrong PIN, confirmations differ, change, change back
    pad.type("123456", "cancel", "timeout", "000111", "123456", "739251", "739250",
             "123456", "739251", "739251", "739251", "123456", "123456", "123456")
    calls = ["verify=0", "verify=-31", "verify=-32", "verify=-51", "change=-34", "change=0",
             "change=0", "verify=0"]
    with running_service(tmp_path, ["--config", str(config)]) as svc:
        done = subprocess.run([str(NATIONAL_TEST), str(NATIONAL_LIB), "pin", *calls], cwd=REPO,
                              capture_output=True, text=True, encoding="utf-8", errors="replace",
                              timeout=240, env=dict(os.environ, SSCARD_SOCKET=str(svc.socket)),
                              check=False)
        assert done.returncode == 0 and "0 failed" in done.stdout, done.stdout + done.stderr
        # a call's log line follows its answer: wait for every one before reading the log
        svc.wait_log("call iVerifyPIN", count=sum(c.startswith("verify") for c in calls))
        svc.wait_log("call iChangePIN", count=sum(c.startswith("change") for c in calls))
        log = svc.text() + svc.log.read_text(encoding="utf-8")
    assert pad.received() == [
        VERIFY_123456,
        bytes.fromhex("0020000003000111"),
        bytes.fromhex("805E010007123456FF739251"),
        bytes.fromhex("805E010007739251FF123456"),
        VERIFY_123456,
    ]
    for secret in ("739251", "000111", "123456"):
        assert secret not in done.stdout + log  # no digit in the service's process either


def test_the_service_without_a_pad_answers_minus_13_when_the_pad_is_required(
    pcsc_stack: Any, national: None, tmp_path: Path
) -> None:
    config = tmp_path / "service.toml"
    config.write_text(f'[reader]\npcsc = "{pcsc_stack.card_reader}"\n[security]\nmode = "hsm"\n'
                      '[pin]\nentry = "pad"\n')
    with running_service(tmp_path, ["--config", str(config)]) as svc:
        done = subprocess.run([str(NATIONAL_TEST), str(NATIONAL_LIB), "pin", "verify=-13",
                               "change=-13"], cwd=REPO, capture_output=True, text=True,
                              timeout=240, env=dict(os.environ, SSCARD_SOCKET=str(svc.socket)),
                              check=False)
    assert done.returncode == 0 and "0 failed" in done.stdout, done.stdout + done.stderr
