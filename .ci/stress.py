"""``make test-stress``: the whole suite N times in a row while busy loops keep every core busy.

Issue 11's proof that the tests hold under load: a test that asserts a state it has not waited
for, races a timer, or bounds a duration fails here first.  One busy process per core (plain
Python loops: no dependency such as stress-ng) runs for the whole loop; the suite runs as
``make test`` runs it.  The loop stops at the first failing run; the load always goes with it,
also when this is interrupted (Ctrl-C or SIGTERM): the running suite gets SIGINT, so its fixtures
tear down the PC/SC stacks they started, and is killed only if it does not end in two minutes.

Usage: ``python .ci/stress.py [RUNS] [-- PYTEST-ARGS...]`` (RUNS defaults to 5).  Prints one line
per run and ``N/RUNS passed``; exit status 0 only when every run passed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

BUSY = "while True: pass"
GRACE = 120.0  # seconds the interrupted suite has to tear its stacks down


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: stop after the running suite has torn down."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _stop(proc: subprocess.Popen[bytes], sig: int, grace: float) -> None:
    """``sig`` to ``proc``'s process group, then SIGKILL to the group if it is still there."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv and argv[0] != "--" else 5
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    cores = os.cpu_count() or 1
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    load = [subprocess.Popen([sys.executable, "-c", BUSY], start_new_session=True)
            for _ in range(cores)]
    print(f"stress: {cores} busy process(es) started, {runs} run(s) of the suite", flush=True)
    passed, suite = 0, None
    started = time.monotonic()
    try:
        for run in range(1, runs + 1):
            t0 = time.monotonic()
            # Its own process group: SIGINT reaches pytest (not ignored as in a background job)
            # and nothing it starts outlives a kill of the group.
            suite = subprocess.Popen([sys.executable, "-m", "pytest", *extra],
                                     start_new_session=True)
            code = suite.wait()
            took = time.monotonic() - t0
            print(f"stress: run {run}/{runs} {'passed' if code == 0 else 'FAILED'} "
                  f"in {took:.0f} s (exit {code})", flush=True)
            if code != 0:
                break
            passed += 1
    except Interrupted as exc:
        print(f"stress: interrupted by {exc} during run {passed + 1}", flush=True)
        if suite is not None:
            _stop(suite, signal.SIGINT, GRACE)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for busy in load:
            _stop(busy, signal.SIGKILL, 10)
        print(f"{passed}/{runs} passed ({time.monotonic() - started:.0f} s under load on "
              f"{cores} core(s))", flush=True)
    return 0 if passed == runs else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
