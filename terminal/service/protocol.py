"""The service protocol, version 1: what the C library, the CLI and Python clients speak.

A Unix stream socket carries frames: a 4-byte big-endian length N (1 <= N <= 4 MiB), then N bytes
of one UTF-8 JSON object.  One request at a time per connection, answered in order.

Requests::

    {"v":1,"op":"call","fn":"iReadCardBas","args":[3]}
    {"v":1,"op":"hello"}      {"v":1,"op":"status"}

``args`` are the C arguments in order, output buffers left out: ``int`` as a JSON integer, a
``char*`` input as the upper-case hex of its exact bytes (GBK; lower case is accepted).

The answer to a call has exactly this form (no spaces, this key order), so that the C library's
parser can be strict and small::

    {"v":1,"code":0,"out":["3432303130307C..."]}

one hex string per output buffer of the function, already GBK and already within the buffer's
size minus the NUL.  A call the service cannot even start (unknown function, wrong arguments) is
answered the same way with its code (-13, -14) and the text in ``pOutInfo``.  A frame that is not
a request (too long, too short, not JSON, not an object) is answered once with
``{"v":1,"code":-14,"out":[],"error":"..."}`` and the connection is closed; the service stays up.
A client the service will not serve (another user, too many clients) gets the same form with
``code`` -11 before the connection is closed.
Other ops answer ``{"v":1,"code":0,...}`` with their fields, an unknown op ``code`` -13.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

import terminal.national.gbk as gbk
from terminal.national.codes import BAD_PARAMETER, NOT_SUPPORTED, text_of
from terminal.national.signatures import SIGNATURES, Signature

VERSION = 1
MAX_FRAME = 4 * 1024 * 1024
_LENGTH = struct.Struct(">I")
#: C ``int`` range for integer arguments.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class FrameError(Exception):
    """A frame that is not a request: answered with an error frame, then the connection closes."""


class CallError(Exception):
    """A call that cannot start: answered as a call with ``code`` and ``text`` in pOutInfo."""

    def __init__(self, code: int, text: str, sig: Signature | None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.sig = sig


# --- frames ------------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """Exactly ``n`` bytes, or None at a clean EOF before the first byte."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            if not buf:
                return None
            raise FrameError(f"connection closed inside a frame ({len(buf)} of {n} bytes)")
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket) -> bytes | None:
    """One frame's payload; None when the peer closed between frames."""
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = _LENGTH.unpack(head)
    if n == 0 or n > MAX_FRAME:
        raise FrameError(f"frame length {n} outside 1..{MAX_FRAME}")
    body = _recv_exact(sock, n)
    if body is None:
        raise FrameError("connection closed after a frame length")
    return body


class FrameReader:
    """Frames from one connection with as few system calls as the data allows.

    One ``recv`` usually brings a whole request (length and JSON); frames a client sends ahead
    are kept for the next :meth:`read`.  While a frame is incomplete the socket waits at most
    ``frame_timeout`` for the rest; between frames it waits ``idle_timeout`` (None: for ever).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self._timeout = sock.gettimeout()

    def _wait(self, timeout: float | None) -> None:
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def read(self, idle_timeout: float | None, frame_timeout: float) -> bytes | None:
        """The next frame's payload; None when the peer closed between frames.

        Raises :class:`FrameError` for a bad length, a frame cut short, or a frame not completed
        within ``frame_timeout``; :class:`TimeoutError` when ``idle_timeout`` passed between
        frames.
        """
        buf = self.buf
        while True:
            if len(buf) >= 4:
                (n,) = _LENGTH.unpack_from(buf)
                if n == 0 or n > MAX_FRAME:
                    raise FrameError(f"frame length {n} outside 1..{MAX_FRAME}")
                if len(buf) >= 4 + n:
                    payload = bytes(buf[4 : 4 + n])
                    del buf[: 4 + n]
                    return payload
            inside = bool(buf)
            self._wait(frame_timeout if inside else idle_timeout)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                if inside:
                    raise FrameError(f"a frame was not completed within {frame_timeout:g} s"
                                     ) from None
                raise
            if not chunk:
                if inside:
                    raise FrameError(f"connection closed inside a frame ({len(buf)} bytes)")
                return None
            buf += chunk


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def encode(obj: dict[str, Any]) -> bytes:
    """Compact JSON, key order kept (the response forms above)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def call_answer(code: int, outputs: tuple[bytes, ...]) -> bytes:
    """``{"v":1,"code":N,"out":["HEX",...]}`` exactly."""
    outs = ",".join(f'"{o.hex().upper()}"' for o in outputs)
    return f'{{"v":{VERSION},"code":{int(code)},"out":[{outs}]}}'.encode("ascii")


