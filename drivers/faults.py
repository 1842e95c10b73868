"""A fault-injecting reader: the card is pulled out mid-workflow, or answers garbage (issue 6 §1).

A pharmacy terminal runs all day and holders pull their card out while it is being read.
:class:`FaultyReader` wraps any :class:`drivers.base.Reader` and makes that happen at an exact,
repeatable point, so a test can walk every APDU of a workflow and check that

- the workflow ends in :class:`apdu.errors.CardRemovedError` (the typed error of a removed card),
- the card is left in its old state or its new one (card-profile §6: the try counter is saved
  before the PIN comparison, so a removal never gives a free try nor half-changes a PIN).

Two kinds of removal, at the ``n``-th command put on the wire (0-based, GET RESPONSE and 6Cxx
re-sends included, because on a real T=0 card each is a separate exchange that can be torn):

- :meth:`FaultyReader.remove_before`: the command never reaches the card;
- :meth:`FaultyReader.remove_after`: the card receives and executes the command, but the answer is
  lost (the contacts opened while the card was answering).

In both cases the wrapped reader is disconnected (the card loses power: its volatile security
state is gone, card-profile §2) and every later exchange, ``atr``, ``protocol`` or ``reset``
raises :class:`CardRemovedError`, as a PC/SC reader reports ``SCARD_W_REMOVED_CARD``.
:meth:`FaultyReader.reinsert` puts the card back (a new ``connect`` is then needed).

:meth:`FaultyReader.corrupt` replaces the answer to the ``n``-th command with given bytes (the
command is delivered by default): the untrusted-response tests feed hostile answers that way.

Reader control requests (PC/SC part 10 PIN entry and feature discovery, issue 13) count as
exchanges too, in the same sequence: the card can be pulled out just before a PIN-pad VERIFY
(the pad never sends it) or while the card answers it (executed, answer lost), and a pad's answer
can be replaced like a card's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from apdu.errors import CardRemovedError, NoCardError
from drivers.base import Protocol, Reader


@dataclass(frozen=True, slots=True)
class _Corruption:
    response: bytes
    deliver: bool


class FaultyReader(Reader):
    """Wraps ``inner`` and injects removals and garbage answers at chosen APDU indexes."""

    def __init__(self, inner: Reader, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or f"faulty {inner.name}"
        #: command APDUs handed to :meth:`transmit_raw` since creation (or :meth:`reset_count`),
        #: including the one during which the card was removed.
        self.count = 0
        self._remove_before: int | None = None
        self._remove_after: int | None = None
        self._corrupt: dict[int, _Corruption] = {}
        #: True once the injected removal happened (until :meth:`reinsert`).
        self.removed = False
        #: index of the APDU at which the card was removed, and whether it was delivered.
        self.removed_at: int | None = None
        self.delivered_last: bool | None = None

    # -- the faults --------------------------------------------------------------------------------

    def remove_before(self, n: int) -> FaultyReader:
        """Pull the card out just before APDU ``n`` (0-based): that command is not delivered."""
        self._remove_before, self._remove_after = n, None
        return self

    def remove_after(self, n: int) -> FaultyReader:
        """Pull the card out while it answers APDU ``n``: executed, but the answer is lost."""
        self._remove_after, self._remove_before = n, None
        return self

    def corrupt(self, n: int, response: bytes, *, deliver: bool = True) -> FaultyReader:
        """Answer ``response`` (any bytes, even fewer than 2) to APDU ``n`` instead of the card's.

        With ``deliver`` the card still executes the command (its answer is replaced).
        """
        self._corrupt[n] = _Corruption(bytes(response), deliver)
        return self

    def clear(self) -> None:
        """Forget every scheduled fault (the count is kept)."""
        self._remove_before = self._remove_after = None
        self._corrupt.clear()

    def reset_count(self) -> None:
        self.count = 0

    def reinsert(self) -> None:
        """Put the removed card back in the slot; :meth:`connect` starts a new session."""
        self.removed = False
        self.clear()

    def _pull(self, index: int, delivered: bool) -> CardRemovedError:
        self.removed = True
        self.removed_at = index
        self.delivered_last = delivered
        self.inner.disconnect()  # the card loses power: volatile security state is gone (§2)
        when = "while answering" if delivered else "before"
        return CardRemovedError(f"the card was removed from {self.name} {when} APDU {index}")

    def _gone(self) -> CardRemovedError:
        return CardRemovedError(f"the card was removed from {self.name}")

    # -- Reader ------------------------------------------------------------------------------------

    def connect(self) -> bytes:
        if self.removed:
            raise NoCardError(f"no card in {self.name} (it was removed)")
        return self.inner.connect()

    def disconnect(self) -> None:
        if not self.removed:
            self.inner.disconnect()

    def reset(self) -> bytes:
        if self.removed:
            raise self._gone()
        return self.inner.reset()

    @property
    def atr(self) -> bytes:
        if self.removed:
            raise self._gone()
        return self.inner.atr

    @property
    def protocol(self) -> Protocol:
        if self.removed:
            raise self._gone()
        return self.inner.protocol

    def transmit_raw(self, command: bytes) -> bytes:
        return self._exchange(lambda: self.inner.transmit_raw(command))

    def control(self, code: int, data: bytes = b"") -> bytes:
        return self._exchange(lambda: self.inner.control(code, data))

    def _exchange(self, deliver: Callable[[], bytes]) -> bytes:
        if self.removed:
            raise self._gone()
        index = self.count
        self.count += 1
        if index == self._remove_before:
            raise self._pull(index, delivered=False)
        corruption = self._corrupt.get(index)
        if corruption is not None and not corruption.deliver:
            return corruption.response
        answer = deliver()
        if index == self._remove_after:
            raise self._pull(index, delivered=True)
        return corruption.response if corruption is not None else answer

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.inner.transaction():
            yield

    def __repr__(self) -> str:
        state = "removed" if self.removed else "present"
        return f"FaultyReader({self.inner!r}, {state}, {self.count} APDUs)"
