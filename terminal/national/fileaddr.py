"""The file addresses of ``iReadCard``/``iWriteCard`` (``pFileAddr``), their data and ``pCardInfo``.

national-interface §3, with the forms deployed terminal software sends (public vendor test code:
``MFEF06|08|09|$``, ``DF04EF08:01$``, ``DF03EF06|4A:01|45|$``).  The grammar, parsed strictly::

    address  = file { file }
    file     = fileid ( "|" item "|" { item "|" }  |  ":" number  |  (nothing) ) "$"
    fileid   = app "EF" hex2          app = "SSSE" | "MF" | "DF" hex2
    item     = hex2 [ ":" number ]    number = hex1or2, 01..FF (hexadecimal: ":0A" is 10)

- ``DF01EF0A|37|$``: items by record identifier (the SIMPLE-TLV tag of §4); ``40:2`` is the
  second record whose identifier is 40 (a repeated item).
- ``DF04EF08:01$``: record 1 of a record file, all its items.
- ``DF04EF08$``: every record of a record file (the cyclic transaction log, most recent first).
- ``SSSEEF08|00|$``: item ``00`` (not a valid SIMPLE-TLV tag, so never an item) is the whole
  content of a transparent file (EF07 fingerprint, EF08 photo); it must be the file's only item.
- ``MF`` is accepted for ``SSSE`` (deployed software writes ``MFEF05``), and a ``|`` between the
  application and the EF (``MF|EF05|01|$``: a real 2.00 deployment, tests/data/real_cards/
  fuyang-2.00-ireadcard-ef05.trace); the output echoes the file as it was written.  Hex digits
  may be lower case; the output is upper case.

The output mirrors the address with values: ``DF01EF0A|CHN|$``; a record is its items, each
terminated by ``^``, as one ``|``-terminated field: ``DF04EF08:01|i1^i2^|$``, and a whole record
file is one such field per record.  ``pWriteData`` has the same shape without the file ids:
``CHN|$`` (item form only: records and transparent files are not written through
``iWriteCard``).

Errors: malformed text -> -14 (命令参数错) with the position; well-formed but impossible
(record 0, item 00 beside other items, values that do not match the items) -> -23.  A value that
holds a delimiter cannot be produced: the facade drops ``|``, ``$``, ``^`` and control characters
from card text (text from a card is data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apdu.text import strip_controls
from terminal.national.codes import (
    BAD_PARAMETER,
    CARD_ID_FORMAT,
    DATA_INVALID,
    NOT_SUPPORTED,
    NationalError,
)

#: Item ``00``: the whole content of a transparent file.
WHOLE_BINARY = 0x00

_FILEID = re.compile(r"(SSSE|MF|DF[0-9A-F]{2})\|?EF([0-9A-F]{2})", re.IGNORECASE)
_ITEM = re.compile(r"([0-9A-F]{2})(?::([0-9A-F]{1,2}))?", re.IGNORECASE)
_NUMBER = re.compile(r"[0-9A-F]{1,2}", re.IGNORECASE)
_CARD_ID = re.compile(r"[0-9A-F]{32}", re.IGNORECASE)
_CARD_NUMBER = re.compile(r"[0-9A-Z]{1,20}", re.IGNORECASE)

#: the delimiters of the national formats: card text may not carry them into a field.
_DELIMITERS = re.compile(r"[|$^]")


@dataclass(frozen=True, slots=True)
class ItemRef:
    """One item: its record identifier (tag) and which occurrence (1 = the first)."""

    tag: int
    occurrence: int = 1


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file of an address.  Exactly one of: ``items``, ``record``, ``all_records``."""

    label: str  # as written, upper case: "DF01EF0A", "MFEF05"
    app: str  # "SSSE" or "DFxx"
    ef: int  # 0xEF05
    items: tuple[ItemRef, ...] = ()
    record: int | None = None
    all_records: bool = False

    @property
    def binary(self) -> bool:
        """True for ``|00|``: the whole content of a transparent file."""
        return self.items == (ItemRef(WHOLE_BINARY),)

    @property
    def sfi(self) -> int | None:
        """The EF's short file identifier when its low byte can be one (1..30), else None."""
        low = self.ef & 0xFF
        return low if 1 <= low <= 30 else None


def _bad(detail: str) -> NationalError:
    return NationalError(BAD_PARAMETER, detail)


def _number(text: str, what: str, where: str) -> int:
    if not _NUMBER.fullmatch(text):
        raise _bad(f"{where}: {what}'{text}'不是1到2位十六进制数")
    value = int(text, 16)
    if value == 0:
        raise NationalError(DATA_INVALID, f"{where}: {what}不能为0")
    return value