def error_frame(message: str, code: int = BAD_PARAMETER) -> bytes:
    """An error answer: -14 for a frame that is not a request, -11 for a client the service will
    not serve (another user, too many clients)."""
    return encode({"v": VERSION, "code": code, "out": [], "error": message[:200]})


def failed_call(err: CallError) -> bytes:
    """The answer to a call that could not start: its text in pOutInfo when the function has one."""
    if err.sig is None:
        return encode({"v": VERSION, "code": err.code, "out": [], "error": err.text})
    outs = err.sig.outputs
    data = [b""] * len(outs)
    if err.sig.has_out_info:
        data[-1] = gbk.encode(err.text, outs[-1].size - 1)
    return call_answer(err.code, tuple(data))


# --- requests ----------------------------------------------------------------------------------


def parse_request(payload: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise FrameError("the frame is not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise FrameError("the frame is not a JSON object")
    if obj.get("v") != VERSION:
        raise FrameError(f"protocol version {obj.get('v')!r} is not supported (this is {VERSION})")
    if not isinstance(obj.get("op"), str):
        raise FrameError("the request has no 'op'")
    return obj


def _bad(sig: Signature, detail: str) -> CallError:
    return CallError(BAD_PARAMETER, f"{text_of(BAD_PARAMETER)}({detail})", sig)


def call_arguments(obj: dict[str, Any]) -> tuple[Signature, list[int | bytes]]:
    """Check a call's ``fn`` and ``args`` against the function's C signature."""
    fn = obj.get("fn")
    sig = SIGNATURES.get(fn) if isinstance(fn, str) else None
    if sig is None:
        shown = fn if isinstance(fn, str) else repr(fn)
        raise CallError(NOT_SUPPORTED, f"{text_of(NOT_SUPPORTED)}({shown[:60]})", None)
    args = obj.get("args")
    params = sig.arguments
    if not isinstance(args, list) or len(args) != len(params):
        raise _bad(sig, f"{sig.name}需要{len(params)}个参数")
    out: list[int | bytes] = []
    for value, param in zip(args, params, strict=True):
        if param.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool) or not (
                INT_MIN <= value <= INT_MAX
            ):
                raise _bad(sig, f"{param.name}须为整数")
            out.append(value)
            continue
        if not isinstance(value, str) or len(value) % 2:
            raise _bad(sig, f"{param.name}须为十六进制")
        try:
            data = bytes.fromhex(value)
        except ValueError:
            raise _bad(sig, f"{param.name}须为十六进制") from None
        if len(data) > param.size:
            raise _bad(sig, f"{param.name}超过{param.size}字节")
        out.append(data)
    return sig, out


# --- a Python client ------------------------------------------------------------------------------


class ServiceError(Exception):
    """The service could not be reached, or answered something that is not protocol v1."""


class ServiceClient:
    """A connection to the service: ``call(fn, args)``, ``hello()``, ``status()``."""

    def __init__(self, path: str, timeout: float | None = 330.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise ServiceError(f"no sscard service at {path} ({exc.strerror or exc})") from None

    def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            self.sock.sendall(frame(encode(obj)))
            payload = read_frame(self.sock)
        except (OSError, FrameError) as exc:
            raise ServiceError(f"the service connection failed: {exc}") from None
        if payload is None:
            raise ServiceError("the service closed the connection")
        try:
            answer = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ServiceError("the service answered something that is not JSON") from None
        if not isinstance(answer, dict) or answer.get("v") != VERSION:
            raise ServiceError("the service does not speak protocol v1")
        return answer

    def call(self, fn: str, args: list[int | bytes | str]) -> tuple[int, tuple[bytes, ...]]:
        """Call a national function; ``str`` inputs are sent as GBK."""
        wire: list[int | str] = []
        for a in args:
            if isinstance(a, int):
                wire.append(a)
            else:
                data = a.encode(gbk.CODEC) if isinstance(a, str) else bytes(a)
                wire.append(data.hex().upper())
        answer = self.request({"v": VERSION, "op": "call", "fn": fn, "args": wire})
        outs = answer.get("out")
        if not isinstance(answer.get("code"), int) or not isinstance(outs, list):
            raise ServiceError("malformed call answer")
        return answer["code"], tuple(bytes.fromhex(o) for o in outs)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
