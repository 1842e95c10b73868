"""Command APDUs: the seven cases of ISO/IEC 7816-3 §12.1, built and parsed exactly.

A :class:`CommandAPDU` holds CLA INS P1 P2, the command data and Ne (the maximum number of response
bytes expected, ``None`` when no response data is expected).  Encoding picks the short form when
it can and the extended form when Lc > 255 or Ne > 256 (or when asked); parsing accepts exactly
the byte strings that one case produces and raises :class:`ApduFormatError` for everything else.

Ne semantics: short Le ``00`` means 256; extended Le ``0000`` means 65536.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from apdu.errors import ApduFormatError

SHORT_NE_MAX = 256
EXTENDED_NE_MAX = 65536
SHORT_LC_MAX = 255
EXTENDED_LC_MAX = 65535


class Case(str, Enum):
    """The ISO 7816-3 case names."""

    C1 = "1"
    C2S = "2S"
    C3S = "3S"
    C4S = "4S"
    C2E = "2E"
    C3E = "3E"
    C4E = "4E"


@dataclass(frozen=True, slots=True)
class CommandAPDU:
    """One command APDU.  ``data`` may be empty; ``ne`` is None for 'no response data expected'."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    extended: bool = False

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ApduFormatError(f"{name.upper()} must be one byte, got {value}")
        if len(self.data) > EXTENDED_LC_MAX:
            raise ApduFormatError(f"command data of {len(self.data)} bytes exceeds 65535")
        if self.ne is not None and not 1 <= self.ne <= EXTENDED_NE_MAX:
            raise ApduFormatError(f"Ne must be 1..65536 or None, got {self.ne}")

    # -- properties --------------------------------------------------------------------------------

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def is_extended(self) -> bool:
        """True when the encoding needs (or was asked for) the extended length fields."""
        return (
            self.extended
            or len(self.data) > SHORT_LC_MAX
            or (self.ne is not None and self.ne > SHORT_NE_MAX)
        )

    @property
    def case(self) -> Case:
        has_data, has_ne = bool(self.data), self.ne is not None
        if not has_data and not has_ne:
            return Case.C1
        ext = self.is_extended
        if not has_data:
            return Case.C2E if ext else Case.C2S
        if not has_ne:
            return Case.C3E if ext else Case.C3S
        return Case.C4E if ext else Case.C4S

    def with_ne(self, ne: int | None) -> CommandAPDU:
        """The same command asking for another Ne (used for the 6Cxx re-send)."""
        return CommandAPDU(self.cla, self.ins, self.p1, self.p2, self.data, ne, self.extended)

    # -- encoding ----------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        data, ne = self.data, self.ne
        if not self.extended and len(data) <= SHORT_LC_MAX and (ne is None or ne <= SHORT_NE_MAX):
            # The short cases (every SSC command), built in one go: this is the APDU hot path.
            if data:
                raw = bytes((self.cla, self.ins, self.p1, self.p2, len(data))) + data
                return raw if ne is None else raw + bytes((ne & 0xFF,))
            if ne is None:
                return bytes((self.cla, self.ins, self.p1, self.p2))
            return bytes((self.cla, self.ins, self.p1, self.p2, ne & 0xFF))
        # Extended: Lc is 00 hi lo; Le is 00 hi lo without data, hi lo after data.
        out = bytearray(self.header)
        if data:
            out += b"\x00" + len(data).to_bytes(2, "big") + data
        if ne is not None:
            le = b"\x00\x00" if ne == EXTENDED_NE_MAX else ne.to_bytes(2, "big")
            out += le if data else b"\x00" + le
        return bytes(out)

    __bytes__ = to_bytes

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandAPDU:
        """Parse any of the seven cases; raise :class:`ApduFormatError` for anything else."""
        raw = bytes(raw)
        n = len(raw)
        if n < 4:
            raise ApduFormatError(f"a command APDU has at least 4 bytes, got {n}")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        b = len(body)
        if b == 0:  # case 1
            return cls(cla, ins, p1, p2)
        if b == 1:  # case 2S
            return cls(cla, ins, p1, p2, b"", body[0] or SHORT_NE_MAX)
        if body[0] != 0:  # short Lc
            lc = body[0]
            if b == 1 + lc:  # case 3S
                return cls(cla, ins, p1, p2, body[1:])
            if b == 2 + lc:  # case 4S
                return cls(cla, ins, p1, p2, body[1 : 1 + lc], body[-1] or SHORT_NE_MAX)
            raise ApduFormatError(f"Lc={lc} does not match the {b - 1} bytes that follow it")
        # body[0] == 0 and at least 2 bytes: extended forms.
        if b == 3:  # case 2E
            le = int.from_bytes(body[1:3], "big")
            return cls(cla, ins, p1, p2, b"", le or EXTENDED_NE_MAX, extended=True)
        if b < 3:
            raise ApduFormatError("a body starting with 00 must be an extended length field")
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise ApduFormatError("extended Lc of zero")
        if b == 3 + lc:  # case 3E
            return cls(cla, ins, p1, p2, body[3:], None, extended=True)
        if b == 5 + lc:  # case 4E
            le = int.from_bytes(body[-2:], "big")
            return cls(cla, ins, p1, p2, body[3 : 3 + lc], le or EXTENDED_NE_MAX, extended=True)
        raise ApduFormatError(f"extended Lc={lc} does not match the {b - 3} bytes that follow it")

    @staticmethod
    def parse_body(raw: bytes) -> tuple[bytes, int | None]:
        """(command data, Ne) of ``raw``, by the rules of :meth:`from_bytes`, which it uses for
        the extended cases; ApduFormatError for anything that is no case.

        The short cases (every command of the card profile) are split here without building a
        :class:`CommandAPDU`: this is the simulated cards' hot path (:mod:`simulator.cardos`).
        """
        n = len(raw)
        if n == 4:
            return b"", None
        if n == 5:
            return b"", raw[4] or SHORT_NE_MAX
        lc = raw[4] if n > 5 else 0
        if lc:
            if n == 5 + lc:
                return raw[5:], None
            if n == 6 + lc:
                return raw[5 : 5 + lc], raw[-1] or SHORT_NE_MAX
            raise ApduFormatError(f"Lc={lc} does not match the {n - 5} bytes that follow it")
        parsed = CommandAPDU.from_bytes(raw)
        return parsed.data, parsed.ne

    def __repr__(self) -> str:
        # Data is summarised by length only: a repr must never carry a PIN (see apdu.redact).
        return (
            f"CommandAPDU(cla=0x{self.cla:02X}, ins=0x{self.ins:02X}, p1=0x{self.p1:02X}, "
            f"p2=0x{self.p2:02X}, data=<{len(self.data)} bytes>, ne={self.ne})"
        )
