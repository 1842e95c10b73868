"""PIN entry for the service: GnuPG's ``pinentry`` programs, spoken to in the Assuan protocol.

The national PIN functions take no PIN (national-interface §1): the library asks the holder.  The
service has no window and no terminal of its own, so it runs a ``pinentry`` program (Debian's
``pinentry-curses``, ``pinentry-gnome3``, ``pinentry-tty``, ...: the prompt GnuPG and ssh use)
and talks to it over its stdin/stdout::

    S: OK Pleased to meet you
    C: OPTION ttyname=/dev/pts/3 | SETTITLE ... | SETDESC ... | SETPROMPT ... | SETTIMEOUT 60
    C: GETPIN
    S: D 123456        (percent-escaped; kept in a bytearray and wiped after use)
    S: OK              or: ERR 83886179 Operation cancelled   /   ERR 83886142 Timeout
    C: BYE

Error codes are libgpg-error's: source 5 (pinentry) in the top byte, the code in the low 16 bits
(99 ``GPG_ERR_CANCELED`` and 198 ``GPG_ERR_FULLY_CANCELED`` -> cancelled; 62 ``GPG_ERR_TIMEOUT``
-> timed out).  The service bounds the whole exchange itself (the program's own timeout plus a
grace period) and kills a pinentry that does not answer; a client that hangs up while the holder
is being asked cancels the prompt (its connection is watched beside the pinentry's output).

Where a PIN comes from: the reader's PIN pad (PC/SC part 10) when it has one and ``[pin] entry``
allows it (:func:`pad_wanted`; the facade runs VERIFY / CHANGE PIN on the pad, so the PIN never
reaches the service), else pinentry (:func:`choose_pin_entry`), else -13.

Secrecy: no PIN is ever logged, traced or put in an exception; the description shown to the
holder names the program that asks (its executable and PID, learnt with ``SO_PEERCRED``) and why.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Literal

from apdu.errors import SSCardError
from terminal.national.codes import NOT_SUPPORTED, NationalError
from terminal.pinsource import wipe

#: libgpg-error codes (low 16 bits of an Assuan ERR).
GPG_ERR_TIMEOUT = 62
GPG_ERR_CANCELED = 99
GPG_ERR_FULLY_CANCELED = 198

#: Extra seconds the service waits beyond the pinentry's own timeout before killing it.
GRACE_SECONDS = 5.0
#: Longest Assuan line accepted (the protocol's limit is 1000 bytes).
MAX_LINE = 1000

FailureKind = Literal["cancel", "timeout", "unavailable"]


class PinEntryError(SSCardError):
    """PIN entry did not yield a PIN: cancelled, timed out, or no prompt could be shown."""

    exit_code = 1

    def __init__(self, kind: FailureKind, message: str) -> None:
        self.kind = kind
        super().__init__(message)


def escape(text: str) -> str:
    """Assuan percent-escaping of a command argument (``%``, CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _unescape_into(data: bytes | bytearray | memoryview, out: bytearray) -> None:
    """Append ``data`` to ``out`` with Assuan's ``%XX`` escapes decoded (a view of the line:
    no copy of the PIN that could not be wiped)."""
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x25 and i + 3 <= n:
            try:
                out.append(int(bytes(data[i + 1 : i + 3]), 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b)
        i += 1


@dataclass
class Requester:
    """Who asks for the PIN and why: shown to the holder in the prompt's description."""

    function: str
    pid: int | None = None
    exe: str | None = None

    def describe(self, action: str) -> str:
        who = self.exe or "一个程序"
        pid = f" (PID {self.pid})" if self.pid is not None else ""
        return (
            f"{who}{pid} 请求{action} ({self.function})。\n"
            f"{who}{pid} asks for the social security PIN ({self.function})."
        )


def default_tty() -> tuple[str | None, str | None]:
    """Where a text pinentry shows when the configuration does not say: ``GPG_TTY`` (GnuPG's
    convention), else the service's own terminal when it runs in one; else nowhere (a graphical
    pinentry uses the ``DISPLAY``/``WAYLAND_DISPLAY`` it inherits)."""
    env = os.environ.get("GPG_TTY")
    if env:
        return env, os.environ.get("TERM")
    for fd in (0, 2):
        try:
            if os.isatty(fd):
                return os.ttyname(fd), os.environ.get("TERM")
        except OSError:
            continue
    return None, None


@dataclass
class PinentryConfig:
    """How to run pinentry: the program and its arguments, its timeout, where it shows."""

    program: str = "pinentry"
    args: list[str] = field(default_factory=list)
    timeout: int = 60
    ttyname: str | None = None
    ttytype: str | None = None
    display: str | None = None


class PinentrySession:
    """One pinentry process for one national call: several GETPIN, then BYE.

    ``watch_fd``: a descriptor whose hang-up cancels the entry (the client's connection).
    """

    def __init__(self, config: PinentryConfig, title: str, watch_fd: int | None = None) -> None:
        self.config = config
        self.watch_fd = watch_fd
        self._buf = bytearray()
        self._deadline = 0.0
        program = shutil.which(config.program) or config.program
        try:
            self._proc = subprocess.Popen(
                [program, *config.args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            raise PinEntryError(
                "unavailable", f"cannot run the PIN prompt {config.program}: {exc.strerror}"
            ) from None
        try:
            self._arm(10.0)
            self._expect_ok("greeting")
            ttyname, ttytype = config.ttyname, config.ttytype
            if ttyname is None:
                ttyname, ttytype = default_tty()
            for name, value in (
                ("ttyname", ttyname),
                ("ttytype", ttytype or os.environ.get("TERM")),
                ("display", config.display),
            ):
                if value:
                    self._command(f"OPTION {name}={value}")
            self._command(f"SETTITLE {escape(title)}")
            self._command(f"SETTIMEOUT {int(config.timeout)}")
        except BaseException:
            self.close()
            raise

    # -- protocol -----------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def _send(self, line: str) -> None:
        data = line.encode("utf-8") + b"\n"
        if len(data) > MAX_LINE:
            data = data[: MAX_LINE - 1] + b"\n"
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise PinEntryError("unavailable", "the PIN prompt exited") from None

    def _readline(self) -> bytearray:
        """One line (without LF), waiting until the deadline; the client hanging up cancels."""
        stdout = self._proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        while True:
            cut = self._buf.find(b"\n")
            if cut >= 0:
                line = self._buf[:cut]
                del self._buf[: cut + 1]
                return line
            if len(self._buf) > 64 * 1024:
                raise PinEntryError("unavailable", "the PIN prompt sent an overlong line")
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise PinEntryError("timeout", "the PIN prompt did not answer in time")
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLHUP)
            if self.watch_fd is not None:
                poller.register(self.watch_fd, select.POLLRDHUP | select.POLLHUP)
            readable = False
            for ready, events in poller.poll(left * 1000):
                if ready == self.watch_fd:
                    if events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                        raise PinEntryError("cancel", "the client went away during PIN entry")
                elif ready == fd:
                    readable = True
            if not readable:
                continue
            chunk = bytearray(os.read(fd, 4096))
            if not chunk:
                raise PinEntryError("unavailable", "the PIN prompt exited")
            self._buf += chunk
            wipe(chunk)

    def _expect_ok(self, what: str) -> None:
        while True:
            line = self._readline()
            if line.startswith(b"OK"):
                return
            if line.startswith(b"ERR"):
                raise _error(bytes(line), what)
            # status (S), comments (#): ignored; anything else is not what we asked for
            if not line.startswith((b"S ", b"S\n", b"#")) and line != b"S":
                raise PinEntryError("unavailable", f"unexpected answer from the prompt ({what})")

    def _command(self, line: str) -> None:
        self._send(line)
        self._expect_ok(line.split(" ", 1)[0])

    def get(self, prompt: str, description: str) -> bytearray:
        """Ask for one PIN; the result is ASCII digits (or whatever was typed) in a bytearray."""
        self._arm(10.0)
        self._command(f"SETDESC {escape(description)}")
        self._command(f"SETPROMPT {escape(prompt)}")
        self._send("GETPIN")
        self._arm(self.config.timeout + GRACE_SECONDS)
        pin = bytearray()
        try:
            while True:
                line = self._readline()
                try:
                    if line.startswith(b"D "):
                        _unescape_into(memoryview(line)[2:], pin)
                    elif line.startswith(b"OK"):
                        return pin
                    elif line.startswith(b"ERR"):
                        raise _error(bytes(line), "GETPIN")
                    elif line.startswith(b"INQUIRE"):
                        self._send("CAN")
                finally:
                    wipe(line)
        except BaseException:
            wipe(pin)
            raise

    def confirm(self, description: str, ok: str = "允许 Allow", cancel: str = "拒绝 Deny") -> bool:
        """A yes/no question to the operator (Assuan ``CONFIRM``): True for OK, False for Cancel;
        a timeout or a broken prompt raises :class:`PinEntryError`."""
        self._arm(10.0)
        self._command(f"SETDESC {escape(description)}")
        self._command(f"SETOK {escape(ok)}")
        self._command(f"SETCANCEL {escape(cancel)}")
        self._send("CONFIRM")
        self._arm(self.config.timeout + GRACE_SECONDS)
        try:
            self._expect_ok("CONFIRM")
        except PinEntryError as exc:
            if exc.kind == "cancel":
                return False
            raise
        return True

    def close(self) -> None:
        """BYE, then make sure the process is gone (killed when it does not leave at once)."""
        proc = self._proc
        if proc.poll() is None:
            try:
                self._send("BYE")
            except PinEntryError:
                pass
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        wipe(self._buf)

    def __enter__(self) -> PinentrySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(line: bytes, what: str) -> PinEntryError:
    parts = line.split(b" ", 2)
    try:
        code = int(parts[1]) & 0xFFFF
    except (IndexError, ValueError):
        code = -1
    if code in (GPG_ERR_CANCELED, GPG_ERR_FULLY_CANCELED):
        return PinEntryError("cancel", "PIN entry cancelled")
    if code == GPG_ERR_TIMEOUT:
        return PinEntryError("timeout", "PIN entry timed out")
    reason = parts[2].decode("utf-8", "replace")[:120] if len(parts) > 2 else ""
    return PinEntryError("unavailable", f"the PIN prompt refused {what}: {reason}".strip())


# --- the choice -----------------------------------------------------------------------------

PinEntryMode = Literal["auto", "pad", "pinentry", "none"]


def choose_pin_entry(
    mode: PinEntryMode,
    config: PinentryConfig,
    *,
    reader_has_pad: bool,
    title: str,
    watch_fd: int | None = None,
) -> PinentrySession:
    """The prompt for a PIN typed on this computer: pinentry, else -13 (不支持该命令).

    The PIN pad is chosen before this (:func:`pad_wanted`): with one, VERIFY and CHANGE PIN run on
    the pad and the PIN never reaches the service.  What a PC/SC part 10 pad cannot take comes
    here even in mode ``pad``: the new PIN of ``iReloadPIN``, which the security module encrypts.
    """
    if mode == "none":
        raise NationalError(NOT_SUPPORTED, "未配置密码输入方式")
    if shutil.which(config.program) is None and not os.access(config.program, os.X_OK):
        raise NationalError(NOT_SUPPORTED, f"找不到密码输入程序{os.path.basename(config.program)}")
    return PinentrySession(config, title, watch_fd)


def pad_wanted(mode: PinEntryMode) -> bool:
    """Whether the reader's PIN pad is asked for in ``mode`` (``auto``: when it has one; ``pad``:
    required, -13 without one)."""
    return mode in ("auto", "pad")


def pad_timeout(seconds: int) -> int:
    """``[pin] timeout`` as a pad's ``bTimerOut`` (one byte: at most 255 s; 0 is the pad's own)."""
    return max(0, min(int(seconds), 0xFF))
