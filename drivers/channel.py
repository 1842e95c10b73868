"""The APDU channel: T=0 response handling, tracing and counting, in one place for every reader.

Issue 3 §1; card-profile §3 (T=0 cards answer a SELECT with ``61xx``) and §4 (``6Cxx`` = wrong Le).

- ``61xx``: GET RESPONSE is sent until the card has given all its data, joined exactly (python-emv
  dropped bytes when more than one round was needed), bounded by the command's Ne (checked after
  every round, so a hostile card cannot make us buffer more than Ne + 256 bytes) and by
  :data:`MAX_GET_RESPONSE_ROUNDS` (OpenSC CVE-2025-49010 was an unbounded loop here).
- ``6Cxx``: the command is sent once more with Le = xx; a second ``6Cxx`` is a protocol error.
  Inside the GET RESPONSE loop the same rule holds for the GET RESPONSE itself.
- Every exchange on the wire (GET RESPONSE and re-sends included) is counted and handed to the
  tracer, which redacts PIN data (:mod:`drivers.trace`, :mod:`apdu.redact`).  Without a tracer
  the hot path takes no clock reading and makes no logging call.

Applications call :meth:`CardChannel.send` (data or a typed :class:`apdu.status.StatusError`) or
:meth:`CardChannel.transmit` (the response as it is).

Secure PIN entry (PC/SC part 10, issue 13) goes through the channel too, so that it is counted and
traced like an APDU: :meth:`CardChannel.pin_pad_verify` / :meth:`CardChannel.pin_pad_modify` send
a :mod:`apdu.part10` structure (a template: no digit ever exists here) to the reader, whose pad
fills it and sends it to the card.  One such request is one APDU on the wire when it reaches the
card; a reader-made result (``6400`` timeout, ``6401`` cancel, ``6402`` mismatch, ``6403``
length, ``6B80`` refused) raises its typed error of :mod:`apdu.errors` and counts nothing (the
card received nothing); the card's own status raises as :meth:`send` does (``WrongPin`` with
the tries left, ``PinBlocked``).  Discovery requests (:meth:`CardChannel.control`) are traced
but not counted.  A tracer with a ``control(code, request, response, seconds, feature)`` method
records control requests (see :mod:`drivers.trace`); one without it sees the APDU template
through ``exchange``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from apdu import part10, status
from apdu.command import CommandAPDU
from apdu.commands import get_response
from apdu.errors import ControlNotSupported, ProtocolError, ResponseFormatError, TransportError
from apdu.response import ResponseAPDU
from drivers.base import Reader

#: GET RESPONSE rounds after one command; 16 x 256 bytes covers every file of card-profile §2.
MAX_GET_RESPONSE_ROUNDS = 16
#: Ne assumed for a command that announced none (case 1/3) but got ``61xx`` anyway (T=0 case 4).
DEFAULT_NE = 256


class Tracer(Protocol):
    """Receives every exchange on the wire.  Implementations must redact (see drivers.trace)."""

    def exchange(self, command: bytes, response: bytes, seconds: float) -> None: ...


class ControlTracer(Tracer, Protocol):
    """A tracer that also records reader control requests (templates only, see drivers.trace)."""

    def control(
        self, code: int, request: bytes, response: bytes, seconds: float, feature: int | None
    ) -> None: ...


class CardChannel:
    """APDU-level access to the card in ``reader``."""

    def __init__(self, reader: Reader, tracer: Tracer | None = None) -> None:
        self.reader = reader
        self.tracer = tracer
        #: command APDUs put on the wire since creation (or the last :meth:`reset_count`).
        self.apdu_count = 0
        #: called (no argument) when the card's security state may be gone under this channel:
        #: a transport error (card removed, reset by another program, reader gone, a protocol
        #: fault).  A :class:`terminal.session.CardSession` registers itself here to forget what
        #: it knew of the card's state (§2).
        self.on_card_lost: list[Callable[[], None]] = []

    def reset_count(self) -> None:
        self.apdu_count = 0

    # -- one exchange on the wire ------------------------------------------------------------------
    # Internally a response stays raw bytes (data + SW1 SW2): ResponseAPDU objects are built only
    # where the API returns one, which keeps the per-APDU overhead within the goal.

    def _wire(self, raw: bytes) -> bytes:
        tracer = self.tracer
        try:
            if tracer is None:
                answer = self.reader.transmit_raw(raw)
                self.apdu_count += 1
            else:
                start = time.perf_counter()
                answer = self.reader.transmit_raw(raw)
                self.apdu_count += 1
                tracer.exchange(raw, answer, time.perf_counter() - start)
        except TransportError:
            self._card_lost()
            raise
        if len(answer) < 2:
            raise ResponseFormatError(f"a response needs at least SW1 SW2, got {len(answer)} bytes")
        return answer

    def _card_lost(self) -> None:
        for forget in self.on_card_lost:
            forget()

    def _fault(self, message: str) -> ProtocolError:
        """A protocol fault of the card: what it has selected is no longer known."""
        self._card_lost()
        return ProtocolError(message)

    # -- the protocol ------------------------------------------------------------------------------

    def _exchange(self, command: CommandAPDU) -> bytes:
        """Send ``command``; follow 6Cxx and 61xx; the final data + SW1 SW2."""
        answer = self._wire(command.to_bytes())
        sw1 = answer[-2]
        if sw1 == 0x6C:
            answer = self._wire(command.with_ne(answer[-1] or 256).to_bytes())
            sw1 = answer[-2]
            if sw1 == 0x6C:
                raise self._fault("the card answered 6Cxx twice for one command")
        if sw1 != 0x61:
            return answer
        return self._get_responses(command, answer)

    def _get_responses(self, command: CommandAPDU, first: bytes) -> bytes:
        limit = command.ne if command.ne is not None else DEFAULT_NE
        data = bytearray(first[:-2])
        answer = first
        for _ in range(MAX_GET_RESPONSE_ROUNDS):
            answer = self._wire(get_response(answer[-1] or 256).to_bytes())
            if answer[-2] == 0x6C:  # some cards correct the GET RESPONSE length, once
                answer = self._wire(get_response(answer[-1] or 256).to_bytes())
                if answer[-2] == 0x6C:
                    raise self._fault("the card answered 6Cxx twice to GET RESPONSE")
            data += answer[:-2]
            if len(data) > limit:
                raise self._fault(f"the card returned {len(data)} bytes, Ne was {limit}")
            if answer[-2] != 0x61:
                return bytes(data) + answer[-2:]
        raise self._fault(f"more than {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE rounds")

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        """Send ``command``; follow 61xx and 6Cxx; return the final response (any status)."""
        answer = self._exchange(command)
        return ResponseAPDU(answer[:-2], (answer[-2] << 8) | answer[-1])

    def send(self, command: CommandAPDU) -> bytes:
        """Send ``command`` and return its data; any status but 9000 raises its typed error."""
        answer = self._exchange(command)
        sw = (answer[-2] << 8) | answer[-1]
        if sw != 0x9000:
            status.check(sw, command.ins)
        return answer[:-2]

    # -- reader control requests and secure PIN entry (PC/SC part 10) ----------------------------

    def control(self, code: int, data: bytes = b"", *, feature: int | None = None) -> bytes:
        """One control request to the reader (feature discovery, properties); traced, not counted.

        ``feature`` names the request in traces.  :class:`apdu.errors.ControlNotSupported` when
        the reader takes none.
        """
        return self._control(code, bytes(data), feature, None)

    def _control(self, code: int, raw: bytes, feature: int | None, template: bytes | None) -> bytes:
        tracer = self.tracer
        if tracer is None:
            return self._reader_control(code, raw)
        start = time.perf_counter()
        answer = self._reader_control(code, raw)
        seconds = time.perf_counter() - start
        record = getattr(tracer, "control", None)
        if record is not None:
            record(code, raw, answer, seconds, feature)
        elif template is not None:
            tracer.exchange(template, answer, seconds)
        return answer

    def _reader_control(self, code: int, raw: bytes) -> bytes:
        try:
            return self.reader.control(code, raw)
        except ControlNotSupported:  # no such feature: the card's state is untouched
            raise
        except TransportError:  # the card or the reader went away (during PIN entry, say)
            self._card_lost()
            raise

    def pin_pad_exchange(
        self, code: int, structure: part10.PinVerify | part10.PinModify
    ) -> ResponseAPDU:
        """Hand ``structure`` to the PIN pad (control ``code``); the card's response as it is.

        A reader-made result raises its typed error (:func:`apdu.part10.reader_error`).
        """
        verify = isinstance(structure, part10.PinVerify)
        feature = part10.Feature.VERIFY_PIN_DIRECT if verify else part10.Feature.MODIFY_PIN_DIRECT
        answer = self._control(code, structure.to_bytes(), feature, structure.apdu)
        if len(answer) < 2:
            raise ResponseFormatError(f"the PIN pad answered {len(answer)} bytes, not a status")
        sw = (answer[-2] << 8) | answer[-1]
        if len(answer) == 2:
            refused = part10.reader_error(sw)
            if refused is not None:
                raise refused
        self.apdu_count += 1
        return ResponseAPDU(answer[:-2], sw)

    def pin_pad_verify(self, code: int, structure: part10.PinVerify) -> None:
        """VERIFY through the pad; any status but 9000 raises (``WrongPin``, ``PinBlocked``...)."""
        self._pin_pad_checked(code, structure)

    def pin_pad_modify(self, code: int, structure: part10.PinModify) -> None:
        """CHANGE PIN through the pad (current, new, new again typed on it); raises like verify."""
        self._pin_pad_checked(code, structure)

    def _pin_pad_checked(self, code: int, structure: part10.PinVerify | part10.PinModify) -> None:
        response = self.pin_pad_exchange(code, structure)
        if response.sw != status.SUCCESS:
            ins = structure.apdu[1] if len(structure.apdu) > 1 else None
            status.check(response.sw, ins)
