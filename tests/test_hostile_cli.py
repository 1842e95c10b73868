"""Hostile and careless command lines (issue 10 §4, §6): closed and full standard streams, bad
numbers, bad issue data, simulator faults, control paths.  Each ends in ONE line on stderr and
the documented exit code (2 usage or I/O, 1 refusal), and the card file is unchanged."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.state import CardState
from terminal.cli.main import cli
from tests.helpers_files import REPO, TIMEOUT, one_line, sscard, write_card


@pytest.fixture
def card(tmp_path: Path) -> Path:
    return write_card(tmp_path / "card.json")


def _close_fd(fd: int):  # type: ignore[no-untyped-def]
    return lambda: os.close(fd)


def test_closed_stdout_refuses_before_touching_the_card(card: Path) -> None:
    raw = card.read_bytes()
    done = sscard("pin", "verify", "--sim", str(card), "--pin-stdin", stdin="000000\n",
                  stderr=subprocess.PIPE, preexec_fn=_close_fd(1))
    assert done.returncode == 2
    assert "standard output is closed" in one_line(done.stderr)
    assert card.read_bytes() == raw  # no try spent for a result nobody could see


def test_closed_stdin_with_pin_stdin(card: Path) -> None:
    done = sscard("pin", "verify", "--sim", str(card), "--pin-stdin", stdin=None,
                  capture_output=True, preexec_fn=_close_fd(0))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[-1] == "sscard: --pin-stdin: standard input is closed" and "Traceback" not in \
        done.stderr
    assert CardState.load(card).pin.tries_left == 6


def test_stdout_on_a_full_disk(card: Path) -> None:
    with open("/dev/full", "w") as full:
        done = sscard("read", "--sim", str(card), stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert "No space left on device" in one_line(done.stderr)


def test_stdout_a_pipe_nobody_reads(card: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = sscard("read", "--sim", str(card), "--json", stdout=write_end,
                      stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert done.returncode == 2
    assert "broken pipe" in one_line(done.stderr)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon", "1e400"])
def test_wait_must_be_a_finite_number(value: str) -> None:
    result = CliRunner().invoke(cli, ["read", "--sim", "--wait", value])
    assert result.exit_code == 2 and result.stdout == ""
    assert one_line(result.stderr).startswith("sscard: Invalid value for '--wait'")


@pytest.mark.parametrize("args", [
    ["read", "--sim", "--reader", "0"],  # an SSCardError
    ["read", "--bogus"],  # a click usage error
    ["sim", "issue"],  # a missing option
    ["nosuchcommand"],
])
def test_usage_errors_are_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and result.stdout == ""
    one_line(result.stderr)


# --- sim issue: the data a card would hold ------------------------------------------------------


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty"),
    ("   ", "empty"),
    ("张\x1b]0;pwned\x07三", "control characters"),
    ("张\u202e三", "control characters"),
    ("张😀", "not a GBK character"),
    ("𠀀", "not a GBK character"),
])
def test_issue_refuses_names_a_card_cannot_hold(tmp_path: Path, name: str, why: str) -> None:
    out = tmp_path / "c.json"
    result = CliRunner().invoke(cli, ["sim", "issue", "--out", str(out), "--name", name])
    assert result.exit_code == 2 and why in one_line(result.stderr)
    assert not out.exists()


def test_issue_ssn_full_width_and_lower_x(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    result = CliRunner().invoke(cli, ["sim", "issue", "--out", str(out),
                                      "--ssn", "４２０１０２１９８５０５１５１２３８"])
    assert result.exit_code == 2 and "ASCII" in one_line(result.stderr) and not out.exists()
    ssn = "11010519491231002x"  # GB 11643's own example, with a typed lower-case x
    result = CliRunner().invoke(cli, ["sim", "issue", "--out", str(out), "--ssn", ssn])
    assert result.exit_code == 0, result.stderr
    data = json.loads(out.read_text("utf-8"))
    assert data["personalisation"]["holder"]["ssn"] == ssn.upper()


# --- sim apdu: simulator faults ------------------------------------------------------------------


_BROKEN_CARD = """
import sys
from simulator import pincmds

