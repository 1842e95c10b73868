"""The answer to reset: parsing (ISO/IEC 7816-3 §8.2) and the social security card's forms.

card-profile §10: a social security card answers ``3B 6D 00 00`` + 13 historical bytes (T=0) or
``3B ED 00 00 81 31 FE 45`` + 13 historical bytes + TCK (T=1).  The historical bytes carry the
diversification card factor (T6..T13, card-profile §7.1), so every key derivation starts here; the
protocol offered decides how a PC/SC reader connects (pySim found pyscard's own choice unreliable).

An ATR comes from the card and is untrusted: the interface-byte chain is walked with every length
checked, and anything that does not add up raises :class:`apdu.errors.DataFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from apdu.errors import DataFormatError

Protocol = Literal["T0", "T1"]

#: TS, the initial character: direct or inverse convention.
TS_VALUES = frozenset({0x3B, 0x3F})
#: ISO 7816-3: at most 32 characters after TS.
MAX_ATR_LEN = 33
#: Historical bytes of a social security card (card-profile §10).
SSC_HISTORICAL_LEN = 13
#: §10: the layout of T1..T13, as (field, length) in order: T1-T5 chip maker and COS (the card
#: model), T6-T7 card maker, T8-T9 area (the first 4 digits of the city code, BCD), T10-T13 the
#: serial.  T6..T13 are the diversification card factor (§7.1).
HISTORICAL_LAYOUT: tuple[tuple[str, int], ...] = (
    ("model", 5), ("card_maker", 2), ("area", 2), ("serial", 4),
)
#: where the card factor sits in the historical bytes (T6..T13).
CARD_FACTOR = slice(5, 13)

#: The fixed prefixes of the two forms of card-profile §10 (K = 13 in T0).
_SSC_PREFIX: dict[str, bytes] = {
    "T0": bytes.fromhex("3B6D0000"),
    "T1": bytes.fromhex("3BED00008131FE45"),
}

#: Protocol numbers in TDi that sscard can speak; T=15 is "global bytes", not a protocol.
_PROTOCOL_NAMES: dict[int, Protocol] = {0: "T0", 1: "T1"}


@dataclass(frozen=True, slots=True)
class Atr:
    """A parsed ATR.  ``interface`` holds one dict per group i (keys "TA", "TB", "TC", "TD")."""

    raw: bytes
    ts: int
    t0: int
    interface: tuple[dict[str, int], ...]
    historical: bytes
    tck: int | None
    #: every protocol number announced in a TDi (T=0 implied when no TD1), in order, T=15 excluded.
    offered: tuple[int, ...] = field(default=())

    @property
    def protocols(self) -> set[str]:
        """The protocols sscard can use with this card: a subset of {"T0", "T1"}."""
        return {_PROTOCOL_NAMES[t] for t in self.offered if t in _PROTOCOL_NAMES}

    @property
    def preferred_protocol(self) -> Protocol:
        """T=1 when offered, else T=0 (block transport is faster and needs no GET RESPONSE)."""
        return "T1" if 1 in self.offered else "T0"

    @property
    def card_factor(self) -> bytes:
        """T6..T13, the diversification card factor (card-profile §7.1, §10)."""
        return card_factor(self.historical)


def parse(atr: bytes) -> Atr:
    """Parse ``atr`` completely; :class:`DataFormatError` when it is malformed or truncated.

    A TCK is required (and checked: XOR of T0..TCK is zero) as soon as a protocol other than T=0
    is offered.  An ATR offering T=0 only has no TCK; one extra trailing byte is nevertheless
    accepted when it checks like a TCK [choice: some T=0 cards send one; be liberal in reading].
    """
    raw = bytes(atr)
    n = len(raw)
    if n < 2:
        raise DataFormatError(f"an ATR has at least TS and T0, got {n} bytes")
    if n > MAX_ATR_LEN:
        raise DataFormatError(f"an ATR has at most {MAX_ATR_LEN} bytes, got {n}")
    ts = raw[0]
    if ts not in TS_VALUES:
        raise DataFormatError(f"ATR TS must be 3B or 3F, got {ts:02X}")
    t0 = raw[1]
    k = t0 & 0x0F
    y = t0 >> 4
    pos = 2
    groups: list[dict[str, int]] = []
    offered: list[int] = []
    while True:
        group: dict[str, int] = {}
        for bit, name in ((0x1, "TA"), (0x2, "TB"), (0x4, "TC"), (0x8, "TD")):
            if y & bit:
                if pos >= n:
                    where = f"{name}{len(groups) + 1}"
                    raise DataFormatError(f"ATR truncated in interface byte {where}")
                group[name] = raw[pos]
                pos += 1
        groups.append(group)
        td = group.get("TD")
        if td is None:
            break
        offered.append(td & 0x0F)
        y = td >> 4
    if not offered:
        offered.append(0)  # no TD1: T=0 only (ISO 7816-3 §8.2.3)
    end_hist = pos + k
    if end_hist > n:
        raise DataFormatError(f"ATR announces {k} historical bytes but has {n - pos}")
    historical = raw[pos:end_hist]
    announced = [t for t in offered if t != 15]
    tck_required = any(t != 0 for t in announced)
    rest = raw[end_hist:]
    tck: int | None = None
    if tck_required:
        if len(rest) != 1:
            what = "missing" if not rest else f"followed by {len(rest) - 1} extra bytes"
            raise DataFormatError(f"ATR TCK {what}")
        tck = rest[0]
        if _xor(raw[1:]) != 0:
            raise DataFormatError("ATR TCK does not check (XOR of T0..TCK is not zero)")
    elif rest:
        if len(rest) != 1 or _xor(raw[1:]) != 0:
            raise DataFormatError(f"ATR has {len(rest)} bytes after the historical bytes")
        tck = rest[0]
    return Atr(raw, ts, t0, tuple(groups), historical, tck, tuple(announced) or (0,))


def historical_bytes(atr: bytes) -> bytes:
    """The K historical bytes of ``atr`` (T1..TK); :class:`DataFormatError` if malformed."""
    return parse(atr).historical


def protocols(atr: bytes) -> set[str]:
    """Protocols offered by ``atr`` that sscard speaks: {"T0"}, {"T1"} or both."""
    return parse(atr).protocols


def preferred_protocol(atr: bytes) -> Protocol:
    """T=1 when the ATR offers it, else T=0 (card-profile §10; pySim's lesson)."""
    return parse(atr).preferred_protocol


def card_factor(historical: bytes) -> bytes:
    """T6..T13 (``historical[5:13]``), the card factor of card-profile §7.1 (more than 13
    historical bytes are tolerated: T6..T13 stay at the same offsets)."""
    if len(historical) < SSC_HISTORICAL_LEN:
        raise DataFormatError(
            f"a social security card has {SSC_HISTORICAL_LEN} historical bytes, "
            f"got {len(historical)}"
        )
    return bytes(historical[CARD_FACTOR])


def build_historical(model: bytes, card_maker: bytes, area: bytes, serial: bytes) -> bytes:
    """T1..T13 of §10 from their fields (:data:`HISTORICAL_LAYOUT`): what a simulated user card
    (the area and serial of its card identification code) and a simulated PSAM (its city code
    and serial) answer."""
    fields = {"model": model, "card_maker": card_maker, "area": area, "serial": serial}
    for name, size in HISTORICAL_LAYOUT:
        if len(fields[name]) != size:
            raise DataFormatError(f"historical bytes: {name} takes {size} bytes, got "
                                  f"{len(fields[name])}")
    return b"".join(bytes(fields[name]) for name, _ in HISTORICAL_LAYOUT)


def build_ssc_atr(historical: bytes, protocol: Protocol = "T0") -> bytes:
    """The ATR of card-profile §10 for ``historical`` (13 bytes), in the T=0 or T=1 form."""
    if len(historical) != SSC_HISTORICAL_LEN:
        raise DataFormatError(
            f"card-profile §10 has {SSC_HISTORICAL_LEN} historical bytes, got {len(historical)}"
        )
    try:
        prefix = _SSC_PREFIX[protocol]
    except KeyError:
        raise DataFormatError(f"unknown protocol {protocol!r}; use T0 or T1") from None
    body = prefix + bytes(historical)
    if protocol == "T0":
        return body
    return body + bytes((_xor(body[1:]),))


def _xor(data: bytes) -> int:
    acc = 0
    for b in data:
        acc ^= b
    return acc
