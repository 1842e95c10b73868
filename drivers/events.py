"""Reader and card events from PC/SC, without pyscard's CardMonitor (issue 3 §1, issue 4 §4).

lessons-from-peers ("Readers and events"): pyscard's monitor thread dies silently when pcscd
restarts, once missed cards already present at start, and deadlocked when observers did card I/O.
So :func:`watch` is a plain generator on ``SCardGetStatusChange`` in the caller's thread:

- at start it reports every (selected) reader as ``reader_added`` and every card already present
  as ``inserted``;
- it waits on the readers and on the ``\\\\?PnP?\\Notification`` pseudo-reader (reader plugged or
  unplugged) in slices of at most :data:`POLL` seconds, and re-lists readers after each wake-up;
- when pcscd goes away it reports the readers (and cards) as gone, then re-establishes its context
  until pcscd is back, reporting them again: a watcher outlives a pcscd restart.

The consumer acts between events; nothing runs in a callback, so card I/O there is safe.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from apdu.errors import NoReaderError, ReaderGoneError, TransportError
from drivers.pcsc import (
    PNP_NOTIFICATION,
    _code,
    _list,
    error_for,
    establish_context,
    match_readers,
    release_context,
    scard,
)

EventKind = Literal["inserted", "removed", "reader_added", "reader_removed"]

#: longest single wait (s): bounds how late a pcscd restart or the overall timeout is noticed.
POLL = 0.5

#: PC/SC statuses meaning "the service (and so our context) is gone": reconnect, do not fail.
_SERVICE_LOST = ("SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED", "SCARD_E_INVALID_HANDLE")


@dataclass(frozen=True, slots=True)
class Event:
    """A change in a reader: a card in or out (with its ATR when in), a reader plugged or not."""

    kind: EventKind
    reader: str
    atr: bytes | None = None


def _present(state: int) -> bool:
    sc = scard()
    return bool(state & sc.SCARD_STATE_PRESENT) and not state & sc.SCARD_STATE_MUTE


def watch(
    selector: str | None = None, timeout: float | None = None, *, poll: float = POLL
) -> Iterator[Event]:
    """Yield :class:`Event` s for the readers ``selector`` names (all when None).

    ``timeout`` (seconds) ends the iteration; None watches forever.  The generator holds one
    PC/SC context, released when it is closed or finishes.
    """
    sc = scard()
    lost = {_code(getattr(sc, name)) for name in _SERVICE_LOST}
    deadline = None if timeout is None else time.monotonic() + timeout
    known: dict[str, int] = {}  # reader -> its last event state
    pnp_state = 0
    ctx: Any = None

    def left() -> float:
        return poll if deadline is None else min(poll, deadline - time.monotonic())

    def forget_all() -> Iterator[Event]:
        for reader, state in list(known.items()):
            if _present(state):
                yield Event("removed", reader)
            yield Event("reader_removed", reader)
        known.clear()

    try:
        while True:
            wait = left()
            if wait <= 0:
                return
            if ctx is None:
                try:
                    ctx = establish_context()
                except (NoReaderError, ReaderGoneError):  # pcscd not (yet) back
                    time.sleep(wait)
                    continue
            try:
                listed = _list(ctx)
            except TransportError:
                release_context(ctx)
                ctx = None
                yield from forget_all()
                continue
            readers = listed if selector is None else match_readers(selector, listed)
            for reader in [r for r in known if r not in readers]:
                if _present(known.pop(reader)):
                    yield Event("removed", reader)
                yield Event("reader_removed", reader)
            new = [r for r in readers if r not in known]
            if new:
                hr, states = sc.SCardGetStatusChange(
                    ctx, 0, [(r, sc.SCARD_STATE_UNAWARE) for r in new]
                )
                if _code(hr) in lost:
                    release_context(ctx)
                    ctx = None
                    yield from forget_all()
                    continue
                if hr != 0 and _code(hr) != _code(sc.SCARD_E_TIMEOUT):
                    raise error_for(hr)
                for reader, state, atr in states:
                    if state & sc.SCARD_STATE_UNKNOWN:
                        continue  # vanished between list and query; the next listing tells
                    known[reader] = state
                    yield Event("reader_added", reader)
                    if _present(state):
                        yield Event("inserted", reader, bytes(atr))
            wait = left()
            if wait <= 0:
                return
            query = [(r, known[r]) for r in readers if r in known]
            query.append((PNP_NOTIFICATION, pnp_state))
            hr, states = sc.SCardGetStatusChange(ctx, max(1, int(wait * 1000)), query)
            if _code(hr) == _code(sc.SCARD_E_TIMEOUT):
                continue
            if _code(hr) in lost:
                release_context(ctx)
                ctx = None
                yield from forget_all()
                continue
            if hr != 0:
                raise error_for(hr)
            for reader, state, atr in states:
                if reader == PNP_NOTIFICATION:
                    pnp_state = state & ~sc.SCARD_STATE_CHANGED
                    continue
                old = known.get(reader)
                if old is None or state & (sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_IGNORE):
                    continue  # a reader unplugged: reported by the next listing
                known[reader] = state
                was, now = _present(old), _present(state)
                if now and not was:
                    yield Event("inserted", reader, bytes(atr))
                elif was and not now:
                    yield Event("removed", reader)
    finally:
        if ctx is not None:
            release_context(ctx)
