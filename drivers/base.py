"""The one interface for a card in a reader (transport only).

A :class:`Reader` moves raw APDU bytes to one card and back; it knows nothing of status words
beyond what its transport needs.  T=0 response chaining (61xx / 6Cxx), tracing and APDU counting
live one level up, in :class:`drivers.channel.CardChannel`, so every transport shares them.

Transport failures are raised as the typed errors of :mod:`apdu.errors` (``NoCardError``,
``CardRemovedError``, ``ReaderGoneError``, ``NoReaderError``).

Reader control requests (``SCardControl``; PC/SC part 10 secure PIN entry, issue 13) go through
:meth:`Reader.control`; a reader without them raises :class:`apdu.errors.ControlNotSupported`.
:meth:`Reader.features` asks ``CM_IOCTL_GET_FEATURE_REQUEST`` and answers {feature tag: control
code} ({} for a reader with no part 10 features).  Control requests need no card: a PC/SC reader
opens a direct connection for them when none is open.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from apdu import part10
from apdu.errors import ControlNotSupported

Protocol = Literal["T0", "T1"]


class Reader(abc.ABC):
    """One reader slot holding (perhaps) one card."""

    #: a human name for messages and ``sscard readers``.
    name: str = "reader"
    #: True when this reader carries extended-length APDUs (ISO/IEC 7816-4: Le above 256) to the
    #: card on a T=1 link.  False by default: a CCID reader at the short-APDU exchange level
    #: refuses them, and PC/SC does not say which level a reader has (issue 15's photo read then
    #: uses short reads).
    extended_apdu: bool = False

    @abc.abstractmethod
    def connect(self) -> bytes:
        """Power the card (or attach to it) and return its ATR."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Release the card; idempotent."""

    @abc.abstractmethod
    def reset(self) -> bytes:
        """Warm-reset the card (security state is lost) and return the ATR."""

    @property
    @abc.abstractmethod
    def atr(self) -> bytes:
        """The ATR of the connected card."""

    @property
    @abc.abstractmethod
    def protocol(self) -> Protocol:
        """The protocol in use, chosen from the ATR."""

    @abc.abstractmethod
    def transmit_raw(self, command: bytes) -> bytes:
        """Send one command APDU, return data + SW1 SW2.  No 61xx/6Cxx handling here."""

    def control(self, code: int, data: bytes = b"") -> bytes:
        """One control request to the reader itself (not the card); its answer.

        The default reader takes none: :class:`ControlNotSupported`.
        """
        raise ControlNotSupported(f"{self.name}: this reader takes no control requests")

    def features(self) -> dict[int, int]:
        """PC/SC part 10 features: {feature tag: control code}; {} when the reader has none."""
        try:
            answer = self.control(part10.CM_IOCTL_GET_FEATURE_REQUEST)
        except ControlNotSupported:
            return {}
        return part10.parse_features(answer)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Exclusive access for a whole workflow (a PC/SC transaction); a no-op by default."""
        yield

    def __enter__(self) -> Reader:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()
