"""Data items as text on the national interface: the ONE place that decodes and encodes them.

An item of a record file is one SIMPLE-TLV record (card-profile §4).  ``iReadCard`` shows its
value as text and ``iWriteCard`` turns text back into a value, both through this module:

- items the project's element tables know (:mod:`apdu.elements`: SSSE EF05 and EF06, DF04 EF05
  tag 84) use their format: ``an`` -> the text (GBK), ``cn`` -> the digits, dates -> YYYYMMDD,
  ``b`` -> upper-case hex;
- every other item travels as the upper-case hex of its raw value, both ways: lossless and
  unambiguous until the application-file tables land (issue 15), which plug in here and nowhere
  else;
- a record that is not one SIMPLE-TLV object (the transaction log's fixed-layout records) is one
  item: its hex.

Decoding never raises: a value that does not decode in its format is shown as hex (the caller
can still see what the card holds).  Encoding raises :class:`~terminal.national.codes.NationalError`
(-23) for text that is not a value of the item's format.
"""

from __future__ import annotations

import datetime as dt

from apdu import codec
from apdu.elements import DF04_EF05, EF05, EF06, Element
from apdu.errors import DataFormatError, TlvError
from apdu.tlv import simple_decode
from terminal.national.codes import DATA_INVALID, NationalError

#: (application, EF) -> the element table of that file.
TABLES: dict[tuple[str, int], dict[int, Element]] = {
    ("SSSE", 0xEF05): {e.tag: e for e in EF05},
    ("SSSE", 0xEF06): {e.tag: e for e in EF06},
    ("DF04", 0xEF05): {e.tag: e for e in DF04_EF05},
}


def element(app: str, ef: int, tag: int) -> Element | None:
    return TABLES.get((app, ef), {}).get(tag)


def _decode(el: Element, raw: bytes) -> str:
    if el.format == "an":
        return codec.an_decode(raw)
    if el.format == "cn":
        return codec.cn_decode(raw)
    if el.format == "date":
        return codec.cn_decode(raw) if raw.rstrip(b"\xff") else ""
    return codec.hex_decode(raw)


def decode_item(app: str, ef: int, tag: int, raw: bytes) -> str:
    """The text of one item's value (see the module docstring)."""
    el = element(app, ef, tag)
    if el is not None:
        try:
            return _decode(el, raw)
        except DataFormatError:
            pass
    return codec.hex_decode(raw)


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise NationalError(DATA_INVALID, f"{what}的值须为十六进制数") from None


def encode_item(app: str, ef: int, tag: int, text: str) -> bytes:
    """The value to write for ``text`` (an ``an`` value is padded with 00 to its size, §4)."""
    what = f"数据项{tag:02X}"
    el = element(app, ef, tag)
    try:
        if el is None or el.format == "b":
            return _hex(text, what)
        if el.format == "an":
            return codec.an_encode(text, el.size)
        if el.format == "date":
            dt.datetime.strptime(text, "%Y%m%d")
            return codec.cn_encode(text, el.size)
        return codec.cn_encode(text, el.size)
    except (DataFormatError, ValueError, UnicodeEncodeError):
        raise NationalError(DATA_INVALID, f"{what}的值'{text[:20]}'不符合其格式") from None


def record_items(app: str, ef: int, record: bytes) -> list[str]:
    """The items of a whole record: each SIMPLE-TLV object decoded, or the record's hex."""
    try:
        objects = simple_decode(record)
    except TlvError:
        objects = []
    if not objects:
        return [codec.hex_decode(record)]
    return [decode_item(app, ef, tag, value) for tag, value in objects]
