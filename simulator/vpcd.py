"""The simulator as a PC/SC reader: a client of vsmartcard's vpcd driver (issue 4).

vpcd is a pcscd reader driver that *listens* on TCP (Debian: ``/etc/reader.conf.d/vpcd``, port
35963 = 0x8C7B); a virtual card connects to it. Measured on Debian's vpcd 3.3: one pcscd reader
per port, two slots, ``Virtual PCD 00 00`` on port 35963 and ``Virtual PCD 00 01`` on 35964 (both
bound on 0.0.0.0). This server therefore opens ONE TCP connection per slot: the user card on port
P, the PSAM (card-profile §11) on P+1.

Wire format (both directions): 2-byte big-endian length, then the payload. A 1-byte payload from
vpcd is a control code: 0 power off, 1 power on, 2 reset, 4 get ATR (answered with the ATR frame;
vpcd polls it about every 0.4 s as its card-presence check). Any longer payload is a command APDU,
answered with response data + SW in one frame. A frame may arrive in pieces, so reads are
exact-length loops (vsmartcard's own vicc reads once and goes on with a truncated APDU).

Latency: Debian's vpcd writes the length and the payload with two ``send`` calls and leaves
Nagle on. Its payload then waits for our ACK of the 2-byte length, and Linux delays that ACK by
~40 ms: every APDU costs ~44 ms (measured here with a naive loop). We remove it on our side:
TCP_QUICKACK is re-armed after every ``recv`` (Linux clears it again on its own), so the length
is acknowledged at once; TCP_NODELAY plus one ``sendall`` of length+payload keeps our own answer
from waiting on vpcd's delayed ACK.

Insertion and removal: vpcd reports "no card" while nobody is connected to a slot, so ejecting a
slot closes its connection, and inserting (possibly another card) connects again.  SIGUSR1
toggles slot 0.  A user card in a slot holds its file's lock (simulator/store.py) for as long as
it is in the slot: inserting another file takes that file's lock and releases the old one, and
the server releases every card when it stops.  A card whose ATR cannot be served (empty, or over
the 33 bytes of ISO/IEC 7816-3 that pcscd keeps) is refused when it is loaded, not when vpcd first
asks for it.

The control channel is a UNIX socket in the user's private directory
(:func:`apdu.rundir.private_dir`; ``--control PATH`` elsewhere).  It is bound under a umask
of 0177, so it is never reachable by others, not even between bind and a chmod.  A stale socket
left by a dead server is removed only if it is a socket owned by this user that nobody answers
on; anything else at the path (a card file, a directory) is refused and left alone.  One request
per connection, one JSON object per line, which carries any path (spaces, newlines)::

    {"command": "insert", "slot": 0, "card": "/home/me/my cards/card.json"}
    {"command": "eject", "slot": 1}
    {"command": "status"}
    {"command": "keypad", "entry": "123456"}   (or "cancel", "timeout", "clear", "status")

(``keypad`` drives the PIN-pad reader served beside, issue 13) and one JSON line back:
``{"ok": true, "message": "slot 0 inserted"}`` or ``{"ok": false, "message": "..."}``
(``status`` answers the slot list, as JSON text, in ``message``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from apdu import status
from apdu.atr import MAX_ATR_LEN
from apdu.errors import SSCardError, UsageError
from apdu.jsonfile import file_type
from apdu.redact import describe_command
from apdu.rundir import private_dir
from apdu.text import printable
from simulator.card import VirtualCard, close_card, log_fault
from simulator.pinpad import ScriptedKeypad, keypad_command

log = logging.getLogger("sscard.vpcd")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963  # Debian's /etc/reader.conf.d/vpcd: CHANNELID 0x8C7B

#: vpcd control codes (a 1-byte frame).
VPCD_POWER_OFF = 0
VPCD_POWER_ON = 1
VPCD_RESET = 2
VPCD_GET_ATR = 4

_SW_NO_DIAGNOSIS = status.sw_bytes(status.NO_PRECISE_DIAGNOSIS)
_MAX_FRAME = 0xFFFF
#: ISO/IEC 7816-3: at most 33 ATR bytes (apdu.atr); pcscd keeps no more (MAX_ATR_SIZE).
MAX_ATR = MAX_ATR_LEN
#: The longest control request (a JSON object with a path of up to PATH_MAX bytes, escaped).
_MAX_CONTROL_LINE = 32768
#: sun_path of a UNIX socket address holds 108 bytes, the last a NUL.
_MAX_SOCKET_PATH = 107
#: the socket's name in the private directory.
CONTROL_NAME = "sim.sock"
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 1.0

_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def default_control_path(create: bool = False) -> str:
    """``sim.sock`` in the user's private directory (:func:`apdu.rundir.private_dir`:
    ``$XDG_RUNTIME_DIR/sscard/``, else ``/tmp/sscard-<uid>/``), which is checked (owner, mode
    0700, not a link) and, with ``create``, made."""
    return str(private_dir(create) / CONTROL_NAME)


def check_atr(card: VirtualCard) -> None:
    """UsageError unless the card's ATR can be served through vpcd and pcscd (module doc)."""
    size = len(card.atr)
    if not 1 <= size <= MAX_ATR:
        raise UsageError(
            f"this card's ATR has {size} bytes; a reader serves 1 to {MAX_ATR} (ISO/IEC 7816-3)"
        )


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT`` alone) as given to ``--vpcd``."""
    host, sep, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"--vpcd wants HOST:PORT, got {text!r}") from None
    if not 0 < number < 0xFFFF:
        raise UsageError(f"port out of range in {text!r}")
    return (host if sep and host else DEFAULT_HOST), number


def load_card_file(path: str | os.PathLike[str]) -> VirtualCard:
    """A user card or a PSAM from its JSON file, by the file's ``kind`` (simulator.loader)."""
    from simulator.loader import load_card

    return load_card(path)


