"""Shared helpers of the PIN-pad tests (issue 13).

:class:`RecordingCard` wraps a simulated card and keeps every command it *received*: the test hook
that proves what a PIN pad put on the wire to the card (the card side holds the PIN anyway; the
host side never sees these bytes).  With ``path`` it also appends each command as a hex line to a
file, flushed before the card answers, so a test in another process can read it as soon as its
PC/SC call returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apdu.names import SSSE_NAME

SELECT_SSSE = bytes.fromhex("00A404000F") + SSSE_NAME
EMPTY_VERIFY = bytes.fromhex("00200000")


class RecordingCard:
    """A :class:`simulator.card.VirtualCard` that records the commands it receives."""

    def __init__(self, inner: object, path: Path | None = None) -> None:
        self.inner = inner
        self.received: list[bytes] = []
        self.path = path

    @property
    def atr(self) -> bytes:
        return self.inner.atr  # type: ignore[attr-defined, no-any-return]

    @property
    def t0(self) -> bool:
        return self.inner.t0  # type: ignore[attr-defined, no-any-return]

    def power_on(self) -> bytes:
        return self.inner.power_on()  # type: ignore[attr-defined, no-any-return]

    def reset(self) -> bytes:
        return self.inner.reset()  # type: ignore[attr-defined, no-any-return]

    def power_off(self) -> None:
        self.inner.power_off()  # type: ignore[attr-defined]

    def transmit(self, command: bytes) -> bytes:
        raw = bytes(command)
        self.received.append(raw)
        if self.path is not None:
            with open(self.path, "a", encoding="ascii") as out:
                out.write(raw.hex().upper() + "\n")
                out.flush()
        return self.inner.transmit(raw)  # type: ignore[attr-defined, no-any-return]

    def since(self, mark: int) -> list[bytes]:
        return self.received[mark:]


def press(keypad: Any, *entries: str) -> None:
    """The holder's keys on a :class:`simulator.pinpad.ScriptedKeypad`: digits then OK, or
    ``"cancel"`` / ``"timeout"``."""
    for entry in entries:
        if entry == "cancel":
            keypad.push_cancel()
        elif entry == "timeout":
            keypad.push_timeout()
        else:
            keypad.push(entry)


def stack_pad(pcsc_stack: Any) -> Any:
    """The test stack's PIN-pad harness, alive and with an empty keypad queue; the test fails
    (never skips) when the stack has none."""
    import pytest

    harness = pcsc_stack.pinpad
    if harness is None:
        pytest.fail("the PIN-pad reader needs the test stack's private pcscd (root and unshare)",
                    pytrace=False)
    harness.check_alive()
    harness.keypad("clear")
    return harness


def recorded(path: Path) -> list[bytes]:
    """The commands a :class:`RecordingCard` wrote to ``path`` (oldest first)."""
    if not path.exists():
        return []
    return [bytes.fromhex(line) for line in path.read_text().split()]


class IfdClient:
    """The driver's side of simulator/ifd/PROTOCOL.md in Python (tests only): one request at a
    time, WAIT frames counted."""

    def __init__(self, path: Path | str, timeout: float = 20.0) -> None:
        import socket

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.waits = 0

    def send(self, kind: int, payload: bytes = b"") -> None:
        self.sock.sendall(bytes((kind,)) + len(payload).to_bytes(4, "big") + payload)

    def receive(self) -> tuple[int, bytes] | None:
        """The next reply other than WAIT; None when the server closed the connection."""
        while True:
            header = self._exact(5)
            if header is None:
                return None
            payload = self._exact(int.from_bytes(header[1:], "big"))
            if payload is None:
                return None
            if header[0] == 0x84:
                self.waits += 1
                continue
            return header[0], payload

    def request(self, kind: int, payload: bytes = b"") -> tuple[int, bytes] | None:
        self.send(kind, payload)
        return self.receive()

    def hello(self) -> None:
        assert self.request(0x01, b"\x01test") == (0x80, b"\x01sscard pinpad")

    def _exact(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()
