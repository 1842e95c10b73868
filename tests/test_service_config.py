"""The service's configuration file and socket place: strict, one line per mistake."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from apdu.errors import UsageError
from terminal.service.config import load_config, parse_config
from terminal.service.runtime import default_socket_path, listen, remove_socket, socket_identity

GOOD = """
[reader]
pcsc = "Virtual PCD 00 00"
contactless = "PICC"
[security]
mode = "psam"
psam_reader = "Virtual PCD 00 01"
[pin]
program = "pinentry-curses"
timeout = 30
ttyname = "/dev/tty1"
[policy]
pin_length = 0
[service]
step_timeout = 60
device_number = "POS-7"
"""


def test_a_full_configuration(tmp_path: Path) -> None:
    path = tmp_path / "service.toml"
    path.write_text(GOOD)
    config = load_config(path)
    src = config.source_config(tmp_path)
    assert (src.reader, src.contactless, src.security, src.psam_reader) == (
        "Virtual PCD 00 00", "PICC", "psam", "Virtual PCD 00 01")
    nat = config.national_config()
    assert nat.pin_length is None and nat.pinentry.ttyname == "/dev/tty1"
    assert nat.device_number == "POS-7" and nat.step_timeout == 60


def test_relative_paths_follow_the_file(tmp_path: Path) -> None:
    config = parse_config({"reader": {"sim": "card.json"}, "security": {"mode": "software"}})
    assert config.source_config(tmp_path).sim == tmp_path / "card.json"
    sample = parse_config({"reader": {"sim": "sample"}, "security": {"mode": "software"}})
    assert sample.source_config(tmp_path).sim is True


BAD = [
    ({}, "reader"),
    ({"reader": {}}, "exactly one of reader.pcsc and reader.sim"),
    ({"reader": {"pcsc": "0", "sim": "c.json"}}, "exactly one"),
    ({"reader": {"pcsc": " "}}, "reader.pcsc is empty"),
    ({"reader": {"pcsc": "0"}, "colour": "red"}, "colour"),
    ({"reader": {"pcsc": "0", "port": 1}}, "reader.port"),
    ({"reader": {"pcsc": 0}}, "reader.pcsc"),
    ({"reader": {"pcsc": "0", "wait": "5"}}, "reader.wait"),
    ({"reader": {"pcsc": "0"}, "security": {"mode": "psam"}}, "exactly one of psam_reader"),
    ({"reader": {"pcsc": "0"}, "security": {"mode": "hsm", "psam_sim": "p"}}, "only for mode psam"),
    ({"reader": {"pcsc": "0"}, "security": {"mode": "software"}}, "simulated cards only"),
    ({"reader": {"sim": "c"}, "security": {"mode": "hsm", "keys": "k"}}, "only for mode software"),
    ({"reader": {"sim": "c"}, "security": {"mode": "magic"}}, "security.mode"),
    ({"reader": {"pcsc": "0"}, "pin": {"timeout": -1}}, "pin.timeout"),
    ({"reader": {"pcsc": "0"}, "pin": {"entry": "voice"}}, "pin.entry"),
    ({"reader": {"pcsc": "0"}, "policy": {"pin_length": 3}}, "pin_length"),
    ({"reader": {"pcsc": "0"}, "policy": {"initial_pin_can_transact": "no"}}, "initial_pin"),
    ({"reader": {"pcsc": "0"}, "service": {"step_timeout": 0}}, "service.step_timeout"),
]


@pytest.mark.parametrize(("data", "words"), BAD, ids=[b[1] for b in BAD])
def test_mistakes_get_one_line_naming_the_key(data: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_config(data)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(UsageError, match="configuration"):
        load_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[reader\n")
    with pytest.raises(UsageError, match="not TOML"):
        load_config(bad)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 70000)
    with pytest.raises(UsageError, match="larger than"):
        load_config(big)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        load_config(fifo)  # refused at once, never waited on


# --- the socket's place ---------------------------------------------------------------------------


def test_the_default_socket_is_in_the_private_directory(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.delenv("SSCARD_SOCKET", raising=False)
    assert default_socket_path() == run / "sscard" / "service.sock"
    sock, path = listen()
    sock.close()
    assert path == run / "sscard" / "service.sock"
    assert stat.S_IMODE(os.stat(run / "sscard").st_mode) == 0o700
    os.chmod(run / "sscard", 0o755)
    with pytest.raises(UsageError, match="not 0700"):  # never "repaired": refused
        listen()
    monkeypatch.setenv("SSCARD_SOCKET", str(tmp_path / "x.sock"))
    assert default_socket_path() == tmp_path / "x.sock"


def test_listen_refuses_to_replace_what_is_not_a_stale_socket(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    path.write_text("precious")
    with pytest.raises(UsageError, match="not a socket"):
        listen(path)
    assert path.read_text() == "precious"
    path.unlink()
    sock, bound = listen(path)
    assert stat.S_IMODE(os.stat(bound).st_mode) == 0o600
    with pytest.raises(UsageError, match="already listens"):
        listen(path)
    sock.close()  # now stale: nobody answers, so a new service may take the place
    sock2, _ = listen(path)
    remove_socket(path, (0, 0))  # a socket that is not the one we bound: left alone
    assert path.exists()
    remove_socket(path, socket_identity(path))
    assert not path.exists()
    sock2.close()


def test_listen_refuses_a_directory_others_may_write(tmp_path: Path) -> None:
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o777)
    with pytest.raises(UsageError, match="writable by other users"):
        listen(d / "s.sock")
    os.chmod(d, 0o1777)  # sticky, like /tmp: fine
    sock, _ = listen(d / "s.sock")
    sock.close()
    assert isinstance(sock, socket.socket)
