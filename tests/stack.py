"""A real PC/SC stack for tests and benchmarks: pcscd + Debian's vpcd + the simulator (issue 4).

Shared by ``tests/pcsc_stack.py`` (the ``pcsc_stack`` fixture) and ``bench/bench_vpcd.py`` (the
benchmarks import it from here; nothing in ``tests/`` imports ``bench/``).

**A private pcscd per stack.**  pcsc-lite 1.9's daemon always creates ``/run/pcscd/pcscd.comm``,
so one machine runs one pcscd, and Debian's vpcd slots listen on fixed ports.  When the process
may create a mount namespace (root with ``unshare``), a stack instead starts its own ``pcscd -f
-c <private reader.conf.d>`` inside ``unshare --mount`` with a private directory bind-mounted on
``/run/pcscd``: the daemon's socket then lives in the stack's work directory, clients find it
through ``PCSCLITE_CSOCK_NAME`` (read by libpcsclite once per process, so
:func:`prepare_private_pcscd` must run before the first PC/SC call), the vpcd slots get free
ports of their own, and further reader drivers (the PIN-pad reader) are registered in the
private configuration directory without touching ``/etc``.  Two test sessions on one machine
then never share a reader.

Without that permission the stack falls back to the machine's pcscd (started with ``pcscd -f``
when none runs) and Debian's fixed vpcd ports; a stack then holds an exclusive ``flock`` on
:data:`LOCK_PATH` for its whole life, and a second test session waits for it (bounded).

``python -m tests.stack --bare --port P`` serves a bare responder (answers ``90 00`` to every
APDU, through the same :class:`simulator.vpcd.VpcdServer` code path): the floor of the stack.

**The PIN-pad reader (issue 13).**  A private stack also registers sscard's own reader driver,
``libifd-sscard.so`` (built by ``make ifd``), as ``sscard PIN pad 00 00``: its reader.conf.d entry
follows the vpcd entry in the same file, so pcscd lists it after the vpcd readers (readdir order
is not sorted).  ``python -m tests.stack --pinpad SOCKET --card CARD --control CTL --record FILE``
is its firmware: the simulator's :class:`simulator.ifdserver.IfdServer` and PIN-pad firmware,
with the card wrapped in a :class:`tests.helpers_pinpad.RecordingCard` so that tests read what the
card received (:class:`PinPadHarness`), and the simulator's control channel for the keypad.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_PIDFILE = Path("/run/pcscd/pcscd.pid")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")
VPCD_PORT = 35963
LOCK_PATH = Path(f"/tmp/sscard-pcsc-stack-{os.getuid()}.lock")
READER_PREFIX = "Virtual PCD"
INSTALL_HINT = (
    "run `make install` (it installs pcscd, vsmartcard-vpcd, pcsc-tools, opensc and pyscard)"
)

BARE_ATR = bytes.fromhex("3B6D0000") + b"BARE-RESPONDR"

#: the PIN-pad reader driver and its C test (issue 13), built by ``make ifd``.
IFD_DRIVER = REPO / "build" / "ifd" / "libifd-sscard.so"
IFD_TEST = REPO / "build" / "ifd" / "test-ifd-sscard"
PINPAD_READER = "sscard PIN pad"


class StackError(RuntimeError):
    """The PC/SC stack could not be brought up; the message says why and what to do."""


class BareResponder:
    """Answers ``90 00`` (after Le or Lc zero bytes): measures the stack, not the simulator."""

    atr = BARE_ATR
    t0 = True

    def power_on(self) -> bytes:
        return self.atr

    def reset(self) -> bytes:
        return self.atr

    def power_off(self) -> None:
        return None

    def transmit(self, command: bytes) -> bytes:
        # Zero bytes then 90 00, as many as a short case-2 command's Le asks for (Le 00: 256), or
        # as many as a longer command carries (short Lc): a benchmark gets from the floor the
        # same response size the simulator gives it.
        n = len(command)
        if n == 5:
            return bytes(command[4] or 256) + b"\x90\x00"
        return bytes(command[4] if n > 5 else 0) + b"\x90\x00"


# --- prerequisites and pcscd ----------------------------------------------------------------------


def build_ifd_driver(timeout: float = 120.0) -> Path:
    """``make ifd`` (incremental: nothing to do when the sources did not change); the .so."""
    make = shutil.which("make")
    if make is None:
        raise StackError(f"make is not installed: {INSTALL_HINT}")
    done = subprocess.run([make, "-s", "ifd"], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0 or not IFD_DRIVER.exists():
        raise StackError(f"make ifd failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return IFD_DRIVER


def pcscd_binary() -> str | None:
    return shutil.which("pcscd") or (
        "/usr/sbin/pcscd" if os.access("/usr/sbin/pcscd", os.X_OK) else None
    )


def check_prerequisites() -> None:
    """Fail with the install hint when a piece of the stack is missing (tests are never skipped)."""
    missing = []
    if pcscd_binary() is None:
        missing.append("pcscd")
    if not VPCD_DRIVER.exists() or not VPCD_CONF.exists():
        missing.append("vsmartcard-vpcd (vpcd driver)")
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        missing.append("pyscard (the `pcsc` extra)")
    if missing:
        raise StackError(f"PC/SC stack incomplete, missing {', '.join(missing)}: {INSTALL_HINT}")


def _pid_alive(pid: int) -> bool:
    """True for a live process (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def running_pcscd() -> int | None:
    """The PID of a running pcscd (from its pid file or /proc), or None."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(PCSCD_PIDFILE.read_text().strip())
        if _pid_alive(pid) and PCSCD_SOCKET.exists():
            return pid
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_text().strip() == "pcscd" and _pid_alive(int(proc.name)):
                    return int(proc.name)
    return None


def _port_listening(port: int) -> bool:
    """True when something LISTENs on ``port`` (read from /proc: connecting would be a card)."""
    want = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[1].endswith(want) and parts[3] == "0A":
                    return True
    return False


def _stop_pid(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process we started (by its PID), then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(grace)


#: the environment variable libpcsclite reads (once per process) for the daemon's socket.
CSOCK_ENV = "PCSCLITE_CSOCK_NAME"
PCSCD_RUN_DIR = Path("/run/pcscd")


def private_pcscd_possible() -> bool:
    """True when this process may run a pcscd in a mount namespace of its own (root + unshare)."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None or pcscd_binary() is None:
        return False
    try:
        done = subprocess.run([unshare, "--mount", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def prepare_private_pcscd(run_dir: Path) -> Path | None:
    """Point this process (and its children) at a private pcscd socket in ``run_dir``.

    Must run before the first PC/SC call of the process: libpcsclite reads ``PCSCLITE_CSOCK_NAME``
    once.  Returns the socket path, or None (and changes nothing) when a private pcscd cannot be
    started here; :meth:`Pcscd.ensure` then uses the machine's pcscd.
    """
    if os.environ.get(CSOCK_ENV):
        return Path(os.environ[CSOCK_ENV])
    if not private_pcscd_possible():
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    socket_path = run_dir / "pcscd.comm"
    os.environ[CSOCK_ENV] = str(socket_path)
    return socket_path


def free_port_pair() -> int:
    """A TCP port P such that P and P+1 are free on every interface now (vpcd binds 0.0.0.0)."""
    import socket

    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("0.0.0.0", 0))
            port = probe.getsockname()[1]
        if port >= 0xFFFE:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port + 1))
            return int(port)
        except OSError:
            continue
    raise StackError("no free pair of TCP ports for the vpcd slots")


