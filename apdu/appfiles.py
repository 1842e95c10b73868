"""The card's application files as data: every EF, its items, their codecs and access rules.

One declaration per application file (card-profile §2, §4; application-files.md §1-§4), used by
the simulator (to build its tree and personalise) and by the terminal (to plan a read and decode
what the card returns).  Each item declares its tag, a field name, its names in Chinese and
English, its format (a codec of :mod:`apdu.formats`), its size, and its test vectors — the
encoded bytes of the field beside the value they mean.  ``tests/test_appfiles.py`` walks every
item of every file and checks each vector both ways.

Sources, per table (facts only: tags, formats, sizes, names):

- [P] card-profile §4: SSSE EF05/EF06 (firm).
- [A] application-files.md §1-§3 (V2 tables 2, 9; card-profile §2): DF AIDs, file labels, access
  rules, key ids, and the DF04 item names (EF05, EF06, the EF08 log's fields).
- [R] a public social security reader library's file table (``CardFileType.cpp``, the "V2"
  layout): for every national EF the tag, the format (an, cn, b, dec, hex) and the size of each
  item, which EFs are cyclic (record layout and record count) and which binary.  Every format and
  size below that [P] does not give comes from it.
- [K] a public kiosk card-writer (Hainan): the names of DF01 EF05 20, 21 and EF06 23, 24, 28.
- [D] a public reader SDK's documentation (``DWGetSSCardCommonData``, 2.00 cards): the names of
  DF01 EF06 items 联系人（监护人）姓名 / 电话 beside 常住所在地地址, 行政区划代码, 联系电话.
- [L] a public description of the V2 file structure (社保卡卡片设计及档案结构) and a public
  card-production export: the labels of the DF01-DF03 files.

An item whose format and size [R] gives but whose *name* no public source found has empty names
(``named`` False): it decodes with its format and prints as "tag 0E".  An item whose structure is
not given (the composite items of [R], nested SIMPLE-TLV) is declared with the ``raw`` format:
it decodes as raw SIMPLE-TLV with its tag, and the output says so (``sourced`` False).

Access rules (§1 of application-files.md) are :class:`Access` rows naming the key (root key name
of :mod:`apdu.keys`) and its KID (the inverse of :data:`apdu.keys.KID_TABLE`).  Write rules are
a [choice] where no source gives them: "PIN and" the DF's read key, as the simulator always did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from apdu import codec
from apdu.errors import DataFormatError, TlvError
from apdu.formats import FORMATS, Codec, Value, to_json
from apdu.keys import KID_TABLE
from apdu.names import DF_AIDS
from apdu.tlv import simple_decode_one

Format = Literal["an", "cn", "b", "date", "datetime", "dec", "amount", "uint", "raw"]
Structure = Literal["records", "cyclic", "binary"]
AccessKind = Literal["free", "pin", "key", "pin_or_key", "pin_and_key", "never"]


# --- items --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vector:
    """A test vector: the stored field (full size for fixed formats) and the value it means."""

    raw: bytes
    value: Value


class _Declared:
    """What items and log fields share: a codec chosen by the declared format, and a label."""

    __slots__ = ()
    format: Format
    zh: str
    en: str

    @property
    def codec(self) -> Codec:
        return FORMATS[self.format]

    @property
    def named(self) -> bool:
        return bool(self.zh)

    def _label(self, fallback: str) -> str:
        return f"{self.zh} {self.en}" if self.zh else fallback


@dataclass(frozen=True, slots=True)
class Element(_Declared):
    """One data item of a record EF: one SIMPLE-TLV record ``tag len value`` (§4).

    ``size`` is the maximum value length in bytes (exact for the fixed formats).  ``field`` is
    the item's key in decoded output and personalisation models.
    """

    tag: int
    field: str
    format: Format
    size: int
    zh: str = ""
    en: str = ""
    vectors: tuple[Vector, ...] = ()
    note: str = ""
    #: a ``cn`` item real cards also fill with non-BCD bytes (issue 9): it reads as hex and is
    #: written from hex text (:func:`read_value`, :func:`encode_item`).
    hex_ok: bool = False

    @property
    def label(self) -> str:
        """Chinese and English name, or "tag XX" for an item no public source names."""
        return self._label(f"tag {self.tag:02X}")

    @property
    def le(self) -> int:
        """The exact Le of READ RECORD for a full-size item: value + tag + length (§4)."""
        return self.size + 2

    @property
    def sourced(self) -> bool:
        """False for items whose structure no source gives: they decode as raw bytes."""
        return self.format != "raw"


@dataclass(frozen=True, slots=True)
class Field(_Declared):
    """One field of a fixed-layout record (the cyclic log files): no tag, a fixed size."""

    field: str
    format: Format
    size: int
    zh: str = ""
    en: str = ""
    vectors: tuple[Vector, ...] = ()

    @property
    def label(self) -> str:
        return self._label(self.field)


def _v(raw_hex: str, value: Value) -> Vector:
    return Vector(bytes.fromhex(raw_hex), value)


def _pad(hex_text: str, size: int, fill: str = "00") -> str:
    """Hex of a field padded to ``size`` bytes (right-padding of an/cn fields, §4)."""
    return hex_text + fill * (size - len(hex_text) // 2)


def _an(text_hex: str, size: int, value: str) -> Vector:
    return _v(_pad(text_hex, size), value)


def _cn(digits: str, size: int) -> Vector:
    return _v(_pad(digits + ("F" if len(digits) % 2 else ""), size, "FF"), digits)


def _item(tag: int, fld: str, fmt: Format, size: int, zh: str = "", en: str = "",
          *vectors: Vector, note: str = "", hex_ok: bool = False) -> Element:
    return Element(tag, fld, fmt, size, zh, en, tuple(vectors), note, hex_ok)


def _unnamed(tag: int, fmt: Format, size: int, *vectors: Vector, note: str = "") -> Element:
    """An item [R] gives the format of but no public source names."""
    return Element(tag, f"tag_{tag:02x}", fmt, size, "", "", tuple(vectors), note)


def _composite(tag: int, size: int, parts: str) -> Element:
    """A composite item of [R] (nested SIMPLE-TLV): declared raw, decoded as raw SIMPLE-TLV."""
    return Element(tag, f"tag_{tag:02x}", "raw", size, "", "",
                   (_v("0102", b"\x01\x02"),), f"composite: {parts} (decoded raw)")


# --- access rules -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    """One access condition (§2): a kind and, for the key kinds, the key's name and KID (§5)."""

    kind: AccessKind
    key: str | None = None
    kid: int | None = None

    def __str__(self) -> str:
        if self.kind in ("free", "pin", "never"):
            return self.kind.upper()
        joiner = {"key": "", "pin_or_key": "PIN or ", "pin_and_key": "PIN and "}[self.kind]
        name = self.key or f"key {self.kid:02X}"
        return f"{joiner}{name}"

    @property
    def needs_pin(self) -> bool:
        return self.kind in ("pin", "pin_and_key")

    @property
    def needs_key(self) -> bool:
        return self.kind in ("key", "pin_and_key")


