"""PC/SC readers through pyscard's low-level API (issue 3 §1, tested end to end in issue 4 §4).

- Readers are chosen by index (``"0"``), exact name, or a case-insensitive substring / fnmatch
  pattern; an ambiguous or empty match lists the readers in the error.
- The protocol is chosen from the ATR (:mod:`apdu.atr`, card-profile §10): T=1 when offered, else
  T=0.  pySim found pyscard's automatic choice unreliable, so we never pass ``T0 | T1`` unless the
  ATR cannot be parsed.
- :meth:`PcscReader.transaction` brackets a workflow with SCardBeginTransaction /
  SCardEndTransaction (OpenSC's ``sc_lock``), so that no other program selects another file or
  rides on our verified PIN in between (lessons-from-peers: "Hold a PC/SC transaction").
- ``SCARD_W_RESET_CARD`` means another program reset the card: our security state (card-profile §2)
  is gone, so the workflow ends with ``CardRemovedError("card was reset by another program")`` and
  the handle is reconnected so that the next workflow can start over.
- Every PC/SC status is turned into a typed error of :mod:`apdu.errors` through :data:`ERRORS`.
- Reader control requests (``SCardControl``; PC/SC part 10 PIN pads, issue 13) use the session's
  handle, or a direct connection (``SCARD_SHARE_DIRECT``, no card needed) when there is none, so
  feature discovery works on an empty reader.  ``SCARD_E_UNSUPPORTED_FEATURE`` (vpcd's readers
  answer every control request so) is :class:`apdu.errors.ControlNotSupported`.

pyscard is imported lazily: everything else in sscard works without it.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from apdu import atr as atr_mod
from apdu.errors import (
    CardRemovedError,
    ControlNotSupported,
    DataFormatError,
    NoCardError,
    NoReaderError,
    ProtocolError,
    ReaderGoneError,
    TransportError,
)
from drivers.base import Protocol, Reader

SERVICE_DOWN = "PC/SC service not available (is pcscd running?)"
RESET_BY_OTHER = "card was reset by another program"

#: PC/SC status (pyscard constant name) -> (error class, message).  Context-dependent overrides
#: are in :data:`CONNECT_ERRORS` (before a session) and :data:`SESSION_ERRORS` (during one).
ERRORS: dict[str, tuple[type[TransportError], str]] = {
    "SCARD_E_NO_SERVICE": (NoReaderError, SERVICE_DOWN),
    "SCARD_E_SERVICE_STOPPED": (ReaderGoneError, "PC/SC service stopped (pcscd exited)"),
    "SCARD_E_INVALID_HANDLE": (ReaderGoneError, "PC/SC connection lost (pcscd restarted?)"),
    "SCARD_E_NO_READERS_AVAILABLE": (NoReaderError, "no smart card reader is connected"),
    "SCARD_E_UNKNOWN_READER": (NoReaderError, "reader not known to PC/SC"),
    "SCARD_E_READER_UNAVAILABLE": (ReaderGoneError, "the reader is gone (unplugged?)"),
    "SCARD_E_NO_SMARTCARD": (NoCardError, "no card in the reader"),
    "SCARD_E_TIMEOUT": (NoCardError, "no card arrived in time"),
    "SCARD_W_REMOVED_CARD": (CardRemovedError, "the card was removed"),
    "SCARD_W_RESET_CARD": (CardRemovedError, RESET_BY_OTHER),
    "SCARD_W_UNPOWERED_CARD": (TransportError, "the card is not powered"),
    "SCARD_W_UNRESPONSIVE_CARD": (TransportError, "the card does not answer (inserted wrongly?)"),
    "SCARD_W_UNSUPPORTED_CARD": (TransportError, "the reader cannot talk to this card"),
    "SCARD_E_SHARING_VIOLATION": (TransportError, "another program holds the card exclusively"),
    "SCARD_E_PROTO_MISMATCH": (TransportError, "the reader cannot use the card's protocol"),
    "SCARD_E_NOT_TRANSACTED": (TransportError, "the reader could not complete the exchange"),
    "SCARD_E_COMM_DATA_LOST": (TransportError, "communication with the card was lost"),
    "SCARD_F_COMM_ERROR": (TransportError, "communication error with the reader"),
    "SCARD_E_INSUFFICIENT_BUFFER": (ProtocolError, "the card sent more than the buffer holds"),
    "SCARD_E_CANCELLED": (TransportError, "the PC/SC operation was cancelled"),
    "SCARD_E_UNKNOWN_CARD": (TransportError, "unknown card"),
    "SCARD_E_CARD_UNSUPPORTED": (TransportError, "card not supported by the reader"),
    "SCARD_E_NO_MEMORY": (TransportError, "PC/SC is out of memory"),
    "SCARD_F_INTERNAL_ERROR": (TransportError, "PC/SC internal error"),
    "SCARD_F_UNKNOWN_ERROR": (TransportError, "PC/SC unknown error"),
    "SCARD_F_WAITED_TOO_LONG": (TransportError, "PC/SC waited too long"),
    "SCARD_E_UNSUPPORTED_FEATURE": (
        ControlNotSupported, "the reader does not support this control request"
    ),
}
#: Before a session exists, a card that is gone was simply never there.
CONNECT_ERRORS: dict[str, tuple[type[TransportError], str]] = {
    "SCARD_W_REMOVED_CARD": (NoCardError, "no card in the reader"),
}
#: During a session, "no card" means it was pulled out.
SESSION_ERRORS: dict[str, tuple[type[TransportError], str]] = {
    "SCARD_E_NO_SMARTCARD": (CardRemovedError, "the card was removed"),
}

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
#: Poll slice while waiting: on_waiting (a spinner) is called this often; bounds every wait.
WAIT_SLICE = 0.1


def scard() -> Any:
    """pyscard's low-level module, imported on first use."""
    try:
        from smartcard import scard as module
    except ImportError:  # pragma: no cover - depends on the installation
        raise NoReaderError("PC/SC support needs pyscard: pip install 'sscard[pcsc]'") from None
    return module


