"""What is at a card file's path (issue 10 §2, §3): FIFOs, devices, directories, sockets,
symbolic and hard links, read-only files and directories, and what ``--out --force`` may replace.

Special files are made inside each test's own directory: a FIFO with ``os.mkfifo``, and a
character device with ``os.mknod`` carrying ``/dev/zero``'s own device number (so reading it
would never end) — never a system path.  Commands run as processes with a generous timeout:
a refusal returns at once, a hang fails the test instead of blocking the suite.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.state import CardState
from simulator.store import CardLock
from tests.helpers_files import key_json, one_line, sscard, write_card


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return path


@pytest.fixture
def zero(tmp_path: Path) -> Path:
    """A character device like /dev/zero (endless zeros), inside the test's directory."""
    path = tmp_path / "zero.json"
    os.mknod(path, 0o666 | stat.S_IFCHR, os.stat("/dev/zero").st_rdev)
    return path


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sock.json"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    yield path
    server.close()


@pytest.fixture
def card(tmp_path: Path) -> Path:
    return write_card(tmp_path / "card.json")


def _refused_quickly(*args: str, **kw: object) -> tuple[str, float]:
    start = time.monotonic()
    done = sscard(*args, **kw)  # type: ignore[arg-type]
    elapsed = time.monotonic() - start
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    return one_line(done.stderr), elapsed


@pytest.mark.parametrize("special", ["fifo", "zero"])
def test_fifo_and_endless_device_are_refused_without_blocking(
    special: str, request: pytest.FixtureRequest, card: Path
) -> None:
    path: Path = request.getfixturevalue(special)
    before = os.stat(path)
    words = {"fifo": "FIFO", "zero": "character device"}[special]
    for args in (
        ["pin", "status", "--sim", str(path)],
        ["sim", "apdu", "--card", str(path), "00200000"],
        ["read", "--sim", str(card), "--keys", str(path)],
        ["read", "--sim", str(card), "--psam", str(path)],
    ):
        line, _ = _refused_quickly(*args)
        assert words in line
    after = os.stat(path)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode)
    assert after.st_rdev == before.st_rdev