FREE = Access("free")
PIN = Access("pin")
NEVER = Access("never")

#: (domain, key name) -> KID: the inverse of apdu.keys.KID_TABLE (one table, two directions).
KEY_KIDS: dict[tuple[str, str], int] = {(d, name): kid for (d, kid), name in KID_TABLE.items()}


def _keyed(kind: AccessKind, domain: str, key: str) -> Access:
    return Access(kind, key, KEY_KIDS[(domain, key)])


def key_rule(domain: str, key: str) -> Access:
    return _keyed("key", domain, key)


def pin_or(domain: str, key: str) -> Access:
    return _keyed("pin_or_key", domain, key)


def pin_and(domain: str, key: str) -> Access:
    return _keyed("pin_and_key", domain, key)


# --- files --------------------------------------------------------------------


@dataclass(frozen=True)
class AppFile:
    """One EF: where it is, how it is structured, who may read and write it, what it holds."""

    df: str  # "SSSE", "DF01".."DF07", or an extension DF ("DF0A"...)
    ef: str  # "EF05"
    zh: str
    en: str
    structure: Structure
    read: Access
    write: Access
    items: tuple[Element, ...] = ()  # record EFs
    layout: tuple[Field, ...] = ()  # cyclic EFs: the fields of one fixed-length record
    capacity: int = 0  # cyclic EFs: number of records
    size: int = 0  # binary EFs: bytes
    source: str = ""
    #: the read rule of a 1st/2nd-generation card when it differs (SSSE EF06, card-profile §1).
    read_before_gen3: Access | None = None
    by_tag: dict[int, Element] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_tag", {e.tag: e for e in self.items})

    @property
    def path(self) -> str:
        return f"{self.df}/{self.ef}"

    @property
    def number(self) -> int:
        return int(self.ef[2:], 16)

    @property
    def fid(self) -> int:
        return 0xEF00 | self.number

    @property
    def sfi(self) -> int | None:
        """Short file identifier = the EF number (EF05 -> 5, EF15 -> 0x15) when it fits 1..30."""
        return self.number if 1 <= self.number <= 30 else None

    @property
    def record_len(self) -> int:
        """Length of one record of a cyclic EF (the sum of its fields)."""
        return sum(f.size for f in self.layout)

    @property
    def label(self) -> str:
        return f"{self.path} {self.zh} {self.en}".rstrip()

    def read_rule(self, generation: int = 3) -> Access:
        if generation < 3 and self.read_before_gen3 is not None:
            return self.read_before_gen3
        return self.read


@dataclass(frozen=True)
class AppDF:
    """An application DF under SSSE (application-files §1): name, AID, label, files."""

    name: str
    aid: bytes
    zh: str
    en: str
    files: tuple[AppFile, ...]
    source: str = ""

    @property
    def fid(self) -> int:
        return 0xDF00 | int(self.name[2:], 16)


def _records(df: str, ef: str, zh: str, en: str, read: Access, write: Access,
             *items: Element, source: str) -> AppFile:
    return AppFile(df, ef, zh, en, "records", read, write, items=items, source=source)


