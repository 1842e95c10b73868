"""The vpcd client protocol of simulator.vpcd, against a local listener that plays vpcd's side.

No pcscd here: each test binds its own loopback port and speaks the wire format vpcd speaks
(2-byte big-endian length + payload; 1-byte control codes). Covers frames in pieces, control codes,
extended APDUs, garbage, abrupt disconnects, insertion/removal and the control channel (issue 4).
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apdu.crypto import Algorithm
from apdu.errors import UsageError
from simulator.psam import Psam
from simulator.vpcd import VpcdServer, control, parse_hostport

ATR = bytes.fromhex("3B6D0000") + b"TEST-RESPONDR"


class EchoCard:
    """Answers each command with its own bytes + 90 00; records power events."""

    t0 = False

    def __init__(self, atr: bytes = ATR, boom: bool = False) -> None:
        self.atr = atr
        self.events: list[str] = []
        self.boom = boom

    def power_on(self) -> bytes:
        self.events.append("on")
        return self.atr

    def reset(self) -> bytes:
        self.events.append("reset")
        return self.atr

    def power_off(self) -> None:
        self.events.append("off")

    def transmit(self, command: bytes) -> bytes:
        if self.boom:
            raise RuntimeError("card bug")
        return bytes(command) + b"\x90\x00"


class FakeVpcd:
    """vpcd's side: listens, accepts the simulator's connection, sends frames."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(10)
        return self.conn

    def send(self, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(struct.pack(">H", len(payload)) + payload)

    def recv(self) -> bytes:
        assert self.conn is not None
        header = self._exact(2)
        return self._exact(struct.unpack(">H", header)[0])

    def _exact(self, n: int) -> bytes:
        assert self.conn is not None
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("simulator closed the connection")
            buf += chunk
        return buf

    def apdu(self, command: bytes) -> bytes:
        self.send(command)
        return self.recv()

    def closed_by_peer(self) -> bool:
        assert self.conn is not None
        try:
            return self.conn.recv(1) == b""
        except ConnectionResetError:
            return True

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        self.drop()
        self.listener.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


@pytest.fixture
def card() -> EchoCard:
    return EchoCard()


@pytest.fixture
def server(vpcd: FakeVpcd, card: EchoCard, tmp_path: Path) -> Iterator[VpcdServer]:
    srv = VpcdServer([card], port=vpcd.port, control_path=str(tmp_path / "ctl.sock"))
    srv.start()
    vpcd.accept()
    yield srv
    srv.stop()


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_control_codes(server: VpcdServer, vpcd: FakeVpcd, card: EchoCard) -> None:
    vpcd.send(b"\x04")
    assert vpcd.recv() == ATR
    for code in (1, 2, 0):
        vpcd.send(bytes([code]))
    vpcd.send(b"\x04")  # frames are handled in order: the events happened before this answer
    assert vpcd.recv() == ATR
    assert card.events == ["on", "reset", "off"]


def test_apdu_round_trip_and_socket_options(server: VpcdServer, vpcd: FakeVpcd) -> None:
    assert vpcd.apdu(bytes.fromhex("00A4040002DF01")) == bytes.fromhex("00A4040002DF019000")
    sock = server._slots[0].sock
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_frame_in_pieces(server: VpcdServer, vpcd: FakeVpcd) -> None:
    command = bytes.fromhex("00B2010400")
    raw = struct.pack(">H", len(command)) + command
    assert vpcd.conn is not None
    for i in range(len(raw)):  # one byte at a time, as a slow or busy peer may deliver it
        vpcd.conn.sendall(raw[i : i + 1])
        time.sleep(0.005)
    assert vpcd.recv() == command + b"\x90\x00"


def test_two_frames_in_one_segment(server: VpcdServer, vpcd: FakeVpcd) -> None:
    assert vpcd.conn is not None
    vpcd.conn.sendall(b"\x00\x01\x04" + b"\x00\x04\x00\x84\x00\x00")
    assert vpcd.recv() == ATR
    assert vpcd.recv() == bytes.fromhex("008400009000")


def test_extended_apdu(server: VpcdServer, vpcd: FakeVpcd) -> None:
    data = bytes(range(256)) * 4  # 1024 bytes: extended Lc
    command = bytes.fromhex("00DC010400") + len(data).to_bytes(2, "big") + data + b"\x00\x00"
    assert vpcd.apdu(command) == command + b"\x90\x00"


def test_garbage_keeps_the_server_up(server: VpcdServer, vpcd: FakeVpcd) -> None:
    vpcd.send(b"")  # empty frame: ignored
    vpcd.send(b"\x09")  # unknown control code: ignored
    assert vpcd.apdu(b"\x00\x01") == b"\x00\x01\x90\x00"  # 2-byte junk goes to the card
    vpcd.send(b"\x04")
    assert vpcd.recv() == ATR


def test_card_that_raises_answers_6f00(vpcd: FakeVpcd) -> None:
    srv = VpcdServer([EchoCard(boom=True)], port=vpcd.port)
    srv.start()
    try:
        vpcd.accept()
        assert vpcd.apdu(bytes.fromhex("00A40000")) == b"\x6f\x00"
    finally:
        srv.stop()


@pytest.mark.parametrize("half", [b"\xff", b"\xff\xff" + bytes(100), b"\x00\x05\x00\xa4"])
def test_half_frame_then_disconnect_reconnects(
    server: VpcdServer, vpcd: FakeVpcd, card: EchoCard, half: bytes
) -> None:
    """An oversized announced length or a frame cut by a disconnect: the server reconnects."""
    assert vpcd.conn is not None
    vpcd.conn.sendall(half)
    vpcd.drop()
    vpcd.accept()
    assert vpcd.apdu(b"\x00\x84\x00\x00\x08") == b"\x00\x84\x00\x00\x08\x90\x00"
    assert "off" in card.events  # the card lost power when the reader went away


def test_reconnects_when_vpcd_appears_later(
    card: EchoCard, caplog: pytest.LogCaptureFixture
) -> None:
    probe = FakeVpcd()
    port = probe.port
    probe.close()  # nothing listens: the server keeps retrying with backoff
    caplog.set_level(logging.DEBUG, logger="sscard.vpcd")
    srv = VpcdServer([card], port=port)
    srv.start()
    try:
        assert wait_for(lambda: "not reachable" in caplog.text)  # it tried and failed
        late = FakeVpcd(port)
        try:
            late.accept()
            late.send(b"\x04")
            assert late.recv() == ATR
        finally:
            late.close()
    finally:
        srv.stop()


def test_eject_closes_and_insert_reconnects(server: VpcdServer, vpcd: FakeVpcd) -> None:
    server.eject(0)
    assert vpcd.closed_by_peer()
    assert server.status()[0]["card"] is False
    vpcd.drop()
    other = EchoCard(atr=bytes.fromhex("3B6D0000") + b"OTHER-CARD-01")
    server.insert(0, other)
    vpcd.accept()
    vpcd.send(b"\x04")
    assert vpcd.recv() == other.atr
    assert wait_for(lambda: server.status()[0]["connected"] is True)


def test_insert_same_card_again(server: VpcdServer, vpcd: FakeVpcd) -> None:
    server.eject(0)
    assert vpcd.closed_by_peer()
    vpcd.drop()
    server.insert(0)
    vpcd.accept()
    vpcd.send(b"\x04")
    assert vpcd.recv() == ATR


def test_empty_slot_never_connects(vpcd: FakeVpcd) -> None:
    srv = VpcdServer([None], port=vpcd.port)
    srv.start()
    try:
        vpcd.listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            vpcd.listener.accept()
        with pytest.raises(UsageError):
            srv.insert(0)  # nothing to insert
    finally:
        srv.stop()


def test_control_channel(server: VpcdServer, vpcd: FakeVpcd, tmp_path: Path) -> None:
    path = str(tmp_path / "ctl.sock")
    # vpcd's accept returns before the server's thread marks the slot connected: wait for it.
    assert wait_for(lambda: '"connected": true' in control("status", path))
    assert control("eject 0", path) == "slot 0 ejected"
    assert vpcd.closed_by_peer()
    vpcd.drop()
    psam_file = tmp_path / "psam.json"
    Psam.issue(algorithm=Algorithm.SM4, path=psam_file)
    assert control(f"insert 0 {psam_file}", path) == "slot 0 inserted"
    vpcd.accept()
    vpcd.send(b"\x04")
    assert vpcd.recv() == Psam.load(psam_file).atr
    assert str(psam_file) in control("status", path)
    for bad in ("eject 7", "dance", "insert x", f"insert 0 {tmp_path / 'missing.json'}", ""):
        with pytest.raises(UsageError):
            control(bad, path)


def test_control_without_a_server(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no simulator server"):
        control("status", str(tmp_path / "nobody.sock"))


def test_second_server_on_the_same_control_path_is_refused(
    server: VpcdServer, tmp_path: Path
) -> None:
    other = VpcdServer([EchoCard()], port=1, control_path=str(tmp_path / "ctl.sock"))
    with pytest.raises(UsageError, match="another simulator server"):
        other.start()


def test_stop_removes_the_control_socket(vpcd: FakeVpcd, tmp_path: Path) -> None:
    path = tmp_path / "c.sock"
    srv = VpcdServer([EchoCard()], port=vpcd.port, control_path=str(path))
    srv.start()
    vpcd.accept()
    assert path.exists()
    srv.stop()
    assert not path.exists()
    assert vpcd.closed_by_peer()


def test_parse_hostport() -> None:
    assert parse_hostport("127.0.0.1:35963") == ("127.0.0.1", 35963)
    assert parse_hostport("35970") == ("127.0.0.1", 35970)
    for bad in ("host:port", "h:0", "h:70000"):
        with pytest.raises(UsageError):
            parse_hostport(bad)
