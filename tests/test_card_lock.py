"""One owner per card file (issue 10 §1): the PIN try limit holds across processes.

Before the lock, 30 ``pin verify`` processes started at once on a 6-try card each loaded the
card at 6 tries, each answered "5 tries left", and the file ended at 6.  Now each process holds
the card's lock from load to exit, so the tries are spent one after the other: exactly the tries
the card allows are used, and every later process finds the PIN blocked and says so.  The
stale-copy scenarios (a process holding the card at a PIN prompt while others wait) show that a
counter can never rise and a completed PIN change can never be reverted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.state import CardState
from simulator.store import CardInUseError, CardLock, lock_path
from simulator.usercard import UserCard
from tests.helpers_files import REPO, TIMEOUT, one_line, sscard, write_card

WRONG = "000000"  # the sample card's PIN is 123456
LONG_WAIT = {"SSCARD_CARD_LOCK_WAIT": "300"}  # everyone gets their turn on a busy machine


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if k != "SSCARD_DEBUG"}
    full.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "terminal.cli.main", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=full, cwd=REPO,
    )


def _verify_all_at_once(card: Path, count: int) -> list[tuple[int, str]]:
    procs = [_start(["pin", "verify", "--sim", str(card), "--pin-stdin"], LONG_WAIT)
             for _ in range(count)]
    for proc in procs:  # every PIN is there before anyone reads it: no process waits on us
        assert proc.stdin is not None
        proc.stdin.write(f"{WRONG}\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        results.append((proc.returncode, err))
    return results


def _outcomes(results: list[tuple[int, str]]) -> tuple[list[int], int]:
    """(tries left reported by each wrong try, number of processes that found it blocked)."""
    tried: list[int] = []
    blocked = 0
    for code, err in results:
        assert code == 1, err
        assert "Traceback" not in err
        if "wrong PIN" in err:
            found = re.search(r"wrong PIN: (\d+) tr", err)
            tried.append(int(found[1]) if found else 0)  # "now blocked": the last try
        else:
            assert "the PIN is blocked" in err, err
            blocked += 1
    return tried, blocked


def test_30_concurrent_wrong_verifies_use_exactly_the_6_tries(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json")
    tried, blocked = _outcomes(_verify_all_at_once(card, 30))
    assert sorted(tried) == [0, 1, 2, 3, 4, 5]  # each counter value reported exactly once
    assert blocked == 24
    assert CardState.load(card).pin.tries_left == 0


def test_10_concurrent_wrong_verifies_on_a_15_try_card_leave_5(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json", pin_tries=15)
    tried, blocked = _outcomes(_verify_all_at_once(card, 10))
    assert sorted(tried) == list(range(5, 15)) and blocked == 0
    assert CardState.load(card).pin.tries_left == 5


def _holder_at_prompt(card: Path, command: list[str]) -> subprocess.Popen[str]:
    """A process that opened the card and now waits for the holder's PIN on stdin (it prints
    the PIN status on stderr before asking: the event that says it holds the card)."""
    proc = _start([*command, "--sim", str(card), "--pin-stdin"], {})
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert "tries left" in first, first
    return proc


def test_a_waiting_process_is_told_who_holds_the_card(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json")
    raw = card.read_bytes()
    holder = _holder_at_prompt(card, ["pin", "verify"])
    try:
        done = sscard("pin", "verify", "--sim", str(card), "--pin-stdin", stdin=f"{WRONG}\n",
                      env={"SSCARD_CARD_LOCK_WAIT": "0.3"})
        assert done.returncode == 2
        assert f"is in use by PID {holder.pid}" in one_line(done.stderr)
        assert card.read_bytes() == raw  # the waiting process spent nothing
    finally:
        holder.communicate("123456\n", timeout=TIMEOUT)
    assert holder.returncode == 0


def test_a_stale_copy_cannot_raise_the_counter(tmp_path: Path) -> None:
    """The holder at the prompt will try a wrong PIN (6 -> 5); three wrong tries wait meanwhile.
    Without the lock they ran at once (file 3) and the holder then saved 5: a counter risen
    without a success.  With it they run after the holder: 5, 4, 3, 2."""
    card = write_card(tmp_path / "card.json")
    holder = _holder_at_prompt(card, ["pin", "verify"])
    waiting = [_start(["pin", "verify", "--sim", str(card), "--pin-stdin"], LONG_WAIT)
               for _ in range(3)]
    for proc in waiting:
        assert proc.stdin is not None
        proc.stdin.write(f"{WRONG}\n")
        proc.stdin.flush()
    _, err = holder.communicate(f"{WRONG}\n", timeout=TIMEOUT)
    assert "wrong PIN: 5 tries left" in err
    reported = sorted(int(re.findall(r"wrong PIN: (\d)", p.communicate(timeout=600)[1])[0])
                      for p in waiting)
    assert reported == [2, 3, 4]
    assert CardState.load(card).pin.tries_left == 2


def test_a_stale_copy_cannot_revert_a_pin_change(tmp_path: Path) -> None:
    """The holder at the prompt changes the PIN; a verify with the old PIN waits meanwhile.
    Without the lock the verify succeeded on its own copy and saved the old PIN back.  With it,
    it runs after the change: the old PIN is wrong, and the new PIN stays."""
    card = write_card(tmp_path / "card.json")
    holder = _holder_at_prompt(card, ["pin", "change"])
    late = _start(["pin", "verify", "--sim", str(card), "--pin-stdin"], LONG_WAIT)
    assert late.stdin is not None
    late.stdin.write("123456\n")
    late.stdin.flush()
    _, err = holder.communicate("123456\n739251\n739251\n", timeout=TIMEOUT)
    assert holder.returncode == 0, err
    _, err = late.communicate(timeout=600)
    assert late.returncode == 1 and "wrong PIN: 5 tries left" in err
    state = CardState.load(card)
    assert state.pin.digits == "739251" and state.pin.tries_left == 5


# --- the lock itself ----------------------------------------------------------------------------


def test_same_process_second_open_fails_at_once(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json")
    with UserCard.load(card):
        with pytest.raises(CardInUseError, match="already open in this process"):
            UserCard.load(card, wait=60)  # at once: waiting on ourselves would never end
    UserCard.load(card).close()


def test_the_lock_file_names_the_holder_and_survives(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json")
    with CardLock.acquire(card):
        assert lock_path(card).read_text().strip() == str(os.getpid())
    assert lock_path(card).exists()  # never deleted: two processes must lock one inode


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json")
    holder = _holder_at_prompt(card, ["pin", "verify"])
    holder.kill()
    holder.wait(timeout=TIMEOUT)
    with UserCard.load(card, wait=0):  # free at once: the kernel dropped the flock
        pass


def test_lock_wait_setting_is_checked(tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.json")
    done = sscard("pin", "status", "--sim", str(card), env={"SSCARD_CARD_LOCK_WAIT": "soon"})
    assert done.returncode == 2 and "SSCARD_CARD_LOCK_WAIT" in one_line(done.stderr)


def test_a_closed_card_saves_nothing(tmp_path: Path) -> None:
    from tests.helpers_sim import SELECT_SSSE, verify_apdu

    card = write_card(tmp_path / "card.json")
    opened = UserCard.load(card)
    opened.transmit(SELECT_SSSE)
    opened.close()
    raw = card.read_bytes()
    assert opened.transmit(verify_apdu(WRONG)) == b"\x65\x81"  # memory failure, not a free try
    assert card.read_bytes() == raw