# --- SSSE (card-profile §2, §4) -----------------------------------------------

_UK = key_rule("SSSE", "UKSSSE")
_RK = key_rule("SSSE", "RKSSSE")

SSSE_EF05 = _records(
    "SSSE", "EF05", "发卡机构数据", "issuer data", FREE, _UK,
    _item(0x01, "card_id", "b", 16, "卡的识别码", "card identification code",
          _v("420100D15600000500000001FFFFFFFF",
             bytes.fromhex("420100D15600000500000001FFFFFFFF"))),
    _item(0x02, "card_type", "an", 1, "卡的类别", "card type", _v("33", "3")),
    _item(0x03, "spec_version", "an", 4, "规范版本", "specification version",
          _v("332E3030", "3.00"), _v("322E3031", "2.01")),
    _item(0x04, "init_institution", "cn", 12, "初始化机构编号", "initialising institution",
          _cn("915600000242010042010001", 12), hex_ok=True),
    _item(0x05, "issue_date", "date", 4, "发卡日期", "issue date",
          _v("20240501", dt.date(2024, 5, 1))),
    _item(0x06, "expiry_date", "date", 4, "卡有效期", "expiry date",
          _v("20340501", dt.date(2034, 5, 1))),
    _item(0x07, "card_number", "an", 9, "卡号", "card number",
          _v("443231343335363958", "D2143569X")),
    source="[P] card-profile §4; [R] agrees",
)

SSSE_EF06 = AppFile(
    "SSSE", "EF06", "持卡人基本信息", "cardholder basic data", "records", _RK, _UK,
    items=(
        _item(0x08, "ssn", "an", 18, "社会保障号码", "social security number",
              _v("343230313032313938353035313531323338", "420102198505151238")),
        _item(0x09, "name", "an", 30, "姓名", "name", _an("D5C5C8FDB7E1", 30, "张三丰")),
        _item(0x4E, "name_extension", "an", 20, "姓名扩展", "name extension",
              _an("41", 20, "A"), _v("00" * 20, None)),
        _item(0x0A, "sex", "an", 1, "性别", "sex", _v("31", "1"), _v("32", "2")),
        _item(0x0B, "ethnicity", "cn", 1, "民族", "ethnicity", _v("01", "01")),
        _item(0x0C, "birthplace", "cn", 3, "出生地", "birthplace", _v("420102", "420102")),
        _item(0x0D, "birth_date", "date", 4, "出生日期", "birth date",
              _v("19850515", dt.date(1985, 5, 15))),
    ),
    source="[P] card-profile §4; [R] agrees",
    read_before_gen3=FREE,
)

SSSE_EF07 = AppFile("SSSE", "EF07", "指纹", "fingerprint", "binary", _RK, _UK, size=0x300,
                    source="[A] §3, card-profile §2")
SSSE_EF08 = AppFile("SSSE", "EF08", "照片", "photo (JPEG or BMP)", "binary", _RK, _UK,
                    size=0x1000, source="[A] §3, card-profile §2")

SSSE_FILES: tuple[AppFile, ...] = (SSSE_EF05, SSSE_EF06, SSSE_EF07, SSSE_EF08)


# --- DF01 公共应用信息区 (public information) ----------------------------------------

_DF01_R = pin_or("DF01", "RK1DF01")
_DF01_W = pin_and("DF01", "RK1DF01")  # [choice]
_ADDR = "BAFEB1B1CAA1CEE4BABACAD0BDADB0B6C7F8D1D8BDADB4F3B5C0313030BAC5"  # a GBK sample address
_ADDR_TEXT = "湖北省武汉市江岸区沿江大道100号"

