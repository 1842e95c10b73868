"""Through the real PC/SC stack (pcscd + Debian's vpcd + the simulator), with programs nobody here
wrote: pyscard, OpenSC's ``opensc-tool`` and pcsc-tools' ``scriptor`` (issue 4 §5).

Commands are the card-profile's: SELECT SSSE by name (§2/§3), READ RECORD by tag through SFI 5
(§4: EF05 tag 03, 规范版本 "3.00"), the empty VERIFY status query (§6: 63C6 on a fresh card, no
try used), and the PSAM's EF 0016 (§11). Never skipped: a missing pcscd/vpcd fails with `make
install` in the message (tests/pcsc_stack.py).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from apdu.names import PSAM_ADF_AID, SSSE_NAME
from tests.stack import (
    READ_EF08_248,
    BareResponder,
    PcscStack,
    authenticate_rksse,
    reader_states,
)

SELECT_SSSE = "00A404000F" + SSSE_NAME.hex().upper()
READ_EF05_TAG03 = "00B2032806"  # tag 03, SFI 5 by tag, Le = 4 + 2
EMPTY_VERIFY = "00200000"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make install`", pytrace=False)
    return path


def opensc_index(reader: str) -> str:
    """The reader's number in ``opensc-tool -l`` (the order PC/SC lists readers in)."""
    out = subprocess.run([tool("opensc-tool"), "-l"], capture_output=True, text=True, timeout=30)
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\d+)\s+\S+\s+(.*)$", line)
        if m and m.group(2).strip() == reader:
            return m.group(1)
    raise AssertionError(f"opensc-tool does not list {reader!r}:\n{out.stdout}")


def transmit(reader: str, apdu: str) -> tuple[bytes, int]:
    """One command on a fresh connection; a ``61xx`` is followed by its GET RESPONSE, as a T=0
    terminal does (the simulated user card is T=0 by default, like the real ones)."""
    from smartcard.System import readers

    conn = next(r for r in readers() if str(r) == reader).createConnection()
    conn.connect()
    try:
        data, sw1, sw2 = conn.transmit(list(bytes.fromhex(apdu)))
        if sw1 == 0x61:
            data, sw1, sw2 = conn.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
        return bytes(data), (sw1 << 8) | sw2
    finally:
        conn.disconnect()


def test_pyscard_lists_the_virtual_readers_with_their_cards(pcsc_stack: PcscStack) -> None:
    from smartcard.System import readers

    names = [str(r) for r in readers()]
    assert pcsc_stack.card_reader in names and pcsc_stack.psam_reader in names
    states = reader_states()
    assert states[pcsc_stack.card_reader] == (True, pcsc_stack.card_atr)
    assert states[pcsc_stack.psam_reader] == (True, pcsc_stack.psam_atr)


def test_pyscard_reads_the_card_and_the_psam(pcsc_stack: PcscStack) -> None:
    fci, status = transmit(pcsc_stack.card_reader, SELECT_SSSE)
    assert status == 0x9000 and fci[:2] == b"\x6f\x1c" and SSSE_NAME in fci
    fci, status = transmit(pcsc_stack.psam_reader, "00A4040006" + PSAM_ADF_AID.hex())
    assert status == 0x9000 and PSAM_ADF_AID in fci
    terminal, status = transmit(pcsc_stack.psam_reader, "00B0960006")
    assert (terminal.hex(), status) == ("420100000001", 0x9000)


