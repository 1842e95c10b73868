"""PIN entry through GnuPG's pinentry (Assuan): the protocol pieces, and Debian's real
``pinentry-curses`` driven through a pseudo-terminal, where the test types like a holder."""

from __future__ import annotations

import os
import pty
import select
import shutil
import threading
from pathlib import Path

import pytest

from terminal.national.card import CardSource, SourceConfig
from terminal.national.facade import National, NationalConfig
from terminal.national.pinentry import (
    PinentryConfig,
    PinEntryError,
    PinentrySession,
    Requester,
    _error,
    _unescape_into,
    escape,
)
from terminal.policy import SalePolicy


def test_assuan_escaping_both_ways() -> None:
    assert escape("a%b\nc\rd") == "a%25b%0Ac%0Dd"
    out = bytearray()
    _unescape_into(b"12%2534%0A56%zz%4", out)
    assert out == bytearray(b"12%34\n56%zz%4")


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b"ERR 83886179 Operation cancelled <Pinentry>", "cancel"),
        (b"ERR 83886278 Fully canceled", "cancel"),
        (b"ERR 83886142 Timeout <Pinentry>", "timeout"),
        (b"ERR 83918950 Inappropriate ioctl for device <Pinentry>", "unavailable"),
        (b"ERR garbage", "unavailable"),
    ],
)
def test_assuan_errors(line: bytes, kind: str) -> None:
    assert _error(line, "GETPIN").kind == kind


def test_the_description_names_the_program_and_why() -> None:
    text = Requester("iVerifyPIN", 4242, "/opt/his/bin/pos").describe("校验社会保障卡密码")
    assert "/opt/his/bin/pos (PID 4242)" in text and "iVerifyPIN" in text and "校验" in text


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        ("exit 0", "unavailable"),  # exits before its greeting
        ("echo 'OK hi'; exit 0", "unavailable"),  # exits in the middle
        ("echo 'OK hi'; read x; echo 'ERR 1 no'; read x", "unavailable"),  # refuses SETTITLE
        ("printf 'OK hi\\n'; while read x; do echo nonsense; done", "unavailable"),
    ],
)
def test_broken_pinentry_programs(tmp_path: Path, script: str, kind: str) -> None:
    program = tmp_path / "pinentry-broken"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    with pytest.raises(PinEntryError) as info:
        with PinentrySession(PinentryConfig(program=str(program), timeout=2), "t") as s:
            s.get("PIN:", "d")
    assert info.value.kind == kind


class Holder:
    """Sits at a pseudo-terminal where pinentry-curses draws; types when a prompt is shown."""

    def __init__(self, keys: list[bytes]) -> None:
        self.master, self.slave = pty.openpty()
        self.name = os.ttyname(self.slave)
        self.keys = list(keys)
        self.screen = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            self.screen.extend(os.read(self.master, 65536))
        except OSError:
            return False
        return True

    def _run(self) -> None:
        while self.keys:
            mark = len(self.screen)
            while b"PIN" not in self.screen[mark:]:  # the next prompt is on the screen
                if not self._read(30):
                    return
            os.write(self.master, self.keys.pop(0))
        while self._read(1):
            pass

    def close(self) -> None:
        self.thread.join(30)
        os.close(self.master)
        os.close(self.slave)


def test_debian_pinentry_curses_through_the_facade(tmp_path: Path) -> None:
    program = shutil.which("pinentry-curses")
    assert program, "pinentry-curses is installed by `make` (system packages)"
    holder = Holder([b"123456\r"])
    config = NationalConfig(
        pin_entry="pinentry",
        pinentry=PinentryConfig(program=program, timeout=30, ttyname=holder.name,
                                ttytype="vt100"),
        policy=SalePolicy(refuse_initial_pin=False),
    )
    national = National(CardSource(SourceConfig(sim=True, security="software")), config,
                        requester_pid=4242, requester_exe="/opt/his/bin/pos")
    try:
        assert national.iVerifyPIN(3) == (0, (b"",))
    finally:
        holder.close()
    assert b"4242" in holder.screen  # the holder saw which program asked
    assert b"123456" not in holder.screen  # and the PIN was never echoed


def test_debian_pinentry_curses_cancel_is_minus_31(tmp_path: Path) -> None:
    program = shutil.which("pinentry-curses")
    assert program
    holder = Holder([b"\t\t\r"])  # Tab to <Cancel>, Enter: the holder cancels
    config = NationalConfig(
        pin_entry="pinentry",
        pinentry=PinentryConfig(program=program, timeout=30, ttyname=holder.name,
                                ttytype="vt100"),
    )
    national = National(CardSource(SourceConfig(sim=True, security="software")), config)
    try:
        assert national.iVerifyPIN(3)[0] == -31
    finally:
        holder.close()


def test_the_default_terminal_follows_gnupg(monkeypatch: pytest.MonkeyPatch) -> None:
    from terminal.national.pinentry import default_tty

    monkeypatch.setenv("GPG_TTY", "/dev/pts/9")
    monkeypatch.setenv("TERM", "xterm")
    assert default_tty() == ("/dev/pts/9", "xterm")
