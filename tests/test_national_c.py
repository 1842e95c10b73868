"""The C library (libsscard-national.so) and its C test program, run against real services.

``make national`` builds both (C99, -Wall -Wextra -Werror -pedantic); these tests run the C
program (terminal/national/c/national_test.c), which dlopen()s the library and calls every
function: with no service, and against ``sscard service`` with simulated 2.x and 3.00 cards on the
PSAM, software and HSM routes, 8 threads at once, and once through the real pcscd + vpcd stack.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.national import gbk
from terminal.national.codes import text_of
from terminal.national.signatures import NATIONAL_NAMES, SIGNATURES
from tests.helpers_national import (
    CARD_INFO,
    NO_PSAM_TERMINAL,
    PSAM_TERMINAL,
    REPO,
    PinQueue,
    card_file,
    expected_line,
    pin_queue,
    psam_file,
)
from tests.helpers_service import RunningService, running_service

C_DIR = REPO / "terminal" / "national" / "c"
LIB = REPO / "build" / "national" / "libsscard-national.so"
TEST = REPO / "build" / "national" / "national_test"


@pytest.fixture(scope="module")
def built() -> tuple[Path, Path]:
    make = shutil.which("make")
    assert make, "make is needed to build the C library"
    done = subprocess.run([make, "-s", "national"], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return LIB, TEST


def run_c(mode: str, env: dict[str, str], *extra: str, timeout: float = 240) -> str:
    done = subprocess.run([str(TEST), str(LIB), mode, *extra], cwd=REPO, capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=timeout,
                          env=dict(os.environ, **env), check=False)
    assert done.returncode == 0 and "FAIL" not in done.stdout, done.stdout + done.stderr
    return done.stdout


# --- the library's shape -------------------------------------------------------------------------


def test_exports_exactly_the_national_names(built: tuple[Path, Path]) -> None:
    out = subprocess.run(["nm", "-D", "--defined-only", str(LIB)], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert names == set(NATIONAL_NAMES)


def test_links_against_libc_only(built: tuple[Path, Path]) -> None:
    out = subprocess.run(["ldd", str(LIB)], capture_output=True, text=True, check=True).stdout
    libs = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert libs - {"linux-vdso.so.1", "libc.so.6"} <= {"/lib64/ld-linux-x86-64.so.2"}, libs
    assert "libc.so.6" in libs


def test_the_c_table_is_the_spec_table() -> None:
    source = (C_DIR / "sscard_national.c").read_text()
    rows = re.findall(r'\{"(i\w+)", ([01]), (\d), \{([^}]*)\}\}', source)
    kinds = {"I": "int"}
    table = {}
    for name, info, count, params in rows:
        cells = [c.strip() for c in params.split(",")]
        parsed = []
        for cell in cells:
            m = re.fullmatch(r"(IN|OUT)\((\d+)\)", cell)
            parsed.append((kinds[cell], 0) if m is None else (m.group(1).lower(), int(m.group(2))))
        assert len(parsed) == int(count)
        table[name] = (info == "1", parsed)
    assert list(table) == list(NATIONAL_NAMES)
    for name, sig in SIGNATURES.items():
        assert table[name] == (sig.has_out_info, [(p.kind, p.size) for p in sig.params]), name
    exports = re.findall(r"^\s+(i\w+);$", (C_DIR / "exports.map").read_text(), re.M)
    assert exports == list(NATIONAL_NAMES)
    header = (C_DIR / "sscard_national.h").read_text()
    for sig in SIGNATURES.values():
        assert re.search(rf"\blong {sig.name}\(", header), sig.name


def test_local_error_texts_are_the_national_texts(built: tuple[Path, Path],
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSCARD_SOCKET", str(tmp_path / "nobody-here.sock"))
    lib = ctypes.CDLL(str(LIB))
    lib.iReadCardBas.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(1024)
    assert lib.iReadCardBas(3, buf) == -11
    assert buf.value == gbk.encode(f"{text_of(-11)}(sscard服务未运行)")
    lib.iReadCard.restype = ctypes.c_long
    big = ctypes.create_string_buffer(20480)
    assert lib.iReadCard(3, 2, b"x" * 200, b"SSSEEF05|01|$", big) == -14
    assert big.value == gbk.encode(f"{text_of(-14)}(参数过长)")


def test_install_provides_libsscarddriver(built: tuple[Path, Path], tmp_path: Path) -> None:
    done = subprocess.run(["make", "-s", "install-national", f"DESTDIR={tmp_path}"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lib = tmp_path / "usr/local/lib"
    assert (lib / "libSSCardDriver.so").resolve() == (lib / "libsscard-national.so").resolve()
    assert (tmp_path / "usr/local/include/sscard_national.h").is_file()
    driver = ctypes.CDLL(str(lib / "libSSCardDriver.so"))
    assert hasattr(driver, "iReadCardBas") and hasattr(driver, "iUnblockPIN_HSM_Step3")


# --- no service ----------------------------------------------------------------------------------


def test_with_no_service_every_function_is_minus_11_at_once(built: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    out = run_c("down", {"SSCARD_SOCKET": str(tmp_path / "absent.sock")})
    assert out.count("ok  ") == 22
    import socket

    stale = tmp_path / "stale.sock"  # a socket file nobody listens on (a stopped service)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()
    assert run_c("down", {"SSCARD_SOCKET": str(stale)}).count("ok  ") == 22


# --- against a service ---------------------------------------------------------------------


def c_env(svc: RunningService, pins: PinQueue, route: str, line: str, hsm_line: str,
          terminal: str) -> dict[str, str]:
    return {
        "SSCARD_SOCKET": str(svc.socket),
        "SSCARD_TEST_ROUTE": route,
        "SSCARD_TEST_LINE": gbk.encode(line).hex(),
        "SSCARD_TEST_HSM_LINE": gbk.encode(hsm_line).hex(),
        "SSCARD_TEST_TERMINAL": terminal,
        "SSCARD_TEST_CARDINFO": CARD_INFO,
        "SSCARD_TEST_PINQUEUE": str(pins.path),
        "SSCARD_TEST_PYTHON": sys.executable,
    }


@pytest.fixture
def pins(tmp_path: Path) -> PinQueue:
    return pin_queue(tmp_path)


ROUTES = [(2, "psam"), (3, "psam"), (2, "hsm"), (3, "hsm"), (3, "software")]


@pytest.mark.parametrize(("gen", "route"), ROUTES, ids=[f"gen{g}-{r}" for g, r in ROUTES])
def test_every_function_from_c(built: tuple[Path, Path], tmp_path: Path, pins: PinQueue,
                               gen: int, route: str) -> None:
    card = card_file(tmp_path, gen)
    args = ["--sim", str(card)]
    terminal = NO_PSAM_TERMINAL
    if route == "psam":
        args += ["--psam", str(psam_file(tmp_path, gen))]
        terminal = PSAM_TERMINAL
    elif route == "hsm":
        config = tmp_path / "service.toml"
        config.write_text(f'[reader]\nsim = "{card}"\n[security]\nmode = "hsm"\n'
                          f'[pin]\nprogram = "{REPO / "tests" / "pinentry_scripted.py"}"\n')
        args = ["--config", str(config)]
    line = expected_line(card, terminal)
    with running_service(tmp_path, args, pins=pins) as svc:
        out = run_c("full", c_env(svc, pins, route, line, line, terminal))
        assert "0 failed" in out
        log = svc.text() + svc.log.read_text(encoding="utf-8")
    for pin in ("246813", "975310", "999999", "123456"):
        assert pin not in out and pin not in log  # no PIN digit in any output or log


def test_eight_threads_at_once(built: tuple[Path, Path], tmp_path: Path, pins: PinQueue) -> None:
    card = card_file(tmp_path, 3)
    with running_service(tmp_path, ["--sim", str(card)], pins=pins) as svc:
        env = c_env(svc, pins, "software", "", "", NO_PSAM_TERMINAL)
        assert "ok   threads at once" in run_c("threads", env, "8")
        with svc.client() as c:
            status = c.request({"v": 1, "op": "status"})
    assert status["calls"] == 8 * 25 and status["failures"] == 0
    assert status["max_parallel"] == 1  # one operation at a time on the reader


# --- through pcscd + vpcd ---------------------------------------------------------------------


@pytest.fixture
def fresh_stack_card(pcsc_stack, tmp_path: Path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A fresh 3.00 card in the stack's slot 0 for this test; the session's card back after."""
    original = pcsc_stack.card_path
    card = card_file(tmp_path, 3, name="stack-card.json")
    pcsc_stack.insert(0, card_path=card)
    try:
        yield card
    finally:
        pcsc_stack.insert(0, card_path=original)


