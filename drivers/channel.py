"""The APDU channel: T=0 response handling, tracing and counting, in one place for every reader.

- ``61xx``: GET RESPONSE is sent until the card has given all its data, joined exactly, bounded
  by the command's Ne and by :data:`MAX_GET_RESPONSE_ROUNDS` (OpenSC CVE-2025-49010 was an
  unbounded loop here).
- ``6Cxx``: the command is sent once more with Le = xx; a second ``6Cxx`` is a protocol error.
- Every exchange on the wire (GET RESPONSE and re-sends included) is counted and handed to the
  tracer, which redacts PIN data (:mod:`apdu.redact`).

Applications call :meth:`CardChannel.send` (data or a typed :class:`apdu.status.StatusError`) or
:meth:`CardChannel.transmit` (the response as it is).
"""

from __future__ import annotations

import time
from typing import Protocol

from apdu import status
from apdu.command import CommandAPDU
from apdu.commands import get_response
from apdu.errors import ProtocolError
from apdu.response import ResponseAPDU
from drivers.base import Reader

MAX_GET_RESPONSE_ROUNDS = 16


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

    def _wire(self, command: CommandAPDU) -> ResponseAPDU:
        raw = command.to_bytes()
        start = time.perf_counter()
        answer = self.reader.transmit_raw(raw)
        self.apdu_count += 1
        if self.tracer is not None:
            self.tracer.exchange(raw, answer, time.perf_counter() - start)
        return ResponseAPDU.from_bytes(answer)

    # -- the protocol ------------------------------------------------------------------------------

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        """Send ``command``; follow 61xx and 6Cxx; return the final response (any status)."""
        resp = self._wire(command)
        if resp.sw1 == 0x6C:
            resp = self._wire(command.with_ne((resp.sw2) or 256))
            if resp.sw1 == 0x6C:
                raise ProtocolError("the card answered 6Cxx twice for one command")
        if resp.sw1 != 0x61:
            return resp
        return self._get_responses(command, resp)

    def _get_responses(self, command: CommandAPDU, first: ResponseAPDU) -> ResponseAPDU:
        limit = command.ne if command.ne is not None else 256
        data = bytearray(first.data)
        resp = first
        for _ in range(MAX_GET_RESPONSE_ROUNDS):
            want = min(resp.sw2 or 256, 256)
            resp = self._wire(get_response(want))
            data += resp.data
            if resp.sw1 == 0x6C:  # some cards correct the GET RESPONSE length
                resp = self._wire(get_response(resp.sw2 or 256))
                data += resp.data
            if resp.sw1 != 0x61:
                if len(data) > limit:
                    raise ProtocolError(f"the card returned {len(data)} bytes, Ne was {limit}")
                return ResponseAPDU(bytes(data), resp.sw)
        raise ProtocolError(f"more than {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE rounds")

    def send(self, command: CommandAPDU) -> bytes:
        """Send ``command`` and return its data; any status but 9000 raises its typed error."""
        resp = self.transmit(command)
        status.check(resp.sw, command.ins)
        return resp.data
