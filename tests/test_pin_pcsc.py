"""The PIN paths of card-profile §6 and both workflows through the real PC/SC stack (issue 5).

``sscard`` talks to pcscd with pyscard; pcscd's vpcd driver hands the APDUs to the simulator
server (``pcsc_stack`` fixture, tests/conftest.py).  The card runs in another process, so every
check of the card's counter goes through PC/SC too (``sscard pin status``: the empty VERIFY, no
try used).  Each test swaps its own card (and a PSAM of the card's algorithm) into the shared
stack and puts the stack's own cards back afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from apdu.keys import TEST_KEYS
from tests.helpers_pin import DISTINCTIVE_NEW, DISTINCTIVE_PIN, card_file, psam_file, run_cli

PIN, NEW, WRONG = DISTINCTIVE_PIN, DISTINCTIVE_NEW, "000111"


@contextmanager
def swapped(stack: Any, tmp: Path, generation: int, **overrides: Any) -> Iterator[list[str]]:
    """Our card in slot 0 and a matching PSAM in slot 1; yields the base CLI options."""
    original_card, original_psam = stack.card_path, stack.psam_path
    card = card_file(tmp / f"card{generation}.json", generation, **overrides)
    psam = psam_file(tmp / f"psam{generation}.json", generation)
    try:
        _swap(stack, 0, card)
        _swap(stack, 1, psam)
        base = ["--reader", stack.card_reader]
        _until_ready([*base, "--psam-reader", stack.psam_reader])
        yield base
    finally:
        _swap(stack, 0, original_card)
        _swap(stack, 1, original_psam)
        _until_ready(["--reader", stack.card_reader, "--psam-reader", stack.psam_reader])


def _swap(stack: Any, slot: int, path: Path) -> None:
    """Eject, then insert the other card: an insert over a present card is not seen at once by
    pcscd (the old ATR still shows while the reader reports no card for seconds)."""
    stack.eject(slot)
    stack.insert(slot, path)


def _until_ready(base: list[str]) -> None:
    """The swapped cards answer at once through PC/SC (the status query uses no try): the swap
    waits until PC/SC has seen the removal, then the new card (tests/stack.py), so no retry."""
    r = sscard(["pin", "status", *base, "--json"])
    assert r.exit_code == 0, f"the swapped card did not answer through PC/SC: {r.stderr}"


def sscard(args: list[str], stdin: str = "") -> Any:
    return run_cli(args, stdin)


def tries(base: list[str]) -> Any:
    r = sscard(["pin", "status", *base, "--json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("generation", [2, 3])
def test_every_pin_path_through_pcscd(pcsc_stack: Any, tmp_path: Path, generation: int) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(TEST_KEYS.to_json()))
    with swapped(pcsc_stack, tmp_path, generation, pin=PIN, pin_tries=3) as base:
        psam = ["--psam-reader", pcsc_stack.psam_reader]
        stdin = [*base, "--pin-stdin"]
        assert tries(base) == {"pin": "enabled", "tries_left": 3}
        # right
        r = sscard(["pin", "verify", *stdin], f"{PIN}\n")
        assert r.exit_code == 0 and "PIN verified" in r.stdout, r.stderr
        # wrong: counting down, never retried
        r = sscard(["pin", "verify", *stdin], f"{WRONG}\n{PIN}\n")
        assert r.exit_code == 1 and "2 tries left" in r.stderr
        assert tries(base)["tries_left"] == 2
        # change (policy first: a weak PIN costs nothing)
        r = sscard(["pin", "change", *stdin], f"{PIN}\n111111\n111111\n")
        assert r.exit_code == 1 and "too simple" in r.stderr
        assert tries(base)["tries_left"] == 2
        r = sscard(["pin", "change", *stdin], f"{PIN}\n{NEW}\n{NEW}\n")
        assert r.exit_code == 0, r.stderr
        assert tries(base)["tries_left"] == 3
        # blocked: reported, not tried
        for _ in range(3):
            sscard(["pin", "verify", *stdin], f"{WRONG}\n")
        assert tries(base) == {"pin": "blocked", "tries_left": 0}
        r = sscard(["pin", "verify", *stdin], f"{NEW}\n")
        assert r.exit_code == 1 and "blocked" in r.stderr
        assert tries(base) == {"pin": "blocked", "tries_left": 0}
        # unblock with the software SAM (TEST key file), the PIN is kept
        r = sscard(["pin", "unblock", *base, "--keys", str(keys)])
        assert r.exit_code == 0, r.stderr
        assert tries(base) == {"pin": "enabled", "tries_left": 3}
        assert sscard(["pin", "verify", *stdin], f"{NEW}\n").exit_code == 0
        # block again, reset through the PSAM in the second reader
        for _ in range(3):
            sscard(["pin", "verify", *stdin], f"{WRONG}\n")
        r = sscard(["pin", "unblock", *base, *psam])
        assert r.exit_code == 0, r.stderr
        r = sscard(["pin", "reset", *stdin, *psam], f"{PIN}\n{PIN}\n")
        assert r.exit_code == 0, r.stderr
        assert sscard(["pin", "verify", *stdin], f"{PIN}\n").exit_code == 0


def test_not_enabled_pin_through_pcscd(pcsc_stack: Any, tmp_path: Path) -> None:
    with swapped(pcsc_stack, tmp_path, 3, pin_not_enabled=True) as base:
        assert tries(base) == {"pin": "not_enabled", "tries_left": None}
        r = sscard(["pin", "verify", *base, "--pin-stdin"], "")  # no PIN is even read
        assert r.exit_code == 0 and "nothing to verify" in r.stdout


@pytest.mark.parametrize("generation", [2, 3])
def test_workflows_through_pcscd(pcsc_stack: Any, tmp_path: Path, generation: int) -> None:
    from simulator.samples import sample_personalisation

    holder = sample_personalisation(generation).holder
    with swapped(pcsc_stack, tmp_path, generation, pin=PIN) as base:
        psam = ["--psam-reader", pcsc_stack.psam_reader]
        stdin = [*base, *psam, "--pin-stdin"]
        r = sscard(["pharmacy", *stdin, "--json"], f"{PIN}\n")
        assert r.exit_code == 0, r.stderr
        sale = json.loads(r.stdout)
        assert (sale["name"], sale["medical_area_code"], sale["pin"]) == (
            holder.name, "420100", "verified"
        )
        who = ["--name", holder.name, "--id-number", holder.ssn, "--format", "4"]
        r = sscard(["activate", *stdin, *who, "--json"], f"{NEW}\n{NEW}\n{PIN}\n{NEW}\n{NEW}\n")
        assert r.exit_code == 0, r.stderr
        done = json.loads(r.stdout)
        assert done["activated"] is True and done["bank_host"]["accepted"] is True
        assert "*" in done["pan"]
        r = sscard(["pharmacy", *stdin], f"{NEW}\n")
        assert r.exit_code == 0 and "420100" in r.stdout
