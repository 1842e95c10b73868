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
"""

from __future__ import annotations

import time
from typing import Protocol

from apdu import status
from apdu.command import CommandAPDU
from apdu.commands import get_response
from apdu.errors import ProtocolError, ResponseFormatError
from apdu.response import ResponseAPDU
from drivers.base import Reader

#: GET RESPONSE rounds after one command; 16 x 256 bytes covers every file of card-profile §2.
MAX_GET_RESPONSE_ROUNDS = 16
#: Ne assumed for a command that announced none (case 1/3) but got ``61xx`` anyway (T=0 case 4).
DEFAULT_NE = 256


class Tracer(Protocol):
    """Receives every exchange on the wire.  Implementations must redact (see drivers.trace)."""

    def exchange(self, command: bytes, response: bytes, seconds: float) -> None: ...


class CardChannel:
    """APDU-level access to the card in ``reader``."""

    def __init__(self, reader: Reader, tracer: Tracer | None = None) -> None:
        self.reader = reader
        self.tracer = tracer
        #: command APDUs put on the wire since creation (or the last :meth:`reset_count`).
        self.apdu_count = 0

    def reset_count(self) -> None:
        self.apdu_count = 0

    # -- one exchange on the wire ------------------------------------------------------------------
    # Internally a response stays raw bytes (data + SW1 SW2): ResponseAPDU objects are built only
    # where the API returns one, which keeps the per-APDU overhead within the goal.

    def _wire(self, raw: bytes) -> bytes:
        tracer = self.tracer
        if tracer is None:
            answer = self.reader.transmit_raw(raw)
            self.apdu_count += 1
        else:
            start = time.perf_counter()
            answer = self.reader.transmit_raw(raw)
            self.apdu_count += 1
            tracer.exchange(raw, answer, time.perf_counter() - start)
        if len(answer) < 2:
            raise ResponseFormatError(f"a response needs at least SW1 SW2, got {len(answer)} bytes")
        return answer

    # -- the protocol ------------------------------------------------------------------------------

    def _exchange(self, command: CommandAPDU) -> bytes:
        """Send ``command``; follow 6Cxx and 61xx; the final data + SW1 SW2."""
        answer = self._wire(command.to_bytes())
        sw1 = answer[-2]
        if sw1 == 0x6C:
            answer = self._wire(command.with_ne(answer[-1] or 256).to_bytes())
            sw1 = answer[-2]
            if sw1 == 0x6C:
                raise ProtocolError("the card answered 6Cxx twice for one command")
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
                    raise ProtocolError("the card answered 6Cxx twice to GET RESPONSE")
            data += answer[:-2]
            if len(data) > limit:
                raise ProtocolError(f"the card returned {len(data)} bytes, Ne was {limit}")
            if answer[-2] != 0x61:
                return bytes(data) + answer[-2:]
        raise ProtocolError(f"more than {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE rounds")

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
