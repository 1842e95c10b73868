"""The simulated PIN-pad reader's server: the firmware side of ``libifd-sscard.so`` (issue 13).

pcscd loads the C reader driver ``libifd-sscard.so`` (``simulator/ifd/``), which connects to this
server over a Unix socket and turns every reader operation into one request of the protocol in
``simulator/ifd/PROTOCOL.md``: presence, power, APDUs and control requests.  This server holds
one card slot and a :class:`simulator.pinpad.PinPadFirmware`, so a PC/SC program sees a PIN-pad
reader: ``GET_FEATURE_REQUEST`` lists VERIFY/MODIFY_PIN_DIRECT, and a VERIFY structure is filled
from the simulator's keypad and sent to the card; the digits exist only in this process.

- One driver connection at a time; a newer one replaces the older (pcscd restarted).  The card
  loses power when its connection closes (the reader went away), as a real card does.
- A control request runs in a worker thread; while it waits on the keypad the connection sends
  WAIT frames every :data:`KEEPALIVE` seconds, so the driver's idle timeout never fires during a
  PIN entry and still bounds a server that hangs.
- Malformed input (a bad frame, an oversized length, an unknown request) never stops the server:
  the connection is answered ERROR or closed, and the next one is served.
- Logs name requests and status words; APDUs go through :func:`apdu.redact.describe_command` and
  control structures through :func:`apdu.redact.describe_control` (templates only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from dataclasses import dataclass

from apdu import status
from apdu.errors import ControlNotSupported, NoCardError, SSCardError, UsageError
from apdu.redact import describe_command, describe_control
from simulator.card import VirtualCard, log_fault
from simulator.pinpad import CardLink, Keypad, PinPadFirmware, ScriptedKeypad, TerminalKeypad

log = logging.getLogger("sscard.ifd")

PROTOCOL_VERSION = 1
SERVER_NAME = b"sscard pinpad"

# Request types (driver -> firmware).
REQ_HELLO = 0x01
REQ_PRESENCE = 0x02
REQ_POWER_ON = 0x03
REQ_POWER_OFF = 0x04
REQ_RESET = 0x05
REQ_APDU = 0x06
REQ_CONTROL = 0x07

# Reply types (firmware -> driver).
REP_OK = 0x80
REP_NO_CARD = 0x81
REP_NOT_SUPPORTED = 0x82
REP_ERROR = 0x83
REP_WAIT = 0x84

# PRESENCE answers.
ABSENT = 0
PRESENT = 1
POWERED = 2

HEADER_SIZE = 5
MAX_PAYLOAD = 65552
#: seconds between WAIT frames while a request waits on the keypad.
KEEPALIVE = 0.5
#: an idle connection is dropped after this long without a request (pcscd polls every 0.4 s).
IDLE_CONNECTION = 600.0


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One frame of the protocol: type, 4-byte big-endian length, payload."""
    return bytes((kind,)) + len(payload).to_bytes(4, "big") + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


@dataclass
class _Reply:
    kind: int
    payload: bytes = b""