@pytest.mark.parametrize("special", ["sock", "directory", "link-to-fifo"])
def test_other_non_regular_paths_are_refused(
    special: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if special == "directory":
        path = tmp_path / "dir.json"
        path.mkdir()
    elif special == "link-to-fifo":
        path = tmp_path / "link.json"
        path.symlink_to(request.getfixturevalue("fifo"))
    else:
        path = request.getfixturevalue(special)
    line, _ = _refused_quickly("pin", "status", "--sim", str(path))
    assert "not a regular file" in line


def test_the_bounded_reader_refuses_a_fifo_in_microseconds(fifo: Path, zero: Path) -> None:
    """In-process figure for the README (the process start dominates the CLI's time)."""
    from apdu.errors import FileError
    from apdu.jsonfile import read_regular

    for path in (fifo, zero):
        start = time.perf_counter()
        with pytest.raises(FileError, match="not a regular file"):
            read_regular(path)
        print(f"\n{path.name} refused in {(time.perf_counter() - start) * 1e6:.0f} µs")


# --- saving: what --out --force may replace ------------------------------------------------------


@pytest.mark.parametrize("command", ["issue", "issue-psam"])
@pytest.mark.parametrize("special", ["zero", "fifo", "sock"])
def test_issue_force_never_replaces_a_special_file(
    command: str, special: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(special)
    before = os.lstat(path)
    line, _ = _refused_quickly("sim", command, "--out", str(path), "--force")
    assert "not a regular file" in line
    after = os.lstat(path)
    assert (stat.S_IFMT(after.st_mode), after.st_rdev, after.st_ino) == (
        stat.S_IFMT(before.st_mode), before.st_rdev, before.st_ino)
    assert not (path.parent / f".{path.name}.lock").exists()  # nothing created beside it


def test_issue_force_replaces_only_card_files(tmp_path: Path, card: Path) -> None:
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\n")
    line, _ = _refused_quickly("sim", "issue", "--out", str(other), "--force")
    assert "not an sscard card file" in line
    assert other.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    done = sscard("sim", "issue", "--out", str(card), "--force", "--generation", "2")
    assert done.returncode == 0, done.stderr
    assert CardState.load(card).generation == 2


def test_issue_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    line, _ = _refused_quickly("sim", "issue", "--out", str(tmp_path / "missing" / "c.json"))
    assert "does not exist" in line
    assert not (tmp_path / "missing").exists()


def test_issue_force_over_a_card_in_use_waits_then_refuses(card: Path) -> None:
    raw = card.read_bytes()
    with CardLock.acquire(card):
        line, _ = _refused_quickly("sim", "issue", "--out", str(card), "--force",
                                   env={"SSCARD_CARD_LOCK_WAIT": "0.2"})
    assert f"in use by PID {os.getpid()}" in line
    assert card.read_bytes() == raw


# --- links and permissions ---------------------------------------------------------------------


def test_symbolic_link_is_followed_and_the_target_keeps_the_state(tmp_path: Path) -> None:
    """[choice] A link is resolved: the try spent through the link is in the target, and the
    target's lock covers both names, so no try is refunded through the other path."""
    (tmp_path / "cards").mkdir()
    real = write_card(tmp_path / "cards" / "real.json")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    done = sscard("pin", "verify", "--sim", str(link), "--pin-stdin", stdin="000000\n")
    assert done.returncode == 1 and "5 tries left" in done.stderr
    assert link.is_symlink() and CardState.load(real).pin.tries_left == 5
    with CardLock.acquire(real):
        line, _ = _refused_quickly("pin", "verify", "--sim", str(link), "--pin-stdin",
                                   stdin="000000\n", env={"SSCARD_CARD_LOCK_WAIT": "0.2"})
    assert "in use" in line
    assert CardState.load(real).pin.tries_left == 5
    done = sscard("sim", "issue", "--out", str(link), "--force", "--generation", "2")
    assert done.returncode == 0 and link.is_symlink() and CardState.load(real).generation == 2


def test_hard_linked_card_is_refused(tmp_path: Path, card: Path) -> None:
    second = tmp_path / "second.json"
    os.link(card, second)
    raw = card.read_bytes()
    for name in (card, second):
        line, _ = _refused_quickly("pin", "verify", "--sim", str(name), "--pin-stdin",
                                   stdin="000000\n")
        assert "2 hard links" in line
    line, _ = _refused_quickly("sim", "issue", "--out", str(second), "--force")
    assert "hard links" in line
    assert card.read_bytes() == raw and os.stat(card).st_nlink == 2


def test_read_only_card_file_is_refused_at_load(card: Path) -> None:
    """[choice] Refused when opened (a simulated card may write at any APDU), for root too."""
    card.chmod(0o444)
    raw = card.read_bytes()
    line, _ = _refused_quickly("pin", "status", "--sim", str(card))
    assert "read-only (mode 0444)" in line
    line, _ = _refused_quickly("sim", "issue", "--out", str(card), "--force")
    assert "read-only" in line
    assert card.read_bytes() == raw and stat.S_IMODE(os.stat(card).st_mode) == 0o444


def test_read_only_card_directory_is_refused_at_load(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    card = write_card(folder / "card.json")
    raw = card.read_bytes()
    folder.chmod(0o555)
    try:
        line, _ = _refused_quickly("read", "--sim", str(card))
        assert "read-only" in line and "directory" in line
        assert card.read_bytes() == raw and sorted(os.listdir(folder)) == [
            ".card.json.lock", "card.json"]
    finally:
        folder.chmod(0o755)


def test_a_save_keeps_the_mode_and_the_owner(card: Path) -> None:
    card.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(card, 4242, 4343)
    done = sscard("pin", "verify", "--sim", str(card), "--pin-stdin", stdin="000000\n")
    assert done.returncode == 1
    st = os.stat(card)
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (4242, 4343)
    assert CardState.load(card).pin.tries_left == 5


def test_a_write_refuses_a_path_that_stopped_being_a_regular_file(card: Path) -> None:
    """The card is open; someone replaces its file by a FIFO: the next write answers 6581 (a
    memory failure) and the FIFO stays, rather than being replaced by a regular file."""
    from simulator.usercard import UserCard
    from tests.helpers_sim import SELECT_SSSE, verify_apdu

    with UserCard.load(card) as open_card:
        open_card.transmit(SELECT_SSSE)
        card.unlink()
        os.mkfifo(card)
        assert open_card.transmit(verify_apdu("000000")) == b"\x65\x81"
        assert open_card.faults == 1
    assert stat.S_ISFIFO(os.lstat(card).st_mode)


def test_key_file_is_read_bounded(tmp_path: Path, card: Path) -> None:
    """A valid key file works; one over the size limit is one line."""
    import json

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(key_json()) + " " * (1 << 20))
    line, _ = _refused_quickly("read", "--sim", str(card), "--keys", str(keys))
    assert "limit" in line
