"""libifd-sscard.so called from C (simulator/ifd/test_ifd_sscard.c) against firmware that is running
(issue 13): the real ``sscard sim serve --pinpad-socket``, a firmware with no card, no firmware at
all, and firmware that hangs or stalls -- pcscd must never wait on the driver without bound.

The C program loads the driver as pcscd does (dlopen + dlsym) and checks every answer itself;
these tests prepare the firmware, run it and read its verdict.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import ifdserver
from simulator.ifdserver import IfdServer
from simulator.pinpad import PinPadFirmware, ScriptedKeypad
from simulator.vpcd import control
from tests.stack import IFD_TEST, REPO, build_ifd_driver, issue_user_card

PROTO_H = REPO / "simulator" / "ifd" / "ifd_sscard_proto.h"


@pytest.fixture(scope="module")
def driver() -> Path:
    return build_ifd_driver()


def run_c(driver: Path, scenario: str, sock: Path | str, **env: str) -> str:
    done = subprocess.run(
        [str(IFD_TEST), str(driver), scenario, str(sock)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0 and "0 failed" in done.stdout, report
    return report


def _wait_for(paths: list[Path], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while not all(p.exists() for p in paths):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"sscard sim serve did not start:\n{log.read_text()}")
        time.sleep(0.05)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """``sscard sim serve --card CARD --pinpad-socket S`` (the card goes into the PIN pad)."""
    card = issue_user_card(tmp_path / "card.json", "--t1")
    pad, ctl, log = tmp_path / "pad.sock", tmp_path / "ctl.sock", tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "terminal.cli.main", "sim", "serve", "--card", str(card),
             "--pinpad-socket", str(pad), "--control", str(ctl), "-v"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_for([pad, ctl], proc, log)
        yield pad, ctl
    finally:
        proc.terminate()
        proc.wait(15)


def test_the_driver_through_the_real_simulator(driver: Path, served: tuple[Path, Path]) -> None:
    pad, ctl = served
    script = subprocess.run([str(IFD_TEST), "-", "script", "-"], capture_output=True, text=True,
                            timeout=30, check=True).stdout.split()
    assert script[:3] == ["123456", "cancel", "timeout"]
    for entry in script:
        control(f"keypad {entry}", str(ctl))
    report = run_c(driver, "full", pad)
    assert "ok   VERIFY 123456 on the pad: 9000" in report
    assert "ok   CHANGE, confirmation differs: 6402" in report
    assert control("keypad status", str(ctl)) == "keypad 0 entries queued"  # all were used


def test_a_reader_without_a_card(driver: Path, tmp_path: Path) -> None:
    with IfdServer(tmp_path / "empty.sock", None, PinPadFirmware(ScriptedKeypad())):
        run_c(driver, "absent", tmp_path / "empty.sock")


def test_no_firmware_listening(driver: Path, tmp_path: Path) -> None:
    run_c(driver, "gone", tmp_path / "nobody.sock")


class _Silent:
    """Answers HELLO, then never answers (``stall``: sends WAIT frames forever instead)."""

    def __init__(self, path: Path, stall: bool) -> None:
        self.stall = stall
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(4)
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while not self.stop.is_set():
                    header = conn.recv(5)
                    if len(header) < 5:
                        return
                    conn.recv(int.from_bytes(header[1:], "big"))
                    if header[0] == ifdserver.REQ_HELLO:
                        conn.sendall(ifdserver.frame(ifdserver.REP_OK, b"\x01silent"))
                        continue
                    while self.stall and not self.stop.wait(0.05):
                        conn.sendall(ifdserver.frame(ifdserver.REP_WAIT))
                    self.stop.wait(30)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.mark.parametrize("scenario", ["hung", "stall"])
def test_a_firmware_that_never_answers_cannot_hang_pcscd(
    driver: Path, tmp_path: Path, scenario: str
) -> None:
    path = tmp_path / f"{scenario}.sock"
    silent = _Silent(path, stall=scenario == "stall")
    try:
        report = run_c(driver, scenario, path, SSCARD_IFD_IDLE_MS="300", SSCARD_IFD_TOTAL_MS="1000")
    finally:
        silent.close()
    assert "no valid answer to request 0x07" in report  # the driver said why, and went on


def test_both_sides_use_the_same_protocol_constants() -> None:
    defines = dict(re.findall(r"#define (IFDS_\w+) (0x[0-9A-Fa-f]+|\d+)", PROTO_H.read_text()))
    python = {
        "IFDS_PROTOCOL_VERSION": ifdserver.PROTOCOL_VERSION,
        "IFDS_HEADER_SIZE": ifdserver.HEADER_SIZE,
        "IFDS_MAX_PAYLOAD": ifdserver.MAX_PAYLOAD,
        "IFDS_ABSENT": ifdserver.ABSENT,
        "IFDS_PRESENT": ifdserver.PRESENT,
        "IFDS_POWERED": ifdserver.POWERED,
    }
    python.update({f"IFDS_{name}": getattr(ifdserver, name) for name in dir(ifdserver)
                   if name.startswith(("REQ_", "REP_"))})
    for name, value in python.items():
        assert int(defines[name], 0) == value, name
    protocol = (REPO / "simulator" / "ifd" / "PROTOCOL.md").read_text()
    for name in ("HELLO", "PRESENCE", "POWER_ON", "POWER_OFF", "RESET", "APDU", "CONTROL", "OK",
                 "NO_CARD", "NOT_SUPPORTED", "ERROR", "WAIT"):
        value = python.get(f"IFDS_REQ_{name}", python.get(f"IFDS_REP_{name}"))
        assert f"`{value:#04x}` | {name} |" in protocol, name


def test_serve_puts_the_card_in_the_pad_or_another_card_there(tmp_path: Path) -> None:
    import json

    from tests.helpers_pinpad import IfdClient

    card = issue_user_card(tmp_path / "card.json", "--t1")
    other = issue_user_card(tmp_path / "other.json", "--t1")
    for extra, slot0 in (([], None), (["--pinpad-card", str(other)], str(card))):
        pad, ctl, log = tmp_path / "p.sock", tmp_path / "c.sock", tmp_path / "s.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "terminal.cli.main", "sim", "serve", "--card", str(card),
                 "--pinpad-socket", str(pad), "--control", str(ctl), "--vpcd", "127.0.0.1:9",
                 *extra],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            _wait_for([pad, ctl], proc, log)
            status = json.loads(control("status", str(ctl)))
            assert status[0]["file"] == slot0 and status[0]["card"] is (slot0 is not None)
            client = IfdClient(pad)
            client.hello()
            assert client.request(ifdserver.REQ_PRESENCE) == (ifdserver.REP_OK, b"\x01")
            client.close()
        finally:
            proc.terminate()
            proc.wait(15)
        assert "PIN-pad reader on" in log.read_text()


def test_pinpad_card_needs_a_pinpad_socket(tmp_path: Path) -> None:
    card = issue_user_card(tmp_path / "card.json", "--t1")
    done = subprocess.run(
        [sys.executable, "-m", "terminal.cli.main", "sim", "serve", "--card", str(card),
         "--pinpad-card", str(card)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert done.returncode == 2 and "--pinpad-card needs --pinpad-socket" in done.stderr


def test_keypad_modes() -> None:
    from apdu.errors import UsageError
    from simulator.ifdserver import make_keypad
    from simulator.pinpad import TerminalKeypad

    keypad, scripted = make_keypad("control")
    assert keypad is scripted and isinstance(scripted, ScriptedKeypad)
    keypad, scripted = make_keypad("terminal")
    assert isinstance(keypad, TerminalKeypad) and scripted is None
    with pytest.raises(UsageError):
        make_keypad("voice")
