"""The PIN-pad reader's server (simulator/ifdserver.py) speaks simulator/ifd/PROTOCOL.md: checked
here from a Python client; tests/test_ifd_driver.py checks the C driver against it (issue 13)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apdu import part10
from apdu.errors import UsageError
from simulator import ifdserver as ifd
from simulator.ifdserver import IfdServer
from simulator.pinpad import PinPadFirmware, ScriptedKeypad
from simulator.samples import sample_card
from tests.helpers_pinpad import SELECT_SSSE, IfdClient, RecordingCard

OK, NO_CARD, NOT_SUPPORTED, ERROR = 0x80, 0x81, 0x82, 0x83


class Served:
    def __init__(self, path: Path) -> None:
        self.keypad = ScriptedKeypad()
        self.card = RecordingCard(sample_card(3, t0=False))
        firmware = PinPadFirmware(self.keypad)
        self.server = IfdServer(path, self.card, firmware, keepalive=0.05)  # type: ignore[arg-type]
        self.server.start()
        self.client = IfdClient(path)
        self.client.hello()

    def control(self, code: int, data: bytes = b"") -> tuple[int, bytes] | None:
        return self.client.request(ifd.REQ_CONTROL, code.to_bytes(4, "big") + data)

    def powered(self) -> bytes:
        reply = self.client.request(ifd.REQ_POWER_ON)
        assert reply is not None and reply[0] == OK
        selected = self.client.request(ifd.REQ_APDU, SELECT_SSSE)
        assert selected is not None and selected[1][-2:] == b"\x90\x00"
        return reply[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "pad.sock")
    yield s
    s.client.close()
    s.server.stop()


def test_presence_power_and_apdus(served: Served) -> None:
    c = served.client
    assert c.request(ifd.REQ_PRESENCE) == (OK, b"\x01")
    assert c.request(ifd.REQ_APDU, SELECT_SSSE) == (NO_CARD, b"")  # not powered yet
    atr = served.powered()
    assert atr == served.card.atr
    assert c.request(ifd.REQ_PRESENCE) == (OK, b"\x02")
    assert c.request(ifd.REQ_APDU, bytes.fromhex("00200000")) == (OK, b"\x63\xc6")
    assert c.request(ifd.REQ_RESET) == (OK, atr)
    assert c.request(ifd.REQ_POWER_OFF) == (OK, b"")
    assert c.request(ifd.REQ_PRESENCE) == (OK, b"\x01")
    served.server.eject()
    assert c.request(ifd.REQ_PRESENCE) == (OK, b"\x00")
    assert c.request(ifd.REQ_POWER_ON) == (NO_CARD, b"")
    served.server.insert(sample_card(3, t0=False))
    assert c.request(ifd.REQ_PRESENCE) == (OK, b"\x01")


def test_control_requests_reach_the_firmware(served: Served) -> None:
    kind, answer = served.control(part10.CM_IOCTL_GET_FEATURE_REQUEST)  # type: ignore[misc]
    assert kind == OK and set(part10.parse_features(answer)) == {6, 7, 0x0A, 0x12}
    assert served.control(0x42330099) == (NOT_SUPPORTED, b"")
    assert served.control(0x42330006, b"\x00" * 10) == (NOT_SUPPORTED, b"")  # libccid refuses
    served.keypad.push("123456")
    assert served.control(0x42330006, part10.ssc_verify().to_bytes()) == (NO_CARD, b"")
    short = served.client.request(ifd.REQ_CONTROL, b"\x42")
    assert short == (ERROR, b"CONTROL needs a 4-byte control code")


def _once_waiting(served: Served, *actions: Callable[[], object], waits: int = 1) -> None:
    """Run ``actions`` in order, in a thread, once the client has seen ``waits`` WAIT frames:
    the pad is then really in the entry (a timer could fire before the request under load)."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while served.client.waits < waits and time.monotonic() < deadline:
            time.sleep(0.01)
        for action in actions:
            action()

    threading.Thread(target=run, daemon=True).start()


def test_a_pin_entry_typed_later_keeps_the_driver_waiting_with_wait_frames(served: Served) -> None:
    served.powered()
    mark = len(served.card.received)
    _once_waiting(served, lambda: served.keypad.push("123456"), waits=2)
    assert served.control(0x42330006, part10.ssc_verify().to_bytes()) == (OK, b"\x90\x00")
    assert served.client.waits >= 2
    assert served.card.since(mark) == [bytes.fromhex("0020000003123456")]


def test_cancel_mismatch_and_timeout_come_back_as_pad_results(served: Served) -> None:
    served.powered()
    served.keypad.push_cancel()
    assert served.control(0x42330006, part10.ssc_verify().to_bytes()) == (OK, b"\x64\x01")
    served.keypad.push_timeout()
    assert served.control(0x42330006, part10.ssc_verify().to_bytes()) == (OK, b"\x64\x00")
    for digits in ("123456", "111111", "222222"):
        served.keypad.push(digits)
    assert served.control(0x42330007, part10.ssc_change().to_bytes()) == (OK, b"\x64\x02")


def test_the_card_pulled_out_during_the_entry_is_no_card(served: Served) -> None:
    served.powered()
    _once_waiting(served, served.server.eject, lambda: served.keypad.push("123456"))
    assert served.control(0x42330006, part10.ssc_verify().to_bytes()) == (NO_CARD, b"")