def _code(hr: int) -> int:
    return hr & 0xFFFFFFFF


def _name_of(hr: int) -> str | None:
    sc = scard()
    for name in (*ERRORS, *CONNECT_ERRORS, *SESSION_ERRORS):
        value = getattr(sc, name, None)
        if value is not None and _code(value) == _code(hr):
            return name
    return None


def error_for(hr: int, where: str = "", *, stage: str = "any") -> TransportError:
    """The typed error for PC/SC status ``hr``; ``stage`` is "connect", "session" or "any"."""
    name = _name_of(hr)
    entry = None
    if name is not None:
        overrides = {"connect": CONNECT_ERRORS, "session": SESSION_ERRORS}.get(stage, {})
        entry = overrides.get(name) or ERRORS.get(name)
    if entry is None:
        try:
            text = str(scard().SCardGetErrorMessage(hr)).strip()
        except Exception:  # noqa: BLE001 - the message is a nicety
            text = ""
        cls, message = TransportError, f"PC/SC error 0x{_code(hr):08X} {text}".strip()
    else:
        cls, message = entry
    return cls(f"{where}: {message}" if where else message)


def _check(hr: int, where: str = "", *, stage: str = "any") -> None:
    if hr != 0:
        raise error_for(hr, where, stage=stage)


# --- contexts and readers ---------------------------------------------------------------------


def establish_context() -> Any:
    sc = scard()
    try:
        hr, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    except sc.error as exc:  # pyscard raises instead of returning on some platforms
        raise NoReaderError(SERVICE_DOWN) from exc
    _check(hr)
    return ctx


def release_context(ctx: Any) -> None:
    try:
        scard().SCardReleaseContext(ctx)
    except Exception:  # noqa: BLE001 - releasing a dead context must not mask the real error
        pass


def _list(ctx: Any) -> list[str]:
    sc = scard()
    hr, readers = sc.SCardListReaders(ctx, [])
    if _code(hr) == _code(sc.SCARD_E_NO_READERS_AVAILABLE):
        return []
    _check(hr)
    return list(readers)


def list_readers() -> list[str]:
    """Names of the PC/SC readers, in pcscd's order (empty when there is none)."""
    ctx = establish_context()
    try:
        return _list(ctx)
    finally:
        release_context(ctx)


def match_readers(selector: str, readers: list[str]) -> list[str]:
    """The readers ``selector`` names: an index, an exact name, else a pattern or a substring."""
    sel = selector.strip()
    if sel.isdigit():
        i = int(sel)
        return [readers[i]] if i < len(readers) else []
    if sel in readers:
        return [sel]
    low = sel.lower()
    if any(ch in sel for ch in "*?["):
        return [r for r in readers if fnmatch.fnmatchcase(r.lower(), low)]
    return [r for r in readers if low in r.lower()]


def _describe(readers: list[str]) -> str:
    if not readers:
        return "no reader is connected"
    return "readers: " + ", ".join(f"{i}: {name}" for i, name in enumerate(readers))


def _resolve(selector: str, readers: list[str]) -> str:
    found = match_readers(selector, readers)
    if len(found) == 1:
        return found[0]
    if not found:
        raise NoReaderError(f"no reader matches {selector!r}; {_describe(readers)}")
    raise NoReaderError(f"{selector!r} matches {len(found)} readers; {_describe(readers)}")


def resolve_reader(selector: str) -> str:
    """The one reader name ``selector`` names; :class:`NoReaderError` listing readers otherwise."""
    return _resolve(selector, list_readers())