class IfdServer:
    """One PIN-pad reader slot served on the Unix socket ``path``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        card: VirtualCard | None = None,
        firmware: PinPadFirmware | None = None,
        *,
        keepalive: float = KEEPALIVE,
    ) -> None:
        self.path = os.fspath(path)
        self.firmware = firmware
        self.keepalive = keepalive
        self._card = card
        self._powered = False
        self._lock = threading.RLock()  # the card: power, APDUs, the firmware's APDU
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._conn_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        #: connections served since start (tests wait on it).
        self.connections = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._listener is not None:
            return
        self._listener = _bind_unix(self.path)
        t = threading.Thread(target=self._accept_loop, name="ifd-accept", daemon=True)
        t.start()
        self._threads.append(t)
        log.info("PIN-pad reader on %s", self.path)

    def stop(self) -> None:
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                listener.close()
        self._drop_connection()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._power_off()

    def __enter__(self) -> IfdServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the slot ---------------------------------------------------------------------------------

    @property
    def card(self) -> VirtualCard | None:
        return self._card

    def eject(self) -> None:
        """Pull the card out: it loses power; the driver sees no card at its next poll."""
        with self._lock:
            self._power_off()
            self._card = None

    def insert(self, card: VirtualCard) -> None:
        """Put ``card`` in the slot (a card already there is pulled out first)."""
        with self._lock:
            self._power_off()
            self._card = card

    def _power_off(self) -> None:
        with self._lock:
            if self._powered and self._card is not None:
                with contextlib.suppress(Exception):
                    self._card.power_off()
            self._powered = False

    def _transmit_to(self, card: VirtualCard, command: bytes) -> bytes:
        """The firmware's way to the card: only while that card is still in and powered."""
        with self._lock:
            if self._card is not card or not self._powered:
                raise NoCardError("the card was pulled out of the PIN pad")
            return _safe_transmit(card, command)

    # -- connections ------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if self._drop_connection():  # the newest driver connection wins: a new pcscd
                self._power_off()
            with self._conn_lock:
                self._conn = conn
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), name="ifd-conn", daemon=True)
            t.start()
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _drop_connection(self) -> bool:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return False
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        return True

    def _serve(self, conn: socket.socket) -> None:
        log.info("driver connected")
        conn.settimeout(IDLE_CONNECTION)
        try:
            while not self._stopping.is_set():
                header = _recv_exact(conn, HEADER_SIZE)
                if header is None:
                    return
                kind, length = header[0], int.from_bytes(header[1:], "big")
                if length > MAX_PAYLOAD:
                    log.warning("frame of %d bytes refused; connection closed", length)
                    return
                payload = _recv_exact(conn, length)
                if payload is None:
                    return
                reply = self._dispatch(conn, kind, payload)
                conn.sendall(frame(reply.kind, reply.payload))
                if kind == REQ_HELLO and reply.kind != REP_OK:
                    return  # a driver of another protocol version: nothing more to say
        except OSError as exc:
            log.info("driver connection lost (%s)", exc)
        finally:
            with self._conn_lock:
                mine = self._conn is conn
                if mine:
                    self._conn = None
            with contextlib.suppress(OSError):
                conn.close()
            if mine:
                self._power_off()  # the reader went away: the card lost power
            log.info("driver disconnected")

    # -- requests ---------------------------------------------------------------------------------

    def _dispatch(self, conn: socket.socket, kind: int, payload: bytes) -> _Reply:
        try:
            if kind == REQ_HELLO:
                if not payload or payload[0] != PROTOCOL_VERSION:
                    return _Reply(REP_ERROR, b"protocol version 1 only")
                return _Reply(REP_OK, bytes((PROTOCOL_VERSION,)) + SERVER_NAME)
            if kind == REQ_PRESENCE:
                with self._lock:
                    state = ABSENT if self._card is None else POWERED if self._powered else PRESENT
                return _Reply(REP_OK, bytes((state,)))
            if kind in (REQ_POWER_ON, REQ_RESET):
                return self._power(kind)
            if kind == REQ_POWER_OFF:
                self._power_off()
                return _Reply(REP_OK)
            if kind == REQ_APDU:
                return self._apdu(payload)
            if kind == REQ_CONTROL:
                return self._control(conn, payload)
            return _Reply(REP_ERROR, f"unknown request {kind:#04x}".encode())
        except SSCardError as exc:
            return _Reply(REP_ERROR, str(exc).encode("utf-8", "replace"))

    def _power(self, kind: int) -> _Reply:
        with self._lock:
            card = self._card
            if card is None:
                return _Reply(REP_NO_CARD)
            atr = card.reset() if kind == REQ_RESET and self._powered else card.power_on()
            self._powered = True
        return _Reply(REP_OK, bytes(atr))

    def _apdu(self, command: bytes) -> _Reply:
        with self._lock:
            card = self._card
            if card is None or not self._powered:
                return _Reply(REP_NO_CARD)
            response = _safe_transmit(card, command)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("> %s", describe_command(command))
            log.debug("< %s", response.hex(" ").upper())
        return _Reply(REP_OK, response)

    def _control(self, conn: socket.socket, payload: bytes) -> _Reply:
        if len(payload) < 4:
            return _Reply(REP_ERROR, b"CONTROL needs a 4-byte control code")
        firmware = self.firmware
        if firmware is None:
            return _Reply(REP_NOT_SUPPORTED)
        code, data = int.from_bytes(payload[:4], "big"), payload[4:]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("> %s", describe_control(code, data, firmware.feature_of(code)))
        with self._lock:
            card = self._card if self._powered else None
        link: CardLink | None = None
        if card is not None:
            powered = card

            def link(command: bytes) -> bytes:
                return self._transmit_to(powered, command)

        result: list[_Reply] = []
        done = threading.Event()

        def work() -> None:
            try:
                result.append(_Reply(REP_OK, firmware.control(code, data, link)))
            except ControlNotSupported as exc:
                log.info("%s", exc)
                result.append(_Reply(REP_NOT_SUPPORTED))
            except NoCardError:
                result.append(_Reply(REP_NO_CARD))
            except SSCardError as exc:  # e.g. --keypad terminal without a terminal
                log.error("PIN pad: %s", exc)
                result.append(_Reply(REP_ERROR, str(exc).encode("utf-8", "replace")))
            except Exception as exc:  # noqa: BLE001 - the reader answers whatever happens
                log.exception("PIN-pad firmware failed")
                result.append(_Reply(REP_ERROR, str(exc).encode("utf-8", "replace")))
            finally:
                done.set()

        threading.Thread(target=work, name="ifd-control", daemon=True).start()
        while not done.wait(self.keepalive):
            conn.sendall(frame(REP_WAIT))  # OSError: the driver is gone; _serve cleans up
        return result[0]