def _quickack(sock: socket.socket) -> None:
    if _TCP_QUICKACK is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
        except OSError:
            pass


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """Exactly ``n`` bytes, or None when the peer closed first (a half frame is dropped).

    Hot path (every APDU reads two frames' worth): one ``recv`` nearly always brings the whole
    piece, and then that bytes object is returned as is, with no buffer and no copy; only a
    frame that arrives in pieces goes through the loop.
    """
    chunk = sock.recv(n)
    _quickack(sock)
    if len(chunk) == n:
        return chunk
    if not chunk:
        return None
    buf = bytearray(chunk)
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        _quickack(sock)
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


def safe_transmit(card: VirtualCard, command: bytes) -> bytes:
    """The card's answer; a card must never raise, but if one does the reader still answers 6F00."""
    try:
        response = card.transmit(command)
    except Exception as exc:  # noqa: BLE001 - the reader stays up whatever the card does
        log_fault("card raised", command, exc)  # one line; the traceback with SSCARD_DEBUG=1
        return _SW_NO_DIAGNOSIS
    if len(response) < 2 or len(response) > _MAX_FRAME:
        log.error("card answered %d bytes: not a response APDU", len(response))
        return _SW_NO_DIAGNOSIS
    return response


@dataclass
class _Slot:
    index: int
    port: int
    card: VirtualCard | None
    present: bool = True
    source: str | None = None
    sock: socket.socket | None = None
    connected: bool = False
    generation: int = 0  # bumped by every eject/insert/stop: a connection made before is stale
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Event = field(default_factory=threading.Event)


