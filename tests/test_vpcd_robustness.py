"""vpcd server robustness with a REAL card behind it (issue 6 §4).

tests/test_vpcd_protocol.py (the vpcd engineer's) already covers garbage frames, oversized
lengths, half frames and abrupt disconnects against an echo card.  What it does not show, and
this module does:

- the same abuse against a file-backed user card: afterwards the server still answers, and the
  card's state (PIN, try counter, saved file) is exactly what it was;
- a pcscd restart under the running simulator server: the server process stays up, reconnects
  to the new pcscd, and the card answers through PC/SC with its state intact.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from apdu.names import SSSE_NAME
from drivers.channel import CardChannel
from drivers.pcsc import PcscReader
from simulator.samples import sample_card
from simulator.state import CardState
from simulator.usercard import UserCard
from simulator.vpcd import VpcdServer
from terminal import pin as pinops
from terminal.session import CardSession
from tests.pcsc_stack import PcscStack
from tests.stack import wait_readers

SELECT_SSSE = bytes.fromhex("00A404000F") + SSSE_NAME + b"\x00"
PIN_STATUS = bytes.fromhex("00200000")


class _Vpcd:
    """vpcd's side of the socket: listens, accepts the server, speaks frames."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(10)
        return self.conn

    def apdu(self, command: bytes) -> bytes:
        assert self.conn is not None
        self.conn.sendall(struct.pack(">H", len(command)) + command)
        return self.recv()

    def recv(self) -> bytes:
        (n,) = struct.unpack(">H", self._exact(2))
        return self._exact(n)

    def _exact(self, n: int) -> bytes:
        assert self.conn is not None
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            assert chunk, "the server closed the connection"
            buf += chunk
        return buf

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


#: frames that are not proper commands; the last two reach the card and get 6700 (no try used).
ABUSE = [
    b"\x00\x00",  # empty frame
    b"\x00\x01\x09",  # unknown control code
    b"\x00\x01\x00\x00\x01\x01",  # power off, power on (the card forgets its security state)
    b"\x00\x03\x00\x20\x00",  # 3-byte "APDU"
    b"\x00\x06\x00\x20\x00\x00\x03\x12",  # VERIFY whose Lc lies
]


def test_garbage_and_cut_frames_leave_the_card_state_intact(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    sample_card(3, t0=False).save(path)
    before = CardState.load(path).model_dump(mode="json")
    card = UserCard.load(path)
    vpcd = _Vpcd()
    server = VpcdServer([card], port=vpcd.port)
    server.start()
    try:
        for cut in (b"\xff\xff" + bytes(50), b"\x00\x0d\x00\x20\x00\x00\x03", b"\x00"):
            conn = vpcd.accept()
            for frame in ABUSE:
                conn.sendall(frame)
            assert [vpcd.recv(), vpcd.recv()] == [b"\x67\x00", b"\x67\x00"]
            assert vpcd.apdu(SELECT_SSSE)[-2:] == b"\x90\x00"
            assert vpcd.apdu(PIN_STATUS) == b"\x63\xc6"  # every try left
            conn.sendall(cut)  # a frame cut by an abrupt disconnect (or an oversized length)
            conn.close()
            vpcd.conn = None
        conn = vpcd.accept()  # the server came back each time
        assert vpcd.apdu(SELECT_SSSE)[-2:] == b"\x90\x00"
        assert vpcd.apdu(PIN_STATUS) == b"\x63\xc6"
    finally:
        server.stop()
        vpcd.close()
    assert card.pin_tries_left == 6
    assert CardState.load(path).model_dump(mode="json") == before


def _pin_status_through_pcsc(reader_name: str) -> object:
    reader = PcscReader(reader_name, wait=10)
    reader.connect()
    try:
        with reader.transaction():
            return pinops.status_of(CardSession(CardChannel(reader)))
    finally:
        reader.disconnect()


def test_pcscd_restart_keeps_the_server_up_and_the_card_intact(pcsc_stack: PcscStack,
                                                               tmp_path: Path) -> None:
    before = _pin_status_through_pcsc(pcsc_stack.card_reader)
    saved = CardState.load(pcsc_stack.card_path).model_dump(mode="json")
    server_pid = pcsc_stack.server.proc.pid
    if pcsc_stack.pcscd.proc is not None:
        # only a pcscd this test session started is restarted (never the machine's own)
        pcsc_stack.pcscd.restart()
    else:  # a system pcscd: restart the vpcd side instead, by ejecting and inserting both cards
        pcsc_stack.eject(0)
        pcsc_stack.eject(1)
        pcsc_stack.restore()
    names = wait_readers([pcsc_stack.card_atr, pcsc_stack.psam_atr], timeout=30)
    pcsc_stack.readers = names[:2]
    pcsc_stack.server.check_alive()
    assert pcsc_stack.server.proc.pid == server_pid and pcsc_stack.server.proc.poll() is None
    assert _pin_status_through_pcsc(pcsc_stack.card_reader) == before
    assert CardState.load(pcsc_stack.card_path).model_dump(mode="json") == saved