# --- waiting for a card -----------------------------------------------------------------------


def _card_ready(state: int) -> bool:
    sc = scard()
    return bool(state & sc.SCARD_STATE_PRESENT) and not state & sc.SCARD_STATE_MUTE


def _wait_present(
    ctx: Any,
    reader: str,
    timeout: float | None,
    on_waiting: Callable[[], None] | None = None,
) -> bytes:
    """Block until a responsive card is in ``reader``; return its ATR.

    The reader's current state is asked first (SCARD_STATE_UNAWARE), so a card already present is
    reported at once (pyscard's monitor once missed those).  ``timeout`` None or 0: no waiting.
    The wait goes in slices of :data:`WAIT_SLICE`, calling ``on_waiting`` (no card I/O there).
    """
    sc = scard()
    hr, states = sc.SCardGetStatusChange(ctx, 0, [(reader, sc.SCARD_STATE_UNAWARE)])
    _check(hr, reader, stage="connect")
    _, state, atr = states[0]
    if _card_ready(state):
        return bytes(atr)
    if not timeout:
        raise NoCardError(f"{reader}: no card in the reader")
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise NoCardError(f"{reader}: no card within {timeout:g} s")
        if on_waiting is not None:
            on_waiting()
        ms = max(1, int(min(left, WAIT_SLICE) * 1000))
        hr, states = sc.SCardGetStatusChange(ctx, ms, [(reader, state)])
        if _code(hr) == _code(sc.SCARD_E_TIMEOUT):
            continue
        _check(hr, reader, stage="connect")
        _, state, atr = states[0]
        if state & sc.SCARD_STATE_UNKNOWN:
            raise ReaderGoneError(f"{reader}: the reader is gone (unplugged?)")
        if _card_ready(state):
            return bytes(atr)


def wait_for_card(
    selector: str, timeout: float, on_waiting: Callable[[], None] | None = None
) -> str:
    """Wait up to ``timeout`` seconds for a card in the reader ``selector`` names; its name.

    A card already present returns at once.  :class:`NoCardError` on timeout.
    """
    ctx = establish_context()
    try:
        reader = _resolve(selector, _list(ctx))
        _wait_present(ctx, reader, timeout, on_waiting)
        return reader
    finally:
        release_context(ctx)


# --- the reader ---------------------------------------------------------------------------------


