"""TLV codecs: SIMPLE-TLV (the SSC record format, card-profile §4) and BER-TLV (FCI, §3; bank §9).

Every length read here comes from a card and is treated as hostile: it is checked against the
bytes actually present before anything is sliced, and nesting depth is bounded.  Decoders raise
:class:`TlvError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from apdu.errors import TlvError

MAX_DEPTH = 8

# --- SIMPLE-TLV: tag(1) length(1 or FF hi lo) value --------------------------------------------


def simple_encode(tag: int, value: bytes) -> bytes:
    if not 0x01 <= tag <= 0xFE:
        raise TlvError(f"SIMPLE-TLV tag must be 01..FE, got {tag:#x}")
    n = len(value)
    if n < 0xFF:
        return bytes((tag, n)) + value
    if n <= 0xFFFF:
        return bytes((tag, 0xFF)) + n.to_bytes(2, "big") + value
    raise TlvError(f"SIMPLE-TLV value of {n} bytes is too long")


def simple_decode_one(buf: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """Decode one SIMPLE-TLV object at ``offset``; return (tag, value, next offset)."""
    end = len(buf)
    if offset + 2 > end:
        raise TlvError("SIMPLE-TLV object truncated before its length")
    tag, n = buf[offset], buf[offset + 1]
    if tag in (0x00, 0xFF):
        raise TlvError(f"invalid SIMPLE-TLV tag {tag:02X}")
    pos = offset + 2
    if n == 0xFF:
        if pos + 2 > end:
            raise TlvError("SIMPLE-TLV three-byte length truncated")
        n = int.from_bytes(buf[pos : pos + 2], "big")
        pos += 2
    if pos + n > end:
        raise TlvError(f"SIMPLE-TLV tag {tag:02X} claims {n} bytes, only {end - pos} present")
    return tag, bytes(buf[pos : pos + n]), pos + n


def simple_decode(buf: bytes) -> list[tuple[int, bytes]]:
    """Decode a concatenation of SIMPLE-TLV objects (the whole buffer must be consumed)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, value, pos = simple_decode_one(buf, pos)
        out.append((tag, value))
    return out


def simple_record(buf: bytes, expected_tag: int | None = None) -> bytes:
    """The value of a record that must be exactly one SIMPLE-TLV object (an SSC record)."""
    tag, value, end = simple_decode_one(buf, 0)
    if end != len(buf):
        raise TlvError(f"{len(buf) - end} stray bytes after record {tag:02X}")
    if expected_tag is not None and tag != expected_tag:
        raise TlvError(f"expected record tag {expected_tag:02X}, card returned {tag:02X}")
    return value


def is_simple_record(record: bytes) -> bool:
    """One SIMPLE-TLV object with a one-byte length, ``tag len value``, tag neither 00 nor FF:
    the form of every record of the SSC record files (§4), which a card stores and a terminal
    reads."""
    return (
        len(record) >= 2
        and record[0] not in (0x00, 0xFF)
        and record[1] != 0xFF
        and len(record) == 2 + record[1]
    )


# --- BER-TLV ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tlv:
    """One BER-TLV object. ``tag`` is the tag's bytes as an int (e.g. 0x9F0C)."""

    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        first = self.tag
        while first > 0xFF:
            first >>= 8
        return bool(first & 0x20)

    def children(self, depth: int = 0) -> list[Tlv]:
        """The value decoded as BER-TLV objects.

        Allowed on primitive tags too: the SSSE FCI nests ``86`` inside ``9F0C`` although BER
        codes 9F0C as primitive (card-profile §3), so callers that know better may descend.
        """
        return ber_decode(self.value, depth + 1)

    def find(self, *path: int) -> Tlv | None:
        """The first descendant along ``path`` (tags), or None."""
        node: Tlv | None = self
        for tag in path:
            assert node is not None
            node = next((c for c in node.children() if c.tag == tag), None)
            if node is None:
                return None
        return node


def _read_tag(buf: bytes, pos: int) -> tuple[int, int]:
    end = len(buf)
    if pos >= end:
        raise TlvError("BER-TLV truncated before a tag")
    tag = buf[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        for _ in range(3):
            if pos >= end:
                raise TlvError("BER-TLV multi-byte tag truncated")
            b = buf[pos]
            tag = (tag << 8) | b
            pos += 1
            if not b & 0x80:
                break
        else:
            raise TlvError("BER-TLV tag longer than four bytes")
    return tag, pos


def _read_length(buf: bytes, pos: int) -> tuple[int, int]:
    end = len(buf)
    if pos >= end:
        raise TlvError("BER-TLV truncated before a length")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 3:
        raise TlvError(f"unsupported BER length form {first:02X}")
    if pos + count > end:
        raise TlvError("BER-TLV length field truncated")
    return int.from_bytes(buf[pos : pos + count], "big"), pos + count


def ber_decode(buf: bytes, depth: int = 0) -> list[Tlv]:
    """Decode a concatenation of BER-TLV objects.  00/FF padding between objects is skipped."""
    if depth > MAX_DEPTH:
        raise TlvError("BER-TLV nested too deeply")
    out: list[Tlv] = []
    pos, end = 0, len(buf)
    while pos < end:
        if buf[pos] in (0x00, 0xFF):
            pos += 1
            continue
        tag, pos = _read_tag(buf, pos)
        n, pos = _read_length(buf, pos)
        if pos + n > end:
            raise TlvError(f"tag {tag:X} claims {n} bytes, only {end - pos} present")
        out.append(Tlv(tag, bytes(buf[pos : pos + n])))
        pos += n
    return out


def ber_decode_one(buf: bytes) -> Tlv:
    """Exactly one top-level object (trailing padding allowed)."""
    objs = ber_decode(buf)
    if len(objs) != 1:
        raise TlvError(f"expected one BER-TLV object, found {len(objs)}")
    return objs[0]


def _tag_bytes(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def _length_bytes(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    if n <= 0xFFFF:
        return b"\x82" + n.to_bytes(2, "big")
    return b"\x83" + n.to_bytes(3, "big")


def ber_encode(tag: int, value: bytes | list[bytes]) -> bytes:
    """Encode one object; a list value is concatenated (for constructed objects)."""
    body = b"".join(value) if isinstance(value, list) else value
    return _tag_bytes(tag) + _length_bytes(len(body)) + body


def iter_tree(objs: list[Tlv], depth: int = 0) -> Iterator[Tlv]:
    """Every object, depth first (constructed ones are descended into)."""
    for obj in objs:
        yield obj
        if obj.constructed:
            yield from iter_tree(obj.children(depth), depth + 1)
