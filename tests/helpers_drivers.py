"""Small doubles for the drivers tests: a scripted Reader and a tiny T=0/T=1 virtual card."""

from __future__ import annotations

from collections.abc import Sequence

from apdu.atr import build_ssc_atr
from apdu.names import SSSE_NAME
from drivers.base import Protocol, Reader

HIST = bytes.fromhex("01020304050607330100000042")
ATR_T0 = build_ssc_atr(HIST, "T0")
ATR_T1 = build_ssc_atr(HIST, "T1")
FCI = bytes.fromhex("6F1C840F") + SSSE_NAME + bytes.fromhex("A50988011E9F0C03860103")
#: EF05 records: tag -> value (a tiny subset of card-profile §4)
RECORDS = {0x03: b"3.00", 0x07: b"D2143569X"}


class ScriptedReader(Reader):
    """Answers ``responses`` in order and records what it was sent."""

    def __init__(self, responses: Sequence[bytes], protocol: Protocol = "T0") -> None:
        self.responses = list(responses)
        self.sent: list[bytes] = []
        self._protocol = protocol

    def connect(self) -> bytes:
        return ATR_T0

    def disconnect(self) -> None:
        pass

    def reset(self) -> bytes:
        return ATR_T0

    @property
    def atr(self) -> bytes:
        return ATR_T0

    @property
    def protocol(self) -> Protocol:
        return self._protocol

    def transmit_raw(self, command: bytes) -> bytes:
        self.sent.append(bytes(command))
        return self.responses.pop(0)


class TinyCard:
    """A VirtualCard with SELECT SSSE (61xx on T=0) and READ RECORD by tag through SFI 5 (6Cxx)."""

    def __init__(self, t0: bool = True) -> None:
        self.t0 = t0
        self.atr = ATR_T0 if t0 else ATR_T1
        self.powered = False
        self.pending = b""
        self.power_offs = 0

    def power_on(self) -> bytes:
        self.powered, self.pending = True, b""
        return self.atr

    def reset(self) -> bytes:
        return self.power_on()

    def power_off(self) -> None:
        self.powered = False
        self.power_offs += 1

    def transmit(self, command: bytes) -> bytes:
        c = bytes(command)
        if c[:4] == bytes.fromhex("00A40400") and c[5 : 5 + c[4]] == SSSE_NAME:
            if self.t0:
                self.pending = FCI
                return bytes((0x61, len(FCI)))
            return FCI + b"\x90\x00"
        if c[:2] == b"\x00\xc0" and self.pending:
            le = c[4] or 256
            out, self.pending = self.pending[:le], self.pending[le:]
            sw = bytes((0x61, min(len(self.pending), 256) & 0xFF)) if self.pending else b"\x90\x00"
            return out + sw
        if c[1] == 0xB2 and c[3] == (5 << 3):
            value = RECORDS.get(c[2])
            if value is None:
                return b"\x6a\x83"
            record = bytes((c[2], len(value))) + value
            if len(c) != 5 or (c[4] or 256) != len(record):
                return bytes((0x6C, len(record)))
            return record + b"\x90\x00"
        return b"\x6d\x00"