def test_opensc_tool_sends_ssc_commands(pcsc_stack: PcscStack) -> None:
    index = opensc_index(pcsc_stack.card_reader)
    out = subprocess.run(
        [
            tool("opensc-tool"),
            "-r",
            index,
            "-s",
            SELECT_SSSE,
            "-s",
            READ_EF05_TAG03,
            "-s",
            EMPTY_VERIFY,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    sws = re.findall(r"Received \(SW1=0x([0-9A-F]{2}), SW2=0x([0-9A-F]{2})\)", out.stdout)
    assert sws == [("90", "00"), ("90", "00"), ("63", "C6")], out.stdout
    assert "03 04 33 2E 30 30" in out.stdout  # tag 03, length 4, "3.00"


def test_scriptor_sends_ssc_commands(pcsc_stack: PcscStack) -> None:
    script = "\n".join([SELECT_SSSE, READ_EF05_TAG03, EMPTY_VERIFY, "00B2032805", ""])
    out = subprocess.run(
        [tool("scriptor"), "-r", pcsc_stack.card_reader],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    answers = [line for line in out.stdout.splitlines() if ":" in line and not line.startswith(">")]
    status = [re.search(r"([0-9A-F]{2} [0-9A-F]{2}) :", a).group(1) for a in answers]  # type: ignore[union-attr]
    # T=0 (the default, as real cards): the FCI waits behind 61 1E; a too-short Le gets 6C 06
    assert status == ["61 1E", "90 00", "63 C6", "6C 06"], out.stdout
    assert "Using T=0 protocol" in out.stdout


def test_eject_and_insert_are_seen_through_pcsc(pcsc_stack: PcscStack) -> None:
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.System import readers

    reader = next(r for r in readers() if str(r) == pcsc_stack.card_reader)
    conn = reader.createConnection()
    conn.connect()
    try:
        pcsc_stack.eject(0)  # waits until PC/SC reports the slot empty
        assert reader_states()[pcsc_stack.card_reader][0] is False
        with pytest.raises(CardConnectionException):
            conn.transmit(list(bytes.fromhex(SELECT_SSSE)))
        with pytest.raises((NoCardException, CardConnectionException)):
            reader.createConnection().connect()
        pcsc_stack.insert(0)
        assert reader_states()[pcsc_stack.card_reader] == (True, pcsc_stack.card_atr)
        assert transmit(pcsc_stack.card_reader, SELECT_SSSE)[1] == 0x9000
    finally:
        with contextlib.suppress(CardConnectionException):
            conn.disconnect()  # the old handle belongs to the pulled card
        pcsc_stack.restore()


def test_a_pulled_card_forgets_its_security_state(pcsc_stack: PcscStack) -> None:
    """Removal is a power-off (§2): after re-insertion the session starts from scratch."""
    from smartcard.System import readers

    reader = next(r for r in readers() if str(r) == pcsc_stack.psam_reader)
    conn = reader.createConnection()
    conn.connect()
    try:
        _, sw1, sw2 = conn.transmit(list(bytes.fromhex("00A4040006" + PSAM_ADF_AID.hex())))
        assert (sw1, sw2) == (0x90, 0x00)
    finally:
        conn.disconnect()
    pcsc_stack.eject(1)
    pcsc_stack.insert(1)
    # Fresh power: the MF is current again, so EF 0016 is selectable without re-selecting it.
    assert transmit(pcsc_stack.psam_reader, "00A40200020016")[1] == 0x9000


def test_swapping_a_card_over_a_present_one_is_usable_at_once(
    pcsc_stack: PcscStack, tmp_path: Path
) -> None:
    """insert(slot, path) over a card still in the slot returns only once PC/SC has seen the old
    card go and the new one come: a fresh connection then works at once (it used to fail, and
    the reader to report no card for seconds, when the swap kept the same ATR)."""
    original = pcsc_stack.card_path
    other = tmp_path / "same-atr-copy.json"
    shutil.copyfile(original, other)
    try:
        pcsc_stack.insert(0, other)
        assert transmit(pcsc_stack.card_reader, SELECT_SSSE)[1] == 0x9000
        assert reader_states()[pcsc_stack.card_reader] == (True, pcsc_stack.card_atr)
        assert pcsc_stack.status()[0]["file"] == str(other.resolve())
    finally:
        pcsc_stack.insert(0, original)
    assert transmit(pcsc_stack.card_reader, SELECT_SSSE)[1] == 0x9000
    assert pcsc_stack.status()[0]["file"] == str(Path(original).resolve())


def test_each_slot_is_ejected_and_restored_on_its_own_reader(pcsc_stack: PcscStack) -> None:
    """eject(1) after eject(0) waits for slot 1's reader only (it used to expect slot 0's card
    still there and time out)."""
    try:
        pcsc_stack.eject(0)
        pcsc_stack.eject(1)
        states = reader_states()
        assert states[pcsc_stack.card_reader][0] is False
        assert states[pcsc_stack.psam_reader][0] is False
    finally:
        pcsc_stack.restore()
    states = reader_states()
    assert states[pcsc_stack.card_reader] == (True, pcsc_stack.card_atr)
    assert states[pcsc_stack.psam_reader] == (True, pcsc_stack.psam_atr)


def test_the_vpcd_benchmark_compares_equal_answers_without_crypto(pcsc_stack: PcscStack) -> None:
    """The 250-byte case of bench_vpcd is a plain READ BINARY of EF08 (after one RKSSSE external
    authentication, §7.4) and the bare responder gives the same 250 bytes, so the ratio measures
    transport + card OS, not per-APDU encryption (it used to time the PSAM's CIPHER DATA)."""
    from smartcard.System import readers

    conn = next(r for r in readers() if str(r) == pcsc_stack.card_reader).createConnection()
    conn.connect()
    try:
        authenticate_rksse(conn)
        data, sw1, sw2 = conn.transmit(list(READ_EF08_248))
    finally:
        conn.disconnect()
    assert (sw1, sw2) == (0x90, 0x00) and len(data) == 248
    assert bytes(data[:2]) == b"\xff\xd8"  # the sample card's photo is JPEG-framed (§2 EF08)
    assert len(BareResponder().transmit(READ_EF08_248)) == 250
