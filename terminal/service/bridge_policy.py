"""Who may open the bridge: the checks made on the HTTP request, before anything else happens.

``browser-bridge.md`` lists what deployed local card services got wrong (no Origin check, every
interface, GET requests that act, JSONP) and what the trusted designs do.  This module is the
answer to each, as one pure function, :func:`admit`, that the WebSocket server calls from its
handshake hook (``process_request``) for every request, before a connection exists and so before
any card access:

1. **Host**: exactly one ``Host`` header, exactly one of ``127.0.0.1:PORT``, ``localhost:PORT``,
   ``[::1]:PORT`` (string equality: no prefix test, which ``127.attacker.example`` passes, and no
   comparison with Origin, which a DNS-rebinding attacker controls as well).
2. **Method**: GET only (the library refuses a request with a body).
3. **Not a WebSocket upgrade**: the demo page's own files when ``--demo`` serves them (exact
   paths, no query string: nothing to call back, no JSONP), else 404.  No GET acts.
4. **WebSocket upgrade**: the path ``/``; exactly one ``Origin`` header, present, and exactly in
   the allow-list (the configuration's origins, plus the demo page's own loopback origins while
   ``--demo`` serves it).  No ``*``, no ``null``, no pattern.

Pairing (is this allowed origin approved yet?) is not decided here: a refused request is an HTTP
error, while an unpaired origin gets a WebSocket that answers ``pairing_required``.

Origins in the configuration are checked by :func:`check_origin` when the service starts: the
exact form a browser sends (``scheme://host[:port]``, lower case, no default port, no path), so
an entry that could never match is refused instead of silently ignored.

:func:`peer_uid` is one more check made when a TCP connection arrives: loopback is reachable by
every user of the machine, so a connection whose socket belongs to another user (found in
``/proc/net/tcp``) is refused, as the Unix socket refuses another uid (``SO_PEERCRED``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from apdu.errors import UsageError

#: The only addresses the bridge listens on (never a wildcard, never another interface).
LISTEN_ADDRESSES = ("127.0.0.1", "::1")
#: The WebSocket's path.
WS_PATH = "/"
#: The demo page's files (served only with ``--demo``): request path -> file name.
DEMO_FILES = {"/": "index.html", "/demo.js": "demo.js", "/demo.css": "demo.css"}

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ORIGIN = re.compile(r"(https?)://(\[[0-9a-f:.]+\]|[^/:\[\]]+)(?::([0-9]{1,5}))?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def loopback_hosts(port: int) -> frozenset[str]:
    """The exact ``Host`` values a request to the bridge may carry."""
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def demo_origins(port: int) -> tuple[str, ...]:
    """The demo page's own origins (it is served by the bridge on the same port)."""
    return (f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}")


def check_origin(origin: str) -> str:
    """``origin`` when it is one a browser can send (see the module docstring); else UsageError."""
    if origin in ("*", "null") or not origin:
        raise UsageError(f"allowed origin {origin!r}: give an exact origin such as "
                         "https://pos.example.com (no '*', no 'null')")
    m = _ORIGIN.fullmatch(origin)
    if m is None:
        raise UsageError(f"allowed origin {origin!r} is not scheme://host[:port] "
                         "(http or https, no path, no trailing slash)")
    scheme, host, port = m.groups()
    if origin != origin.lower():
        raise UsageError(f"allowed origin {origin!r}: browsers send origins in lower case")
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise UsageError(f"allowed origin {origin!r}: {host} is not an IPv6 address") from None
        if str(address) != host[1:-1]:
            raise UsageError(f"allowed origin {origin!r}: browsers send the address in its "
                             f"short form, [{address}]")
    elif not _HOSTNAME.fullmatch(host):
        raise UsageError(f"allowed origin {origin!r}: {host!r} is not a host name")
    if port is not None:
        number = int(port)
        if not 1 <= number <= 65535 or port != str(number):
            raise UsageError(f"allowed origin {origin!r}: bad port {port}")
        if number == _DEFAULT_PORTS[scheme]:
            raise UsageError(f"allowed origin {origin!r}: browsers leave out the default port "
                             f"{number}; write {scheme}://{host}")
    return origin


Kind = Literal["websocket", "page", "refused"]


@dataclass(frozen=True)
class Decision:
    """What to do with a request: open the WebSocket (``origin``), serve a demo file, or refuse
    with an HTTP status and a reason (logged, and sent as the plain-text body)."""

    kind: Kind
    status: int = 200
    reason: str = ""
    origin: str = ""
    file: str = ""
    #: which check refused: host, method, path, origin.
    check: str = ""


def _refuse(status: int, reason: str, check: str) -> Decision:
    return Decision("refused", status, reason, check=check)


def _is_upgrade(get_all: Callable[[str], list[str]]) -> bool:
    return any(
        token.strip().lower() == "websocket"
        for value in get_all("Upgrade")
        for token in value.split(",")
    )


def admit(
    method: str,
    path: str,
    get_all: Callable[[str], list[str]],
    *,
    port: int,
    origins: frozenset[str],
    demo: bool,
) -> Decision:
    """Decide a request (module docstring).  ``get_all(name)``: every value of a header."""
    hosts = get_all("Host")
    if len(hosts) != 1 or hosts[0] not in loopback_hosts(port):
        shown = hosts[0][:80] if len(hosts) == 1 else f"{len(hosts)} Host headers"
        return _refuse(403, f"forbidden Host {shown!r}", "host")
    if method != "GET":
        return _refuse(405, f"method {method[:16]!r} not allowed", "method")
    if not _is_upgrade(get_all):
        if demo and path in DEMO_FILES:
            return Decision("page", file=DEMO_FILES[path])
        return _refuse(404, "not found", "path")
    if path != WS_PATH:
        return _refuse(404, "not found", "path")
    given = get_all("Origin")
    if not given:
        return _refuse(403, "missing Origin", "origin")
    if len(given) != 1:
        return _refuse(403, f"{len(given)} Origin headers", "origin")
    origin = given[0]
    allowed = origins | frozenset(demo_origins(port)) if demo else origins
    if origin not in allowed:
        return _refuse(403, f"Origin {origin[:80]!r} is not allowed", "origin")
    return Decision("websocket", 101, origin=origin)


# --- the peer's user ----------------------------------------------------------------------------


def _proc_address(family: int, address: str, port: int) -> str:
    """An address as ``/proc/net/tcp[6]`` prints it (host-order 32-bit words in hex)."""
    packed = socket.inet_pton(family, address)
    words = [packed[i:i + 4] for i in range(0, len(packed), 4)]
    return "".join(w[::-1].hex().upper() for w in words) + f":{port:04X}"


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the other end of a loopback TCP connection, or None when not found.

    The other end is a socket on this machine: its row in ``/proc/net/tcp`` (or ``tcp6``) has
    our peer as local address and us as remote address, and says which uid owns it.
    """
    family = sock.family
    peer = sock.getpeername()
    local = sock.getsockname()
    table = "/proc/net/tcp6" if family == socket.AF_INET6 else "/proc/net/tcp"
    want_local = _proc_address(family, peer[0], peer[1])
    want_remote = _proc_address(family, local[0], local[1])
    try:
        with open(table, encoding="ascii") as f:
            next(f, None)
            for line in f:
                parts = line.split()
                if len(parts) > 7 and parts[1] == want_local and parts[2] == want_remote:
                    return int(parts[7])
    except (OSError, ValueError):
        return None
    return None
