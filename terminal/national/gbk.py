"""GBK on the national interface: outputs encoded and bounded, inputs decoded strictly.

national-interface §1: strings are GBK and NUL-terminated, and the caller allocates every buffer.
So an output is encoded to GBK (a character GBK lacks becomes ``?``: a caller decoding GBK must
never meet a GB18030 four-byte sequence) and never longer than its buffer minus the NUL; when it
must be cut (only error texts are ever cut: data that does not fit is refused, see the facade) it
is cut on a character boundary, never in the middle of a two-byte character.
"""

from __future__ import annotations

CODEC = "gbk"


def is_lead(byte: int) -> bool:
    """A GBK lead byte (0x81-0xFE) starts a two-byte character."""
    return 0x81 <= byte <= 0xFE


def cut(data: bytes, limit: int) -> bytes:
    """``data`` shortened to at most ``limit`` bytes on a GBK character boundary."""
    if len(data) <= limit:
        return data
    end = 0
    i = 0
    while i < limit:
        step = 2 if is_lead(data[i]) else 1
        if i + step > limit:
            break
        i += step
        end = i
    return data[:end]


def encode(text: str, limit: int | None = None) -> bytes:
    """``text`` as GBK (unencodable characters as ``?``), cut to ``limit`` bytes when given."""
    data = text.encode(CODEC, errors="replace")
    return data if limit is None else cut(data, limit)


def decode(data: bytes) -> str:
    """Strict GBK; raises :class:`UnicodeDecodeError` (the facade answers -23)."""
    return bytes(data).decode(CODEC)
