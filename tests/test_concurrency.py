"""Concurrency through the real pcscd stack (issue 6 §5; card-profile §2 security state).

- Two processes share the user card's reader (slot 0), each running a multi-APDU workflow many
  times inside ``Reader.transaction()`` (tests/helpers_concurrency.py): one reads the card with
  an external authentication and asks the PIN status, the other spends a PIN try with a wrong
  VERIFY, restores it with the right one and reads the PIN-protected medical area code.  With
  the transaction, neither sees the other: the reader never sees 5 tries left, the external
  authentication is never ended by the other's SELECT (EF06 would answer 6982), no status word
  error at all - and at the end the card has all its tries (no lost state), on the card and in
  the server's saved card file.
- One process drives several readers at once from threads: the user card (slot 0) and the PSAM
  (slot 1), each through its own PC/SC context; every answer is checked.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from apdu.crypto import Diversification
from apdu.errors import SSCardError
from drivers.channel import CardChannel
from drivers.pcsc import PcscReader
from simulator.state import CardState
from terminal import pin as pinops
from terminal.pinstatus import PinStatus
from terminal.reading import read_card
from terminal.sam.psam import PsamSam
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession
from tests.pcsc_stack import PcscStack

ROUNDS = 50
REPO = Path(__file__).resolve().parent.parent


def _status(reader_name: str) -> PinStatus:
    reader = PcscReader(reader_name, wait=10)
    reader.connect()
    try:
        with reader.transaction():
            return pinops.status_of(CardSession(CardChannel(reader)))
    finally:
        reader.disconnect()


def _workers(stack: PcscStack, tmp: Path, roles: list[str]) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.helpers_concurrency", role, stack.card_reader,
             str(ROUNDS), str(tmp), str(len(roles))],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for role in roles
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"worker failed: {err[-2000:]}"
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def test_two_processes_on_one_reader_do_not_interleave(pcsc_stack: PcscStack,
                                                        tmp_path: Path) -> None:
    start = _status(pcsc_stack.card_reader)
    assert start.state == "enabled" and start.tries_left, "the stack's card must have its PIN"
    full = start.tries_left
    reader_out, pin_out = _workers(pcsc_stack, tmp_path, ["reader", "pin"])

    assert reader_out["errors"] == [] and pin_out["errors"] == []
    assert len(reader_out["results"]) == len(pin_out["results"]) == ROUNDS
    names = {r["name"] for r in reader_out["results"]}
    assert len(names) == 1 and None not in names
    for r in reader_out["results"]:
        # a wrong VERIFY of the other process is never visible; its SELECTs never end our
        # external authentication (EF06 read in full)
        assert r["ef06"] == "authenticated" and r["pin"] == "enabled" and r["tries"] == full, r
    for r in pin_out["results"]:
        assert r["before"] == full and r["wrong"] == f"tries {full - 1}", r
        assert r["verify_saw"] == full - 1 and len(r["area"]) == 6, r

    # no lost state: the card has every try, and so has the file the server saved
    end = _status(pcsc_stack.card_reader)
    assert end == start
    assert CardState.load(pcsc_stack.card_path).pin.tries_left == full


#: threads on the same reader wait for each other before disconnecting: PcscReader.disconnect
#: resets the card, and the other thread's next SCardBeginTransaction would then fail with
#: "card was reset by another program" even between workflows (reported to the drivers owner).
_DONE = threading.Barrier(3)


def _card_rounds(reader_name: str, rounds: int, seen: list[Any], errors: list[str]) -> None:
    reader = PcscReader(reader_name, wait=10)
    try:
        reader.connect()
        for _ in range(rounds):
            with reader.transaction():
                card = read_card(CardSession(CardChannel(reader), sam=SoftwareSam()))
            seen.append((card.issuer.card_number, card.holder.name if card.holder else None))
    except (SSCardError, AssertionError) as exc:
        errors.append(f"card: {type(exc).__name__}: {exc}")
    finally:
        _DONE.wait(timeout=240)
        reader.disconnect()


def _psam_rounds(reader_name: str, rounds: int, seen: list[Any], errors: list[str]) -> None:
    reader = PcscReader(reader_name, wait=10)
    software = SoftwareSam()  # the same TEST keys: the PSAM must agree with it
    div = Diversification.for_card(bytes.fromhex("420100D156000005"), bytes(13))
    try:
        reader.connect()
        with reader.transaction():
            psam = PsamSam(CardChannel(reader))
            alg = psam.algorithm
            for _ in range(rounds):
                r1, r2 = secrets.token_bytes(8), secrets.token_bytes(8)
                answer = psam.internal_auth(alg, div, r1, r2)
                seen.append(answer == software.internal_auth(alg, div, r1, r2))
    except SSCardError as exc:
        errors.append(f"psam: {type(exc).__name__}: {exc}")
    finally:
        _DONE.wait(timeout=240)
        reader.disconnect()


def test_several_readers_driven_at_once_from_threads(pcsc_stack: PcscStack) -> None:
    _DONE.reset()
    cards: list[Any] = []
    more_cards: list[Any] = []
    psam: list[Any] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=_card_rounds, args=(pcsc_stack.card_reader, 10, cards, errors)),
        threading.Thread(target=_card_rounds,
                         args=(pcsc_stack.card_reader, 10, more_cards, errors)),
        threading.Thread(target=_psam_rounds, args=(pcsc_stack.psam_reader, 30, psam, errors)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(cards) == len(more_cards) == 10 and len(set(cards + more_cards)) == 1
    assert None not in cards[0]
    assert psam == [True] * 30
