"""One card OS for both simulated cards (issue 11): the user card and the PSAM parse, dispatch,
answer T=0 GET RESPONSE and report faults the same way, through simulator/cardos.py."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from apdu.commands import INS_GET_RESPONSE
from apdu.names import PSAM_ADF_AID, SSSE_NAME
from simulator.cardos import CardOS
from simulator.psam import Psam
from simulator.samples import sample_card
from simulator.usercard import UserCard

SELECT_SSSE = bytes.fromhex("00A404000F") + SSSE_NAME + b"\x00"
SELECT_PSAM_ADF = bytes.fromhex("00A4040006") + PSAM_ADF_AID + b"\x00"


def _user_card() -> CardOS:
    return sample_card(3, t0=True)


def _psam() -> CardOS:
    return Psam.issue(t0=True)


#: (card factory, a case-4 command whose answer data waits behind 61xx on a T=0 card)
CARDS: dict[str, tuple[Callable[[], CardOS], bytes]] = {
    "user card": (_user_card, SELECT_SSSE),
    "PSAM": (_psam, SELECT_PSAM_ADF),
}


def send(card: CardOS, apdu: bytes | str) -> tuple[bytes, int]:
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    out = card.transmit(raw)
    return out[:-2], int.from_bytes(out[-2:], "big")


@pytest.fixture(params=sorted(CARDS))
def card_and_case4(request: pytest.FixtureRequest) -> tuple[CardOS, bytes]:
    factory, command = CARDS[request.param]
    card = factory()
    card.power_on()
    return card, command


def test_both_cards_run_on_the_one_card_os() -> None:
    assert issubclass(UserCard, CardOS) and issubclass(Psam, CardOS)
    for cls in (UserCard, Psam):
        assert cls.COMMANDS[(0x00, INS_GET_RESPONSE)] is CardOS.get_response
        assert cls.transmit is CardOS.transmit


def test_get_response_is_the_same_on_both_cards(card_and_case4: tuple[CardOS, bytes]) -> None:
    card, command = card_and_case4
    data, status = send(card, command)
    assert data == b"" and status >> 8 == 0x61
    n = status & 0xFF
    assert send(card, bytes((0, 0xC0, 0, 0, n + 1)))[1] == 0x6C00 | n  # too long: data kept
    first, status = send(card, bytes((0, 0xC0, 0, 0, 2)))
    assert status == 0x6100 | (n - 2)  # part of it, the rest still pending
    rest, status = send(card, bytes((0, 0xC0, 0, 0, n - 2)))
    assert status == 0x9000 and len(first + rest) == n and (first + rest)[0] == 0x6F
    assert send(card, bytes((0, 0xC0, 0, 0, n)))[1] == 0x6985  # nothing pending any more
    send(card, command)
    assert send(card, "00C00000")[1] == 0x6700  # GET RESPONSE needs an Le; the data stays
    send(card, "00A4040C0100")  # any other command in between ends the pending data
    assert send(card, bytes((0, 0xC0, 0, 0, n)))[1] == 0x6985


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        ("00", 0x6700),  # no header
        ("00A40400", 0x6A82),  # no such DF (an empty name)
        ("00A4040010D156", 0x6700),  # Lc larger than the data
        ("00EE000000", 0x6D00),  # a CLA the card speaks, an INS it does not know
        ("10A4000002DF01", 0x6E00),  # a known INS under a CLA it does not take
        ("7FEE0000", 0x6E00),  # a CLA the card does not speak
    ],
)
def test_parsing_and_dispatch_are_the_same_on_both_cards(
    card_and_case4: tuple[CardOS, bytes], apdu: str, status: int
) -> None:
    card, _ = card_and_case4
    assert send(card, apdu)[1] == status


def _fault_in(card_name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[CardOS, bytes]:
    """A card whose next command meets an internal bug, and that command."""

    def boom(*args: object) -> bytes:
        raise RuntimeError("simulated bug")

    if card_name == "user card":
        monkeypatch.setattr("simulator.pincmds._pin_matches", boom)
        card: CardOS = sample_card(3, t0=False)
        card.power_on()
        send(card, SELECT_SSSE)
        return card, bytes.fromhex("0020000003123456")
    monkeypatch.setattr("simulator.psam.diversify_path", boom)
    psam = Psam.issue()
    send(psam, SELECT_PSAM_ADF)
    from apdu.psam import PSAM_KEYS

    usage, key_id = PSAM_KEYS["IRK"]
    deliver = bytes((0xBF, 0xDE, usage, key_id, 8 * 3 + 8)) + bytes(32)
    return psam, deliver


@pytest.mark.parametrize("card_name", sorted(CARDS))
@pytest.mark.parametrize("debug", [False, True])
def test_a_fault_is_one_log_line_and_6f00_never_swallowed(
    card_name: str, debug: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if debug:
        monkeypatch.setenv("SSCARD_DEBUG", "1")
    else:
        monkeypatch.delenv("SSCARD_DEBUG", raising=False)
    card, command = _fault_in(card_name, monkeypatch)
    before = card.faults
    with caplog.at_level(logging.ERROR, logger="sscard.simulator"):
        assert card.transmit(command) == b"\x6f\x00"
    assert card.faults == before + 1
    records = [r for r in caplog.records if r.name == "sscard.simulator"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert re.fullmatch(rf"internal error \(INS {command[1]:02X}\): RuntimeError", line)
    assert bool(records[0].exc_info) is debug  # the traceback only with SSCARD_DEBUG=1
    assert send(card, "00EE000000")[1] == 0x6D00  # the card keeps answering


def test_a_failed_write_answers_6581_on_the_one_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "card.json"
    card = sample_card(3, t0=False)
    card.save(path)
    send(card, SELECT_SSSE)

    def disk_full(*args: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("simulator.state.save_json_atomic", disk_full)
    with caplog.at_level(logging.ERROR, logger="sscard.simulator"):
        assert card.transmit(bytes.fromhex("0020000003123456")) == b"\x65\x81"
    assert card.faults == 1
    (record,) = [r for r in caplog.records if r.name == "sscard.simulator"]
    assert "card file write failed (INS 20)" in record.getMessage()
