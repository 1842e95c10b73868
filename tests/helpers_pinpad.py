"""Shared helpers of the PIN-pad tests (issue 13).

:class:`RecordingCard` wraps a simulated card and keeps every command it *received*: the test hook
that proves what a PIN pad put on the wire to the card (the card side holds the PIN anyway; the
host side never sees these bytes).  With ``path`` it also appends each command as a hex line to a
file, flushed before the card answers, so a test in another process can read it as soon as its
PC/SC call returns.
"""

from __future__ import annotations

from pathlib import Path

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


def recorded(path: Path) -> list[bytes]:
    """The commands a :class:`RecordingCard` wrote to ``path`` (oldest first)."""
    if not path.exists():
        return []
    return [bytes.fromhex(line) for line in path.read_text().split()]
