"""A card whose file cannot be written answers 6581 (memory failure) and grants no free try."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import state as state_mod
from simulator.samples import sample_personalisation
from simulator.state import CardState
from simulator.usercard import UserCard

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF00")
VERIFY_RIGHT = bytes.fromhex("0020000003123456")


def test_a_failed_write_before_the_compare_is_a_memory_failure_not_a_free_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "card.json"
    card = UserCard.issue(sample_personalisation(2), path=path)
    card.power_on()
    assert card.transmit(SELECT_SSSE)[-2:] == b"\x61\x1e"  # T=0 (the default): FCI waits

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_mod, "save_json_atomic", disk_full)
    assert card.transmit(VERIFY_RIGHT) == b"\x65\x81"
    monkeypatch.undo()
    # The live card counts the try as spent (conservative: never a free try) and is not
    # verified: the PIN-protected medical file still refuses.  The file kept its last good state.
    assert card.transmit(bytes.fromhex("00200000")) == b"\x63\xc5"
    assert card.transmit(bytes.fromhex("00A4040006D15600000503"))[0] == 0x61
    assert card.transmit(bytes.fromhex("00B2842805")) == b"\x69\x82"
    assert CardState.load(path).pin.tries_left == 6
