"""A region's local extension of the card, read from a declaration (application-files.md §4).

Regions add DFs under SSSE from ``DF0A`` and EFs from ``EF0C``; the data items of the national
EFs are never extended.  The card application rules ask each region to publish its extended
fields; sscard takes them from a TOML file, so the simulator personalises them and the terminal
decodes them with the same declaration (:func:`parse_extension`, then
:func:`apdu.appfiles.decode_records` on its files).  The format (every key is checked; anything
else is refused with one line naming the field)::

    format = "sscard-extension"        # required
    version = 1                        # required
    region = "Jiangsu"                 # required
    source = "where the facts come from"

    [[df]]                             # optional: a new DF under SSSE
    name = "DF0A"                      # DF0A and up
    aid = "D1560000050A"               # hex, 5 to 16 bytes
    zh = "..."
    en = "..."

    [[ef]]
    path = "SSSE/EF0D"                 # SSSE, a national DF or a declared DF; EF0C and up
    sfi = 13                           # optional: default the EF number when it is 1..30
    zh = "..."
    en = "..."
    read = "free"                      # free | pin | never | KIND:KEY
    write = "key:0D"                   # KIND in key, pin_or_key, pin_and_key; KEY a key name
                                       # of the DF (RK1DF04...) or a KID in hex
    [[ef.item]]
    tag = 0xEA
    field = "person_id"                # a-z, 0-9, _
    zh = "人员识别码"
    en = "person identification code"
    format = "an"                      # a format of apdu.formats
    size = 12
    sample = "..."                     # optional: the simulator's value

Parsing is pure (text in, :class:`Extension` out): reading the file is the caller's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import tomllib

from apdu.appfiles import (
    APP_DFS,
    FILES,
    KEY_KIDS,
    Access,
    AppDF,
    AppFile,
    Element,
)
from apdu.errors import DataFormatError, SSCardError
from apdu.formats import FORMATS

FORMAT = "sscard-extension"
VERSION = 1
MAX_TEXT = 64 * 1024

#: SFIs already used under SSSE: EF05-EF08 and the DIR (0x0B on 2.x cards, 0x1E on 3.00).
_SSSE_SFIS = frozenset({5, 6, 7, 8, 0x0B, 0x1E})
_NATIONAL_DFS = {d.name: d for d in APP_DFS}
_FIELD = re.compile(r"[a-z][a-z0-9_]{0,39}")
_EF = re.compile(r"EF[0-9A-F]{2}")
_DF = re.compile(r"DF[0-9A-F]{2}")
_SIZES = {"date": 4, "datetime": 7}


class ExtensionError(SSCardError):
    """A declaration that is not valid; the message names the field, in one line."""


@dataclass(frozen=True)
class Extension:
    """A validated declaration: its new DFs, its EFs (wherever they live), the sample values."""

    region: str
    source: str
    dfs: tuple[AppDF, ...]
    files: tuple[AppFile, ...]
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: str = ""

    def file(self, path: str) -> AppFile:
        for f in self.files:
            if f.path == path:
                return f
        raise DataFormatError(f"no file {path!r} in the {self.region} extension")


def _fail(where: str, why: str) -> ExtensionError:
    return ExtensionError(f"{where}: {why}")


def _table(value: Any, where: str, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, "must be a table")
    for key in value:
        if key not in allowed:
            raise _fail(f"{where}.{key}" if where else key, "unknown key")
    for key in sorted(required):
        if key not in value:
            raise _fail(f"{where}.{key}" if where else key, "missing")
    return value


def _str(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _fail(where, "must be a non-empty string" if not empty else "must be a string")
    if any(ord(c) < 0x20 for c in value):
        raise _fail(where, "must not hold control characters")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, f"must be an integer {low}..{high} (0x{low:02X}..0x{high:02X})")
    return value


def _access(value: Any, where: str, domain: str) -> Access:
    text = _str(value, where)
    if text in ("free", "pin", "never"):
        return Access(text)  # type: ignore[arg-type]
    kind, sep, key = text.partition(":")
    if not sep or kind not in ("key", "pin_or_key", "pin_and_key"):
        raise _fail(where, f"{text!r} is not free, pin, never or KIND:KEY "
                           "(KIND key, pin_or_key or pin_and_key)")
    for d in (domain, "SSSE"):
        if (d, key) in KEY_KIDS:
            return Access(kind, key, KEY_KIDS[(d, key)])  # type: ignore[arg-type]
    if not re.fullmatch(r"[0-9A-Fa-f]{2}", key):
        raise _fail(where, f"key {key!r} is neither a key of {domain} nor a KID in hex")
    return Access(kind, None, int(key, 16))  # type: ignore[arg-type]


def _item(value: Any, where: str) -> tuple[Element, Any]:
    t = _table(value, where, {"tag", "field", "zh", "en", "format", "size", "sample", "note"},
               {"tag", "field", "zh", "en", "format", "size"})
    tag = _int(t["tag"], f"{where}.tag", 0x01, 0xFE)
    name = _str(t["field"], f"{where}.field")
    if not _FIELD.fullmatch(name):
        raise _fail(f"{where}.field", f"{name!r} must be a-z, 0-9 and _ (40 at most)")
    fmt = _str(t["format"], f"{where}.format")
    if fmt not in FORMATS:
        raise _fail(f"{where}.format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    size = _int(t["size"], f"{where}.size", 1, 253)
    if fmt in _SIZES and size != _SIZES[fmt]:
        raise _fail(f"{where}.size", f"a {fmt} takes {_SIZES[fmt]} bytes")
    element = Element(tag, name, fmt, size, _str(t["zh"], f"{where}.zh"),  # type: ignore[arg-type]
                      _str(t["en"], f"{where}.en"), (), _str(t.get("note", ""), f"{where}.note",
                                                           empty=True))
    sample = t.get("sample")
    if sample is not None:
        try:
            raw = element.codec.encode(sample, size)
        except DataFormatError as exc:
            raise _fail(f"{where}.sample", str(exc)) from None
        if len(raw) > size:
            raise _fail(f"{where}.sample", f"{len(raw)} bytes do not fit {size}")
    return element, sample


def _place(path: str, where: str, dfs: dict[str, AppDF | None]) -> tuple[str, str]:
    df, sep, ef = path.partition("/")
    if not sep or not _EF.fullmatch(ef) or not (df == "SSSE" or _DF.fullmatch(df)):
        raise _fail(where, f"{path!r} is not SSSE/EFxx or DFxx/EFxx")
    if df != "SSSE" and df not in dfs:
        raise _fail(where, f"{df} is neither a national DF nor declared in [[df]]")
    if int(ef[2:], 16) < 0x0C:
        raise _fail(where, f"{ef}: extension EFs are numbered from EF0C (national items are "
                           "never extended)")
    if path in FILES:
        raise _fail(where, f"{path} is a national file")
    return df, ef


def parse_extension(text: str) -> Extension:
    """Validate a TOML declaration; ExtensionError (one line, naming the field) if it is bad."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ExtensionError(f"a declaration is TOML text of at most {MAX_TEXT} characters")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExtensionError(f"not TOML: {exc}") from None
    top = _table(doc, "", {"format", "version", "region", "source", "df", "ef"},
                 {"format", "version", "region"})
    if top["format"] != FORMAT:
        raise _fail("format", f"must be {FORMAT!r}")
    if top["version"] != VERSION or isinstance(top["version"], bool):
        raise _fail("version", f"must be {VERSION}")
    region = _str(top["region"], "region")
    source = _str(top.get("source", ""), "source", empty=True)

    dfs: dict[str, AppDF | None] = dict.fromkeys(_NATIONAL_DFS)
    declared: list[tuple[str, bytes, str, str]] = []
    aids = {d.aid for d in APP_DFS}
    raw_dfs = top.get("df", [])
    if not isinstance(raw_dfs, list):
        raise _fail("df", "must be an array of tables ([[df]])")
    for i, value in enumerate(raw_dfs):
        where = f"df[{i}]"
        t = _table(value, where, {"name", "aid", "zh", "en"}, {"name", "aid", "zh", "en"})
        name = _str(t["name"], f"{where}.name")
        if not _DF.fullmatch(name) or int(name[2:], 16) < 0x0A:
            raise _fail(f"{where}.name", f"{name!r}: extension DFs are DF0A and up")
        if name in dfs:
            raise _fail(f"{where}.name", f"{name} declared twice")
        aid_text = _str(t["aid"], f"{where}.aid")
        try:
            aid = bytes.fromhex(aid_text)
        except ValueError:
            raise _fail(f"{where}.aid", "must be hex") from None
        if not 5 <= len(aid) <= 16 or aid in aids:
            raise _fail(f"{where}.aid", "must be 5 to 16 bytes, not another DF's AID")
        aids.add(aid)
        dfs[name] = None
        declared.append((name, aid, _str(t["zh"], f"{where}.zh"), _str(t["en"], f"{where}.en")))

    files: list[AppFile] = []
    samples: dict[str, dict[str, Any]] = {}
    used_sfi: dict[str, set[int]] = {"SSSE": set(_SSSE_SFIS)}
    for d in APP_DFS:
        used_sfi[d.name] = {f.sfi for f in d.files if f.sfi is not None}
    raw_efs = top.get("ef", [])
    if not isinstance(raw_efs, list) or not raw_efs:
        raise _fail("ef", "must be a non-empty array of tables ([[ef]])")
    for i, value in enumerate(raw_efs):
        where = f"ef[{i}]"
        t = _table(value, where, {"path", "sfi", "zh", "en", "read", "write", "item"},
                   {"path", "zh", "en", "read", "write", "item"})
        path = _str(t["path"], f"{where}.path")
        df, ef = _place(path, f"{where}.path", dfs)
        if any(f.path == path for f in files):
            raise _fail(f"{where}.path", f"{path} declared twice")
        number = int(ef[2:], 16)
        sfi = t.get("sfi", number if number <= 30 else None)
        if sfi is not None:
            sfi = _int(sfi, f"{where}.sfi", 1, 30)
            if sfi in used_sfi.setdefault(df, set()):
                raise _fail(f"{where}.sfi", f"SFI {sfi:02X} is already used in {df}")
            used_sfi[df].add(sfi)
        items_raw = t["item"]
        if not isinstance(items_raw, list) or not items_raw:
            raise _fail(f"{where}.item", "must be a non-empty array of tables ([[ef.item]])")
        items: list[Element] = []
        values: dict[str, Any] = {}
        for j, item_value in enumerate(items_raw):
            element, sample = _item(item_value, f"{where}.item[{j}]")
            if any(e.tag == element.tag for e in items):
                raise _fail(f"{where}.item[{j}].tag", f"tag {element.tag:02X} twice in {path}")
            if any(e.field == element.field for e in items):
                raise _fail(f"{where}.item[{j}].field", f"{element.field!r} twice in {path}")
            items.append(element)
            if sample is not None:
                values[element.field] = sample
        files.append(ExtFile(
            df, ef, _str(t["zh"], f"{where}.zh"), _str(t["en"], f"{where}.en"), "records",
            _access(t["read"], f"{where}.read", df), _access(t["write"], f"{where}.write", df),
            items=tuple(items), source=f"{region} extension", ext_sfi=sfi))
        samples[path] = values
    new_dfs = tuple(
        AppDF(name, aid, zh, en, tuple(f for f in files if f.df == name), f"{region} extension")
        for name, aid, zh, en in declared
    )
    return Extension(region, source, new_dfs, tuple(files), samples, text)


@dataclass(frozen=True)
class ExtFile(AppFile):
    """An extension EF: its SFI is declared (or absent) rather than implied by its number."""

    ext_sfi: int | None = None

    @property
    def sfi(self) -> int | None:
        return self.ext_sfi

