"""Value encodings of the SSC data elements (card-profile §4) and the PIN coding (§6).

- ``an``: ASCII/GBK text, right-padded with 0x00 (0x20 on some real cards); read with GB18030.
- ``cn``: BCD digits, right-padded with nibble F.
- dates: ``cn`` 4 bytes YYYYMMDD.

Decoders accept what real cards send (0x00, 0x20 and 0xFF padding) and raise
:class:`DataFormatError` for anything that is not the format.
"""

from __future__ import annotations

import datetime as dt

from apdu.errors import DataFormatError

TEXT_CODEC = "gb18030"
_STRIP = b"\x00\x20\xff"

#: §6: a PIN has 4 to 16 decimal digits.  The one statement of the rule: the card (simulator),
#: the terminal's PIN policy and CLI, the PIN-pad structures and the personalisation all use it.
PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 16


def an_encode(text: str, size: int | None = None, pad: int = 0x00) -> bytes:
    """GBK/GB18030 text, padded to ``size`` when given (longer text is an error)."""
    raw = text.encode(TEXT_CODEC)
    if size is None:
        return raw
    if len(raw) > size:
        raise DataFormatError(f"text of {len(raw)} bytes does not fit {size}")
    return raw + bytes((pad,)) * (size - len(raw))


def an_decode(raw: bytes) -> str:
    """Strip trailing 0x00/0x20/0xFF padding and decode (GB18030 is a superset of GBK)."""
    try:
        return bytes(raw).rstrip(_STRIP).decode(TEXT_CODEC)
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"text is not GB18030: {exc.reason}") from None


def cn_encode(digits: str, size: int | None = None) -> bytes:
    """Decimal digits as BCD, an odd count or a short value padded with F nibbles."""
    if not digits.isdigit() or not digits.isascii():
        raise DataFormatError("cn values are decimal digits")
    nibbles = digits
    if size is not None:
        if len(digits) > 2 * size:
            raise DataFormatError(f"{len(digits)} digits do not fit {size} bytes")
        nibbles = digits + "F" * (2 * size - len(digits))
    elif len(nibbles) % 2:
        nibbles += "F"
    return bytes.fromhex(nibbles)


def cn_decode(raw: bytes) -> str:
    """BCD digits up to the first F nibble (all nibbles after it must be F)."""
    text = bytes(raw).hex().upper()
    cut = text.find("F")
    digits, rest = (text, "") if cut < 0 else (text[:cut], text[cut:])
    if not digits.isdigit() and digits:
        raise DataFormatError("BCD value holds a non-decimal nibble")
    if rest.strip("F"):
        raise DataFormatError("BCD value has digits after its F padding")
    return digits


def hex_decode(raw: bytes) -> str:
    """Upper-case hex, for ``cn`` items such as the card identification code that may hold A-F."""
    return bytes(raw).hex().upper()


def date_encode(value: dt.date) -> bytes:
    return cn_encode(value.strftime("%Y%m%d"), 4)


def date_decode(raw: bytes) -> dt.date:
    digits = cn_decode(raw)
    if len(digits) != 8:
        raise DataFormatError(f"a date needs 8 digits, got {len(digits)}")
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise DataFormatError(f"{digits} is not a calendar date") from None


def pin_length_ok(digits: int) -> bool:
    """True when a PIN of ``digits`` digits is one the card takes (§6)."""
    return PIN_MIN_DIGITS <= digits <= PIN_MAX_DIGITS


def pin_format_ok(pin: str) -> bool:
    """True when ``pin`` is 4 to 16 ASCII decimal digits (§6), i.e. :func:`pin_encode` takes it."""
    return pin_length_ok(len(pin)) and pin.isascii() and pin.isdigit()


def pin_encode(pin: bytes | str) -> bytes:
    """The §6 PIN coding: BCD, two digits a byte, an odd count padded with nibble F.

    Raises without echoing the PIN: the message names only the rule that failed.
    """
    digits = pin.decode("ascii", "replace") if isinstance(pin, bytes | bytearray) else pin
    if not pin_length_ok(len(digits)):
        raise DataFormatError(f"a PIN has {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
    if not (digits.isascii() and digits.isdigit()):
        raise DataFormatError("a PIN is made of decimal digits only")
    return cn_encode(digits)


def pin_decode(raw: bytes) -> bytes:
    """Inverse of :func:`pin_encode` (used by the simulator); returns ASCII digits as bytes."""
    try:
        digits = cn_decode(raw)
    except DataFormatError:
        raise DataFormatError("PIN block is not BCD") from None
    if not pin_length_ok(len(digits)) or len(raw) != (len(digits) + 1) // 2:
        raise DataFormatError("PIN block has a wrong length")
    return digits.encode("ascii")