class VpcdServer:
    """Connect virtual cards to vpcd slots: ``slots[i]`` goes to ``port + i``.

    A slot holding None starts ejected. ``start()`` runs in background threads, ``serve_forever()``
    blocks until ``stop()`` (or a signal, see :func:`serve`).
    """

    def __init__(
        self,
        slots: Sequence[VirtualCard | None],
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        control_path: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.control_path = control_path
        for card in slots:
            if card is not None:
                check_atr(card)
        self._slots = [
            _Slot(i, port + i, card, present=card is not None) for i, card in enumerate(slots)
        ]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._control: socket.socket | None = None
        #: (st_dev, st_ino) of the socket this server bound: the only thing it will unlink.
        self._control_id: tuple[int, int] | None = None
        self.card_loader: Callable[[str], VirtualCard] = load_card_file
        #: the scripted keypad of the PIN-pad reader served beside (``keypad`` verb, issue 13).
        self.keypad: ScriptedKeypad | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start one thread per slot (and the control channel when a path was given)."""
        if self._threads:
            return
        if self.control_path:
            self._open_control(self.control_path)
        for slot in self._slots:
            t = threading.Thread(target=self._run_slot, args=(slot,), name=f"vpcd-slot{slot.index}")
            t.daemon = True
            t.start()
            self._threads.append(t)
        if self._control is not None:
            t = threading.Thread(target=self._run_control, name="vpcd-control", daemon=True)
            t.start()
            self._threads.append(t)

    def serve_forever(self) -> None:
        self.start()
        while not self._stopping.wait(0.2):
            pass
        self._join()

    def stop(self) -> None:
        """Close every connection (the cards see a power-off) and the control socket."""
        self._stopping.set()
        for slot in self._slots:
            self._drop(slot)
            slot.changed.set()
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._control.close()
        if threading.current_thread() not in self._threads:
            self._join()

    def _join(self) -> None:
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        if self.control_path and self._control is not None:
            self._unlink_own_socket(self.control_path)
            self._control = None

    def _unlink_own_socket(self, path: str) -> None:
        """Remove the control socket only if it is still the one this server bound."""
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == self._control_id:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def close_cards(self) -> None:
        """Release every card's file (call once the server has stopped)."""
        for slot in self._slots:
            if slot.card is not None:
                close_card(slot.card)

    # --- insertion and removal -------------------------------------------------------------------

    def eject(self, slot: int) -> None:
        """Pull the card out of ``slot``: its connection closes and vpcd reports no card."""
        s = self._slot(slot)
        s.present = False
        self._drop(s)
        s.changed.set()

    def insert(self, slot: int, card: VirtualCard | None = None) -> None:
        """Put ``card`` (or the slot's previous card) back into ``slot`` and connect again.
        A card replaced by another is closed (its file released): the slot owned it."""
        s = self._slot(slot)
        if card is not None:
            check_atr(card)
            old, s.card = s.card, card
            self._drop(s)
            if old is not None and old is not card:
                close_card(old)
        if s.card is None:
            raise UsageError(f"slot {slot} has no card to insert")
        s.present = True
        s.changed.set()

    def status(self) -> list[dict[str, object]]:
        return [
            {
                "slot": s.index,
                "port": s.port,
                "card": s.present and s.card is not None,
                "connected": s.connected,
                "file": s.source,
            }
            for s in self._slots
        ]

    def _slot(self, slot: int) -> _Slot:
        if not 0 <= slot < len(self._slots):
            raise UsageError(f"no slot {slot} (this server has {len(self._slots)})")
        return self._slots[slot]

    def _drop(self, s: _Slot) -> None:
        with s.lock:
            s.generation += 1
            sock = s.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # --- one slot --------------------------------------------------------------------------------

    def _run_slot(self, s: _Slot) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stopping.is_set():
            if not s.present or s.card is None:
                s.changed.wait(0.5)
                s.changed.clear()
                continue
            generation, card = s.generation, s.card
            try:
                sock = socket.create_connection((self.host, s.port), timeout=2.0)
            except OSError as exc:
                log.debug(
                    "slot %d: vpcd at %s:%d not reachable (%s)", s.index, self.host, s.port, exc
                )
                s.changed.wait(backoff)
                s.changed.clear()
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            backoff = _BACKOFF_FIRST
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _quickack(sock)
            with s.lock:
                # eject/insert/stop that ran while we connected saw no socket to shut: check here.
                stale = self._stopping.is_set() or generation != s.generation
                if not stale:
                    s.sock = sock
            if stale:
                sock.close()
                continue
            s.connected = True
            log.info("slot %d: connected to vpcd at %s:%d", s.index, self.host, s.port)
            try:
                self._serve_connection(sock, card)
            except OSError as exc:
                log.info("slot %d: connection lost (%s)", s.index, exc)
            finally:
                with s.lock:
                    s.sock = None
                s.connected = False
                with contextlib.suppress(OSError):
                    sock.close()
                # The reader went away or the card was pulled: the card lost power (§2).
                with contextlib.suppress(Exception):
                    card.power_off()
            log.info("slot %d: disconnected", s.index)

    def _serve_connection(self, sock: socket.socket, card: VirtualCard) -> None:
        # The per-APDU path: no logging call, no describe_command, no struct, unless DEBUG is on
        # (decided once per connection); the response goes out in one sendall (see module doc).
        debug = log.isEnabledFor(logging.DEBUG)
        sendall = sock.sendall
        while True:
            header = _recv_exact(sock, 2)
            if header is None:
                return
            length = (header[0] << 8) | header[1]
            if length > 1:
                payload = _recv_exact(sock, length)
                if payload is None:
                    return
                response = safe_transmit(card, payload)
                sendall(len(response).to_bytes(2, "big") + response)
                if debug:
                    log.debug("> %s", describe_command(payload))
                    log.debug("< %s", response.hex(" ").upper())
                continue
            if length == 0:
                log.warning("empty vpcd frame ignored")
                continue
            payload = _recv_exact(sock, 1)
            if payload is None:
                return
            code = payload[0]
            if code == VPCD_GET_ATR:
                sendall(_frame(card.atr))
            elif code == VPCD_POWER_ON:
                card.power_on()
            elif code == VPCD_RESET:
                card.reset()
            elif code == VPCD_POWER_OFF:
                card.power_off()
            else:
                log.warning("unknown vpcd control code %d ignored", code)

    # --- control channel -------------------------------------------------------------------------

    def _open_control(self, path: str) -> None:
        if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
            raise UsageError(
                f"control path is {len(os.fsencode(path))} bytes long; a UNIX socket path holds "
                f"at most {_MAX_SOCKET_PATH}: choose a shorter --control"
            )
        _clear_stale_socket(path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: never reachable by others
        try:
            srv.bind(path)
        except OSError as exc:
            srv.close()
            raise UsageError(f"cannot create the control socket {path}: {exc.strerror}") from None
        finally:
            os.umask(old)
        st = os.lstat(path)
        self._control_id = (st.st_dev, st.st_ino)
        srv.listen(4)
        self._control = srv

    def _run_control(self) -> None:
        assert self._control is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._control.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5.0)
                try:
                    line = conn.makefile("rb").readline(_MAX_CONTROL_LINE)
                    conn.sendall(self.handle_control(line) + b"\n")
                except OSError:
                    continue

    def handle_control(self, line: bytes) -> bytes:
        """One request line (module docstring) -> one JSON answer line (without its newline)."""
        try:
            ok, message = True, self._control_request(_parse_request(line))
        except SSCardError as exc:
            ok, message = False, str(exc)
        return json.dumps({"ok": ok, "message": message}, ensure_ascii=False).encode("utf-8")

    def _control_request(self, request: dict[str, object]) -> str:
        verb = request["command"]
        if verb == "status":
            return json.dumps(self.status())
        if verb == "keypad":
            return self.handle_keypad(request)
        slot = request.get("slot")
        if not isinstance(slot, int) or isinstance(slot, bool):
            raise UsageError(f"{verb}: 'slot' must be a slot number")
        if verb == "eject":
            self.eject(slot)
            return f"slot {slot} ejected"
        target = self._slot(slot)
        path = request.get("card")
        if path is None:
            self.insert(slot)
        elif not isinstance(path, str) or not path or "\0" in path:
            raise UsageError("insert: 'card' must be a file path")
        elif _same_file(target.source, path) and target.card is not None:
            self.insert(slot)  # the card this slot holds (and whose file it locks) goes back in
        else:
            self.insert(slot, self.card_loader(path))
            target.source = path
        return f"slot {slot} inserted"

    # --- PIN pad (issue 13): the one control verb of the PIN-pad reader, kept apart -------------

    def handle_keypad(self, request: dict[str, object]) -> str:
        """``{"command": "keypad", "entry": DIGITS|cancel|timeout|clear|status}``
        (simulator.pinpad.keypad_command)."""
        entry = request.get("entry")
        if not isinstance(entry, str):
            raise UsageError("keypad: 'entry' must be digits, cancel, timeout, clear or status")
        return keypad_command(self.keypad, [entry])


def _parse_request(line: bytes) -> dict[str, object]:
    """A control request: a JSON object with a known ``command``; else UsageError."""
    try:
        request = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        request = None
    if not isinstance(request, dict):
        raise UsageError('a control request is one JSON object: {"command": ..., ...}')
    verb = request.get("command")
    fields = _REQUEST_FIELDS.get(verb) if isinstance(verb, str) else None
    if fields is None:
        raise UsageError(
            "unknown command: eject SLOT | insert SLOT [CARD.json] | status | keypad ENTRY"
        )
    extra = set(request) - fields - {"command"}
    if extra:
        raise UsageError(f"{verb}: unknown field {sorted(extra)[0][:40]!r}")
    return request


#: command -> the fields it takes besides "command".
_REQUEST_FIELDS: dict[str, set[str]] = {
    "status": set(),
    "eject": {"slot"},
    "insert": {"slot", "card"},
    "keypad": {"entry"},
}


def _same_file(a: str | None, b: str) -> bool:
    return a is not None and os.path.realpath(a) == os.path.realpath(b)


def _clear_stale_socket(path: str) -> None:
    """Remove a dead server's socket at ``path``; refuse anything else that is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"control path {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise UsageError(
            f"control path {path} is {file_type(st.st_mode)}, not a socket: refused "
            "(nothing was removed; choose another --control)"
        )
    if st.st_uid != os.geteuid():
        raise UsageError(f"control socket {path} belongs to uid {st.st_uid}: refused")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)  # a socket of ours nobody listens on: a dead server's
            return
        except OSError as exc:
            raise UsageError(f"control socket {path}: {exc.strerror}") from None
    raise UsageError(f"another simulator server answers on {path}")


def parse_command(text: str) -> dict[str, object]:
    """The request for a command written as text: ``status``, ``eject N``, ``insert N`` or
    ``insert N PATH`` (PATH is the rest of the line, spaces included)."""
    words = text.strip().split(maxsplit=2)
    if not words:
        raise UsageError("empty command")
    request: dict[str, object] = {"command": words[0].lower()}
    if request["command"] == "keypad":
        if len(words) != 2:
            raise UsageError("keypad DIGITS | cancel | timeout | clear | status")
        request["entry"] = words[1]
        return request
    if len(words) > 1:
        try:
            request["slot"] = int(words[1])
        except ValueError:
            raise UsageError(f"slot must be a number, got {words[1][:20]!r}") from None
    if len(words) > 2:
        request["card"] = words[2]
    return request


def control(
    command: str | dict[str, object], path: str | None = None, timeout: float = 10.0
) -> str:
    """Send one request to a running server (a dict, or text for :func:`parse_command`); return
    its message (UsageError when it refused).  The default path's directory is checked first:
    a card path is never sent to a socket someone else could have put there."""
    request = parse_command(command) if isinstance(command, str) else command
    target = path or default_control_path()
    payload = json.dumps(request, ensure_ascii=False).encode("utf-8") + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(target)
            sock.sendall(payload)
            line = sock.makefile("rb").readline(_MAX_CONTROL_LINE)
        except OSError as exc:
            raise UsageError(
                f"no simulator server on {target} ({exc.strerror or exc})"
            ) from None
    try:
        answer = json.loads(line.decode("utf-8"))
        ok, message = answer["ok"], str(answer["message"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise UsageError(f"no usable answer from the server on {target}") from None
    if ok is not True:
        raise UsageError(message or "the server refused")
    return message


def serve(
    card_path: str | os.PathLike[str],
    psam_path: str | os.PathLike[str] | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    control_path: str | None = None,
    *,
    pinpad_socket: str | None = None,
    pinpad_card: str | os.PathLike[str] | None = None,
    keypad: str = "control",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the user card on ``port`` and the PSAM on ``port + 1`` until SIGINT/SIGTERM.

    SIGUSR1 toggles slot 0 (eject / insert the same card).  With ``pinpad_socket`` a PIN-pad
    reader (``libifd-sscard.so``, :mod:`simulator.ifdserver`) is served there too, holding
    ``pinpad_card``, or else the user card (vpcd slot 0 then starts empty).
    ``on_ready(control_path)`` is called once the cards are loaded and the control socket is
    bound (what ``sim serve`` announces).
    """
    cards: list[VirtualCard | None] = [load_card_file(card_path)]
    sources: list[str | os.PathLike[str] | None] = [card_path, psam_path]
    pad, scripted = None, None
    pad_card: VirtualCard | None = None
    try:
        if psam_path is not None:
            cards.append(load_card_file(psam_path))
        if pinpad_socket:
            from simulator.ifdserver import start_pinpad

            if pinpad_card is not None:
                pad_card = load_card_file(pinpad_card)
            else:  # the user card goes into the PIN pad: one card is in one reader
                pad_card, cards[0], sources[0] = cards[0], None, None
            pad, scripted = start_pinpad(pinpad_socket, pad_card, keypad)
        server = VpcdServer(
            cards,
            host=host,
            port=port,
            control_path=control_path or default_control_path(create=True),
        )
    except BaseException:
        if pad is not None:
            pad.stop()
        for card in [*cards, pad_card]:
            close_card(card)
        raise
    server.keypad = scripted
    for slot, source in zip(server._slots, sources, strict=False):
        slot.source = str(source) if source is not None else None

    def _stop(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        server.stop()

    def _toggle(signum: int, frame: object) -> None:
        if server._slots[0].present:
            server.eject(0)
        else:
            server.insert(0)

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, _toggle)
    try:
        server.start()
        log.info("serving %s on %s:%d (control %s)", card_path, host, port, server.control_path)
        if on_ready is not None:
            on_ready(str(server.control_path))
        server.serve_forever()
    finally:
        if pad is not None:
            pad.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close_cards()
        close_card(pad_card)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m simulator.vpcd --card CARD.json [--psam PSAM.json] [--vpcd HOST:PORT]``."""
    p = argparse.ArgumentParser(prog="python -m simulator.vpcd", description=serve.__doc__)
    p.add_argument("--card", required=True)
    p.add_argument("--psam")
    p.add_argument("--vpcd", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}")
    p.add_argument("--control")
    p.add_argument("--pinpad-socket")
    p.add_argument("--pinpad-card")
    p.add_argument("--keypad", choices=("control", "terminal"), default="control")
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose > 1
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        host, port = parse_hostport(args.vpcd)
        serve(Path(args.card), args.psam, host, port, args.control,
              pinpad_socket=args.pinpad_socket, pinpad_card=args.pinpad_card, keypad=args.keypad)
    except SSCardError as exc:
        print(f"sscard: {printable(str(exc))}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
