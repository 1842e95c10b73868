"""``sscard service`` as a process: the protocol, hostile clients, other users, step groups, PINs.

Each test starts its own service on a socket in its temporary directory (tests/helpers_service.py)
and talks to it through the Python client or raw frames.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.service.protocol import MAX_FRAME, ServiceClient, call_answer, frame
from tests.helpers_national import (
    CARD_INFO,
    INITIAL,
    NO_PSAM_TERMINAL,
    PinQueue,
    card_file,
    national,
    pin_queue,
    source,
)
from tests.helpers_service import RunningService, running_service
from tests.hsm_helper import basic_key

DISTINCT_OLD = "480913"
DISTINCT_NEW = "739251"


@pytest.fixture
def pins(tmp_path: Path) -> PinQueue:
    return pin_queue(tmp_path)


@pytest.fixture
def svc(tmp_path: Path, pins: PinQueue) -> Iterator[RunningService]:
    card = card_file(tmp_path, 3)
    with running_service(tmp_path, ["--sim", str(card)], pins=pins) as running:
        yield running


def raw(sock_path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(str(sock_path))
    return s


def read_answer(s: socket.socket) -> dict[str, object] | None:
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (n,) = struct.unpack(">I", head)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        assert chunk, "truncated answer"
        body += chunk
    return json.loads(body)  # type: ignore[no-any-return]


def closed(s: socket.socket) -> bool:
    return s.recv(1) == b""


# --- the protocol --------------------------------------------------------------------------------


def test_hello_status_and_a_call(svc: RunningService, tmp_path: Path) -> None:
    with svc.client() as c:
        hello = c.request({"v": 1, "op": "hello"})
        assert hello["service"] == "sscard" and hello["protocol"] == 1
        code, (line,) = c.call("iReadCardBas", [3])
        status = c.request({"v": 1, "op": "status"})
    assert code == 0
    assert line.decode("gbk").endswith(f"|{NO_PSAM_TERMINAL}||")
    (tmp_path / "copy").mkdir()
    here = source(tmp_path / "copy", 3)
    assert national(here).iReadCardBas(3) == (0, (line,))  # the facade in-process, same card
    assert status["security"] == "software" and status["calls"] == 1
    assert status["readers"][0]["card_present"] is True  # type: ignore[index]
    assert svc.wait_log("call iReadCardBas reader=").split("code=")[1].startswith("0 ")


def test_the_answer_form_is_exact(svc: RunningService) -> None:
    s = raw(svc.socket)
    s.sendall(frame(b'{"v":1,"op":"call","fn":"iGetReaderInfo","args":[]}'))
    answer = b""
    head = s.recv(4)
    while len(answer) < struct.unpack(">I", head)[0]:
        answer += s.recv(4096)
    name = json.loads(answer)["out"][0]
    assert answer == call_answer(0, (bytes.fromhex(name), NO_PSAM_TERMINAL.encode()))
    assert answer.startswith(b'{"v":1,"code":0,"out":["') and b" " not in answer


HOSTILE_FRAMES = [
    ("zero length", struct.pack(">I", 0)),
    ("oversized", struct.pack(">I", MAX_FRAME + 1)),
    ("huge", b"\xff\xff\xff\xff"),
    ("not json", frame(b"hello")),
    ("not utf-8", frame(b"\xff\xfe{}")),
    ("a list", frame(b"[1,2,3]")),
    ("a string", frame(b'"call"')),
    ("wrong version", frame(b'{"v":2,"op":"hello"}')),
    ("no op", frame(b'{"v":1}')),
    ("deep nesting", frame(b"[" * 100000 + b"]" * 100000)),
    ("nul bytes", frame(b"\x00" * 64)),
]


@pytest.mark.parametrize(("name", "data"), HOSTILE_FRAMES, ids=[h[0] for h in HOSTILE_FRAMES])
def test_hostile_frames_get_one_error_and_the_service_stays_up(svc: RunningService, name: str,
                                                               data: bytes) -> None:
    s = raw(svc.socket)
    s.sendall(data)
    answer = read_answer(s)
    assert answer is not None and answer["code"] == -14 and answer["error"]
    assert closed(s)
    s.close()
    assert svc.call("iReadCardBas", 3)[0] == 0


def test_half_a_frame_then_gone(svc: RunningService) -> None:
    s = raw(svc.socket)
    s.sendall(struct.pack(">I", 100) + b'{"v":1')
    s.close()
    s = raw(svc.socket)
    s.sendall(b"\x00\x00")
    s.close()
    assert svc.call("iReadCardBas", 3)[0] == 0
    assert svc.proc.poll() is None


BAD_CALLS = [
    ({"fn": "iNoSuchFunction", "args": []}, -13, 0),
    ({"fn": 42, "args": []}, -13, 0),
    ({"fn": "iReadCardBas", "args": []}, -14, 1),
    ({"fn": "iReadCardBas", "args": [3, 4]}, -14, 1),
    ({"fn": "iReadCardBas", "args": ["3"]}, -14, 1),
    ({"fn": "iReadCardBas", "args": [True]}, -14, 1),
    ({"fn": "iReadCardBas", "args": [2**40]}, -14, 1),
    ({"fn": "iReadCardBas", "args": [3.0]}, -14, 1),
    ({"fn": "iReadCardBas_HSM_Step2", "args": ["XYZ"]}, -14, 1),
    ({"fn": "iReadCardBas_HSM_Step2", "args": ["ABC"]}, -14, 1),
    ({"fn": "iReadCardBas_HSM_Step2", "args": [7]}, -14, 1),
    ({"fn": "iReadCardBas_HSM_Step2", "args": ["00" * 129]}, -14, 1),
    ({"fn": "iGetReaderInfo", "args": "x"}, -14, 2),
]


@pytest.mark.parametrize(("request_", "code", "outs"), BAD_CALLS)
def test_bad_calls_are_answered_and_the_connection_stays(svc: RunningService,
                                                         request_: dict[str, object], code: int,
                                                         outs: int) -> None:
    s = raw(svc.socket)
    s.sendall(frame(json.dumps({"v": 1, "op": "call", **request_}).encode()))
    answer = read_answer(s)
    assert answer is not None and answer["code"] == code
    assert isinstance(answer["out"], list) and len(answer["out"]) == outs
    s.sendall(frame(b'{"v":1,"op":"hello"}'))
    assert read_answer(s)["service"] == "sscard"  # type: ignore[index]
    s.sendall(frame(b'{"v":1,"op":"launch"}'))
    assert read_answer(s)["code"] == -13  # type: ignore[index]
    s.close()


# --- other users ---------------------------------------------------------------------------------

NOBODY = 65534
PROBE = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_UNIX)\n"
    "try:\n s.connect(sys.argv[1])\nexcept OSError as e:\n print('refused',e.errno);sys.exit(0)\n"
    "print('answer',s.recv(200))\n"  # the service speaks first: its refusal
)


def as_nobody(sock: Path) -> str:
    setpriv = shutil.which("setpriv")
    assert setpriv, "util-linux setpriv is needed to act as another user"
    done = subprocess.run(
        [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "/usr/bin/python3",
         "-c", PROBE, str(sock)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory another user may traverse (pytest's own tmp is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="sscard-xdg-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_another_user_cannot_connect(tmp_path: Path, public_dir: Path, pins: PinQueue) -> None:
    card = card_file(tmp_path, 3)
    sock = public_dir / "sscard" / "service.sock"
    # The default place: $XDG_RUNTIME_DIR/sscard/service.sock, directory 0700, socket 0600.
    env = dict(os.environ, XDG_RUNTIME_DIR=str(public_dir), **pins.env())
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal.cli.main", "service", "--sim", str(card)],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert str(sock) in line, line
        assert stat.S_IMODE(os.stat(sock.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        assert as_nobody(sock).startswith("refused 13")  # EACCES: the directory stops them
        os.chmod(sock.parent, 0o755)
        os.chmod(sock, 0o666)  # even when someone loosens the modes, the service refuses
        answer = as_nobody(sock)
        assert answer.startswith("answer") and "another user" in answer
        with ServiceClient(str(sock)) as c:  # its own user is still served
            assert c.call("iReadCardBas", [3])[0] == 0
    finally:
        proc.terminate()
        proc.wait(15)
        assert proc.stderr is not None
        proc.stderr.close()


# --- step groups and clients that go away --------------------------------------------------------

STEP1_CLIENT = (
    "import sys\n"
    "from terminal.service.protocol import ServiceClient\n"
    "c = ServiceClient(sys.argv[1])\n"
    "code, out = c.call('iReadCardBas_HSM_Step1', [3])\n"
    "print(code, flush=True)\n"
    "sys.stdin.read()\n"
)


def test_a_client_killed_between_step1_and_step2_frees_the_card(svc: RunningService) -> None:
    from tests.helpers_national import REPO

    proc = subprocess.Popen([sys.executable, "-c", STEP1_CLIENT, str(svc.socket)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"0"  # Step1 done: the card is held
    proc.kill()
    proc.wait()
    with svc.client(timeout=20) as c:  # no waiting for the step timeout
        code, (step1,) = c.call("iReadCardBas_HSM_Step1", [3])
        assert code == 0
        code, (line,) = c.call("iReadCardBas_HSM_Step2", [basic_key(step1.decode())])
        assert code == 0 and line.decode("gbk").endswith(f"|{NO_PSAM_TERMINAL}||")


def test_a_step_group_times_out(tmp_path: Path, pins: PinQueue) -> None:
    card = card_file(tmp_path, 3)
    config = tmp_path / "service.toml"
    config.write_text(
        f'[reader]\nsim = "{card}"\n[security]\nmode = "hsm"\n'
        f'[pin]\nprogram = "{os.fspath(Path(__file__).parent / "pinentry_scripted.py")}"\n'
        "[service]\nstep_timeout = 0.5\n"
    )
    with running_service(tmp_path, ["--config", str(config)], pins=pins) as svc:
        with svc.client() as c:
            code, (step1,) = c.call("iReadCardBas_HSM_Step1", [3])
            assert code == 0
            svc.wait_log("HSM step group timed out; card released")
            assert c.call("iReadCardBas_HSM_Step2", [basic_key(step1.decode())])[0] == -12
        assert svc.call("iReadCardBas", 3)[0] == -2201  # HSM mode: no PSAM function


def test_a_client_gone_during_pin_entry_cancels_it(svc: RunningService, pins: PinQueue) -> None:
    pins.put("HANG")
    s = raw(svc.socket)
    s.sendall(frame(b'{"v":1,"op":"call","fn":"iVerifyPIN","args":[3]}'))
    s.close()
    line = svc.wait_log("call iVerifyPIN")
    assert "code=-31" in line
    assert svc.call("iReadCardBas", 3)[0] == 0


# --- PINs through the service --------------------------------------------------------------------


def test_pin_functions_and_no_pin_in_any_log(svc: RunningService, pins: PinQueue) -> None:
    pins.put(f"PIN {INITIAL}", f"PIN {DISTINCT_OLD}", f"PIN {DISTINCT_OLD}")
    assert svc.call("iChangePIN", 3) == (0, (b"",))
    pins.put(f"PIN {DISTINCT_OLD}")
    assert svc.call("iVerifyPIN", 3) == (0, (b"",))
    pins.put(f"PIN {DISTINCT_OLD}", f"PIN {DISTINCT_NEW}", f"PIN {DISTINCT_NEW}")
    assert svc.call("iChangePIN", 3)[0] == 0
    pins.put("PIN 111111")
    code, (text,) = svc.call("iVerifyPIN", 3)
    assert code == -51 and text.decode("gbk") == "PIN校验失败,剩余次数5次"
    pins.put(f"PIN {DISTINCT_OLD}", f"PIN {DISTINCT_OLD}")
    assert svc.call("iReloadPIN", 3, CARD_INFO)[0] == 0
    # the holder sees which program asks, and why
    desc = pins.log_text()
    assert f"(PID {os.getpid()})" in desc and "iChangePIN" in desc and "iVerifyPIN" in desc
    svc.wait_log("call iReloadPIN")
    logs = svc.text() + svc.log.read_text(encoding="utf-8")
    for pin in (DISTINCT_OLD, DISTINCT_NEW, "111111"):
        assert pin not in logs and pin not in desc


def test_eight_threads_at_once_get_uncorrupted_answers(svc: RunningService) -> None:
    expected = svc.call("iReadCardBas", 3)
    results: list[tuple[int, tuple[bytes, ...]]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        with svc.client() as c:
            start.wait()
            for _ in range(20):
                r = c.call("iReadCardBas", [3])
                with lock:
                    results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160 and all(r == expected for r in results)
    with svc.client() as c:
        assert c.request({"v": 1, "op": "status"})["max_parallel"] == 1


def test_too_many_clients_are_told_so(tmp_path: Path, pins: PinQueue) -> None:
    card = card_file(tmp_path, 3)
    config = tmp_path / "one.toml"
    config.write_text(f'[reader]\nsim = "{card}"\n[security]\nmode = "software"\n'
                      "[service]\nmax_clients = 1\n")
    with running_service(tmp_path, ["--config", str(config)], pins=pins) as svc:
        first = raw(svc.socket)
        first.sendall(frame(b'{"v":1,"op":"hello"}'))
        assert read_answer(first)["service"] == "sscard"  # type: ignore[index]
        second = raw(svc.socket)
        answer = read_answer(second)
        assert answer is not None and "too many clients" in str(answer["error"])
        assert answer["code"] == -11
        assert closed(second)
        first.close()
        svc.wait_log("client left")  # the service noticed: the place is free again
        with svc.client() as c:
            assert c.request({"v": 1, "op": "hello"})["code"] == 0


def test_an_internal_error_closes_one_connection_and_nothing_else(tmp_path: Path) -> None:
    from terminal.national.card import CardSource, SourceConfig
    from terminal.national.facade import NationalConfig
    from terminal.service.server import Service

    service = Service(CardSource(SourceConfig(sim=True, security="software")), NationalConfig(),
                      tmp_path / "s.sock")
    service.status = lambda: 1 / 0  # type: ignore[assignment,method-assign]  # a bug
    worker = threading.Thread(target=service.serve_forever, daemon=True)
    worker.start()
    try:
        s = raw(service.path)
        s.sendall(frame(b'{"v":1,"op":"status"}'))
        answer = read_answer(s)
        assert answer is not None and answer["code"] == -13 and closed(s)
        with ServiceClient(str(service.path)) as c:
            assert c.call("iReadCardBas", [3])[0] == 0
    finally:
        service.shutdown()
        worker.join(10)
