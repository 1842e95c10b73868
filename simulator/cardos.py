"""The card OS both simulated cards run on: one APDU loop for the user card and the PSAM.

What a card's operating system does around an application's commands, stated once:

- **Parsing**: the seven cases of ISO/IEC 7816-3 (:meth:`apdu.command.CommandAPDU.parse_body`);
  a command that is no case answers ``6700``.
- **Dispatch**: one table per card, :attr:`CardOS.COMMANDS`, keyed by (CLA, INS), each handler
  ``(card, p1, p2, data, ne) -> response data + SW``.  A pair not in it answers ``6D00`` (INS not
  supported) when its CLA is one the card speaks and its INS is none the card knows, else
  ``6E00`` (CLA not supported).
- **Status words**: the constants of :mod:`apdu.status`, never redeclared; :func:`sw` turns one
  into its two bytes.  A handler deep in a command may end it with ``raise Refuse(status)``.
- **T=0** (card-profile §3): on a T=0 card the data of a case-4 command's answer waits behind
  ``61xx`` for GET RESPONSE, which this OS answers for every card (:meth:`CardOS.get_response`).
  Pending data, like a GET CHALLENGE challenge, lives for exactly the next command.
- **Faults**: a card never raises (:class:`simulator.card.VirtualCard`), but a fault is never
  swallowed either: a card file that cannot be written answers ``6581`` (memory failure), any
  other exception ``6F00``; each is logged as ONE line naming the INS
  (:func:`simulator.card.log_fault`; the traceback only with ``SSCARD_DEBUG=1``) and counted in
  :attr:`CardOS.faults` (``sim apdu`` exits non-zero on any).
- **Power**: power-on, reset and power-off clear the volatile state (:meth:`_power_reset`, which
  each card extends with its own) and answer the ATR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from apdu import status
from apdu.command import CommandAPDU
from apdu.errors import ApduFormatError
from simulator.card import log_fault
from simulator.store import CardWriteError

#: A command handler: ``(card, p1, p2, data, ne) -> response data + SW1 SW2``.
Handler = Callable[[Any, int, int, bytes, "int | None"], bytes]

sw = status.sw_bytes
OK = sw(status.SUCCESS)
_WRONG_LENGTH = sw(status.WRONG_LENGTH)
_INS_NOT_SUPPORTED = sw(status.INS_NOT_SUPPORTED)
_CLA_NOT_SUPPORTED = sw(status.CLA_NOT_SUPPORTED)
_CARD_BLOCKED = sw(status.FUNCTION_NOT_SUPPORTED)  # §5: a blocked card answers 6A81 to anything
_MEMORY_FAILURE = sw(status.MEMORY_FAILURE)
_NO_DIAGNOSIS = sw(status.NO_PRECISE_DIAGNOSIS)
_parse = CommandAPDU.parse_body


def more(n: int) -> bytes:
    """``61xx``: ``n`` bytes wait for GET RESPONSE (``00``: 256 or more)."""
    return sw(status.bytes_available(min(n, 256)))


def wrong_le(n: int) -> bytes:
    """``6Cxx``: the right Le is ``n`` (``00``: 256)."""
    return sw(status.wrong_le(n))


def tries(n: int) -> bytes:
    """``63Cx``: verification failed, ``n`` tries left."""
    return sw(status.verification_failed(n))


class Refuse(Exception):  # noqa: N818 - a status word, not an error of the simulator
    """Ends the command with ``status`` (control flow inside a handler; never leaves the OS)."""

    def __init__(self, status_word: int) -> None:
        super().__init__(f"{status_word:04X}")
        self.answer = sw(status_word)


class CardOS:
    """The APDU loop of a simulated card (implements :class:`simulator.card.VirtualCard` with
    the card's :attr:`COMMANDS`, ``_atr`` and ``_t0``)."""

    #: (CLA, INS) -> handler: each card's command table.
    COMMANDS: ClassVar[Mapping[tuple[int, int], Handler]] = {}
    _known_ins: ClassVar[frozenset[int]] = frozenset()
    _known_cla: ClassVar[frozenset[int]] = frozenset()

    #: internal faults and failed writes so far (``sim apdu`` exits non-zero on any).
    faults: int = 0
    #: a blocked card (§5) answers 6A81 to everything.
    _card_blocked: bool = False
    _atr: bytes
    _t0: bool
    _pending: bytes | None
    _pending_in: bytes | None
    _challenge: bytes | None
    _chal_in: bytes | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "COMMANDS" in cls.__dict__:
            cls._known_ins = frozenset(ins for _, ins in cls.COMMANDS)
            cls._known_cla = frozenset(cla for cla, _ in cls.COMMANDS)

    # --- VirtualCard ------------------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def t0(self) -> bool:
        return self._t0

    def power_on(self) -> bytes:
        self._power_reset()
        return self._atr

    def reset(self) -> bytes:
        return self.power_on()

    def power_off(self) -> None:
        self._power_reset()

    def _power_reset(self) -> None:
        """Forget the volatile state (cards extend this with their own)."""
        self._pending = self._pending_in = None
        self._challenge = self._chal_in = None

    def transmit(self, command: bytes) -> bytes:
        """One command APDU in, response data + SW out.  Never raises; a fault answers 6581
        (the card file could not be written: a real card's EEPROM failure) or 6F00, logged."""
        try:
            return self._process(bytes(command))
        except (OSError, CardWriteError) as exc:
            self.faults += 1
            log_fault("card file write failed", command, exc)
            return _MEMORY_FAILURE
        except Exception as exc:
            # A card has a status for everything; an internal fault must still be visible to
            # whoever runs the simulator (the line names the INS, never the data).
            self.faults += 1
            log_fault("internal error", command, exc)
            return _NO_DIAGNOSIS

    def _process(self, cmd: bytes) -> bytes:
        # A challenge and pending T=0 data live for exactly one following command.
        self._chal_in, self._challenge = self._challenge, None
        self._pending_in, self._pending = self._pending, None
        if self._card_blocked:
            return _CARD_BLOCKED
        try:
            data, ne = _parse(cmd)
        except ApduFormatError:
            return _WRONG_LENGTH
        handler = self.COMMANDS.get((cmd[0], cmd[1]))
        if handler is None:
            if cmd[1] in self._known_ins or cmd[0] not in self._known_cla:
                return _CLA_NOT_SUPPORTED
            return _INS_NOT_SUPPORTED
        try:
            resp = handler(self, cmd[2], cmd[3], data, ne)
        except Refuse as refused:
            return refused.answer
        if self._t0 and data and len(resp) > 2 and resp[-2:] == OK:
            # T=0 (§3): a case-4 answer travels through 61xx + GET RESPONSE.
            self._pending = resp[:-2]
            return more(len(resp) - 2)
        return resp

    # --- GET RESPONSE (every T=0 card) -----------------------------------------------------------

    def get_response(self, p1: int, p2: int, data: bytes, ne: int | None) -> bytes:
        """GET RESPONSE (§3): the pending data with the exact Le; a longer Le gets ``6Cxx`` and a
        shorter one part of it and ``61xx`` with the rest (the data kept either way); nothing
        pending: ``6985``."""
        if p1 or p2:
            return sw(status.WRONG_P1P2)
        pending = self._pending_in
        if pending is None:
            return sw(status.CONDITIONS_NOT_SATISFIED)
        if data or ne is None:
            self._pending = pending
            return _WRONG_LENGTH
        if ne > len(pending):
            self._pending = pending
            return wrong_le(len(pending))
        if ne < len(pending):
            self._pending = pending[ne:]
            return pending[:ne] + more(len(pending) - ne)
        return pending + OK