def test_every_function_through_pcscd(built: tuple[Path, Path], tmp_path: Path, pins: PinQueue,
                                      pcsc_stack, fresh_stack_card: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "service.toml"
    config.write_text(
        f'[reader]\npcsc = "{pcsc_stack.card_reader}"\n'
        f'[security]\nmode = "psam"\npsam_reader = "{pcsc_stack.psam_reader}"\n'
        f'[pin]\nprogram = "{REPO / "tests" / "pinentry_scripted.py"}"\n'
    )
    line = expected_line(fresh_stack_card, PSAM_TERMINAL)  # (from a copy: the server holds it)
    with running_service(tmp_path, ["--config", str(config)], pins=pins) as svc:
        out = run_c("full", c_env(svc, pins, "psam", line, line, PSAM_TERMINAL))
        assert "0 failed" in out
        with svc.client() as c:
            status = c.request({"v": 1, "op": "status"})
    assert status["readers"][0]["name"] == pcsc_stack.card_reader  # type: ignore[index]


def test_a_restarted_service_is_found_again_and_a_dead_one_is_minus_11(
        built: tuple[Path, Path], tmp_path: Path, pins: PinQueue,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    card = card_file(tmp_path, 3)
    sock = tmp_path / "svc.sock"
    monkeypatch.setenv("SSCARD_SOCKET", str(sock))
    lib = ctypes.CDLL(str(LIB))
    lib.iReadCardBas.restype = ctypes.c_long
    lib.iVerifyPIN.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(1024)
    with running_service(tmp_path, ["--sim", str(card)], pins=pins, socket_path=sock):
        assert lib.iReadCardBas(3, buf) == 0  # this thread's connection is kept
    with running_service(tmp_path, ["--sim", str(card)], pins=pins, socket_path=sock) as svc:
        assert lib.iReadCardBas(3, buf) == 0  # broken before sending: made again, once
        fifo = tmp_path / "prompt-up"
        os.mkfifo(fifo)
        pins.put(f"HANG {fifo}")
        result: list[int] = []
        caller = threading.Thread(target=lambda: result.append(lib.iVerifyPIN(3, buf)))
        caller.start()
        with open(fifo, encoding="ascii") as up:
            assert up.readline() == "waiting\n"  # the holder is being asked: the call is inside
        svc.proc.kill()  # the service dies mid-call
        caller.join(30)
    assert result == [-11]  # an EOF, never a hang, and the request is not repeated
    assert buf.value.decode("gbk").startswith(text_of(-11))


@pytest.mark.parametrize("where", ["XDG_RUNTIME_DIR", "TMPDIR"])
def test_the_library_finds_the_service_where_it_listens_by_default(
        built: tuple[Path, Path], tmp_path: Path, pins: PinQueue, where: str) -> None:
    base = tmp_path / "base"
    base.mkdir()
    others = [n for n in ("SSCARD_SOCKET", "XDG_RUNTIME_DIR", "TMPDIR") if n != where]
    card = card_file(tmp_path, 3)
    with running_service(tmp_path, ["--sim", str(card)], pins=pins, env={where: str(base)},
                         default_place=True, unset=others) as svc:
        assert svc.socket.parent.parent == base  # base/sscard/ or base/sscard-<uid>/
        c_env = {k: v for k, v in os.environ.items() if k not in others}
        c_env.update({where: str(base), "SSCARD_TEST_CARDINFO": CARD_INFO})
        done = subprocess.run([str(TEST), str(LIB), "threads", "1"], cwd=REPO, text=True,
                              capture_output=True, timeout=120, check=False, env=c_env)
    assert done.returncode == 0 and "ok   threads at once" in done.stdout, done.stdout
