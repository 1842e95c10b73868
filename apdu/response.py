"""Response APDUs: response data followed by SW1 SW2 (ISO/IEC 7816-4 §5.1)."""

from __future__ import annotations

from dataclasses import dataclass

from apdu.errors import ResponseFormatError
from apdu.status import sw_bytes


@dataclass(frozen=True, slots=True)
class ResponseAPDU:
    """Data and status word of one response."""

    data: bytes
    sw: int

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        """Split a raw response; fewer than two bytes is not a response at all."""
        raw = bytes(raw)
        if len(raw) < 2:
            raise ResponseFormatError(f"a response needs at least SW1 SW2, got {len(raw)} bytes")
        return cls(raw[:-2], (raw[-2] << 8) | raw[-1])

    @classmethod
    def of(cls, sw: int, data: bytes = b"") -> ResponseAPDU:
        return cls(bytes(data), sw)

    def to_bytes(self) -> bytes:
        return self.data + sw_bytes(self.sw)

    __bytes__ = to_bytes

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    def __repr__(self) -> str:
        return f"ResponseAPDU(data=<{len(self.data)} bytes>, sw={self.sw:04X})"