class PcscReader(Reader):
    """One PC/SC reader, shared mode, protocol from the ATR."""

    def __init__(
        self,
        selector: str,
        *,
        wait: float | None = None,
        on_waiting: Callable[[], None] | None = None,
    ) -> None:
        self.selector = selector
        self.name = selector
        self.wait = wait
        self.on_waiting = on_waiting
        self._ctx: Any = None
        self._hcard: Any = None
        self._atr = b""
        self._protocol: Protocol = "T0"
        self._pci: Any = None
        self._tx_depth = 0

    # -- session ---------------------------------------------------------------------------------

    def connect(self) -> bytes:
        if self._hcard is not None:
            self.disconnect()
        sc = scard()
        ctx = establish_context()
        try:
            name = _resolve(self.selector, _list(ctx))
            self.name = name
            atr = _wait_present(ctx, name, self.wait, self.on_waiting)
            wanted = self._protocols_for(atr)
            hr, hcard, active = sc.SCardConnect(ctx, name, sc.SCARD_SHARE_SHARED, wanted)
            _check(hr, name, stage="connect")
        except BaseException:
            release_context(ctx)
            raise
        self._ctx, self._hcard = ctx, hcard
        self._set_protocol(active)
        self._atr = self._status_atr() or atr
        return self._atr

    def disconnect(self) -> None:
        hcard, self._hcard = self._hcard, None
        ctx, self._ctx = self._ctx, None
        self._tx_depth = 0
        sc = scard() if (hcard is not None or ctx is not None) else None
        if hcard is not None and sc is not None:
            try:
                # Reset so that a PIN verified in our session does not outlive it [choice].
                sc.SCardDisconnect(hcard, sc.SCARD_RESET_CARD)
            except Exception:  # noqa: BLE001 - the card or pcscd may already be gone
                pass
        if ctx is not None:
            release_context(ctx)

    def reset(self) -> bytes:
        sc = scard()
        hcard = self._require()
        hr, active = sc.SCardReconnect(
            hcard, sc.SCARD_SHARE_SHARED, self._protocol_flag(), sc.SCARD_RESET_CARD
        )
        _check(hr, self.name, stage="session")
        self._set_protocol(active)
        self._atr = self._status_atr() or self._atr
        return self._atr

    @property
    def atr(self) -> bytes:
        self._require()
        return self._atr

    @property
    def protocol(self) -> Protocol:
        self._require()
        return self._protocol

    def transmit_raw(self, command: bytes) -> bytes:
        hcard = self._hcard
        if hcard is None:
            raise NoCardError(f"{self.name}: not connected to the card (call connect() first)")
        sc = scard()
        hr, response = sc.SCardTransmit(hcard, self._pci, list(command))
        if hr != 0:
            self._fail(hr)
        return bytes(response)

    def control(self, code: int, data: bytes = b"") -> bytes:
        """``SCardControl`` on the session's handle, or on a direct connection when none is open
        (no card needed: feature discovery on an empty reader)."""
        sc = scard()
        hcard = self._hcard
        if hcard is not None:
            hr, response = sc.SCardControl(hcard, code, list(data))
            if hr != 0:
                self._fail(hr)
            return bytes(response)
        ctx = establish_context()
        try:
            name = _resolve(self.selector, _list(ctx))
            hr, direct, _active = sc.SCardConnect(ctx, name, sc.SCARD_SHARE_DIRECT, 0)
            _check(hr, name, stage="connect")
            try:
                hr, response = sc.SCardControl(direct, code, list(data))
                _check(hr, name)
                return bytes(response)
            finally:
                try:
                    sc.SCardDisconnect(direct, sc.SCARD_LEAVE_CARD)
                except Exception:  # noqa: BLE001 - pcscd may be gone; the answer stands
                    pass
        finally:
            release_context(ctx)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """SCardBeginTransaction ... SCardEndTransaction around the block; re-entrant."""
        hcard = self._require()
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield
            finally:
                self._tx_depth -= 1
            return
        sc = scard()
        hr = sc.SCardBeginTransaction(hcard)
        if hr != 0 and _code(hr) == _code(sc.SCARD_W_RESET_CARD):
            # Reset by another program *between* workflows: no security state of ours is lost
            # yet, so re-attach and begin once more (OpenSC's sc_lock does the same).
            rc, active = sc.SCardReconnect(
                hcard, sc.SCARD_SHARE_SHARED, self._protocol_flag(), sc.SCARD_LEAVE_CARD
            )
            if rc != 0:
                self._fail(rc)
            self._set_protocol(active)
            hr = sc.SCardBeginTransaction(hcard)
        if hr != 0:
            self._fail(hr)
        self._tx_depth = 1
        try:
            yield
        finally:
            self._tx_depth = 0
            if self._hcard is hcard:
                try:
                    sc.SCardEndTransaction(hcard, sc.SCARD_LEAVE_CARD)
                except Exception:  # noqa: BLE001 - a gone card has no transaction to end
                    pass

    # -- helpers -----------------------------------------------------------------------------------

    def _require(self) -> Any:
        if self._hcard is None:
            raise NoCardError(f"{self.name}: not connected to the card (call connect() first)")
        return self._hcard

    def _fail(self, hr: int) -> None:
        """Raise the typed error for a failed exchange; after a foreign reset, reconnect first."""
        sc = scard()
        if _code(hr) == _code(sc.SCARD_W_RESET_CARD) and self._hcard is not None:
            try:  # make the handle usable again for the next workflow
                rc, active = sc.SCardReconnect(
                    self._hcard, sc.SCARD_SHARE_SHARED, self._protocol_flag(), sc.SCARD_LEAVE_CARD
                )
                if rc == 0:
                    self._set_protocol(active)
            except Exception:  # noqa: BLE001
                pass
            self._tx_depth = 0
        raise error_for(hr, self.name, stage="session")

    @staticmethod
    def _protocols_for(atr: bytes) -> int:
        sc = scard()
        try:
            chosen = atr_mod.preferred_protocol(atr)
        except DataFormatError:  # an ATR we cannot parse: let the reader choose
            return sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
        return sc.SCARD_PROTOCOL_T1 if chosen == "T1" else sc.SCARD_PROTOCOL_T0

    def _protocol_flag(self) -> int:
        sc = scard()
        return sc.SCARD_PROTOCOL_T1 if self._protocol == "T1" else sc.SCARD_PROTOCOL_T0

    def _set_protocol(self, active: int) -> None:
        sc = scard()
        if active == sc.SCARD_PROTOCOL_T1:
            self._protocol, self._pci = "T1", sc.SCARD_PCI_T1
        else:
            self._protocol, self._pci = "T0", sc.SCARD_PCI_T0

    def _status_atr(self) -> bytes:
        sc = scard()
        try:
            hr, _reader, _state, _proto, atr = sc.SCardStatus(self._hcard)
        except Exception:  # noqa: BLE001
            return b""
        return bytes(atr) if hr == 0 else b""

    def __repr__(self) -> str:
        state = "connected" if self._hcard is not None else "idle"
        return f"PcscReader({self.name!r}, {state})"