def test_hello_checks_the_version(tmp_path: Path) -> None:
    with IfdServer(tmp_path / "v.sock", sample_card(3, t0=False)):
        client = IfdClient(tmp_path / "v.sock")
        assert client.request(ifd.REQ_HELLO, b"\x02") == (ERROR, b"protocol version 1 only")
        assert client.receive() is None  # and the connection is closed
        client.close()
        client = IfdClient(tmp_path / "v.sock")
        client.hello()
        assert client.request(0x55) == (ERROR, b"unknown request 0x55")
        client.close()


def test_without_firmware_control_is_not_supported(tmp_path: Path) -> None:
    with IfdServer(tmp_path / "plain.sock", sample_card(3, t0=False)):
        client = IfdClient(tmp_path / "plain.sock")
        client.hello()
        assert client.request(ifd.REQ_CONTROL, bytes(4)) == (NOT_SUPPORTED, b"")
        client.close()


def test_an_oversized_frame_closes_only_that_connection(served: Served, tmp_path: Path) -> None:
    bad = IfdClient(tmp_path / "pad.sock")
    bad.sock.sendall(bytes((ifd.REQ_APDU,)) + (ifd.MAX_PAYLOAD + 1).to_bytes(4, "big"))
    assert bad.receive() is None
    fresh = IfdClient(tmp_path / "pad.sock")
    fresh.hello()
    assert fresh.request(ifd.REQ_PRESENCE) == (OK, b"\x01")
    fresh.close()


def test_the_newest_connection_wins_and_the_old_one_is_closed(
    served: Served, tmp_path: Path
) -> None:
    served.powered()
    newer = IfdClient(tmp_path / "pad.sock")
    newer.hello()
    try:  # the old one was closed: EOF, or a broken pipe when writing
        reply = served.client.request(ifd.REQ_PRESENCE)
    except OSError:
        reply = None
    assert reply is None
    assert newer.request(ifd.REQ_PRESENCE) == (OK, b"\x01")  # the card lost power with it
    newer.close()


def test_stale_sockets_are_replaced_and_live_servers_refused(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # a socket file nobody listens on
    with IfdServer(path, sample_card(3, t0=False)):
        assert (path.stat().st_mode & 0o777) == 0o600
        with pytest.raises(UsageError, match="another PIN-pad server"):
            IfdServer(path).start()
    assert not path.exists()


def test_a_card_that_raises_answers_6f00(tmp_path: Path) -> None:
    from tests.stack import BareResponder

    class Broken(BareResponder):
        def transmit(self, command: bytes) -> bytes:
            raise RuntimeError("boom")

    with IfdServer(tmp_path / "b.sock", Broken()):  # type: ignore[arg-type]
        client = IfdClient(tmp_path / "b.sock")
        client.hello()
        client.request(ifd.REQ_POWER_ON)
        assert client.request(ifd.REQ_APDU, b"\x00\xa4\x00\x00") == (OK, b"\x6f\x00")
        client.close()


# --- the keypad through the simulator's control socket ----------------------------------------


def test_the_keypad_verb_of_the_control_channel(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from simulator.vpcd import VpcdServer
    from terminal.cli.main import cli

    control = tmp_path / "ctl.sock"
    server = VpcdServer([], control_path=str(control))
    answer = json.loads(server.handle_control(b'{"command": "keypad", "entry": "123456"}'))
    assert answer["ok"] is False and answer["message"].startswith("this server has no scripted")
    server.keypad = ScriptedKeypad()
    server.start()
    try:
        runner = CliRunner()
        base = ["sim", "keypad", "--control", str(control)]
        for args, answer in (
            (["123456"], "keypad entry queued (1 queued)"),
            (["--cancel"], "keypad cancel queued (2 queued)"),
            (["--timeout"], "keypad timeout queued (3 queued)"),
            (["--stdin"], "keypad entry queued (4 queued)"),
            (["--status"], "keypad 4 entries queued"),
        ):
            done = runner.invoke(cli, [*base, *args], input="654321\n")
            assert done.exit_code == 0 and done.output.strip() == answer, done.output
        entries = [server.keypad.entry("PIN", 0) for _ in range(4)]
        assert [e.kind for e in entries] == ["digits", "cancel", "timeout", "digits"]
        assert bytes(entries[3].digits) == b"654321"
        assert runner.invoke(cli, [*base, "--clear"]).output.strip().startswith("keypad cleared")
        for bad in ([], ["12a"], ["1", "--cancel"]):
            done = runner.invoke(cli, [*base, *bad])
            assert done.exit_code == 2
    finally:
        server.stop()


def test_keypad_without_a_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "terminal.cli.main", "sim", "keypad", "123456",
         "--control", str(tmp_path / "nobody.sock")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no simulator server" in done.stderr and "Traceback" not in done.stderr


def test_a_keypad_that_fails_answers_error_and_the_server_goes_on(tmp_path: Path) -> None:
    class Broken:
        def entry(self, prompt: str, timeout: float) -> object:
            raise UsageError("--keypad terminal needs a terminal")

    card = sample_card(3, t0=False)
    with IfdServer(tmp_path / "k.sock", card, PinPadFirmware(Broken())):  # type: ignore[arg-type]
        client = IfdClient(tmp_path / "k.sock")
        client.hello()
        client.request(ifd.REQ_POWER_ON)
        reply = client.request(ifd.REQ_CONTROL, (0x42330006).to_bytes(4, "big")
                               + part10.ssc_verify().to_bytes())
        assert reply == (ERROR, b"--keypad terminal needs a terminal")
        assert client.request(ifd.REQ_PRESENCE) == (OK, b"\x02")
        client.close()
