"""The browser bridge: a WebSocket endpoint inside ``sscard service`` for web POS pages (issue 14).

``sscard service --bridge PORT --allow-origin https://pos.example.com`` listens on
``ws://127.0.0.1:PORT/`` and ``ws://[::1]:PORT/`` (never another address), on the ``websockets``
library's asyncio server running in a thread of its own.  Who may connect is decided in the
library's handshake hook (``process_request``) by :func:`terminal.service.bridge_policy.admit`,
before a connection exists and so before any card access: a socket of another user, a foreign
``Host`` (DNS rebinding), a missing or foreign ``Origin``, any method but GET, any plain GET but
the demo page's files are refused with an HTTP error.

An allowed origin must also be paired (:mod:`terminal.service.pairing`): until the operator
approves it, every message is answered ``pairing_required`` with the code; approval is checked on
every message, so a revocation holds from the next one.  Messages are the declared table of
:mod:`terminal.service.bridge_schema`; the card work runs in a worker thread
(:mod:`terminal.service.cardwork`, or the national facade for ``function`` messages) through the
service's card source, whose per-reader lock makes one operation at a time per reader: the event
loop never waits for a card.  One message at a time per connection, answered in order; a page
that goes away while the holder types cancels the local PIN prompt.

Every request is logged with its origin through the service's request log (type, reader,
result, duration; never a PIN, never card data).  PIN operations are rate-limited per origin.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import email.utils
import errno
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from apdu.errors import UsageError
from apdu.text import printable
from terminal.national.card import CardSource
from terminal.national.facade import National, NationalConfig
from terminal.national.pinentry import PinEntryError, PinentrySession
from terminal.national.signatures import SIGNATURES
from terminal.service.bridge_policy import (
    LISTEN_ADDRESSES,
    admit,
    demo_origins,
    peer_uid,
)
from terminal.service.bridge_schema import (
    MESSAGES,
    NATIONAL,
    BadMessage,
    Message,
    message_id,
    parse_message,
)
from terminal.service.cardwork import CardWork, card_events, error_of
from terminal.service.pairing import PairingStore

log = logging.getLogger("sscard.service")

#: Largest message a page may send (the largest national input is 1 KiB).
MAX_MESSAGE = 64 * 1024
#: Worker threads for card work (the reader locks serialise the card itself).
WORKERS = 8
#: Seconds the start waits for the listeners.
START_TIMEOUT = 10.0
DEMO_DIR = Path(__file__).resolve().parent / "demo"
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8"}


@dataclass
class BridgeSettings:
    """What the bridge needs beyond the card source (from ``[bridge]`` and the command line)."""

    port: int
    origins: frozenset[str]
    pairings: PairingStore
    #: PIN operations one origin may start per ``pin_window`` seconds.
    pin_limit: int = 10
    pin_window: float = 60.0
    #: how the operator approves a pairing: ``code`` (sscard service approve) or ``pinentry``.
    approve: str = "code"
    demo: bool = False
    #: pages connected at once (``[service] max_clients``); one more is refused with 503.
    max_connections: int = 64


class RateLimit:
    """At most ``limit`` events per ``window`` seconds per key (a sliding window)."""

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Count one event for ``key``; None when allowed, else the seconds until one is."""
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(key, collections.deque())
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                return round(seen[0] + self.window - now, 3)
            seen.append(now)
            return None


@dataclass
class _Stats:
    connections: int = 0
    messages: int = 0
    refused: dict[str, int] = field(default_factory=lambda: collections.Counter())
    pairing_required: int = 0
    rate_limited: int = 0


