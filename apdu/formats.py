"""The value formats of the card's data items, each one codec (card-profile §4; issue 15).

A data item declares its format by name; the name selects one :class:`Codec` from
:data:`FORMATS`, which both sides use: the simulator's personalisation encodes with it, the
terminal decodes with it.  The formats are those of the national file-structure text and of the
public reader code that implements it (a reader DLL's format table: ``an``, ``cn``, ``b``,
``dec``, ``hex``):

=========  ==========================================================================  ===========
name       bytes                                                                       value
=========  ==========================================================================  ===========
an         GBK text (GB18030 codec), right-padded with 0x00 (§4)                        ``str``
cn         BCD digits, right-padded with nibble F (§4)                                  ``str``
b          binary, as stored                                                            ``bytes``
date       cn 4, YYYYMMDD                                                               ``date``
datetime   cn 7, YYYYMMDDhhmmss (transaction time of the DF04 EF08 log)                 ``datetime``
dec        an amount in fen as BCD digits, left-padded with 0 (the reader code's "dec")  ``Decimal``
amount     an amount in fen as an unsigned big-endian integer (the reader code's "hex")  ``Decimal``
uint       an unsigned big-endian counter (the log's transaction number, b 2)           ``int``
raw        an item whose format no public source gives: the bytes, said so              ``bytes``
=========  ==========================================================================  ===========

Amounts are yuan with two decimals (``Decimal("12.34")`` is 1234 fen).  Decoders accept what
real cards send (0x00/0x20/0xFF padding of text) and raise :class:`DataFormatError` for anything
else; encoders accept the typed value or its text form (``"2024-06-03"``, ``"12.34"``, hex for
``b``), which is how a TOML declaration or a JSON model gives them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from apdu import codec
from apdu.errors import DataFormatError

Value = str | bytes | int | Decimal | dt.date | dt.datetime | None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise DataFormatError(f"expected text, got {type(value).__name__}")
    return value


def _enc_an(value: object, size: int, pad: int) -> bytes:
    return codec.an_encode(_text(value), size, pad)


def _dec_an(raw: bytes) -> Value:
    return codec.an_decode(raw) or None


def _enc_cn(value: object, size: int, pad: int) -> bytes:
    return codec.cn_encode(_text(value), size)


def _dec_cn(raw: bytes) -> Value:
    return codec.cn_decode(raw) or None


def _enc_b(value: object, size: int, pad: int) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise DataFormatError("binary values are given as hex digits") from None
    if not isinstance(value, bytes | bytearray):
        raise DataFormatError(f"expected bytes, got {type(value).__name__}")
    if len(value) > size:
        raise DataFormatError(f"{len(value)} bytes do not fit {size}")
    return bytes(value)


def _dec_b(raw: bytes) -> Value:
    return bytes(raw)


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value).replace("-", "")
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise DataFormatError(f"{value!r} is not a date YYYY-MM-DD") from None


def _enc_date(value: object, size: int, pad: int) -> bytes:
    if size != 4:
        raise DataFormatError("a date takes 4 bytes")
    return codec.date_encode(_as_date(value))


def _dec_date(raw: bytes) -> Value:
    return codec.date_decode(raw)


def _as_datetime(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(_text(value))
    except ValueError:
        raise DataFormatError(f"{value!r} is not a date and time YYYY-MM-DDThh:mm:ss") from None


def _enc_datetime(value: object, size: int, pad: int) -> bytes:
    if size != 7:
        raise DataFormatError("a date and time takes 7 bytes")
    return codec.cn_encode(_as_datetime(value).strftime("%Y%m%d%H%M%S"), 7)


def _dec_datetime(raw: bytes) -> Value:
    digits = codec.cn_decode(raw)
    if len(digits) != 14:
        raise DataFormatError(f"a date and time needs 14 digits, got {len(digits)}")
    try:
        return dt.datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError:
        raise DataFormatError(f"{digits} is not a calendar date and time") from None


def _fen(value: object) -> int:
    """Yuan (Decimal, int or text with at most two decimals) as a whole number of fen."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise DataFormatError(f"expected an amount, got {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise DataFormatError(f"{value!r} is not an amount") from None
    fen = amount * 100
    if not amount.is_finite() or fen != fen.to_integral_value() or fen < 0:
        raise DataFormatError(f"{value!r} is not a non-negative amount in fen")
    return int(fen)


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _enc_dec(value: object, size: int, pad: int) -> bytes:
    digits = str(_fen(value))
    if len(digits) > 2 * size:
        raise DataFormatError(f"amount {value} does not fit {size} BCD bytes")
    return bytes.fromhex(digits.rjust(2 * size, "0"))


def _dec_dec(raw: bytes) -> Value:
    digits = bytes(raw).hex()
    if not digits.isdigit():
        raise DataFormatError("BCD amount holds a non-decimal nibble")
    return _yuan(int(digits))


def _enc_amount(value: object, size: int, pad: int) -> bytes:
    fen = _fen(value)
    if fen >= 1 << (8 * size):
        raise DataFormatError(f"amount {value} does not fit {size} bytes")
    return fen.to_bytes(size, "big")


def _dec_amount(raw: bytes) -> Value:
    return _yuan(int.from_bytes(raw, "big"))


def _enc_uint(value: object, size: int, pad: int) -> bytes:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataFormatError(f"expected a non-negative integer, got {value!r}")
    if value >= 1 << (8 * size):
        raise DataFormatError(f"{value} does not fit {size} bytes")
    return value.to_bytes(size, "big")


def _dec_uint(raw: bytes) -> Value:
    return int.from_bytes(raw, "big")


@dataclass(frozen=True, slots=True)
class Codec:
    """One value format: ``encode(value, size, pad)`` gives the stored bytes (fixed-size formats
    fill the whole field), ``decode(raw)`` the value (``None`` for an empty text field)."""

    name: str
    encode_fn: Callable[[object, int, int], bytes]
    decode_fn: Callable[[bytes], Value]
    #: True when the stored value always has exactly the declared size (BCD and binary numbers).
    fixed: bool

    def encode(self, value: object, size: int, pad: int = 0x00) -> bytes:
        return self.encode_fn(value, size, pad)

    def decode(self, raw: bytes) -> Value:
        return self.decode_fn(bytes(raw))


FORMATS: dict[str, Codec] = {
    "an": Codec("an", _enc_an, _dec_an, False),
    "cn": Codec("cn", _enc_cn, _dec_cn, False),
    "b": Codec("b", _enc_b, _dec_b, False),
    "date": Codec("date", _enc_date, _dec_date, True),
    "datetime": Codec("datetime", _enc_datetime, _dec_datetime, True),
    "dec": Codec("dec", _enc_dec, _dec_dec, True),
    "amount": Codec("amount", _enc_amount, _dec_amount, True),
    "uint": Codec("uint", _enc_uint, _dec_uint, True),
    "raw": Codec("raw", _enc_b, _dec_b, False),
}


def to_json(value: Any) -> Any:
    """A decoded value as JSON: dates ISO 8601, amounts as decimal strings, bytes as hex."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex().upper()
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