def append_reader_conf(path: Path, name: str, device: str, library: Path) -> Path:
    """Add one more reader entry to the reader.conf.d file ``path`` (pcscd reads a file's entries
    in order, so this reader is listed after the file's earlier ones)."""
    with open(path, "a", encoding="utf-8") as out:
        out.write(f'\nFRIENDLYNAME "{name}"\nDEVICENAME {device}\nLIBPATH {library}\n')
    return path


def write_reader_conf(conf_dir: Path, name: str, device: str, library: Path,
                      channel: int | None = None) -> Path:
    """One reader.conf.d entry (FRIENDLYNAME, DEVICENAME, LIBPATH[, CHANNELID]) in ``conf_dir``."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    lines = [f'FRIENDLYNAME "{name}"', f"DEVICENAME {device}", f"LIBPATH {library}"]
    if channel is not None:
        lines.append(f"CHANNELID {channel:#06x}")
    path = conf_dir / name.lower().replace(" ", "-")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Pcscd:
    """A pcscd we started (``proc``), privately or machine-wide, or found running (left alone).

    ``vpcd_port`` is where vpcd's slot 0 listens (slot 1 on the next port); ``conf_dir`` is the
    private reader.conf.d (None for the machine's pcscd).
    """

    pid: int
    proc: subprocess.Popen[bytes] | None
    log_path: Path | None = None
    vpcd_port: int = VPCD_PORT
    conf_dir: Path | None = None
    socket_path: Path = PCSCD_SOCKET

    @property
    def private(self) -> bool:
        return self.conf_dir is not None

    @classmethod
    def ensure(
        cls, workdir: Path, timeout: float = 15.0, *, pinpad_socket: Path | None = None
    ) -> Pcscd:
        """A private pcscd when :func:`prepare_private_pcscd` set one up, else the machine's.

        With ``pinpad_socket`` a private pcscd also loads the PIN-pad reader driver, its
        DEVICENAME that socket (the machine's pcscd is never given a driver of ours).
        """
        socket_env = os.environ.get(CSOCK_ENV)
        if socket_env:
            conf_dir = workdir / "reader.conf.d"
            port = free_port_pair()
            conf = write_reader_conf(conf_dir, READER_PREFIX, f"/dev/null:{port:#06x}",
                                     VPCD_DRIVER, port)
            if pinpad_socket is not None:
                # "unix:" keeps pcscd from requiring the socket to exist when it starts
                append_reader_conf(conf, PINPAD_READER, f"unix:{pinpad_socket}",
                                   build_ifd_driver())
            return cls.start_private(workdir, conf_dir, Path(socket_env), port, timeout)
        pid = running_pcscd()
        if pid is not None:
            return cls(pid, None)
        return cls._start_shared(workdir, timeout)

    @classmethod
    def start_private(cls, workdir: Path, conf_dir: Path, socket_path: Path, vpcd_port: int,
                      timeout: float = 15.0) -> Pcscd:
        """``pcscd -f -c conf_dir`` in a mount namespace whose /run/pcscd is socket_path's dir."""
        binary = pcscd_binary()
        if binary is None:
            raise StackError(f"pcscd is not installed: {INSTALL_HINT}")
        run_dir = socket_path.parent
        run_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()  # a stale socket of an earlier private pcscd of ours
        PCSCD_RUN_DIR.mkdir(parents=True, exist_ok=True)  # the bind mount's target
        script = 'mount --bind "$1" /run/pcscd && exec "$2" -f -c "$3"'
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
               str(run_dir), binary, str(conf_dir)]
        log_path = workdir / "pcscd.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        found = cls(proc.pid, proc, log_path, vpcd_port, conf_dir, socket_path)
        found._wait_up(timeout)
        return found

    @classmethod
    def _start_shared(cls, workdir: Path, timeout: float) -> Pcscd:
        binary = pcscd_binary()
        if binary is None:
            raise StackError(f"pcscd is not installed: {INSTALL_HINT}")
        if os.geteuid() != 0:
            raise StackError(
                "no pcscd runs and only root can start one here: start pcscd, or run as root"
            )
        log_path = workdir / "pcscd.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [binary, "-f"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        found = cls(proc.pid, proc, log_path)
        found._wait_up(timeout)
        return found

    def _wait_up(self, timeout: float) -> None:
        """Until the daemon's socket exists and vpcd listens (bounded; the log says why not)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"pcscd exited with {self.proc.returncode}: see {self.log_path}")
            if self.socket_path.exists() and _port_listening(self.vpcd_port):
                return
            time.sleep(0.05)
        _stop_pid(self.proc)
        raise StackError(
            f"pcscd started but vpcd did not listen on port {self.vpcd_port} within "
            f"{timeout:.0f} s (see {self.log_path}): {INSTALL_HINT}"
        )

    def restart(self, timeout: float = 15.0) -> None:
        """Stop the pcscd we started and start it again with the same socket and readers."""
        if self.proc is None:
            raise StackError("this pcscd is the machine's own: it is never restarted by a test")
        self.stop()
        assert self.log_path is not None
        workdir = self.log_path.parent
        again = (
            Pcscd.start_private(workdir, self.conf_dir, self.socket_path, self.vpcd_port, timeout)
            if self.conf_dir is not None
            else Pcscd._start_shared(workdir, timeout)
        )
        self.pid, self.proc = again.pid, again.proc

    def stop(self) -> None:
        if self.proc is not None:
            _stop_pid(self.proc)


# --- reader state through PC/SC -------------------------------------------------------------------


def reader_states() -> dict[str, tuple[bool, bytes]]:
    """Every PC/SC reader -> (card present, ATR), read without connecting to any card."""
    from smartcard import scard

    rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rv != scard.SCARD_S_SUCCESS:
        return {}
    try:
        rv, names = scard.SCardListReaders(ctx, [])
        if rv != scard.SCARD_S_SUCCESS or not names:
            return {}
        rv, states = scard.SCardGetStatusChange(
            ctx, 0, [(n, scard.SCARD_STATE_UNAWARE) for n in names]
        )
        if rv != scard.SCARD_S_SUCCESS:
            return {}
        return {
            name: (bool(state & scard.SCARD_STATE_PRESENT), bytes(atr))
            for name, state, atr in states
        }
    finally:
        scard.SCardReleaseContext(ctx)


def vpcd_readers() -> list[str]:
    """The vpcd readers PC/SC lists, slot order (``Virtual PCD 00 00``, ``Virtual PCD 00 01``)."""
    return sorted(n for n in reader_states() if n.startswith(READER_PREFIX))


def wait_readers(expected: Sequence[bytes | None], timeout: float = 20.0) -> list[str]:
    """Wait until vpcd slot i shows ATR ``expected[i]`` (None: no card); return the names."""
    deadline = time.monotonic() + timeout
    states: dict[str, tuple[bool, bytes]] = {}
    names: list[str] = []
    while time.monotonic() < deadline:
        states = reader_states()
        names = sorted(n for n in states if n.startswith(READER_PREFIX))
        if len(names) >= len(expected) and all(
            (states[n][0] and states[n][1] == atr) if atr is not None else not states[n][0]
            for n, atr in zip(names, expected, strict=False)
        ):
            return names
        time.sleep(0.05)
    seen = {n: (p, a.hex().upper()) for n, (p, a) in states.items()} or "no readers at all"
    want = [a.hex().upper() if a is not None else "no card" for a in expected]
    raise StackError(
        f"PC/SC did not show the expected vpcd cards within {timeout:.0f} s: want {want}, "
        f"saw {seen}. If a reader shows another ATR, another simulator is connected to "
        f"the vpcd port; if no 'Virtual PCD' reader is listed: {INSTALL_HINT}"
    )


def _reader_matches(state: int, atr: bytes, want: bytes | None) -> bool:
    """``want`` None: no card; else a card that answered with exactly that ATR (not mute)."""
    from smartcard import scard

    if want is None:
        return not state & scard.SCARD_STATE_PRESENT
    return bool(state & scard.SCARD_STATE_PRESENT) and not (
        state & scard.SCARD_STATE_MUTE
    ) and atr == want


def wait_reader(reader: str, atr: bytes | None, timeout: float = 10.0) -> None:
    """Block until PC/SC reports ``reader`` holding the card with ``atr`` (None: empty).

    Only this reader is watched, whatever the other slots hold (waiting on every slot's expected
    ATR made ``eject(1)`` after ``eject(0)`` wait for slot 0's card forever). It sleeps in
    ``SCardGetStatusChange`` (pcscd wakes it on the reader's next event) in short slices, so a
    missed wake-up costs at most one slice.
    """
    from smartcard import scard

    deadline = time.monotonic() + timeout
    rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rv != scard.SCARD_S_SUCCESS:
        raise StackError(f"SCardEstablishContext failed ({rv:#x}): is pcscd running?")
    seen: tuple[int, bytes] | None = None
    try:
        current = scard.SCARD_STATE_UNAWARE
        while True:
            left = deadline - time.monotonic()
            slice_ms = max(0, min(250, int(left * 1000)))
            rv, states = scard.SCardGetStatusChange(ctx, slice_ms, [(reader, current)])
            if rv == scard.SCARD_S_SUCCESS:
                _, event, got = states[0]
                if event & scard.SCARD_STATE_UNKNOWN:
                    raise StackError(f"PC/SC does not know the reader {reader!r}: {INSTALL_HINT}")
                seen = (event, bytes(got))
                if _reader_matches(event, bytes(got), atr):
                    return
                current = event & ~scard.SCARD_STATE_CHANGED
            elif rv != scard.SCARD_E_TIMEOUT:
                raise StackError(f"SCardGetStatusChange on {reader!r} failed ({rv:#x})")
            if left <= 0:
                break
    finally:
        scard.SCardReleaseContext(ctx)
    want = atr.hex().upper() if atr is not None else "no card"
    saw = "nothing" if seen is None else (
        f"a card with ATR {seen[1].hex().upper()}"
        if seen[0] & scard.SCARD_STATE_PRESENT
        else "no card"
    )
    raise StackError(
        f"PC/SC did not show {want} in {reader!r} within {timeout:.0f} s (it shows {saw})"
    )


# --- the simulator server -------------------------------------------------------------------------


@dataclass
class Server:
    """A simulator server subprocess (``python -m simulator.vpcd`` or the bare responder)."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    control_path: Path | None

    @classmethod
    def simulator(
        cls,
        workdir: Path,
        card: Path,
        psam: Path | None = None,
        port: int = VPCD_PORT,
        name: str = "sim",
        verbose: bool = True,
    ) -> Server:
        control = workdir / f"{name}.sock"
        cmd = [
            sys.executable,
            "-m",
            "simulator.vpcd",
            "--card",
            str(card),
            "--vpcd",
            f"127.0.0.1:{port}",
            "--control",
            str(control),
        ]
        if psam is not None:
            cmd += ["--psam", str(psam)]
        if verbose:
            cmd.append("-v")
        return cls._spawn(cmd, workdir / f"{name}.log", control)

    @classmethod
    def bare(cls, workdir: Path, port: int, name: str = "bare") -> Server:
        cmd = [sys.executable, "-m", "tests.stack", "--bare", "--port", str(port)]
        return cls._spawn(cmd, workdir / f"{name}.log", None)

    @classmethod
    def _spawn(cls, cmd: list[str], log_path: Path, control: Path | None) -> Server:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return cls(proc, log_path, control)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise StackError(f"simulator server exited with {self.proc.returncode}:\n{tail}")

    def control(self, command: str) -> str:
        from simulator.vpcd import control

        if self.control_path is None:
            raise StackError("this server has no control channel")
        return control(command, str(self.control_path))

    def stop(self) -> None:
        _stop_pid(self.proc)


@dataclass
class PinPadHarness:
    """The PIN-pad reader of a private stack and its firmware process (see the module doc).

    ``reader`` is its PC/SC name; :meth:`keypad` queues an entry (``123456``, ``cancel``,
    ``timeout``) through the simulator's control channel; :meth:`received` is every command the
    card received, oldest first (the card side: a test hook, never the host's view).
    """

    proc: subprocess.Popen[bytes]
    log_path: Path
    socket_path: Path
    control_path: Path
    record_path: Path
    card_path: Path
    atr: bytes
    reader: str = f"{PINPAD_READER} 00 00"

    @classmethod
    def start(cls, workdir: Path, card_path: Path) -> PinPadHarness:
        socket_path, control_path = workdir / "pinpad.sock", workdir / "pinpad-ctl.sock"
        record, log_path = workdir / "pinpad-received.txt", workdir / "pinpad.log"
        cmd = [sys.executable, "-m", "tests.stack", "--pinpad", str(socket_path), "--card",
               str(card_path), "--control", str(control_path), "--record", str(record)]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        harness = cls(proc, log_path, socket_path, control_path, record, card_path,
                      card_atr(card_path))
        deadline = time.monotonic() + 30
        while not (socket_path.exists() and control_path.exists()):
            harness.check_alive()
            if time.monotonic() > deadline:
                harness.stop()
                raise StackError(f"the PIN-pad firmware did not start: see {log_path}")
            time.sleep(0.05)
        return harness

    def keypad(self, entry: str) -> str:
        from simulator.vpcd import control

        return control(f"keypad {entry}", str(self.control_path))

    def received(self) -> list[bytes]:
        from tests.helpers_pinpad import recorded

        return recorded(self.record_path)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise StackError(f"the PIN-pad firmware exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        _stop_pid(self.proc)


def issue_user_card(path: Path, *args: str) -> Path:
    """``sscard sim issue --out PATH [ARGS]`` (the complete sample card by default) -> the file."""
    cmd = [sys.executable, "-m", "terminal.cli.main", "sim", "issue", "--out", str(path), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)
    if done.returncode != 0 or not path.exists():
        raise StackError(
            f"could not issue a test user card with {' '.join(cmd[2:])}: "
            f"exit {done.returncode}\n{done.stdout}{done.stderr}"
        )
    return path


def issue_psam(path: Path, *, sm4: bool = False) -> Path:
    """A PSAM over the published TEST keys (card-profile §11), saved at ``path``."""
    from apdu.crypto import Algorithm
    from simulator.psam import Psam

    Psam.issue(algorithm=Algorithm.SM4 if sm4 else Algorithm.DES, path=path)
    return path


# --- raw exchanges through pyscard (benchmarks and tool tests) ------------------------------------

#: READ BINARY, SFI 8 (EF08, the photo: transparent, read RKSSSE), offset 0, Le F8: 248 + SW.
READ_EF08_248 = bytes.fromhex("00B08800F8")


def send_checked(conn, command: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """Response data; a 6Cxx (wrong Le, §4) is answered once with the Le the card asked for,
    a 61xx (T=0, §3) with its GET RESPONSE."""
    data, sw1, sw2 = conn.transmit(list(command))
    if sw1 == 0x6C:
        data, sw1, sw2 = conn.transmit(list(command[:4]) + [sw2])
    if sw1 == 0x61:
        data, sw1, sw2 = conn.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
    if (sw1, sw2) != (0x90, 0x00):
        raise RuntimeError(f"{command[:4].hex().upper()} answered {sw1:02X}{sw2:02X}")
    return bytes(data)


def authenticate_rksse(conn) -> None:  # type: ignore[no-untyped-def]
    """SELECT SSSE, read the card identification code (EF05 tag 01), then external
    authentication with RKSSSE (§7.4) through the terminal's SoftwareSam (TEST keys): what a
    terminal does once before reading EF07/EF08, kept out of the timed loop."""
    from apdu.atr import historical_bytes
    from apdu.commands import external_authenticate, get_challenge, read_record, select_by_name
    from apdu.crypto import Algorithm, Diversification
    from apdu.names import SSSE_NAME, Kid
    from terminal.sam.software import SoftwareSam

    send_checked(conn, bytes(select_by_name(SSSE_NAME)))
    tlv = send_checked(conn, bytes(read_record(0x01, by_tag=True, sfi=5, le=256)))
    card_id = tlv[2 : 2 + tlv[1]]
    version = send_checked(conn, bytes(read_record(0x03, by_tag=True, sfi=5, le=256)))[2:]
    alg = Algorithm.SM4 if version.startswith(b"3") else Algorithm.DES  # §1: 3.00 cards are SM4
    div = Diversification.for_card(card_id, historical_bytes(bytes(conn.getATR())))
    challenge = send_checked(conn, bytes(get_challenge(8)))
    cryptogram, d = SoftwareSam().external_auth(alg, "RKSSSE", div, challenge)
    send_checked(conn, bytes(external_authenticate(Kid.RKSSSE, cryptogram, d)))


# --- the whole stack ------------------------------------------------------------------------------


@contextlib.contextmanager
def stack_lock(timeout: float = 240.0) -> Iterator[None]:
    """Exclusive use of the machine's vpcd slots across processes (another session waits).

    A private pcscd (:func:`prepare_private_pcscd`) has slots of its own: no lock is taken.
    """
    if os.environ.get(CSOCK_ENV):
        yield
        return
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"another PC/SC stack held {LOCK_PATH} for {timeout:.0f} s "
                        "(another test session or benchmark is using the vpcd slots)"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def card_atr(path: Path) -> bytes:
    from simulator.loader import card_atr as atr_of

    return atr_of(path)  # no lock: the server may hold the card


@dataclass
class PcscStack:
    """A running pcscd + vpcd + simulator. Slot 0 holds the user card, slot 1 the PSAM.

    ``readers`` are the PC/SC reader names in slot order; ``card_reader``/``psam_reader`` name
    them; ``eject``/``insert`` pull and push cards through the server's control channel and wait
    until PC/SC sees the change.
    """

    workdir: Path
    card_path: Path
    psam_path: Path
    readers: list[str]
    pcscd: Pcscd
    server: Server
    _atrs: list[bytes] = field(default_factory=list)
    #: the PIN-pad reader (issue 13); None when the stack uses the machine's pcscd.
    pinpad: PinPadHarness | None = None

    @property
    def card_reader(self) -> str:
        return self.readers[0]

    @property
    def psam_reader(self) -> str:
        return self.readers[1]

    @property
    def card_atr(self) -> bytes:
        return self._atrs[0]

    @property
    def psam_atr(self) -> bytes:
        return self._atrs[1]

    def status(self) -> list[dict[str, object]]:
        return json.loads(self.server.control("status"))  # type: ignore[no-any-return]

    def eject(self, slot: int = 0, wait: bool = True) -> None:
        """Pull the card out of ``slot``; with ``wait``, until PC/SC reports that slot empty."""
        self.server.control(f"eject {slot}")
        if wait:
            self.wait_present(slot, None)

    def insert(self, slot: int = 0, card_path: Path | None = None, wait: bool = True) -> None:
        """Put the slot's card (or the card in ``card_path``) back; with ``wait``, until seen.

        With ``card_path`` this is a swap even over a card still in the slot: eject, wait until
        PC/SC reports the slot empty, insert the new card, wait until PC/SC reports it present.
        Pushing the new card over the old one let this return while pcscd still showed the old
        card (same ATR) and then reported "no card" for seconds; with the removal seen first, a
        fresh connection works as soon as this returns.
        """
        if card_path is not None:
            self.eject(slot, wait=wait)
            self.server.control(f"insert {slot} {Path(card_path).resolve()}")
            self._atrs[slot] = card_atr(Path(card_path))
            if slot == 0:
                self.card_path = Path(card_path)
            else:
                self.psam_path = Path(card_path)
        else:
            self.server.control(f"insert {slot}")
        if wait:
            self.wait_present(slot, self._atrs[slot])

    def wait_present(self, slot: int, atr: bytes | None, timeout: float = 10.0) -> None:
        """Wait until ``slot``'s reader shows ``atr`` (None: no card); other slots may differ."""
        wait_reader(self.readers[slot], atr, timeout)

    def restore(self) -> None:
        """Put every card back (tests that eject call this so the next test finds them)."""
        for slot in range(len(self._atrs)):
            self.server.control(f"insert {slot}")
        for slot, atr in enumerate(self._atrs):
            self.wait_present(slot, atr)


def start_stack(
    workdir: Path, card_path: Path, psam_path: Path, timeout: float = 20.0,
    pinpad_card: Path | None = None,
) -> PcscStack:
    """Bring up pcscd (a private one, or the machine's) and the simulator; the caller holds
    :func:`stack_lock`.  With ``pinpad_card`` and a private pcscd, the PIN-pad reader too."""
    check_prerequisites()
    workdir.mkdir(parents=True, exist_ok=True)
    atrs = [card_atr(card_path), card_atr(psam_path)]
    pinpad = None
    if pinpad_card is not None and os.environ.get(CSOCK_ENV):
        pinpad = PinPadHarness.start(workdir, pinpad_card)
    try:
        pcscd = Pcscd.ensure(
            workdir, pinpad_socket=pinpad.socket_path if pinpad is not None else None
        )
    except BaseException:
        if pinpad is not None:
            pinpad.stop()
        raise
    server = Server.simulator(workdir, card_path, psam_path, port=pcscd.vpcd_port)
    try:
        deadline = time.monotonic() + timeout
        while True:
            server.check_alive()
            left = deadline - time.monotonic()
            try:
                names = wait_readers(atrs, timeout=min(1.0, max(0.05, left)))
                break
            except StackError:
                if left <= 0:
                    server.check_alive()
                    names = wait_readers(atrs, timeout=0.1)  # raises with what PC/SC shows
        if pinpad is not None:
            pinpad.check_alive()
            wait_reader(pinpad.reader, pinpad.atr, timeout)
        return PcscStack(workdir, card_path, psam_path, names[:2], pcscd, server, atrs, pinpad)
    except BaseException:
        server.stop()
        pcscd.stop()
        if pinpad is not None:
            pinpad.stop()
        raise


def stop_stack(stack: PcscStack) -> None:
    """Stop the server, then pcscd if this stack started it (both by PID)."""
    gc.collect()  # release pyscard handles while pcscd still answers (no noise at exit)
    stack.server.stop()
    stack.pcscd.stop()
    if stack.pinpad is not None:
        stack.pinpad.stop()


def _serve_bare(argv: Sequence[str] | None = None) -> int:
    from simulator.vpcd import VpcdServer

    p = argparse.ArgumentParser(prog="python -m tests.stack")
    p.add_argument("--bare", action="store_true", required=True)
    p.add_argument("--port", type=int, default=VPCD_PORT)
    args = p.parse_args(argv)
    server = VpcdServer([BareResponder()], port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    server.serve_forever()
    return 0


def _serve_pinpad(argv: Sequence[str] | None = None) -> int:
    """The PIN-pad reader's firmware for a test stack, its card recording what it receives."""
    import logging

    from simulator.ifdserver import IfdServer
    from simulator.loader import load_card
    from simulator.pinpad import PinPadFirmware, ScriptedKeypad
    from simulator.vpcd import VpcdServer
    from tests.helpers_pinpad import RecordingCard

    p = argparse.ArgumentParser(prog="python -m tests.stack --pinpad")
    p.add_argument("--pinpad", required=True, help="the reader's socket (its DEVICENAME)")
    p.add_argument("--card", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--record", required=True, help="file the card's received commands go to")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    keypad = ScriptedKeypad()
    card = RecordingCard(load_card(args.card), Path(args.record))
    pad = IfdServer(args.pinpad, card, PinPadFirmware(keypad))  # type: ignore[arg-type]
    channel = VpcdServer([], control_path=args.control)
    channel.keypad = keypad
    signal.signal(signal.SIGTERM, lambda *_: channel.stop())
    signal.signal(signal.SIGINT, lambda *_: channel.stop())
    pad.start()
    try:
        channel.serve_forever()
    finally:
        pad.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(_serve_pinpad() if "--pinpad" in sys.argv else _serve_bare())
