"""The bridge in tests: ``sscard service ... --bridge 0`` as a process, its port, WebSocket clients
from any origin, raw HTTP requests (to forge Host and Origin), and the service's card counter.

Readiness and log lines are awaited (tests/helpers_service.py); a WebSocket answer is awaited
with a bounded ``recv``.  The pairing file lives under the test's own ``XDG_CONFIG_HOME``.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.helpers_national import PinQueue
from tests.helpers_service import SSCARD, RunningService, running_service

#: Longest wait for one answer (a PIN prompt answered by the scripted pinentry included).
ANSWER_TIMEOUT = 60.0


@dataclass
class RunningBridge:
    svc: RunningService
    port: int
    config_home: Path

    @property
    def demo_origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pairing_file(self) -> Path:
        return self.config_home / "sscard" / "bridge-pairings.json"

    def ws(self, origin: str | None = None, host: str = "127.0.0.1") -> ClientConnection:
        """A WebSocket from ``origin`` (default: the demo page's own origin)."""
        where = f"[{host}]" if ":" in host else host
        return connect(f"ws://{where}:{self.port}/", origin=origin or self.demo_origin,  # type: ignore[arg-type]
                       open_timeout=30, close_timeout=5)

    def status(self) -> dict[str, Any]:
        with self.svc.client() as c:
            return c.request({"v": 1, "op": "status"})

    def card_opened(self) -> int:
        """How often the service opened a card (every card access opens it first)."""
        return int(self.status()["card_opened"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``sscard service ARGS --socket S`` (the operator's commands)."""
        return subprocess.run([*SSCARD, "service", *args, "--socket", str(self.svc.socket)],
                              capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def running_bridge(tmp: Path, args: Sequence[str], *, pins: PinQueue | None = None,
                   config_home: Path | None = None) -> Iterator[RunningBridge]:
    """``sscard service ARGS`` (add ``--bridge 0`` or a config with a bridge) and its port."""
    home = config_home or tmp / "config"
    home.mkdir(exist_ok=True)
    with running_service(tmp, args, pins=pins, env={"XDG_CONFIG_HOME": str(home)}) as svc:
        line = svc.wait_log("bridge ws://127.0.0.1:")
        m = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        yield RunningBridge(svc, int(m.group(1)), home)


def ask(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send one message, return its answer (events pushed meanwhile are skipped)."""
    ws.send(json.dumps(message))
    while True:
        answer = receive(ws)
        if answer.get("type") not in ("card", "paired") or "id" in answer:
            return answer


def receive(ws: ClientConnection) -> dict[str, Any]:
    answer = json.loads(ws.recv(timeout=ANSWER_TIMEOUT))
    assert isinstance(answer, dict)
    return answer


def raw_http(port: int, lines: Sequence[str], address: str = "127.0.0.1") -> tuple[int, str]:
    """Send a raw HTTP/1.1 request (``lines`` without the final blank line); status and body."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect((address, port))
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode("utf-8", "replace")


def upgrade(port: int, *, host: str | None = None, origin: str | None = None,
            path: str = "/", method: str = "GET", extra: Sequence[str] = ()) -> tuple[int, str]:
    """A WebSocket upgrade request with the given Host and Origin (None: header left out)."""
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += ["Upgrade: websocket", "Connection: Upgrade",
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    lines += list(extra)
    return raw_http(port, lines)
