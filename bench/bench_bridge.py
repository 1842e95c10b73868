"""The browser bridge against the service's Unix socket: the same read, two ways in.

Issue 14's goal: a read through the bridge (WebSocket on 127.0.0.1, the page's JSON message)
costs at most 1 ms more than the same read through the Unix socket the C library uses.  One
``sscard service --sim --bridge 0 --demo`` (the built-in 3.00 sample card, in memory) serves
both, so the card, the facade and the security module (software, TEST keys) are the same and
the difference is the transport: the
handshake-checked WebSocket, the message table, the event loop's hop to a worker thread and the
deployed answer shape, against the socket's frames.  The read is ``iReadCardBas`` (iType 3): the
national message ``{"function":"iReadCardBas","iType":3}`` on the bridge, ``op: call`` on the
socket.  Both clients keep one connection open (as a page and the C library do) and are
measured in interleaved batches, compared by their medians.
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from websockets.sync.client import connect
from websockets.typing import Origin

from bench import timed_calls
from terminal.service.protocol import ServiceClient

REPO = Path(__file__).resolve().parents[1]
GOAL_MS = 1.0


def _start(work: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    sock = work / "bench.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal.cli.main", "service", "--sim", "--socket",
         str(sock), "--log", os.devnull, "--bridge", "0", "--demo"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, env=dict(os.environ, XDG_CONFIG_HOME=str(work / "config")),
    )
    assert proc.stderr is not None
    port = None
    listening = False
    for raw in proc.stderr:  # the start's lines: the socket, then the bridge's address
        line = raw.decode("utf-8", "replace")
        m = re.search(r"bridge ws://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
        listening = listening or "listening on" in line
        if port is not None and listening:
            break
    if port is None or not listening:
        raise RuntimeError("the service did not start with its bridge")
    # every request is logged on stderr: keep reading it so the pipe never fills
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, sock, port


def run(quick: bool = False) -> list[dict]:
    rounds, batch = (5, 20) if quick else (30, 50)
    with tempfile.TemporaryDirectory(prefix="sscard-bench-bridge-") as tmp:
        proc, sock, port = _start(Path(tmp))
        try:
            origin = f"http://127.0.0.1:{port}"  # the demo page's own: paired by --demo
            message = json.dumps({"function": "iReadCardBas", "iType": 3})
            with ServiceClient(str(sock), timeout=60) as unix, \
                    connect(f"ws://127.0.0.1:{port}/", origin=Origin(origin),
                            open_timeout=60) as ws:

                def via_bridge() -> dict:
                    ws.send(message)
                    return json.loads(ws.recv(timeout=60))

                def via_unix() -> tuple[int, tuple[bytes, ...]]:
                    return unix.call("iReadCardBas", [3])

                page, c = via_bridge(), via_unix()
                if page["success"] != "1" or c[0] != 0:
                    raise RuntimeError(f"iReadCardBas failed before the benchmark: {page}")
                if page["pOutInfo"].encode("gbk") != c[1][0]:
                    raise RuntimeError("the bridge and the socket read different lines")
                bridge_ms: list[float] = []
                unix_ms: list[float] = []
                for _ in range(rounds):
                    bridge_ms += timed_calls(via_bridge, batch)
                    unix_ms += timed_calls(via_unix, batch)
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(15)
    b, u = statistics.median(bridge_ms), statistics.median(unix_ms)
    extra = b - u
    n = rounds * batch
    return [
        {"benchmark": "bridge: iReadCardBas via the Unix socket (3.00 card)", "value": u,
         "unit": "ms (median)", "note": f"{n} calls, one connection, software module"},
        {"benchmark": "bridge: iReadCardBas via the WebSocket bridge (3.00 card)", "value": b,
         "unit": "ms (median)", "note": f"{n} calls, one connection, interleaved with the above"},
        {"benchmark": "bridge: overhead per read against the Unix socket", "value": extra,
         "unit": "ms", "note": f"goal <= {GOAL_MS} ms: {'met' if extra <= GOAL_MS else 'NOT met'}"},
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
