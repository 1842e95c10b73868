"""The national interface through the C library and the service, against the facade in-process.

Issue 12's goal: ``iReadCardBas`` through ``libsscard-national.so`` and ``sscard service`` costs
at most 0.3 ms more per call than the same read through :class:`terminal.national.facade.National`
in the calling process.  Both read the same simulated card (the built-in 3.00 sample in memory;
a 2.x sample from a file that a read never writes), with the software TEST module, so the
difference is the price of the C library, the socket, the protocol and the service.  The two are
measured in interleaved rounds (one batch each, alternately) and compared by their medians.
``iGetReaderInfo`` through the same path is the floor: a round trip that touches no card.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import timed_calls
from terminal.national.card import CardSource, SourceConfig
from terminal.national.facade import National

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "build" / "national" / "libsscard-national.so"
GOAL_MS = 0.3


def _build() -> None:
    done = subprocess.run(["make", "-s", "national"], cwd=REPO, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"make national failed:\n{done.stdout}{done.stderr}")


def _start(sim: str, sock: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        # a bare --sim is the built-in sample card (--sim sample would be the file ./sample)
        [sys.executable, "-m", "terminal.cli.main", "service", "--sim",
         *([] if sim == "sample" else [sim]), "--socket", str(sock),
         "--log", os.devnull],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    if "listening on" not in line:
        raise RuntimeError(f"the service did not start: {line}")
    # the service logs every request on stderr: keep reading it so the pipe never fills
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(15)


def _measure(label: str, sim: str, facade_sim: Path | bool, rounds: int, batch: int,
             work: Path) -> list[dict]:
    sock = work / f"{label}.sock"
    proc = _start(sim, sock)
    try:
        os.environ["SSCARD_SOCKET"] = str(sock)
        lib = ctypes.CDLL(str(LIB))
        lib.iReadCardBas.restype = ctypes.c_long
        lib.iGetReaderInfo.restype = ctypes.c_long
        buf = ctypes.create_string_buffer(1024)
        sn, term = ctypes.create_string_buffer(32), ctypes.create_string_buffer(16)
        national = National(CardSource(SourceConfig(sim=facade_sim, security="software")))
        if lib.iReadCardBas(3, buf) != 0 or national.iReadCardBas(3)[0] != 0:
            raise RuntimeError("iReadCardBas failed before the benchmark")
        if buf.value != national.iReadCardBas(3)[1][0]:
            raise RuntimeError("the C library and the facade read different lines")
        via_c: list[float] = []
        local: list[float] = []
        floor: list[float] = []
        for _ in range(rounds):
            via_c += timed_calls(lambda: lib.iReadCardBas(3, buf), batch)
            local += timed_calls(lambda: national.iReadCardBas(3), batch)
            floor += timed_calls(lambda: lib.iGetReaderInfo(sn, term), batch)
    finally:
        _stop(proc)
    c_ms, local_ms = statistics.median(via_c), statistics.median(local)
    extra = c_ms - local_ms
    n = rounds * batch
    return [
        {"benchmark": f"national: iReadCardBas in-process facade, {label} card",
         "value": local_ms, "unit": "ms (median)", "note": f"{n} calls, software module"},
        {"benchmark": f"national: iReadCardBas via C library + service, {label} card",
         "value": c_ms, "unit": "ms (median)", "note": f"{n} calls, interleaved with the above"},
        {"benchmark": f"national: service overhead per call, {label} card",
         "value": extra, "unit": "ms",
         "note": f"goal <= {GOAL_MS} ms: {'met' if extra <= GOAL_MS else 'NOT met'}"},
        {"benchmark": "national: iGetReaderInfo via C library + service (no card I/O)",
         "value": statistics.median(floor), "unit": "ms (median)",
         "note": "the protocol's round trip: socket, JSON, thread, log"},
    ]


def run(quick: bool = False) -> list[dict]:
    _build()
    rounds, batch = (5, 20) if quick else (30, 50)
    work = Path(tempfile.mkdtemp(prefix="sscard-bench-national-"))
    try:
        from simulator.samples import sample_card

        card2, mine2 = work / "card2.json", work / "card2-local.json"
        sample_card(2).save(card2)
        shutil.copy(card2, mine2)
        rows = _measure("3.00", "sample", True, rounds, batch, work)
        rows += _measure("2.x", str(card2), mine2, rounds, batch, work)[:3]
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