def _parse_file(chunk: str, index: int) -> FileRef:
    where = f"pFileAddr第{index}个文件"
    m = _FILEID.match(chunk)
    if m is None:
        raise _bad(f"{where}'{chunk[:12]}'不是'SSSEEFxx'、'MFEFxx'或'DFxxEFxx'形式的文件标识")
    app = m.group(1).upper()
    app = "SSSE" if app in ("SSSE", "MF") else app
    ef = 0xEF00 | int(m.group(2), 16)
    label = chunk[: m.end()].upper()
    rest = chunk[m.end() :]
    if not rest:
        return FileRef(label, app, ef, all_records=True)
    if rest.startswith(":"):
        return FileRef(label, app, ef, record=_number(rest[1:], "记录号", where))
    if not rest.startswith("|") or not rest.endswith("|") or len(rest) < 3:
        raise _bad(f"{where}({label})的数据项须写成'|项|项|'")
    items: list[ItemRef] = []
    for n, text in enumerate(rest[1:-1].split("|"), 1):
        im = _ITEM.fullmatch(text)
        if im is None:
            raise _bad(f"{where}({label})第{n}个数据项'{text[:8]}'不是两位十六进制标识")
        occurrence = 1 if im.group(2) is None else _number(im.group(2), "重复项序号", where)
        items.append(ItemRef(int(im.group(1), 16), occurrence))
    refs = tuple(items)
    if any(i.tag in (WHOLE_BINARY, 0xFF) for i in refs):
        if refs != (ItemRef(WHOLE_BINARY),):
            raise NationalError(
                DATA_INVALID, f"{where}({label}): 数据项00只能单独表示整个二进制文件"
            )
    return FileRef(label, app, ef, items=refs)


def parse_address(text: str) -> tuple[FileRef, ...]:
    """``pFileAddr`` -> the files to read or write, in order (see the module docstring)."""
    if not text:
        raise _bad("pFileAddr为空")
    if not text.endswith("$"):
        raise _bad("pFileAddr须以'$'结束")
    chunks = text[:-1].split("$")
    return tuple(_parse_file(chunk, i) for i, chunk in enumerate(chunks, 1))


def parse_write_data(text: str, files: tuple[FileRef, ...]) -> tuple[tuple[str, ...], ...]:
    """``pWriteData`` -> one value per item of each file (item form only)."""
    for f in files:
        if not f.items or f.binary:
            raise NationalError(
                NOT_SUPPORTED, f"{f.label}: iWriteCard只写数据项(不写整条记录或二进制文件)"
            )
    if not text.endswith("$"):
        raise _bad("pWriteData须以'$'结束")
    groups = text[:-1].split("$")
    if len(groups) != len(files):
        raise NationalError(
            DATA_INVALID, f"pWriteData有{len(groups)}个文件的数据,pFileAddr有{len(files)}个文件"
        )
    out: list[tuple[str, ...]] = []
    for f, group in zip(files, groups, strict=True):
        if not group.endswith("|"):
            raise _bad(f"pWriteData中{f.label}的每个值须以'|'结束")
        values = tuple(group[:-1].split("|"))
        if len(values) != len(f.items):
            raise NationalError(
                DATA_INVALID,
                f"{f.label}: pWriteData有{len(values)}个值,pFileAddr有{len(f.items)}个数据项",
            )
        out.append(values)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CardInfo:
    """``pCardInfo`` = ``卡识别码|卡号|``: checked against the card before anything else."""

    card_id: bytes
    card_number: str


def parse_card_info(text: str) -> CardInfo:
    """Strict on content, tolerant of a missing final ``|`` (deployed callers differ)."""
    parts = text.split("|")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if len(parts) != 2:
        raise _bad("pCardInfo须为'卡识别码|卡号|'")
    card_id, number = parts
    if not _CARD_ID.fullmatch(card_id):
        raise NationalError(CARD_ID_FORMAT, "卡识别码须为32位十六进制数")
    if not _CARD_NUMBER.fullmatch(number):
        raise NationalError(DATA_INVALID, "卡号须为1到20位字母或数字")
    return CardInfo(bytes.fromhex(card_id), number.upper())


def safe_field(text: str) -> str:
    """Card text made safe for one output field: delimiters and control characters (the one rule
    of :mod:`apdu.text`) dropped."""
    return strip_controls(_DELIMITERS.sub("", text))


def format_file(f: FileRef, fields: list[str]) -> str:
    """One file of the output: ``label|v|v|$`` or ``label:NN|i^i^|$``."""
    head = f.label if f.record is None else f"{f.label}:{f.record:02X}"
    return head + "|" + "".join(field + "|" for field in fields) + "$"


def format_record(items: list[str]) -> str:
    """A record's items, each ``^``-terminated (card text already made safe)."""
    return "".join(item + "^" for item in items)