DF01_FILES: tuple[AppFile, ...] = (
    _records(
        "DF01", "EF05", "户籍信息", "household registration", _DF01_R, _DF01_W,
        _item(0x20, "hukou_type", "an", 2, "户口类别", "household registration type",
              _an("31", 2, "1")),
        _item(0x21, "hukou_address", "an", 80, "户口所在地地址", "household registration address",
              _an(_ADDR, 80, _ADDR_TEXT)),
        _unnamed(0x0E, "cn", 3, _cn("420102", 3)),
        source="[R] formats; [K] names of 20, 21; [L] label",
    ),
    _records(
        "DF01", "EF06", "常住地信息", "residence", _DF01_R, _DF01_W,
        _item(0x23, "residence_address", "an", 80, "常住所在地地址", "residence address",
              _an(_ADDR, 80, _ADDR_TEXT)),
        _item(0x24, "residence_area_code", "cn", 3, "常住所在地行政区划代码",
              "residence area code", _cn("420102", 3)),
        _item(0x28, "phone", "an", 15, "联系电话", "telephone",
              _an("3032373835303030303030", 15, "02785000000")),
        _item(0x2C, "contact_name", "an", 50, "联系人（监护人）姓名", "contact (guardian) name",
              _an("D5C5C8FDB7E1", 50, "张三丰")),
        _item(0x2D, "contact_phone", "an", 15, "联系人（监护人）电话", "contact (guardian) phone",
              _an("3133393030303030303030", 15, "13900000000")),
        source="[R] formats; [K], [D] names; [L] label",
    ),
    _records("DF01", "EF07", "个人状况信息", "personal status", _DF01_R, _DF01_W,
             _unnamed(0x29, "an", 1, _v("31", "1")),
             _unnamed(0x2A, "cn", 1, _v("21", "21")),
             source="[R] formats; [L] label"),
    _records("DF01", "EF08", "婚姻状况信息", "marital status", _DF01_R, _DF01_W,
             _unnamed(0x2B, "an", 1, _v("32", "2")),
             source="[R] formats; [L] label"),
    _records("DF01", "EF09", "人员身份及就业单位信息", "identity and employer", _DF01_R, _DF01_W,
             _unnamed(0x2E, "an", 70, _an("414243", 70, "ABC")),
             _unnamed(0x30, "an", 9, _v("313233343536373858", "12345678X")),
             _unnamed(0x32, "an", 2, _v("3131", "11")),
             source="[R] formats; [L] label"),
    _records("DF01", "EF0A", "国籍及政治面貌信息", "nationality and political status",
             _DF01_R, _DF01_W,
             _unnamed(0x37, "an", 3, _v("43484E", "CHN")),
             _unnamed(0x38, "an", 2, _v("3133", "13")),
             _unnamed(0x39, "cn", 4, _cn("20070701", 4)),
             source="[R] formats; [L] label"),
    _records("DF01", "EF15", "学历信息", "education", _DF01_R, _DF01_W,
             _unnamed(0x2A, "cn", 1, _v("21", "21")),
             _composite(0x40, 0x34, "57 an 3, 58 cn 3, 59 an 40; up to 3 records"),
             source="[R] formats; [L] label"),
    *(AppFile("DF01", f"EF{n:02X}", "预留", "reserved", "binary", _DF01_R, _DF01_W, size=0x128,
              source="[R] binary 0x128; [L] five reserved files")
      for n in range(0x16, 0x1B)),
)


# --- DF02 就业与失业信息区 (employment) -----------------------------------------------

_DF02_R = pin_or("DF02", "RK1DF02")
_DF02_W = pin_and("DF02", "RK1DF02")  # [choice]

DF02_FILES: tuple[AppFile, ...] = (
    _records("DF02", "EF05", "职业和专业技能信息", "occupation and skills", _DF02_R, _DF02_W,
             _unnamed(0x42, "an", 3, _v("303031", "001")),
             _unnamed(0x41, "an", 3, _v("303032", "002")),
             _composite(0x43, 0x6C, "5A an 7, 5B an 1, 5C an 70, 5D cn 4, 5E an 16; 2 records"),
             _composite(0x44, 0x65, "33 an 3, 34 an 70, 35 cn 4, 36 an 16; 2 records"),
             source="[R] formats; [L] label"),
    _records("DF02", "EF06", "就业状况信息", "employment status", _DF02_R, _DF02_W,
             _unnamed(0x4C, "cn", 4, _cn("20130630", 4)),
             _unnamed(0x4B, "an", 5, _v("3132333435", "12345")),
             _unnamed(0x4D, "cn", 3, _cn("010203", 3)),
             _unnamed(0x60, "cn", 4, _cn("20130630", 4)),
             _unnamed(0x4F, "an", 6, _v("303030313032", "000102")),
             _unnamed(0x50, "cn", 3, _cn("123123", 3)),
             _unnamed(0x3A, "an", 7, _an("414243", 7, "ABC")),
             source="[R] formats; [L] label"),
    AppFile("DF02", "EF07", "就业记录信息", "employment record", "cyclic", _DF02_R, _DF02_W,
            layout=(Field("f1", "an", 7, vectors=(_an("41", 7, "A"),)),
                    Field("f2", "cn", 4, vectors=(_cn("20130630", 4),)),
                    Field("f3", "cn", 4, vectors=(_cn("20130630", 4),)),
                    Field("f4", "an", 70, vectors=(_an("41", 70, "A"),))),
            capacity=4, source="[R] cyclic, 4 records; [L] label"),
    _records("DF02", "EF09", "就业失业登记证信息", "employment registration certificate",
             _DF02_R, _DF02_W,
             _unnamed(0x55, "an", 16, _an("3230313330363330", 16, "20130630")),
             _unnamed(0x56, "an", 70, _an("414243", 70, "ABC")),
             _unnamed(0x96, "cn", 4, _cn("20130630", 4)),
             _unnamed(0x97, "cn", 3, _cn("000077", 3)),
             source="[R] formats; [L] label"),
    _records("DF02", "EF15", "就业援助对象认定信息", "employment assistance", _DF02_R, _DF02_W,
             _composite(0x99, 0x10, "10 an 3, 11 cn 4, 12 cn 3; 4 records"),
             _unnamed(0x0F, "cn", 4, _cn("20130801", 4)),
             _unnamed(0x1F, "cn", 3, _cn("223344", 3)),
             source="[R] formats; [L] label"),
    AppFile("DF02", "EF16", "", "", "cyclic", _DF02_R, _DF02_W,
            layout=(Field("f1", "an", 3, vectors=(_v("303031", "001"),)),
                    Field("f2", "cn", 4, vectors=(_cn("20130701", 4),)),
                    Field("f3", "cn", 4, vectors=(_cn("20130701", 4),)),
                    Field("f4", "cn", 4, vectors=(_cn("20130701", 4),)),
                    Field("f5", "cn", 3, vectors=(_cn("112233", 3),))),
            capacity=4, source="[R] cyclic, 4 records"),
)


