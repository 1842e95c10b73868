"""The sscard service: the one owner of the card for the programs of one user.

A thread per client connection (the C library keeps one connection per calling thread); each
connection gets its own :class:`~terminal.national.facade.National`, so an HSM step group belongs
to the connection that opened it and dies with it.  The card source's per-reader lock makes one
operation at a time per reader, inside one PC/SC transaction; an HSM step group keeps the reader
until its last step, a failure, the connection's end, or ``step_timeout`` without its next step
(then the card is powered down and the next step answers -12).

Who may talk to us: the socket is 0600 in a 0700 directory (:mod:`terminal.service.runtime`),
and a peer whose uid (``SO_PEERCRED``) is not ours is refused even so.  The peer's PID and
executable are shown to the holder in the PIN prompt.

Every request is logged (function, reader, result code, duration, client PID): never an argument
and never an output, so neither a PIN nor Reload Step2's clear PIN can reach the log.  A request
only appends its line to a bounded buffer; a writer thread writes the buffer every
:data:`LOG_INTERVAL` seconds, so no request waits for a log write or a thread switch (and a
stuck stderr drops lines past :data:`LOG_BACKLOG` instead of stopping the service).
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from terminal.national.card import CardSource
from terminal.national.codes import READER_CONNECTION
from terminal.national.facade import National, NationalConfig
from terminal.service import protocol
from terminal.service.protocol import CallError, FrameError
from terminal.service.runtime import listen, remove_socket, socket_identity

log = logging.getLogger("sscard.service")

#: Seconds a client has to finish a frame it started.
FRAME_TIMEOUT = 30.0
#: Seconds shutdown waits for each connection's thread to release its card.
SHUTDOWN_WAIT = 5.0
#: Seconds between two writes of the request log, and the most lines it keeps waiting.
LOG_INTERVAL = 0.05
LOG_BACKLOG = 10000
_CRED = struct.Struct("3i")
#: a log line to write after the answer is sent: (format, arguments), or None.
_Note = tuple[str, tuple[object, ...]] | None


@dataclass
class _Stats:
    started: float = field(default_factory=time.monotonic)
    calls: int = 0
    failures: int = 0
    refused: int = 0
    frame_errors: int = 0
    clients: int = 0


class RequestLog:
    """Request lines, written by one thread in batches (see the module docstring)."""

    def __init__(self) -> None:
        self._lines: collections.deque[tuple[float, str, tuple[object, ...]]] = collections.deque()
        self._stop = threading.Event()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def add(self, fmt: str, args: tuple[object, ...]) -> None:
        if len(self._lines) >= LOG_BACKLOG:
            self.dropped += 1
            return
        self._lines.append((time.time(), fmt, args))

    def _write(self) -> None:
        while self._lines:
            when, fmt, args = self._lines.popleft()
            if log.isEnabledFor(logging.INFO):
                record = log.makeRecord(log.name, logging.INFO, __file__, 0, fmt, args, None)
                record.created = when
                record.msecs = (when % 1) * 1000
                log.handle(record)

    def _run(self) -> None:
        while not self._stop.wait(LOG_INTERVAL):
            self._write()
        self._write()

    def close(self) -> None:
        """Write what is left and stop the writer."""
        self._stop.set()
        self._thread.join(SHUTDOWN_WAIT)


def peer_credentials(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end (Linux ``SO_PEERCRED``)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    pid, uid, gid = _CRED.unpack(raw)
    return pid, uid, gid


def executable_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


class Service:
    """Listens on ``socket_path`` and serves national calls from ``source``."""

    def __init__(
        self,
        source: CardSource,
        config: NationalConfig,
        socket_path: Path | None = None,
        *,
        max_clients: int = 64,
    ) -> None:
        self.source = source
        self.config = config
        self.max_clients = max_clients
        self.stats = _Stats()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.sock, self.path = listen(socket_path)
        self._identity = socket_identity(self.path)
        self.requests = RequestLog()
        self._hello = self._make_hello()
        #: further ops (the bridge's approve/revoke): op -> request -> answer fields.
        self.ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        #: further status fields (the bridge's): key -> its value now.
        self.status_extra: dict[str, Callable[[], Any]] = {}

    # -- life --------------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        log.info("sscard service listening on %s (readers: %s; security: %s)", self.path,
                 ", ".join(self.source.reader_names()), self.source.security)
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    if self._stopping.is_set():
                        break
                    raise
                self._admit(conn)
        finally:
            self._close_listener()

    def shutdown(self) -> None:
        """Stop accepting, end every connection (their step groups power the card down)."""
        self._stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _close_listener(self) -> None:
        remove_socket(self.path, self._identity)
        self.sock.close()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:  # their step groups power the card down before the source closes
            worker.join(SHUTDOWN_WAIT)
        self.requests.close()

    # -- connections -------------------------------------------------------------------------------

    def _admit(self, conn: socket.socket) -> None:
        pid, uid, _ = peer_credentials(conn)
        if uid != os.geteuid():
            self.stats.refused += 1
            log.warning("refused a client of uid %d (pid %d): not this service's user", uid, pid)
            self._send_quietly(conn, protocol.error_frame(
                "this service belongs to another user", READER_CONNECTION))
            conn.close()
            return
        with self._lock:
            if len(self._conns) >= self.max_clients:
                self.stats.refused += 1
                busy = True
            else:
                self._conns.add(conn)
                self.stats.clients += 1
                busy = False
        if busy:
            log.warning("refused a client (pid %d): %d clients already", pid, self.max_clients)
            self._send_quietly(conn, protocol.error_frame("too many clients", READER_CONNECTION))
            conn.close()
            return
        worker = threading.Thread(
            target=self._serve_client, args=(conn, pid), name=f"client-{pid}", daemon=True
        )
        with self._lock:
            self._workers = [t for t in self._workers if t.is_alive()] + [worker]
        worker.start()

    @staticmethod
    def _send_quietly(conn: socket.socket, payload: bytes) -> None:
        try:
            conn.sendall(protocol.frame(payload))
        except OSError:
            pass

    def _serve_client(self, conn: socket.socket, pid: int) -> None:
        national = National(
            self.source,
            self.config,
            requester_pid=pid,
            requester_exe=executable_of(pid),
            watch_fd=conn.fileno(),
        )
        reader = protocol.FrameReader(conn)
        try:
            while not self._stopping.is_set():
                deadline = national.steps_deadline
                idle = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    payload = reader.read(idle, FRAME_TIMEOUT)
                except TimeoutError:
                    log.info("client %d: HSM step group timed out; card released", pid)
                    national.abandon_steps()
                    continue
                except FrameError as exc:
                    self._frame_error(conn, pid, str(exc))
                    break
                except OSError:
                    break
                if payload is None:
                    break
                try:
                    answer, note = self._answer(national, payload, pid)
                except FrameError as exc:
                    self._frame_error(conn, pid, str(exc))
                    break
                except Exception as exc:  # noqa: BLE001 - a bug must not take the service down
                    debug = bool(os.environ.get("SSCARD_DEBUG"))
                    log.error("client %d: internal error (%s); connection closed",
                              pid, type(exc).__name__, exc_info=debug)
                    self._send_quietly(conn, protocol.error_frame("internal error", -13))
                    break
                try:
                    conn.sendall(protocol.frame(answer))
                except OSError:
                    break
                finally:
                    if note is not None:
                        self.requests.add(*note)
        finally:
            national.close()
            with self._lock:
                self._conns.discard(conn)
            conn.close()
            log.info("client %d: client left", pid)

    def _frame_error(self, conn: socket.socket, pid: int, message: str) -> None:
        self.stats.frame_errors += 1
        log.warning("client %d: bad frame (%s); connection closed", pid, message)
        self._send_quietly(conn, protocol.error_frame(message))

    # -- requests ----------------------------------------------------------------------------------

    def _answer(self, national: National, payload: bytes, pid: int) -> tuple[bytes, _Note]:
        """The answer, and what to log once it is sent (the client need not wait for the log)."""
        request = protocol.parse_request(payload)
        op = request["op"]
        if op == "call":
            return self._call(national, request, pid)
        if op == "hello":
            return protocol.encode(self.hello()), None
        if op == "status":
            return protocol.encode(self.status()), None
        handler = self.ops.get(op)
        if handler is not None:
            return protocol.encode({"v": protocol.VERSION, **handler(request)}), (
                "op %s pid=%d", (op, pid))
        return protocol.encode(
            {"v": protocol.VERSION, "code": -13, "out": [], "error": f"unknown op {op[:40]!r}"}
        ), None

    def _call(self, national: National, request: dict[str, Any], pid: int
              ) -> tuple[bytes, _Note]:
        started = time.perf_counter()
        fn = request.get("fn")
        name = fn if isinstance(fn, str) and len(fn) <= 40 else "?"
        try:
            _, args = protocol.call_arguments(request)
            code, outputs = national.call(name, list(args))
            answer = protocol.call_answer(code, outputs)
        except CallError as err:
            code, answer = err.code, protocol.failed_call(err)
        ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self.stats.calls += 1
            if code:
                self.stats.failures += 1
        return answer, ("call %s reader=%s code=%d ms=%.2f pid=%d",
                        (name, self.source.reader_name(), code, ms, pid))

    @staticmethod
    def _make_hello() -> dict[str, Any]:
        try:
            ver = version("sscard")
        except PackageNotFoundError:  # pragma: no cover - a source checkout without install
            ver = "unknown"
        return {"v": protocol.VERSION, "code": 0, "service": "sscard",
                "protocol": protocol.VERSION, "version": ver}

    def hello(self) -> dict[str, Any]:
        return dict(self._hello)

    def status(self) -> dict[str, Any]:
        src = self.source
        readers = [
            {"name": src.reader_name(c), "contactless": c, "card_present": src.card_present(c)}
            for c in ([False, True] if src.has_contactless else [False])
        ]
        counters = src.counters
        with self._lock:
            clients = len(self._conns)
        extra = {key: fn() for key, fn in self.status_extra.items()}
        return {
            "v": protocol.VERSION,
            "code": 0,
            "service": "sscard",
            "protocol": protocol.VERSION,
            "socket": str(self.path),
            "readers": readers,
            "security": src.security,
            "psam": src.psam_label(),
            "terminal_number": src.terminal_number(),
            "uptime_s": round(time.monotonic() - self.stats.started, 3),
            "clients": clients,
            "calls": self.stats.calls,
            "failures": self.stats.failures,
            "refused": self.stats.refused,
            "frame_errors": self.stats.frame_errors,
            "log_dropped": self.requests.dropped,
            "card_opened": counters.opened,
            "reader_waits": counters.waited,
            "max_parallel": counters.max_active,
            **extra,
        }