def broken(stored, given):
    raise RuntimeError("simulated bug")

pincmds._pin_matches = broken  # an internal fault in the card OS, as a real bug would be
from terminal.cli.main import main
main(sys.argv[1:])
"""


def test_sim_apdu_exits_2_on_an_internal_fault_with_one_log_line(card: Path) -> None:
    select = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00"
    env = {k: v for k, v in os.environ.items() if k != "SSCARD_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", _BROKEN_CARD, "sim", "apdu", "--card", str(card), select,
         "0020000003123456"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=TIMEOUT,
    )
    assert done.returncode == 2
    assert done.stdout.splitlines()[1] == "6F00"
    assert done.stderr.splitlines() == [
        "internal error (INS 20): RuntimeError",
        "sscard: the card reported 1 internal fault(s) or failed write(s) (6F00 / 6581): see "
        "the log line(s) above; SSCARD_DEBUG=1 shows the traceback",
    ]
    assert "123456" not in done.stderr
    debug = subprocess.run(
        [sys.executable, "-c", _BROKEN_CARD, "sim", "apdu", "--card", str(card), select,
         "0020000003123456"],
        capture_output=True, text=True, env={**env, "SSCARD_DEBUG": "1"}, cwd=REPO,
        timeout=TIMEOUT,
    )
    assert "Traceback" in debug.stderr  # for developers, on request only


def test_sim_apdu_reads_write_nothing(card: Path) -> None:
    """READ RECORD changes no state: the file is not rewritten (same inode, same bytes)."""
    before = os.stat(card)
    raw = card.read_bytes()
    done = sscard("sim", "apdu", "--card", str(card),
                  "00A404000F7378312E73682EC9E7BBE1B1A3D5CF00", "00B2032806", "00200000")
    assert done.returncode == 0 and done.stderr == ""
    assert card.read_bytes() == raw and os.stat(card).st_ino == before.st_ino


@pytest.mark.parametrize("generation", [2, 3])
def test_a_read_leaves_the_card_file_byte_identical(tmp_path: Path, generation: int) -> None:
    """A 3.00 read spends an RKSSSE try (saved before the compare) and restores it: the file
    ends as the very bytes it was; a 2.x read writes nothing at all."""
    card = write_card(tmp_path / "card.json", generation)
    raw, inode = card.read_bytes(), os.stat(card).st_ino
    for args in (["read"], ["check"], ["status"]):
        done = sscard(*args, "--sim", str(card))
        assert done.returncode == 0, done.stderr
    assert card.read_bytes() == raw
    if generation == 2:
        assert os.stat(card).st_ino == inode
    done = sscard("pin", "verify", "--sim", str(card), "--pin-stdin", stdin="123456\n")
    assert done.returncode == 0 and card.read_bytes() == raw


# --- the control socket -----------------------------------------------------------------------


def test_serve_refuses_a_control_path_that_is_a_card_file(card: Path) -> None:
    raw = card.read_bytes()
    done = sscard("sim", "serve", "--card", str(card), "--control", str(card),
                  "--vpcd", "127.0.0.1:9")
    assert done.returncode == 2
    assert "not a socket" in one_line(done.stderr)
    assert card.read_bytes() == raw and stat.S_ISREG(os.lstat(card).st_mode)


@pytest.mark.parametrize("kind", ["directory", "too-long"])
def test_serve_refuses_an_unusable_control_path(tmp_path: Path, card: Path, kind: str) -> None:
    if kind == "directory":
        path = tmp_path / "ctl"
        path.mkdir()
        word = "not a socket"
    else:
        path = tmp_path / ("x" * 120)
        word = "at most 107"
    done = sscard("sim", "serve", "--card", str(card), "--control", str(path),
                  "--vpcd", "127.0.0.1:9")
    assert done.returncode == 2 and word in one_line(done.stderr)
    # the server released the card when it gave up
    done = sscard("pin", "status", "--sim", str(card), env={"SSCARD_CARD_LOCK_WAIT": "0"})
    assert done.returncode == 0, done.stderr


def test_control_client_without_a_server_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sim", "eject", "--control", str(tmp_path / "none.sock")])
    assert result.exit_code == 2 and "no simulator server" in one_line(result.stderr)


def test_stale_socket_is_removed_only_if_it_is_ours(tmp_path: Path) -> None:
    from apdu.errors import UsageError
    from simulator.vpcd import _clear_stale_socket

    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # a socket file nobody listens on: a dead server's
    if os.geteuid() == 0:
        os.chown(path, 4242, 4242)
        with pytest.raises(UsageError, match="belongs to uid 4242"):
            _clear_stale_socket(str(path))
        assert path.exists()
        os.chown(path, 0, 0)
    _clear_stale_socket(str(path))
    assert not path.exists()


def test_private_directory_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from apdu.errors import UsageError
    from apdu.rundir import private_dir
    from simulator.vpcd import default_control_path

    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert private_dir(create=False) == runtime / "sscard"  # not made by a client
    assert not (runtime / "sscard").exists()
    made = private_dir()
    assert made == runtime / "sscard" and stat.S_IMODE(os.lstat(made).st_mode) == 0o700
    assert default_control_path() == str(made / "sim.sock")
    made.chmod(0o755)
    with pytest.raises(UsageError, match="mode 0755"):
        private_dir()
    made.rmdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    made.symlink_to(elsewhere)
    with pytest.raises(UsageError, match="symbolic link"):
        private_dir()
    made.unlink()
    if os.geteuid() == 0:
        made.mkdir(mode=0o700)
        os.chown(made, 4242, 4242)
        with pytest.raises(UsageError, match="belongs to uid 4242"):
            default_control_path()
        made.rmdir()
    # without XDG_RUNTIME_DIR: a directory of our own in the temporary directory
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert private_dir() == tmp_path / f"sscard-{os.geteuid()}"


def test_socket_is_born_private(tmp_path: Path) -> None:
    from simulator.vpcd import VpcdServer

    class Card:
        atr = bytes.fromhex("3B6D0000") + b"TEST-RESPONDR"
        t0 = False

        def power_on(self) -> bytes:
            return self.atr

        reset = power_on

        def power_off(self) -> None:
            pass

        def transmit(self, command: bytes) -> bytes:
            return b"\x90\x00"

    path = tmp_path / "ctl.sock"
    server = VpcdServer([Card()], port=9, control_path=str(path))
    old = os.umask(0)  # even a careless umask does not make it reachable
    try:
        server.start()
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        assert server.handle_control(b"not json").startswith(b'{"ok": false')
    finally:
        server.stop()
    assert not path.exists()


def test_an_atr_that_cannot_be_served_is_refused_at_load() -> None:
    from apdu.errors import UsageError
    from simulator.vpcd import VpcdServer

    class Card:
        atr = b"\x3b" * 70_000
        t0 = False

    with pytest.raises(UsageError, match="70000 bytes"):
        VpcdServer([Card()], port=9)  # type: ignore[list-item]


def test_insert_a_card_whose_path_has_spaces(tmp_path: Path) -> None:
    from simulator.vpcd import VpcdServer, control

    folder = tmp_path / "my cards"
    folder.mkdir()
    first = write_card(folder / "card one.json")
    second = write_card(folder / "card\ntwo.json", 2)
    path = tmp_path / "ctl.sock"
    from simulator.loader import load_card

    server = VpcdServer([load_card(first)], port=9, control_path=str(path))
    server.start()
    try:
        assert control(f"insert 0 {second}", str(path)) == "slot 0 inserted"  # text form
        assert json.loads(control("status", str(path)))[0]["file"] == str(second)
        assert control({"command": "insert", "slot": 0, "card": str(first)}, str(path)) == \
            "slot 0 inserted"
        # the first card's lock was released when it left the slot, and taken again now
        done = sscard("pin", "status", "--sim", str(second), env={"SSCARD_CARD_LOCK_WAIT": "0"})
        assert done.returncode == 0, done.stderr
        done = sscard("pin", "status", "--sim", str(first), env={"SSCARD_CARD_LOCK_WAIT": "0"})
        assert done.returncode == 2 and "in use" in one_line(done.stderr)
    finally:
        server.stop()
        server.close_cards()