# --- DF03 社会保险信息区1 (pension, unemployment, work injury, maternity) ------------

_DF03_R = pin_or("DF03", "RK1DF03")
_DF03_W = pin_and("DF03", "RK1DF03")  # [choice]


def _df03(ef: str, zh: str, en: str, *items: Element, read: Access = _DF03_R,
          label_source: bool = True) -> AppFile:
    return _records("DF03", ef, zh, en, read, _DF03_W, *items,
                    source="[R] formats" + ("; [L] label" if label_source else ""))


DF03_FILES: tuple[AppFile, ...] = (
    _df03("EF05", "失业保险信息", "unemployment insurance",
          _unnamed(0x61, "cn", 3, _cn("201211", 3)),
          _unnamed(0x60, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x98, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x62, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x63, "an", 3, _v("303135", "015")),
          _unnamed(0x64, "an", 3, _v("303135", "015")),
          _unnamed(0x65, "an", 3, _v("303836", "086")),
          _unnamed(0x66, "an", 3, _v("303836", "086")),
          read=pin_or("DF03", "RK2DF03")),
    _df03("EF06", "丧失劳动能力鉴定信息", "incapacity assessment",
          _unnamed(0x45, "an", 20, _an("31323334", 20, "1234")),
          _unnamed(0x46, "an", 2, _v("3032", "02")),
          _unnamed(0x47, "an", 2, _v("3032", "02")),
          _unnamed(0x48, "an", 1, _v("31", "1")),
          _unnamed(0x49, "an", 1, _v("30", "0")),
          _unnamed(0x67, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x6B, "an", 60, _an("414243", 60, "ABC")),
          _composite(0x4A, 0x61, "13 an 2, 14 an 1, 15 an 20, 16 cn 4, 17 an 60; 3 records")),
    _df03("EF07", "养老保险信息", "pension insurance",
          _unnamed(0x70, "an", 3, _v("313233", "123")),
          _unnamed(0x71, "cn", 3, _cn("201211", 3)),
          _unnamed(0x6E, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x6C, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x6F, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x73, "cn", 4, _cn("20121129", 4))),
    _df03("EF15", "", "",
          _unnamed(0x7A, "cn", 3, _cn("201211", 3)),
          _unnamed(0x7B, "cn", 4, _cn("20121129", 4)),
          _unnamed(0x7C, "cn", 4, _cn("20121129", 4)), label_source=False),
    _df03("EF16", "", "",
          _unnamed(0x51, "cn", 3, _cn("201211", 3)),
          _unnamed(0x5F, "an", 1, _v("31", "1")), label_source=False),
    _df03("EF17", "", "",
          _unnamed(0x3B, "an", 20, _an("3132", 20, "12")),
          _unnamed(0x3C, "an", 70, _an("414243", 70, "ABC")),
          _unnamed(0x3D, "an", 1, _v("31", "1")),
          _unnamed(0x3E, "cn", 4, _cn("20120312", 4)),
          _unnamed(0x3F, "an", 60, _an("414243", 60, "ABC")), label_source=False),
    _df03("EF18", "", "",
          _unnamed(0x74, "an", 3, _v("313233", "123")),
          _unnamed(0x75, "cn", 3, _cn("112233", 3)),
          _unnamed(0x76, "cn", 1, _v("11", "11")),
          _unnamed(0x77, "cn", 4, _cn("20120312", 4)),
          _unnamed(0x78, "cn", 4, _cn("20120312", 4)), label_source=False),
    _df03("EF19", "", "",
          _composite(0x79, 0x27, "18 an 3, 19 cn 3, 1A cn 4, 1B cn 4, 1C dec 4, 1D an 3, "
                                 "1E cn 4; 4 records"),
          _unnamed(0x75, "cn", 3, _cn("112233", 3)),
          _unnamed(0x76, "cn", 1, _v("11", "11")),
          _unnamed(0x77, "cn", 4, _cn("20120312", 4)),
          _unnamed(0x78, "cn", 4, _cn("20120312", 4)), label_source=False),
)


# --- DF04 社会保险信息区2 (medical insurance) ----------------------------------------

_DF04_R = pin_or("DF04", "RK1DF04")
_DF04_W = pin_and("DF04", "RK1DF04")  # [choice]


def _institution(tag: int, fld: str, zh: str, en: str) -> Element:
    return _item(tag, fld, "an", 9, zh, en, _v("343230313032303031", "420102001"))


