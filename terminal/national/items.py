"""Data items as text on the national interface: the ONE place that decodes and encodes them.

An item of a record file is one SIMPLE-TLV record (card-profile §4); a record of a cyclic file is
a fixed layout of fields.  ``iReadCard`` shows values as text and ``iWriteCard`` turns text back
into values, both through this module and both with the application-file tables of
:mod:`apdu.appfiles` (the same tables the simulator personalises with):

===========  ============================================================
format       national text
===========  ============================================================
an           the text (GBK)
cn           the digits
b, raw       upper-case hex of the bytes
date         YYYYMMDD
datetime     YYYYMMDDhhmmss
dec, amount  yuan with two decimals (``12.34``)
uint         the number
===========  ============================================================

An item the tables do not know (a tag outside its file's table, a file outside the tables, a
local extension) travels as the upper-case hex of its raw value, both ways: lossless and
unambiguous.  A value that does not decode in its format is also shown as hex (the caller still
sees what the card holds).  A record of a cyclic file is its fields in layout order; an empty
record (all 00 or all FF) has none.  Decoding never raises; encoding raises
:class:`~terminal.national.codes.NationalError` (-23) for text that is not a value of the item.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from apdu import appfiles
from apdu.errors import DataFormatError, TlvError
from apdu.formats import Value
from apdu.tlv import simple_decode_one
from terminal.national.codes import DATA_INVALID, NationalError

#: formats whose FF bytes are a value, not padding.
_NUMERIC = frozenset({"b", "raw", "uint", "amount"})


def app_file(app: str, ef: int) -> appfiles.AppFile | None:
    """The table of ``app``/``ef`` (``SSSE``, ``DF01``..; ``0xEF05``), or None."""
    return appfiles.FILES.get(f"{app}/EF{ef & 0xFF:02X}")


def element(app: str, ef: int, tag: int) -> appfiles.Element | None:
    f = app_file(app, ef)
    return f.by_tag.get(tag) if f is not None else None


def text_of(value: Value) -> str:
    """A decoded value as national text (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex().upper()
    if isinstance(value, dt.datetime):
        return value.strftime("%Y%m%d%H%M%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y%m%d")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def decode_item(app: str, ef: int, tag: int, raw: bytes) -> str:
    """The text of one item's value (see the module docstring)."""
    el = element(app, ef, tag)
    if el is not None and el.sourced:
        if el.format not in _NUMERIC and raw and not bytes(raw).strip(b"\xff"):
            return ""  # an unpersonalised item, filled with FF, is absent (real 2.x cards)
        try:
            return text_of(appfiles.decode_item(el, raw))
        except DataFormatError:
            pass
    return bytes(raw).hex().upper()


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise NationalError(DATA_INVALID, f"{what}的值须为十六进制数") from None


def _value(fmt: str, text: str) -> object:
    """National text -> what the item's codec takes."""
    if fmt == "datetime":
        return dt.datetime.strptime(text, "%Y%m%d%H%M%S")
    if fmt == "date" and not (len(text) == 8 and text.isdigit()):
        raise ValueError("a date is YYYYMMDD")
    return text


def encode_item(app: str, ef: int, tag: int, text: str) -> bytes:
    """The value to write for ``text`` (an ``an`` value is padded with 00 to its size, §4)."""
    what = f"数据项{tag:02X}"
    el = element(app, ef, tag)
    if el is None or el.format in ("b", "raw"):
        value = _hex(text, what)
        if el is not None and len(value) > el.size:
            raise NationalError(DATA_INVALID, f"{what}最长{el.size}字节")
        return value
    try:
        return el.codec.encode(_value(el.format, text), el.size, 0x00)
    except (DataFormatError, ValueError, UnicodeEncodeError):
        raise NationalError(DATA_INVALID, f"{what}的值'{text[:20]}'不符合其格式") from None


def record_items(app: str, ef: int, record: bytes) -> list[str]:
    """The items of one whole record: a cyclic record's fields, a record's one item, or hex."""
    f = app_file(app, ef)
    if f is not None and f.structure == "cyclic":
        fields = appfiles.decode_log_record(f, bytes(record))
        if fields is None:
            return []
        return [text_of(d.value) if d.error is None else d.raw.hex().upper() for d in fields]
    try:
        tag, value, end = simple_decode_one(record, 0)
    except TlvError:
        return [bytes(record).hex().upper()]
    if end != len(record):
        return [bytes(record).hex().upper()]
    return [decode_item(app, ef, tag, value)]