class _Conn:
    """One page's connection: its origin, its card work and national facade (HSM steps are the
    connection's), and the descriptor whose hang-up cancels a PIN prompt."""

    def __init__(self, bridge: Bridge, ws: ServerConnection, origin: str) -> None:
        self.ws = ws
        self.origin = origin
        self._watch_r, self._watch_w = socket.socketpair()
        requester = f"网页 {origin}"
        fd = self._watch_r.fileno()
        self.work = CardWork(bridge.source, bridge.config, requester, watch_fd=fd)
        self.national = National(bridge.source, bridge.config, requester_exe=requester,
                                 watch_fd=fd)
        self.subscribed = False

    def hang_up(self) -> None:
        """The page went away: a PIN prompt for it is cancelled."""
        try:
            self._watch_w.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Release the card (an open HSM step group) and the descriptors; idempotent."""
        self.national.close()
        self._watch_w.close()
        self._watch_r.close()


def _package_version() -> str:
    try:
        return version("sscard")
    except PackageNotFoundError:  # pragma: no cover - a source checkout without install
        return "unknown"


def _bind(port: int) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 and ::1 at the same port (``port`` 0: a free one)."""
    for _ in range(20):
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            v4.bind((LISTEN_ADDRESSES[0], port))
        except OSError as exc:
            v4.close()
            raise UsageError(f"bridge: cannot listen on 127.0.0.1:{port}: {exc.strerror}"
                             ) from None
        actual = v4.getsockname()[1]
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            v6.bind((LISTEN_ADDRESSES[1], actual))
        except OSError as exc:
            v6.close()
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                log.warning("bridge: no IPv6 loopback (::1) on this machine; 127.0.0.1 only")
                v4.listen(64)
                return [v4]
            v4.close()
            if port == 0:
                continue  # the free IPv4 port is taken on ::1: try another
            raise UsageError(f"bridge: cannot listen on [::1]:{port}: {exc.strerror} (another "
                             "program there would get the pages that resolve localhost to ::1)"
                             ) from None
        v4.listen(64)
        v6.listen(64)
        return [v4, v6]
    raise UsageError("bridge: no port free on both 127.0.0.1 and ::1")