#: DF04 EF08, one record of the cyclic transaction log (≥ 30 records): [A] names, [R] layout.
LOG_LAYOUT: tuple[Field, ...] = (
    Field("sequence", "uint", 2, "交易序号", "transaction number", (_v("0003", 3),)),
    Field("type", "an", 1, "交易类型", "transaction type", (_v("31", "1"),)),
    Field("terminal", "cn", 6, "终端机编号", "terminal number",
          (_v("420100000001", "420100000001"),)),
    Field("time", "datetime", 7, "交易时间", "transaction time",
          (_v("20240603101530", dt.datetime(2024, 6, 3, 10, 15, 30)),)),
    Field("account_amount", "amount", 4, "个人账户交易金额", "personal account amount",
          (_v("00000A00", Decimal("25.60")), _v("00000000", Decimal("0.00")))),
    Field("self_paid", "amount", 4, "个人自付金额", "paid by the holder",
          (_v("000004D2", Decimal("12.34")),)),
    Field("pooled_fund", "amount", 4, "统筹基金支付金额", "paid by the pooled fund",
          (_v("0001E240", Decimal("1234.56")),)),
)

DF04_EF05 = _records(
    "DF04", "EF05", "医疗保险基本信息", "medical insurance basic data", _DF04_R, _DF04_W,
    _item(0x81, "insurance_types", "an", 8, "医疗保险险种类型及标识",
          "medical insurance types and flags", _an("333130", 8, "310")),
    _item(0x84, "medical_area_code", "cn", 3, "医疗保险参保地所属行政区划代码",
          "medical insurance area code", _cn("420100", 3)),
    _item(0x87, "health_record_number", "an", 17, "健康档案编号", "health record number",
          _an("3432303130323030303031", 17, "42010200001")),
    _item(0x8C, "insured_category", "cn", 1, "参保人员类别", "insured person category",
          _v("11", "11")),
    _item(0x80, "account_opened", "date", 4, "个人账户建立日期", "personal account opened",
          _v("20080701", dt.date(2008, 7, 1))),
    _item(0x8B, "personal_account", "an", 29, "个人账号", "personal account number",
          _an("343230313030303030303031", 29, "420100000001")),
    _item(0x8A, "medical_certificate", "an", 15, "医疗证号", "medical certificate number",
          _an("4D3132333435", 15, "M12345")),
    _institution(0x83, "designated_institution_1", "定点医疗机构代码1",
                 "designated medical institution 1"),
    _institution(0x86, "designated_institution_2", "定点医疗机构代码2",
                 "designated medical institution 2"),
    _institution(0x89, "designated_institution_3", "定点医疗机构代码3",
                 "designated medical institution 3"),
    _institution(0x7D, "work_injury_institution_1", "工伤协议机构1",
                 "work-injury contracted institution 1"),
    _institution(0x7E, "work_injury_institution_2", "工伤协议机构2",
                 "work-injury contracted institution 2"),
    _institution(0x7F, "work_injury_institution_3", "工伤协议机构3",
                 "work-injury contracted institution 3"),
    _institution(0x8D, "maternity_institution_1", "生育定点机构1", "designated maternity unit 1"),
    _institution(0x8E, "maternity_institution_2", "生育定点机构2", "designated maternity unit 2"),
    _item(0x8F, "card_use_mode", "an", 1, "医疗保险用卡方式", "card use mode", _v("31", "1")),
    source="[A] names (V2 table 9); [R] formats, sizes and record order",
)

DF04_FILES: tuple[AppFile, ...] = (
    DF04_EF05,
    AppFile("DF04", "EF06", "医疗保险临时脱网结算信息", "offline settlement", "records",
            pin_and("DF04", "RK1DF04"), _DF04_W,
            items=(
                _item(0x90, "offline_allowed", "an", 1, "准许脱网结算标识",
                      "offline settlement allowed", _v("30", "0"), _v("31", "1")),
                _item(0x92, "offline_total", "dec", 4, "脱网累计金额", "offline total amount",
                      _v("00029820", Decimal("298.20")), _v("00000000", Decimal("0.00"))),
                _item(0x93, "offline_count", "an", 2, "脱网累计次数", "offline count",
                      _v("3132", "12"), _an("30", 2, "0")),
            ),
            source="[A] names; [R] formats"),
    AppFile("DF04", "EF08", "医疗交易明细", "transaction log", "cyclic", PIN, NEVER,
            layout=LOG_LAYOUT, capacity=30, source="[A] fields and access; [R] layout"),
    AppFile("DF04", "EF15", "特殊医疗结算记录", "special settlement", "cyclic", _DF04_R, _DF04_W,
            layout=(Field("f1", "b", 2, vectors=(_v("0001", b"\x00\x01"),)),
                    Field("f2", "an", 1, vectors=(_v("32", "2"),))),
            capacity=8, source="[A] label and access; [R] layout (8 records)"),
)


# --- DF07 人事人才信息区 (personnel) [one source] ------------------------------------

