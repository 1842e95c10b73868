"""Start ``sscard service`` as a separate process for a test, and stop it (by its PID).

Readiness is an event, not a guess: the service prints ``listening on PATH`` on stderr once its
socket accepts connections; a reader thread collects stderr (so the pipe never fills) and sets
:attr:`RunningService.ready`.  Log lines are awaited the same way (:meth:`wait_log`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from terminal.service.protocol import ServiceClient
from tests.helpers_national import PINENTRY, REPO, PinQueue

SSCARD = [sys.executable, "-m", "terminal.cli.main"]


@dataclass
class RunningService:
    proc: subprocess.Popen[bytes]
    socket: Path
    log: Path
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def client(self, timeout: float | None = 60.0) -> ServiceClient:
        return ServiceClient(str(self.socket), timeout=timeout)

    def call(self, fn: str, *args: int | bytes | str) -> tuple[int, tuple[bytes, ...]]:
        with self.client() as c:
            return c.call(fn, list(args))

    def text(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_log(self, needle: str, timeout: float = 30.0, *, count: int = 1) -> str:
        """Block until ``count`` stderr lines contain ``needle`` (lines seen since the start
        count: a needle expected twice needs ``count=2``); the last such line."""

        def hits() -> list[str]:
            return [line for line in self.lines if needle in line]

        with self.changed:
            self.changed.wait_for(
                lambda: len(hits()) >= count or self.proc.poll() is not None, timeout
            )
            found = hits()
        if len(found) < count:
            raise AssertionError(
                f"service log showed {needle!r} {len(found)} of {count} times:\n{self.text()}"
            )
        return found[-1]

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


def _pump(svc: RunningService) -> None:
    assert svc.proc.stderr is not None
    for raw in svc.proc.stderr:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        with svc.changed:
            svc.lines.append(line)
            if "listening on" in line:
                svc.ready.set()
            svc.changed.notify_all()
    with svc.changed:
        svc.changed.notify_all()
    svc.ready.set()


@contextmanager
def running_service(
    tmp: Path,
    args: Sequence[str],
    *,
    pins: PinQueue | None = None,
    env: dict[str, str] | None = None,
    socket_path: Path | None = None,
    default_place: bool = False,
    unset: Sequence[str] = (),
) -> Iterator[RunningService]:
    """``sscard service ARGS --socket S --log L`` with the scripted pinentry; stopped at the end.

    ``default_place``: no ``--socket``; the service chooses (the path it announces is used).
    ``unset``: environment variables the service must not inherit.
    """
    sock = socket_path or tmp / "svc.sock"
    log = tmp / "service.log"
    cmd = [*SSCARD, "service", *args, "--log", str(log)]
    if not default_place:
        cmd += ["--socket", str(sock)]
    if "--config" not in args:
        cmd += ["--pinentry", str(PINENTRY)]
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(pins.env() if pins else {}),
                    **(env or {}))
    for name in unset:
        full_env.pop(name, None)
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=full_env, start_new_session=True)
    svc = RunningService(proc, sock, log)
    threading.Thread(target=_pump, args=(svc,), daemon=True).start()
    try:
        if not svc.ready.wait(60) or proc.poll() is not None:
            raise AssertionError(f"the service did not start:\n{svc.text()}")
        if default_place:
            # the CLI's "listening on PATH" and the log's "listening on PATH (readers: ...)"
            # arrive in either order: the path is what follows, up to the log's details
            line = svc.wait_log("listening on").split("listening on ", 1)[1]
            svc.socket = Path(line.split(" (readers: ", 1)[0])
        yield svc
    finally:
        svc.stop()