class Bridge:
    """The WebSocket endpoint (module docstring); :meth:`start` and :meth:`stop` from any thread."""

    def __init__(self, source: CardSource, config: NationalConfig, settings: BridgeSettings,
                 request_log: Callable[[str, tuple[object, ...]], None] | None = None) -> None:
        self.source = source
        self.config = config
        self.settings = settings
        self.pairings = settings.pairings
        self.limit = RateLimit(settings.pin_limit, settings.pin_window)
        self.stats = _Stats()
        self._note = request_log or (lambda fmt, args: log.info(fmt, *args))
        self._sockets = _bind(settings.port)
        self.port: int = self._sockets[0].getsockname()[1]
        self._demo_origins = frozenset(demo_origins(self.port)) if settings.demo else frozenset()
        self._files = self._load_demo() if settings.demo else {}
        self._conns: set[_Conn] = set()
        self._present: dict[str, bool | None] = {}
        self._watchers: list[threading.Thread] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, "bridge-card")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bridge", daemon=True)
        self._hello_base = {"service": "sscard", "version": _package_version(),
                            "types": sorted(MESSAGES), "functions": sorted(NATIONAL)}

    # -- life ---------------------------------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        return [f"ws://127.0.0.1:{self.port}/"] + (
            [f"ws://[::1]:{self.port}/"] if len(self._sockets) > 1 else [])

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise UsageError("bridge: the WebSocket server did not start")
        if self._failure is not None:
            raise UsageError(f"bridge: {self._failure}")

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop already ended
                pass
        if self._thread.is_alive():
            self._thread.join(START_TIMEOUT)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start() or logged
            self._failure = exc
            self._ready.set()
            log.error("bridge stopped: %s", exc)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        servers: list[Server] = []
        for sock in self._sockets:
            servers.append(await serve(
                self._handler, sock=sock, process_request=self._process_request,
                max_size=MAX_MESSAGE, server_header=None, compression=None,
                ping_interval=20, ping_timeout=20, logger=logging.getLogger("sscard.bridge.ws"),
            ))
        self._ready.set()
        await self._stopping.wait()
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()

    def _load_demo(self) -> dict[str, bytes]:
        files = {}
        for name in ("index.html", "demo.js", "demo.css"):
            try:
                files[name] = (DEMO_DIR / name).read_bytes()
            except OSError as exc:
                raise UsageError(f"bridge: demo page file {name}: {exc.strerror}") from None
        return files

    # -- the operator -------------------------------------------------------------------------

    def approve(self, code: str) -> str | None:
        """``sscard service approve CODE``: the origin approved, or None (no such code)."""
        origin = self.pairings.approve(code)
        if origin is not None:
            log.info("bridge: %s approved (pairing code matched)", origin)
            self._tell_origin(origin, {"type": "paired", "origin": origin})
        return origin

    def revoke(self, origin: str) -> bool:
        done = self.pairings.revoke(origin)
        if done:
            log.info("bridge: %s revoked", origin)
        return done

    def _tell_origin(self, origin: str, message: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None:
            return

        def push() -> None:
            for conn in list(self._conns):
                if conn.origin == origin:
                    asyncio.ensure_future(self._send(conn, message))

        loop.call_soon_threadsafe(push)

    def info(self) -> dict[str, Any]:
        """For the service's status: where the bridge listens and what it refused."""
        return {
            "addresses": self.addresses,
            "origins": sorted(self.settings.origins),
            "demo": self.settings.demo,
            "paired": sorted(self.pairings.approved()),
            "connections": len(self._conns),
            "messages": self.stats.messages,
            "refused": dict(self.stats.refused),
            "pairing_required": self.stats.pairing_required,
            "rate_limited": self.stats.rate_limited,
        }

    # -- the handshake ------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request
                         ) -> Response | None:
        sock = connection.transport.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else None
        what = _shown_request(request)
        if uid != os.geteuid():
            return self._refused(connection, 403, f"a client of uid {uid} (not this user's)",
                                 "user", what)
        decision = admit(request.method, request.path, request.headers.get_all, port=self.port,
                         origins=self.settings.origins, demo=self.settings.demo)
        if decision.kind == "refused":
            return self._refused(connection, decision.status, decision.reason, decision.check,
                                 what)
        if decision.kind == "websocket" and len(self._conns) >= self.settings.max_connections:
            return self._refused(connection, 503, f"too many connections (at most "
                                 f"{self.settings.max_connections})", "busy", what)
        if decision.kind == "page":
            return self._page(decision.file)
        return None

    def _refused(self, connection: ServerConnection, status: int, reason: str,
                 kind: str, what: str) -> Response:
        self.stats.refused[kind] += 1
        self._note("bridge refused status=%d reason=%s request=%s", (status, reason, what))
        return connection.respond(status, reason + "\n")

    def _page(self, name: str) -> Response:
        body = self._files[name]
        port = self.port
        sockets = " ".join(f"ws://{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]"))
        headers = Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Content-Type", _CONTENT_TYPES[Path(name).suffix]),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy",
             f"default-src 'self'; connect-src {sockets}; img-src data:; "
             "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
            ("Connection", "close"),
        ])
        return Response(200, "OK", headers, body)

    # -- connections --------------------------------------------------------------------------

    def _paired(self, origin: str) -> bool:
        return origin in self._demo_origins or self.pairings.is_approved(origin)

    async def _handler(self, ws: ServerConnection) -> None:
        origin = ws.request.headers["Origin"] if ws.request is not None else ""
        conn = _Conn(self, ws, origin)
        self._conns.add(conn)
        self.stats.connections += 1
        # one watcher per connection (not one per message): a page that goes away while the
        # holder types cancels the local PIN prompt at once
        closed = asyncio.ensure_future(ws.wait_closed())
        closed.add_done_callback(lambda _: conn.hang_up())
        try:
            if not self._paired(origin):
                await self._send(conn, self._pairing_required(conn, None))
            async for raw in ws:
                answer = await self._on_message(conn, raw)
                await self._send(conn, answer)
        except ConnectionClosed:
            pass
        finally:
            closed.cancel()
            self._conns.discard(conn)
            conn.hang_up()
            await asyncio.get_running_loop().run_in_executor(self._pool, conn.close)

    async def _send(self, conn: _Conn, message: dict[str, Any]) -> None:
        try:
            await conn.ws.send(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
        except ConnectionClosed:
            pass

    def _pairing_required(self, conn: _Conn, mid: int | str | None) -> dict[str, Any]:
        self.stats.pairing_required += 1
        code, new = self.pairings.request(conn.origin)
        if new:
            log.warning("bridge: pairing request from %s: code %s; compare it with the page, "
                        "then approve: sscard service approve %s", conn.origin, code, code)
            if self.settings.approve == "pinentry":
                self._pool.submit(self._confirm, conn.origin, code)
        out: dict[str, Any] = {"type": "pairing_required", "origin": conn.origin, "code": code}
        if mid is not None:
            out["id"] = mid
        return out

    def _confirm(self, origin: str, code: str) -> None:
        """The operator's local prompt (pinentry CONFIRM) for a new pairing."""
        description = (f"网页 {origin} 请求使用社会保障卡。配对码 {code}\n"
                       f"The web page {origin} asks to use the card. Pairing code {code}.")
        try:
            with PinentrySession(self.config.pinentry, "sscard 配对 / pairing") as entry:
                allowed = entry.confirm(description)
        except PinEntryError as exc:
            log.warning("bridge: pairing prompt for %s failed: %s", origin, exc)
            return
        if not allowed:
            log.info("bridge: the operator refused %s", origin)
            return
        self.pairings.approve_origin(origin)
        log.info("bridge: %s approved (local prompt)", origin)
        self._tell_origin(origin, {"type": "paired", "origin": origin})

    async def _on_message(self, conn: _Conn, raw: str | bytes) -> dict[str, Any]:
        started = time.perf_counter()
        self.stats.messages += 1
        if not isinstance(raw, str):
            return self._error(conn, None, "?", "bad_request", "send JSON text frames", started)
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return self._error(conn, None, "?", "bad_request", "not JSON", started)
        mid = message_id(obj) if isinstance(obj, dict) else None
        if not self._paired(conn.origin):
            if conn.national.steps_deadline is not None:
                await self._in_worker(conn, conn.national.abandon_steps)
            self._note("bridge origin=%s type=%s result=pairing_required",
                       (conn.origin, _shown_type(obj)))
            return self._pairing_required(conn, mid)
        try:
            msg = parse_message(obj)
        except BadMessage as bad:
            return self._error(conn, mid, _shown_type(obj), bad.code, bad.message, started)
        if msg.pin:
            wait = self.limit.take(conn.origin)
            if wait is not None:
                self.stats.rate_limited += 1
                return self._error(conn, mid, msg.name, "rate_limited",
                                   f"too many PIN operations from this origin; retry in "
                                   f"{wait:.0f} s", started, retry_after=wait)
        if msg.spec.national:
            return await self._national(conn, msg, started)
        return await self._operation(conn, msg, started)

    def _error(self, conn: _Conn, mid: int | str | None, name: str, code: str, message: str,
               started: float, **extra: Any) -> dict[str, Any]:
        self._log(conn, name, "-", code, started)
        out: dict[str, Any] = {"type": name if name != "?" else "error"}
        if mid is not None:
            out["id"] = mid
        out.update(ok=False, error={"code": code, "message": message, **extra})
        return out

    def _log(self, conn: _Conn, name: str, reader: str, result: str, started: float) -> None:
        ms = (time.perf_counter() - started) * 1000
        self._note("bridge origin=%s type=%s reader=%s result=%s ms=%.2f",
                   (conn.origin, name, reader, result, ms))

    async def _in_worker(self, conn: _Conn, fn: Callable[[], Any]) -> Any:
        """``fn()`` in a worker thread (the event loop never waits for a card); if the page goes
        away meanwhile, the connection's close watcher (:meth:`_handler`) cancels its PIN
        prompt, and the work still finishes and releases the card before this returns."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def _operation(self, conn: _Conn, msg: Message, started: float) -> dict[str, Any]:
        name = msg.name
        out: dict[str, Any] = {"type": name}
        if msg.id is not None:
            out["id"] = msg.id
        reader = msg.values.get("reader", "contact")
        if name == "hello":
            out.update(ok=True, **self._hello_base, origin=conn.origin, paired=True,
                       readers=[r for r in ("contact", "contactless")
                                if r == "contact" or self.source.has_contactless])
            self._log(conn, name, "-", "ok", started)
            return out
        if name == "unsubscribe":
            conn.subscribed = False
            out.update(ok=True)
            self._log(conn, name, "-", "ok", started)
            return out
        try:
            if name == "subscribe":
                present = await self._in_worker(conn, conn.work.present)
                self._present.update(present)
                conn.subscribed = True
                self._watch_cards()
                result: dict[str, Any] = {"present": present}
            else:
                result = await self._in_worker(
                    conn, lambda: conn.work.run(name, msg.reader(), msg.values))
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            try:
                err = error_of(exc)
            except Exception:  # noqa: BLE001 - not one of ours: a bug, logged, answered
                debug = bool(os.environ.get("SSCARD_DEBUG"))
                log.error("bridge %s from %s: internal error (%s)", name, conn.origin,
                          type(exc).__name__, exc_info=debug)
                return self._error(conn, msg.id, name, "internal", "internal error", started)
            self._log(conn, name, reader, err.code, started)
            out.update(ok=False, error={"code": err.code, "message": err.message, **err.extra})
            return out
        self._log(conn, name, reader, "ok", started)
        out.update(ok=True, result=result)
        return out

    async def _national(self, conn: _Conn, msg: Message, started: float) -> dict[str, Any]:
        """The deployed shape: ``{"functionName","success":"1" or the code,"pOutInfo",...}``."""
        name = msg.name
        sig = SIGNATURES[name]
        args = [msg.values[p.name] for p in sig.arguments]
        code, outputs = await self._in_worker(conn, lambda: conn.national.call(name, args))
        out: dict[str, Any] = {"functionName": name, "success": "1" if code == 0 else str(code)}
        for param, data in zip(sig.outputs, outputs, strict=True):
            out[param.name] = data.decode("gbk", "replace")
        if msg.id is not None:
            out["id"] = msg.id
        itype = msg.values.get("iType")
        self._log(conn, name, str(itype) if itype is not None else "-", str(code), started)
        return out

    # -- events -------------------------------------------------------------------------------

    def _watch_cards(self) -> None:
        """Start the card watchers once (on the first subscription)."""
        if self._watchers:
            return
        readers = [False] + ([True] if self.source.has_contactless else [])
        for contactless in readers:
            t = threading.Thread(target=self._watch, args=(contactless,), daemon=True,
                                 name=f"bridge-events-{'cl' if contactless else 'c'}")
            self._watchers.append(t)
            t.start()

    def _watch(self, contactless: bool) -> None:
        reader = "contactless" if contactless else "contact"
        loop = self._loop
        try:
            for present in card_events(self.source, contactless):
                if loop is None or loop.is_closed():
                    return
                loop.call_soon_threadsafe(self._publish, reader, present)
        except Exception as exc:  # noqa: BLE001 - events stop; the bridge goes on
            log.warning("bridge: card events for the %s reader stopped: %s", reader, exc)

    def _publish(self, reader: str, present: bool) -> None:
        if self._present.get(reader) == present:
            return
        self._present[reader] = present
        event = {"type": "card", "event": "inserted" if present else "removed",
                 "reader": reader}
        for conn in list(self._conns):
            if conn.subscribed and self._paired(conn.origin):
                asyncio.ensure_future(self._send(conn, event))


def _shown_request(request: Request) -> str:
    """``websocket PATH origin=ORIGIN`` or ``http PATH origin=...`` for a log line."""
    upgrade = any(v.strip().lower() == "websocket" for h in request.headers.get_all("Upgrade")
                  for v in h.split(","))
    origins = request.headers.get_all("Origin")
    origin = _printable(origins[0]) if len(origins) == 1 else f"({len(origins)} Origin headers)"
    return f"{'websocket' if upgrade else 'http'} {_printable(request.path)} origin={origin}"


def _printable(text: str) -> str:
    """Header text for a log line: bounded, control characters escaped by the project's one
    rule (:func:`apdu.text.printable`), no spaces (the line's fields stay ``key=value``)."""
    return printable(text[:80]).replace(" ", "?")


def _shown_type(obj: Any) -> str:
    """The message's type for a log line (bounded, printable)."""
    if isinstance(obj, dict):
        name = obj.get("type", obj.get("function"))
        if isinstance(name, str):
            return _printable(name[:40])
    return "?"