DF07_FILES: tuple[AppFile, ...] = tuple(
    _records("DF07", ef, "", "", PIN, NEVER, *items,  # [choice]: no source gives DF07's rules
             source="[R] formats; [A] DF07 [one source]")
    for ef, items in (
        ("EF05", (_unnamed(0xF0, "an", 2, _v("3132", "12")),
                  _unnamed(0xF1, "an", 1, _v("31", "1")),
                  _unnamed(0xF2, "cn", 4, _cn("20130101", 4)),
                  _unnamed(0xF3, "an", 3, _v("313233", "123")),
                  _unnamed(0xF4, "cn", 4, _cn("20130101", 4)))),
        ("EF06", (_unnamed(0xF5, "an", 3, _v("313233", "123")),
                  _unnamed(0xF6, "cn", 4, _cn("20130101", 4)),
                  _unnamed(0xF7, "an", 70, _an("414243", 70, "ABC")))),
        ("EF07", (_unnamed(0xF8, "cn", 4, _cn("20130101", 4)),
                  _unnamed(0xF9, "an", 1, _v("31", "1")))),
    )
)

#: DF07's AID [one source: application-files.md §1].
DF07_AID = bytes.fromhex("D15600000504")

#: The application DFs under SSSE (application-files.md §1), in the order a full read visits them.
APP_DFS: tuple[AppDF, ...] = (
    AppDF("DF01", DF_AIDS["DF01"], "公共应用信息区", "public information", DF01_FILES, "[A] §1"),
    AppDF("DF02", DF_AIDS["DF02"], "就业与失业信息区", "employment", DF02_FILES, "[A] §1"),
    AppDF("DF03", DF_AIDS["DF03"], "社会保险信息区1", "social insurance 1", DF03_FILES, "[A] §1"),
    AppDF("DF04", DF_AIDS["DF04"], "社会保险信息区2", "medical insurance", DF04_FILES, "[A] §1"),
    AppDF("DF07", DF07_AID, "人事人才信息区", "personnel and talent", DF07_FILES,
          "[A] §1 [one source]"),
)

#: Every national application file by path ("SSSE/EF05", "DF04/EF08"...).
FILES: dict[str, AppFile] = {f.path: f for f in SSSE_FILES}
FILES.update({f.path: f for df in APP_DFS for f in df.files})


def all_files(extra: Iterable[AppFile] = ()) -> Iterator[AppFile]:
    """Every national file, then ``extra`` (a local extension's files)."""
    yield from FILES.values()
    yield from extra


def lookup(path: str) -> AppFile:
    """The national file at ``path`` ("DF04/EF05"); unknown paths raise DataFormatError."""
    try:
        return FILES[path]
    except KeyError:
        raise DataFormatError(f"no application file {path!r}") from None


# --- decoding -----------------------------------------------------------------


@dataclass
class DecodedItem:
    """One decoded item (or one field of a log record), with the raw bytes and what went wrong.

    ``note`` says when the value is raw: an item no source describes ("unsourced"), or a tag
    the file's table does not have.
    """

    tag: int | None
    field: str
    zh: str
    en: str
    format: str
    value: Value
    raw: bytes
    error: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": None if self.tag is None else f"{self.tag:02X}",
            "field": self.field,
            "zh": self.zh or None,
            "en": self.en or None,
            "format": self.format,
            "value": to_json(self.value),
            "raw": self.raw.hex().upper(),
            "error": self.error,
            "note": self.note,
        }


@dataclass
class DecodedFile:
    """A decoded EF: its items (record EFs) or its records (cyclic EFs), and every problem."""

    path: str
    zh: str
    en: str
    items: list[DecodedItem] = field(default_factory=list)
    records: list[list[DecodedItem]] = field(default_factory=list)
    empty_records: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def values(self) -> dict[str, Value]:
        """Field -> value for the items that decoded (the first record of a repeated tag)."""
        out: dict[str, Value] = {}
        for item in self.items:
            if item.error is None:
                out.setdefault(item.field, item.value)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "zh": self.zh or None,
            "en": self.en or None,
            "items": [i.to_json() for i in self.items],
            "records": [[f.to_json() for f in rec] for rec in self.records],
            "empty_records": self.empty_records,
            "errors": list(self.errors),
        }


def decode_item(element: Element | Field, raw: bytes) -> Value:
    """The value of one item or field; DataFormatError when the bytes are not its format."""
    if len(raw) > element.size:
        raise DataFormatError(f"value of {len(raw)} bytes, at most {element.size} expected")
    if element.codec.fixed and len(raw) != element.size:
        raise DataFormatError(f"value of {len(raw)} bytes, {element.size} expected")
    return element.codec.decode(raw)