_NO_DIAGNOSIS = status.sw_bytes(status.NO_PRECISE_DIAGNOSIS)


def _safe_transmit(card: VirtualCard, command: bytes) -> bytes:
    """The card's answer; a card must never raise, but if one does the reader answers 6F00."""
    try:
        response = bytes(card.transmit(command))
    except Exception as exc:  # noqa: BLE001 - the reader stays up whatever the card does
        log_fault("card raised", command, exc)  # one line; the traceback with SSCARD_DEBUG=1
        return _NO_DIAGNOSIS
    return response if 2 <= len(response) <= MAX_PAYLOAD else _NO_DIAGNOSIS


def _bind_unix(path: str) -> socket.socket:
    """Listen on ``path`` (owner-only); a stale socket is replaced, a live server refused."""
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # left by a server that died
        else:
            raise UsageError(f"another PIN-pad server answers on {path}")
        finally:
            probe.close()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(path)
    except OSError as exc:
        srv.close()
        raise UsageError(f"cannot listen on {path}: {exc}") from None
    os.chmod(path, 0o600)
    srv.listen(4)
    return srv


def make_keypad(mode: str) -> tuple[Keypad, ScriptedKeypad | None]:
    """``control``: a :class:`ScriptedKeypad` fed by ``sscard sim keypad``; ``terminal``: asks
    on the simulator's own terminal.  Returns the keypad and the scripted one (or None)."""
    if mode == "control":
        scripted = ScriptedKeypad()
        return scripted, scripted
    if mode == "terminal":
        return TerminalKeypad(), None
    raise UsageError(f"--keypad is control or terminal, not {mode!r}")


def start_pinpad(
    path: str | os.PathLike[str], card: VirtualCard | None, keypad_mode: str = "control"
) -> tuple[IfdServer, ScriptedKeypad | None]:
    """A running PIN-pad reader server on ``path`` holding ``card`` (``sscard sim serve``)."""
    keypad, scripted = make_keypad(keypad_mode)
    server = IfdServer(path, card, PinPadFirmware(keypad))
    server.start()
    return server, scripted
