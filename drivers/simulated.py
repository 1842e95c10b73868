"""The in-process reader: a software card (:class:`simulator.card.VirtualCard`) in a virtual slot.

It behaves like a PC/SC slot where it matters to a terminal (issue 3 §1): ``connect`` powers the
card and returns its ATR (card-profile §10), the protocol comes from that ATR (:mod:`apdu.atr`),
and a card pulled out with :meth:`SimulatedReader.remove` makes the next exchange fail with
:class:`apdu.errors.CardRemovedError`, as a real card does mid-read.  Power-off and reset clear the
card's security state (card-profile §2) because the card itself does so.

With ``pin_pad`` (a :class:`simulator.pinpad.PinPadFirmware`) the slot is a PIN-pad reader:
:meth:`SimulatedReader.control` hands part 10 requests to that firmware, which takes the digits
from its keypad and sends the filled APDU to the powered card (issue 13).  Without one, control
requests raise :class:`apdu.errors.ControlNotSupported`, as on a reader with no PIN pad.

A slot made from a card file (:meth:`SimulatedReader.from_file`) owns that card: the card holds its
file's lock from the moment the file is opened until :meth:`SimulatedReader.disconnect` (or
:meth:`~SimulatedReader.close`), so no other process can use a stale copy of the card meanwhile
(simulator/store.py); connecting again opens the file again, with whatever state it holds then.

The exchange path is deliberately thin (one attribute test and one call): the whole in-process
stack must cost at most twice a bare ``card.transmit`` (see ``bench/bench_drivers.py``).  Nothing
is logged here; tracing is :class:`drivers.channel.CardChannel`'s job, and only when asked.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

from apdu import atr as atr_mod
from apdu.errors import CardRemovedError, DataFormatError, NoCardError
from drivers.base import Protocol, Reader

if TYPE_CHECKING:  # the simulator is hosted in-process only; no import at module load
    from simulator.card import VirtualCard
    from simulator.pinpad import PinPadFirmware


def _protocol_of(answer: bytes) -> Protocol:
    """T=1 when the ATR offers it; T=0 also for a malformed ATR (a deliberately defective card)."""
    try:
        return atr_mod.preferred_protocol(answer)
    except DataFormatError:
        return "T0"


class SimulatedReader(Reader):
    """A virtual slot for one :class:`VirtualCard`; insert and remove cards at will."""

    #: the in-process link hands any APDU to the card, extended ones included (on T=1).
    extended_apdu = True

    def __init__(
        self,
        card: VirtualCard | None = None,
        name: str = "sscard simulator",
        *,
        pin_pad: PinPadFirmware | None = None,
    ) -> None:
        self.name = name
        #: the PIN-pad firmware of this slot (None: a reader without PIN pad).
        self.pin_pad = pin_pad
        self._card: VirtualCard | None = card
        #: the card file this slot opened itself (from_file): closed on disconnect, reopened
        #: on the next connect.
        self._source: str | PathLike[str] | None = None
        self._lock_wait: float | None = None
        #: the card powered for the current session (None: not connected, or card pulled out).
        self._live: VirtualCard | None = None
        self._atr: bytes = b""
        self._protocol: Protocol = "T0"
        #: True once the session's card was removed: exchanges then raise CardRemovedError.
        self._removed = False

    # -- construction from the simulator's files -----------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | PathLike[str],
        *,
        lock_wait: float | None = None,
        pin_pad: PinPadFirmware | None = None,
    ) -> SimulatedReader:
        """A slot holding the card saved at ``path`` (a user card or a PSAM file), opened now
        (a bad or busy file fails here, waiting up to ``lock_wait`` seconds for another holder)."""
        from simulator.loader import load_card

        reader = cls(
            load_card(path, wait=lock_wait), name=f"sscard simulator ({path})", pin_pad=pin_pad
        )
        reader._source, reader._lock_wait = path, lock_wait
        return reader

    @classmethod
    def sample(
        cls, generation: int = 3, *, pin_pad: PinPadFirmware | None = None
    ) -> SimulatedReader:
        """A slot holding the built-in sample card of ``generation`` (2 or 3)."""
        from simulator.samples import sample_card

        return cls(sample_card(generation), pin_pad=pin_pad)

    # -- the slot --------------------------------------------------------------------------------

    @property
    def card(self) -> VirtualCard | None:
        """The card in the slot (None when empty)."""
        return self._card

    def insert(self, card: VirtualCard) -> None:
        """Put ``card`` in the slot; a card already there is pulled out first (ends its session)."""
        if self._card is not None:
            self.remove()
        self._card = card

    def remove(self) -> None:
        """Pull the card out: power is lost, and the session (if any) fails on its next exchange."""
        live, self._live = self._live, None
        if live is not None:
            live.power_off()
            self._removed = True
        self._release()
        self._source = None  # pulled out: the file is no longer this slot's

    # -- Reader ------------------------------------------------------------------------------------

    def connect(self) -> bytes:
        if self._card is None and self._source is not None:
            from simulator.loader import load_card

            self._card = load_card(self._source, wait=self._lock_wait)
        card = self._card
        if card is None:
            raise NoCardError(f"no card in {self.name}")
        if self._live is not None:  # reconnecting: a fresh session, as PC/SC would power-cycle
            self._live.power_off()
        answer = bytes(card.power_on())
        self._protocol = _protocol_of(answer)
        self._atr = answer
        self._live = card
        self._removed = False
        return answer

    def disconnect(self) -> None:
        live, self._live = self._live, None
        self._removed = False
        if live is not None:
            live.power_off()
        if self._source is not None:
            self._release()

    def close(self) -> None:
        """Release a card file this slot opened (idempotent); the slot is then empty until the
        next :meth:`connect` opens the file again."""
        self.disconnect()

    def _release(self) -> None:
        """Empty the slot; a card it opened itself (from_file) is closed, a card it was given
        belongs to the caller and is left open."""
        card, self._card = self._card, None
        if card is not None and self._source is not None:
            from simulator.card import close_card

            close_card(card)

    def reset(self) -> bytes:
        live = self._require()
        answer = bytes(live.reset())
        self._protocol = _protocol_of(answer)
        self._atr = answer
        return answer

    @property
    def atr(self) -> bytes:
        self._require()
        return self._atr

    @property
    def protocol(self) -> Protocol:
        self._require()
        return self._protocol

    def transmit_raw(self, command: bytes) -> bytes:
        live = self._live
        if live is None:
            raise self._no_session()
        return live.transmit(command)

    def control(self, code: int, data: bytes = b"") -> bytes:
        """A part 10 request to this slot's PIN-pad firmware (the card need not be connected)."""
        pad = self.pin_pad
        if pad is None:
            return super().control(code, data)
        live = self._live
        try:
            return pad.control(code, data, live.transmit if live is not None else None)
        except NoCardError:
            raise self._no_session() from None

    # -- helpers -----------------------------------------------------------------------------------

    def _require(self) -> VirtualCard:
        live = self._live
        if live is None:
            raise self._no_session()
        return live

    def _no_session(self) -> Exception:
        if self._removed:
            return CardRemovedError(f"the card was removed from {self.name}")
        if self._card is None and self._source is None:
            return NoCardError(f"no card in {self.name}")
        return NoCardError(f"{self.name}: not connected to the card (call connect() first)")

    def __repr__(self) -> str:
        if self._live is not None:
            state = "connected"
        else:
            state = "empty" if self._card is None else "idle"
        pad = ", PIN pad" if self.pin_pad is not None else ""
        return f"SimulatedReader(name={self.name!r}, {state}{pad})"
