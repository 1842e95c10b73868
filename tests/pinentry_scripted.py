#!/usr/bin/env python3
"""A scripted pinentry for tests: speaks the Assuan side of GnuPG's pinentry, answers GETPIN from
a queue file.  Standard library only (the service may run it with any Python 3).

Environment:
  SSCARD_TEST_PINQUEUE   the queue file: one answer a line, the first line is taken (and removed,
                         under an flock) by each GETPIN:
                           PIN <digits>   answer with these digits
                           CANCEL         the holder pressed Cancel   (ERR 83886179)
                           TIMEOUT        pinentry's own timeout      (ERR 83886142)
                           CONFIRM        answer a CONFIRM with OK (PIN does too; anything
                                          else, or an empty queue, is Cancel)
                           HANG [FIFO]    never answer (the service must give up and kill us);
                                          with FIFO, first write one line there (the test's
                                          signal that the prompt is up)
                         an empty or missing queue answers CANCEL.
  SSCARD_TEST_PINLOG     optional: each command verb and each SETDESC/SETTITLE/SETPROMPT/SETTIMEOUT
                         text is appended here (never a PIN: the PIN goes only to stdout).
"""

from __future__ import annotations

import fcntl
import os
import sys

ERR_CANCELED = "ERR 83886179 Operation cancelled <Pinentry>"
ERR_TIMEOUT = "ERR 83886142 Timeout <Pinentry>"


def _log(text: str) -> None:
    path = os.environ.get("SSCARD_TEST_PINLOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def _next_answer() -> str:
    path = os.environ.get("SSCARD_TEST_PINQUEUE")
    if not path:
        return "CANCEL"
    try:
        with open(path, "r+", encoding="ascii") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            lines = f.read().splitlines()
            if not lines:
                return "CANCEL"
            f.seek(0)
            f.truncate()
            f.write("".join(line + "\n" for line in lines[1:]))
            return lines[0].strip()
    except FileNotFoundError:
        return "CANCEL"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    _say("OK Pleased to meet you (sscard scripted pinentry)")
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        verb, _, arg = line.partition(" ")
        if verb in ("SETDESC", "SETTITLE", "SETPROMPT", "SETTIMEOUT", "OPTION"):
            _log(f"{verb} {arg}")
            _say("OK")
        elif verb == "GETPIN":
            _log("GETPIN")
            answer = _next_answer()
            kind, _, digits = answer.partition(" ")
            if kind == "PIN":
                _say("D " + digits)
                _say("OK")
            elif kind == "TIMEOUT":
                _say(ERR_TIMEOUT)
            elif kind == "HANG":
                if digits:
                    with open(digits, "w", encoding="ascii") as fifo:
                        fifo.write("waiting\n")
                sys.stdin.read()  # until the service closes our stdin or kills us
                return 0
            else:
                _say(ERR_CANCELED)
        elif verb == "CONFIRM":
            _log("CONFIRM")
            kind = _next_answer().partition(" ")[0]
            _say("OK" if kind in ("CONFIRM", "PIN") else ERR_CANCELED)
        elif verb == "BYE":
            _log("BYE")
            _say("OK closing connection")
            return 0
        else:
            _log(verb)
            _say("OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
