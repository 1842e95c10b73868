"""Worker processes of the concurrency tests (issue 6 §5): one role, many workflows, one JSON line.

Run as ``python -m tests.helpers_concurrency ROLE READER ROUNDS BARRIER_DIR PARTIES
[--no-transaction]``; it prints one JSON object: ``{"role", "rounds", "results": [...],
"errors": [...]}``.  Each round opens a fresh
:class:`terminal.session.CardSession` on the same :class:`drivers.pcsc.PcscReader` and runs its
whole workflow inside ``reader.transaction()`` (a PC/SC transaction, card-profile §2: the security
state is per card, so another process's SELECT or VERIFY in between would change ours).

Roles (the user card holds PIN 123456 with 6 tries, the ``sscard sim issue`` sample card):

- ``reader``: the §12 read (SELECT SSSE, EF05, external authentication with RKSSSE, EF06: 17
  APDUs on a 3.00 card) then the PIN status (empty VERIFY). A SELECT from another process between
  the authentication and EF06 ends the authentication (§2) and EF06 answers 6982; a wrong VERIFY
  from another process shows as 5 tries left.
- ``pin``: PIN status, a WRONG VERIFY (5 tries left), the right VERIFY (6 again), SELECT DF04 and
  the medical area code (PIN-protected, §2). Inside a transaction nobody sees the 5.

The workers wait for each other (files in BARRIER_DIR) before they disconnect, because
:meth:`drivers.pcsc.PcscReader.disconnect` resets the card (a verified PIN must not outlive the
session), which would end the other worker's session mid-round.

Errors are recorded as ``"ErrorType: message"``; nothing here prints a PIN.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from apdu.errors import SSCardError
from apdu.status import WrongPin
from drivers.channel import CardChannel
from drivers.pcsc import PcscReader
from terminal import pin as pinops
from terminal.pinstatus import pin_status
from terminal.reading import read_card
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession
from terminal.workflows.pharmacy import read_area_code

PIN = "123456"
WRONG = "000111"


def reader_round(session: CardSession) -> dict[str, Any]:
    card = read_card(session)
    status = pin_status(session.channel)
    return {
        "name": card.holder.name if card.holder else None,
        "card_number": card.issuer.card_number,
        "ef06": card.ef06_access,
        "pin": status.state,
        "tries": status.tries_left,
    }


def pin_round(session: CardSession) -> dict[str, Any]:
    before = pinops.status_of(session)
    try:
        pinops.verify(session, WRONG, known_status=before)
        wrong = "accepted"
    except WrongPin as exc:
        wrong = f"tries {exc.tries_left}"
    result = pinops.verify(session, PIN)
    area = read_area_code(session)
    return {"before": before.tries_left, "wrong": wrong, "verify_saw": result.tries_left,
            "area": area}


ROLES = {"reader": reader_round, "pin": pin_round}


def barrier(directory: Path, parties: int, timeout: float = 60.0) -> None:
    """Wait until ``parties`` workers have arrived (one file each)."""
    (directory / f"{os.getpid()}.done").touch()
    deadline = time.monotonic() + timeout
    while len(list(directory.glob("*.done"))) < parties and time.monotonic() < deadline:
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    role, reader_name, rounds = argv[0], argv[1], int(argv[2])
    directory, parties = Path(argv[3]), int(argv[4])
    use_transaction = "--no-transaction" not in argv
    work = ROLES[role]
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    reader = PcscReader(reader_name, wait=10)
    reader.connect()
    try:
        for _ in range(rounds):
            try:
                if use_transaction:
                    with reader.transaction():
                        session = CardSession(CardChannel(reader), sam=SoftwareSam())
                        results.append(work(session))
                else:
                    session = CardSession(CardChannel(reader), sam=SoftwareSam())
                    results.append(work(session))
            except SSCardError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        barrier(directory, parties)
        reader.disconnect()
    print(json.dumps({"role": role, "rounds": rounds, "results": results, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