def _decode_tlv_record(file: AppFile, record: bytes) -> DecodedItem:
    try:
        tag, value, end = simple_decode_one(record, 0)
        if end != len(record):
            raise TlvError(f"{len(record) - end} stray bytes after the record")
    except TlvError as exc:
        tag0 = record[0] if record else None
        return DecodedItem(tag0, "", "", "", "raw", None, bytes(record), f"not SIMPLE-TLV: {exc}")
    element = file.by_tag.get(tag)
    if element is None:
        return DecodedItem(tag, f"tag_{tag:02x}", "", "", "raw", value, value,
                           note=f"tag {tag:02X} is not in the {file.path} table: raw SIMPLE-TLV")
    out = DecodedItem(tag, element.field, element.zh, element.en, element.format, None, value,
                      note=None if element.sourced else "unsourced: raw SIMPLE-TLV value"
                      + (f" ({element.note})" if element.note else ""))
    try:
        out.value = decode_item(element, value)
    except DataFormatError as exc:
        out.error = str(exc)
    return out


def decode_log_record(file: AppFile, record: bytes) -> list[DecodedItem] | None:
    """One record of a cyclic EF by its layout; None for an empty (all 00 or all FF) record."""
    if not record.strip(b"\x00") or not record.strip(b"\xff"):
        return None
    if not file.layout:
        return [DecodedItem(None, "record", "", "", "raw", bytes(record), bytes(record),
                            note="unsourced layout: raw record")]
    if len(record) != file.record_len:
        return [DecodedItem(None, "record", "", "", "raw", None, bytes(record),
                            f"record of {len(record)} bytes, {file.record_len} expected")]
    out: list[DecodedItem] = []
    pos = 0
    for f in file.layout:
        raw = bytes(record[pos : pos + f.size])
        pos += f.size
        item = DecodedItem(None, f.field, f.zh, f.en, f.format, None, raw)
        try:
            item.value = decode_item(f, raw)
        except DataFormatError as exc:
            item.error = str(exc)
        out.append(item)
    return out


def decode_records(file: AppFile, records: Sequence[bytes]) -> DecodedFile:
    """Decode the records a card returned for ``file`` (untrusted: nothing here raises).

    Record EFs: each record is one SIMPLE-TLV object; known tags decode with their codec,
    unsourced ones and tags not in the table come back raw with a note.  Cyclic EFs: each record
    is split by the file's layout (record 1 is the most recent); empty records are counted.
    """
    out = DecodedFile(file.path, file.zh, file.en)
    for number, record in enumerate(records, 1):
        if file.structure == "cyclic":
            decoded = decode_log_record(file, bytes(record))
            if decoded is None:
                out.empty_records += 1
            else:
                out.records.append(decoded)
                out.errors += [f"record {number} {d.field}: {d.error}" for d in decoded if d.error]
            continue
        item = _decode_tlv_record(file, bytes(record))
        out.items.append(item)
        if item.error:
            where = f"{item.tag:02X}" if item.tag is not None else "?"
            out.errors.append(f"record {number} (tag {where}): {item.error}")
    return out


def read_value(element: Element, raw: bytes) -> Value:
    """The value of an item as real cards hold it (issue 9; the terminal's read of EF05/EF06):
    the declared codec, except that an unpersonalised date (no bytes, all FF or all 00) is
    None and a :attr:`Element.hex_ok` item that is not BCD reads as hex (its FF fill dropped).
    DataFormatError for anything else that is not the format."""
    if element.format == "date" and (set(raw) <= {0xFF} or set(raw) <= {0x00}):
        return None
    try:
        return element.codec.decode(raw)
    except DataFormatError:
        if element.hex_ok:
            return codec.hex_decode(bytes(raw).rstrip(b"\xff"))
        raise


def _hex_value(element: Element, value: object) -> bytes | None:
    """The stored bytes of a :attr:`Element.hex_ok` item given as hex text (not digits)."""
    if not (element.hex_ok and isinstance(value, str)) or value.isdigit():
        return None
    try:
        return bytes.fromhex(value).ljust(element.size, b"\xff")
    except ValueError:
        raise DataFormatError(f"{element.field}: neither digits nor hex") from None


def encode_item(element: Element, value: object, pad: int = 0x00) -> bytes:
    """The SIMPLE-TLV record of ``element`` holding ``value`` (what personalisation writes)."""
    raw = _hex_value(element, value)
    if raw is None:
        raw = element.codec.encode(value, element.size, pad)
    if len(raw) > element.size:
        raise DataFormatError(f"{len(raw)} bytes do not fit {element.size}")
    return bytes((element.tag, len(raw))) + raw


def encode_log_record(file: AppFile, values: dict[str, object]) -> bytes:
    """One fixed-layout record of a cyclic EF from field values (every field required)."""
    out = b""
    for f in file.layout:
        if f.field not in values:
            raise DataFormatError(f"{file.path} record: no value for {f.field}")
        raw = f.codec.encode(values[f.field], f.size, 0x00)
        out += raw.ljust(f.size, b"\x00")
    return out


def binary_chunks(size: int, max_le: int) -> list[tuple[int, int]]:
    """(offset, Le) of the READ BINARY commands that read ``size`` bytes, ``max_le`` at a time
    (256 for short APDUs, up to 65536 with extended Le): the fewest the reader allows."""
    if size < 0 or max_le < 1:
        raise DataFormatError("size must be ≥ 0 and max_le ≥ 1")
    return [(off, min(max_le, size - off)) for off in range(0, size, max_le)]
