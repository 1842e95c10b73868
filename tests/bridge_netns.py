"""Run inside ``unshare --net`` (a network namespace of this test's own): give the namespace a
non-loopback address of each family, start ``sscard service --sim CARD --bridge 0``, and try a TCP
connection to the bridge's port on every address.  Prints one JSON line: address -> "open" or
"refused".  No traffic leaves the namespace (it has no other interface).

    unshare --net python -m tests.bridge_netns CARD.json WORKDIR
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ADDRESSES = {"10.254.0.1": "10.254.0.1/32", "fd00:5ca:7d::1": "fd00:5ca:7d::1/128"}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _probe(address: str, port: int) -> str:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        try:
            s.connect((address, port))
        except ConnectionRefusedError:
            return "refused"
    return "open"


def main() -> int:
    card, work = sys.argv[1], Path(sys.argv[2])
    _ip("link", "set", "lo", "up")
    for address in ADDRESSES.values():
        _ip("addr", "add", address, "dev", "lo")
    cmd = [sys.executable, "-m", "terminal.cli.main", "service", "--sim", card, "--bridge", "0",
           "--socket", str(work / "netns.sock")]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    found = threading.Event()
    port: list[int] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = re.search(r"bridge ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port.append(int(m.group(1)))
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not found.wait(60) or not port:
            print("the service did not start", file=sys.stderr)
            return 1
        result = {a: _probe(a, port[0]) for a in ("127.0.0.1", "::1", *ADDRESSES)}
        print(json.dumps(result))
        return 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(15)


if __name__ == "__main__":
    raise SystemExit(main())
