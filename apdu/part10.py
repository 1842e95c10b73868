"""PC/SC part 10 (secure PIN entry): codes, structures and reader results, one home for both sides.

The terminal builds a PIN_VERIFY / PIN_MODIFY structure here and hands it to a PIN-pad reader;
the simulated reader's firmware (:mod:`simulator.pinpad`) parses the same structure here and
inserts the digits typed on its keypad.  No I/O, no digits: every structure is a *template*.
Facts from pcsc-lite's ``reader.h``, libccid (``commands.c`` SecurePINVerify/SecurePINModify,
``ifdhandler.c`` IFDHControl) and OpenSC (``reader-pcsc.c``); see ``shared/spec/pin-pad.md``.

- **Codes.** ``SCARD_CTL_CODE(code) = 0x42000000 + code`` on pcsc-lite;
  ``CM_IOCTL_GET_FEATURE_REQUEST = SCARD_CTL_CODE(3400)`` answers 6-byte TLVs (tag, 4, control
  code big-endian).  Callers use the codes the reader gives, unmodified.
- **Layouts as data.** :data:`VERIFY_LAYOUT` and :data:`MODIFY_LAYOUT` list (part-10 name,
  attribute, offset, size); multi-byte fields are little-endian, as libccid reads them on every
  host it runs on today (its byte swap fires only on big-endian hosts).
- **Parsing like libccid.** A structure shorter than its header + a 4-byte APDU, or whose
  ``ulDataLength`` + header size is not the total length, is refused (libccid answers
  ``IFD_NOT_SUPPORTED``); a MODIFY with ``bNumberMessage`` above 3 (and not FF) too; a
  ``bEntryValidationCondition`` of 0 or above 7 is replaced by 02 (OK key), as libccid does
  to protect readers that crash on it.
- **The social security card** (card-profile §6, pin-pad.md §3): VERIFY ``00 20 00 00 Lc`` and
  CHANGE PIN ``80 5E 01 00 Lc old FF new`` with a BCD PIN of a fixed length per deployment
  (6 by default), because part 10 can insert the digit count but not Lc = half of it.
  :func:`ssc_verify` and :func:`ssc_change` build them and check the length against the card's
  4..16 and the pad's ``bMinPINSize``/``bMaxPINSize`` before anything is sent.
- **Reader-made results** ``6400`` timeout, ``6401`` cancel, ``6402`` mismatch, ``6403`` length,
  ``6B80`` firmware refusal come back instead of the card's status word: :data:`READER_RESULTS`
  maps them to the typed errors of :mod:`apdu.errors`; anything else is the card's own SW.

Choices where part 10 leaves room (pin-pad.md §3, written down in the README): timeouts 30 s
(``bTimerOut`` and ``bTimerOut2``, as OpenSC), the OK key ends an entry (02), wLangId 0x0804
(zh-CN), one message for VERIFY and three for CHANGE (current, new, confirm; a pad without a
display ignores them), the FF separator of CHANGE PIN left as in the template.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from apdu import commands
from apdu.codec import PIN_MAX_DIGITS, PIN_MIN_DIGITS, pin_length_ok
from apdu.errors import (
    ApduFormatError,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
    PinPadError,
    PinPadRefused,
)

# --- control codes and feature tags -------------------------------------------------------------


def scard_ctl_code(code: int) -> int:
    """pcsc-lite's ``SCARD_CTL_CODE``: ``0x42000000 + code`` (Windows uses another formula)."""
    return 0x42000000 + code


CM_IOCTL_GET_FEATURE_REQUEST = scard_ctl_code(3400)
#: the Windows value of the same request, which RDP clients forward (libccid accepts both).
CM_IOCTL_GET_FEATURE_REQUEST_WINDOWS = 0x313520


class Feature(IntEnum):
    """Feature tags of ``CM_IOCTL_GET_FEATURE_REQUEST`` (part 10 §2.2)."""

    VERIFY_PIN_START = 0x01
    VERIFY_PIN_FINISH = 0x02
    MODIFY_PIN_START = 0x03
    MODIFY_PIN_FINISH = 0x04
    GET_KEY_PRESSED = 0x05
    VERIFY_PIN_DIRECT = 0x06
    MODIFY_PIN_DIRECT = 0x07
    MCT_READER_DIRECT = 0x08
    MCT_UNIVERSAL = 0x09
    IFD_PIN_PROPERTIES = 0x0A
    ABORT = 0x0B
    SET_SPE_MESSAGE = 0x0C
    VERIFY_PIN_DIRECT_APP_ID = 0x0D
    MODIFY_PIN_DIRECT_APP_ID = 0x0E
    WRITE_DISPLAY = 0x0F
    GET_KEY = 0x10
    IFD_DISPLAY_PROPERTIES = 0x11
    GET_TLV_PROPERTIES = 0x12
    CCID_ESC_COMMAND = 0x13


#: size of one feature TLV: tag, length 4, a big-endian control code.
FEATURE_TLV_SIZE = 6


class Property(IntEnum):
    """Tags of the ``FEATURE_GET_TLV_PROPERTIES`` answer."""

    LCD_LAYOUT = 1  # wLcdLayout
    ENTRY_VALIDATION_CONDITION = 2  # bEntryValidationCondition
    TIMEOUT2 = 3  # bTimeOut2
    LCD_MAX_CHARACTERS = 4  # wLcdMaxCharacters
    LCD_MAX_LINES = 5  # wLcdMaxLines
    MIN_PIN_SIZE = 6  # bMinPINSize
    MAX_PIN_SIZE = 7  # bMaxPINSize
    FIRMWARE_ID = 8  # sFirmwareID
    PPDU_SUPPORT = 9  # bPPDUSupport
    MAX_APDU_DATA_SIZE = 10  # dwMaxAPDUDataSize
    VENDOR_ID = 11  # wIdVendor
    PRODUCT_ID = 12  # wIdProduct


#: value size of each integer property (little-endian); absent here = a byte string.
PROPERTY_SIZES: dict[int, int] = {
    Property.LCD_LAYOUT: 2,
    Property.ENTRY_VALIDATION_CONDITION: 1,
    Property.TIMEOUT2: 1,
    Property.LCD_MAX_CHARACTERS: 2,
    Property.LCD_MAX_LINES: 2,
    Property.MIN_PIN_SIZE: 1,
    Property.MAX_PIN_SIZE: 1,
    Property.PPDU_SUPPORT: 1,
    Property.MAX_APDU_DATA_SIZE: 4,
    Property.VENDOR_ID: 2,
    Property.PRODUCT_ID: 2,
}

# --- bit fields of the structures ---------------------------------------------------------------

#: bmFormatString bits 1-0: how each digit is coded.
ENCODING_BINARY = 0x00
ENCODING_BCD = 0x01
ENCODING_ASCII = 0x02
ENCODING_MASK = 0x03
#: bmFormatString bit 2: the PIN is right-justified in its block (else left).
JUSTIFY_RIGHT = 0x04
#: bmFormatString bits 6-3: PIN position after Lc, in system units.
POSITION_SHIFT = 3
POSITION_MASK = 0x0F
#: bmFormatString bit 7: system units are bytes (else bits).
UNITS_BYTES = 0x80

#: bmPINBlockString: bits 7-4 size in bits of the PIN length field, bits 3-0 PIN block bytes.
LENGTH_BITS_SHIFT = 4
BLOCK_SIZE_MASK = 0x0F
#: bmPINLengthFormat: bit 4 system units are bytes, bits 3-0 position of the length field.
LENGTH_UNITS_BYTES = 0x10
LENGTH_POSITION_MASK = 0x0F

#: bConfirmPIN: bit 0 the new PIN is typed twice, bit 1 the current PIN is typed first.
CONFIRM_NEW = 0x01
ASK_CURRENT = 0x02

#: bEntryValidationCondition: entry ends at max size, on the OK key, or on timeout.
VALIDATE_MAX_SIZE = 0x01
VALIDATE_KEY = 0x02
VALIDATE_TIMEOUT = 0x04

#: bNumberMessage: FF = the reader's default message.
DEFAULT_MESSAGE = 0xFF

LANG_ZH_CN = 0x0804


def format_string(
    encoding: int, position: int = 0, *, units_bytes: bool = True, right: bool = False
) -> int:
    """A bmFormatString: ``format_string(ENCODING_BCD)`` is OpenSC's 0x81 (BCD, bytes, offset 0)."""
    if encoding not in (ENCODING_BINARY, ENCODING_BCD, ENCODING_ASCII):
        raise ApduFormatError(f"unknown PIN encoding {encoding}")
    if not 0 <= position <= POSITION_MASK:
        raise ApduFormatError(f"PIN position {position} does not fit bmFormatString (0..15)")
    return (
        (UNITS_BYTES if units_bytes else 0)
        | (position << POSITION_SHIFT)
        | (JUSTIFY_RIGHT if right else 0)
        | encoding
    )


# --- the results a PIN-pad reader makes itself --------------------------------------------------

SW_TIMEOUT = 0x6400
SW_CANCELLED = 0x6401
SW_MISMATCH = 0x6402
SW_LENGTH = 0x6403
SW_FIRMWARE_REFUSED = 0x6B80

#: reader-made SW -> (meaning, typed error).  Every other SW after a PIN-pad request is the card's.
READER_RESULTS: dict[int, tuple[str, type[PinPadError]]] = {
    SW_TIMEOUT: ("PIN entry timed out on the PIN pad", PinEntryTimeout),
    SW_CANCELLED: ("PIN entry cancelled on the PIN pad", PinEntryCancelled),
    SW_MISMATCH: ("the new PIN and its confirmation typed on the PIN pad differ", PinEntryMismatch),
    SW_LENGTH: ("the PIN typed on the PIN pad has a length out of range", PinLengthError),
    SW_FIRMWARE_REFUSED: ("the PIN pad's firmware refused the request", PinPadRefused),
}


def reader_error(sw: int) -> PinPadError | None:
    """The typed error for a reader-made result, or None when ``sw`` is the card's own."""
    entry = READER_RESULTS.get(sw)
    if entry is None:
        return None
    meaning, cls = entry
    return cls(f"{meaning} ({sw:04X})", sw)


# --- structure layouts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a part-10 structure: its part-10 name, our attribute, offset and size."""

    name: str
    attr: str
    offset: int
    size: int
    #: True for a byte string (bTeoPrologue); integers are little-endian.
    raw: bool = False


VERIFY_LAYOUT: tuple[Field, ...] = (
    Field("bTimerOut", "timeout", 0, 1),
    Field("bTimerOut2", "timeout2", 1, 1),
    Field("bmFormatString", "format_string", 2, 1),
    Field("bmPINBlockString", "block_string", 3, 1),
    Field("bmPINLengthFormat", "length_format", 4, 1),
    Field("wPINMaxExtraDigit", "max_extra_digit", 5, 2),
    Field("bEntryValidationCondition", "validation", 7, 1),
    Field("bNumberMessage", "messages", 8, 1),
    Field("wLangId", "lang_id", 9, 2),
    Field("bMsgIndex", "msg_index", 11, 1),
    Field("bTeoPrologue", "teo_prologue", 12, 3, raw=True),
    Field("ulDataLength", "data_length", 15, 4),
)
VERIFY_HEADER_SIZE = 19

MODIFY_LAYOUT: tuple[Field, ...] = (
    Field("bTimerOut", "timeout", 0, 1),
    Field("bTimerOut2", "timeout2", 1, 1),
    Field("bmFormatString", "format_string", 2, 1),
    Field("bmPINBlockString", "block_string", 3, 1),
    Field("bmPINLengthFormat", "length_format", 4, 1),
    Field("bInsertionOffsetOld", "offset_old", 5, 1),
    Field("bInsertionOffsetNew", "offset_new", 6, 1),
    Field("wPINMaxExtraDigit", "max_extra_digit", 7, 2),
    Field("bConfirmPIN", "confirm", 9, 1),
    Field("bEntryValidationCondition", "validation", 10, 1),
    Field("bNumberMessage", "messages", 11, 1),
    Field("wLangId", "lang_id", 12, 2),
    Field("bMsgIndex1", "msg_index1", 14, 1),
    Field("bMsgIndex2", "msg_index2", 15, 1),
    Field("bMsgIndex3", "msg_index3", 16, 1),
    Field("bTeoPrologue", "teo_prologue", 17, 3, raw=True),
    Field("ulDataLength", "data_length", 20, 4),
)
MODIFY_HEADER_SIZE = 24

#: the shortest APDU template libccid accepts after a header (CLA INS P1 P2).
MIN_TEMPLATE = 4
#: libccid refuses a MODIFY whose bNumberMessage is above this (unless it is FF).
MAX_MODIFY_MESSAGES = 3


@functools.cache
def _packer(layout: tuple[Field, ...]) -> struct.Struct:
    """The little-endian packing of ``layout`` (built from the table, once)."""
    codes = {1: "B", 2: "H", 4: "I"}
    return struct.Struct("<" + "".join(f"{f.size}s" if f.raw else codes[f.size] for f in layout))


def _fits(f: Field, value: object) -> bool:
    if f.raw:
        return isinstance(value, bytes | bytearray) and len(value) == f.size
    return isinstance(value, int) and 0 <= value < 1 << (8 * f.size)


def _fix_validation(value: int) -> int:
    """libccid replaces a bEntryValidationCondition of 0 or above 7 by 02 (the OK key)."""
    return VALIDATE_KEY if value == 0 or value > 0x07 else value


class _Structure:
    """Encoding and libccid-style decoding shared by :class:`PinVerify` and :class:`PinModify`."""

    __slots__ = ()

    LAYOUT: ClassVar[tuple[Field, ...]]
    HEADER_SIZE: ClassVar[int]
    NAME: ClassVar[str]

    apdu: bytes
    format_string: int
    block_string: int
    max_extra_digit: int

    def to_bytes(self) -> bytes:
        """The packed structure; ``ulDataLength`` is always the template's length."""
        values = [getattr(self, f.attr) for f in self.LAYOUT]
        for f, value in zip(self.LAYOUT, values, strict=True):
            if not _fits(f, value):  # struct would pad or truncate a byte string silently
                raise ApduFormatError(f"{f.name} does not fit {f.size} bytes: {value!r}")
        return _packer(self.LAYOUT).pack(*values) + bytes(self.apdu)

    __bytes__ = to_bytes

    @classmethod
    def _fields_of(cls, raw: bytes) -> dict[str, object]:
        raw = bytes(raw)
        if len(raw) < cls.HEADER_SIZE + MIN_TEMPLATE:
            raise ApduFormatError(
                f"{cls.NAME} of {len(raw)} bytes is shorter than "
                f"{cls.HEADER_SIZE} + {MIN_TEMPLATE} (header and APDU)"
            )
        unpacked = _packer(cls.LAYOUT).unpack_from(raw)
        values: dict[str, object] = {f.attr: v for f, v in zip(cls.LAYOUT, unpacked, strict=True)}
        if values["data_length"] != len(raw) - cls.HEADER_SIZE:
            raise ApduFormatError(
                f"{cls.NAME}: ulDataLength {values['data_length']} + {cls.HEADER_SIZE} "
                f"is not the structure's length {len(raw)}"
            )
        del values["data_length"]  # it is the template's length, checked above
        values["validation"] = _fix_validation(int(values["validation"]))  # type: ignore[call-overload]
        values["apdu"] = raw[cls.HEADER_SIZE :]
        return values

    # -- what a reader's firmware reads from it ------------------------------------------------

    @property
    def data_length(self) -> int:
        """ulDataLength: the length of the APDU template."""
        return len(self.apdu)

    @property
    def min_digits(self) -> int:
        """wPINMaxExtraDigit high byte."""
        return self.max_extra_digit >> 8

    @property
    def max_digits(self) -> int:
        """wPINMaxExtraDigit low byte."""
        return self.max_extra_digit & 0xFF

    @property
    def encoding(self) -> int:
        return self.format_string & ENCODING_MASK

    @property
    def units_bytes(self) -> bool:
        return bool(self.format_string & UNITS_BYTES)

    @property
    def position(self) -> int:
        """PIN position after Lc in system units (bmFormatString bits 6-3)."""
        return (self.format_string >> POSITION_SHIFT) & POSITION_MASK

    @property
    def right_justified(self) -> bool:
        return bool(self.format_string & JUSTIFY_RIGHT)

    @property
    def block_size(self) -> int:
        """PIN block size in bytes (bmPINBlockString bits 3-0; 0 = as long as the coded PIN)."""
        return self.block_string & BLOCK_SIZE_MASK

    @property
    def length_bits(self) -> int:
        """Size in bits of the PIN length field written into the APDU (0 = none)."""
        return self.block_string >> LENGTH_BITS_SHIFT

    def insertion_offsets(self) -> tuple[int, ...]:
        """Byte offsets, after Lc, where the reader inserts a PIN (see the subclasses)."""
        raise NotImplementedError

    @property
    def blank(self) -> bool:
        """True when every byte the reader would overwrite is FF in the template.

        A structure built here always is; tracers show a structure's template only then (a
        foreign caller could put anything in it).
        """
        data = self.apdu[5:] if len(self.apdu) > 5 else b""
        size = self.block_size or len(data)
        areas = [data[start : start + size] for start in self.insertion_offsets()]
        return all(byte == 0xFF for area in areas for byte in area)

    def field_values(self) -> dict[str, int | bytes]:
        """Part-10 field name -> value, in layout order (for docs, traces and tests)."""
        out: dict[str, int | bytes] = {}
        for f in self.LAYOUT:
            out[f.name] = getattr(self, f.attr)
        return out


@dataclass(frozen=True, slots=True)
class PinVerify(_Structure):
    """PIN_VERIFY_STRUCTURE: 19-byte header + the APDU template (``abData``)."""

    LAYOUT: ClassVar[tuple[Field, ...]] = VERIFY_LAYOUT
    HEADER_SIZE: ClassVar[int] = VERIFY_HEADER_SIZE
    NAME: ClassVar[str] = "PIN_VERIFY_STRUCTURE"

    timeout: int
    timeout2: int
    format_string: int
    block_string: int
    length_format: int
    max_extra_digit: int
    validation: int
    messages: int
    lang_id: int
    msg_index: int
    teo_prologue: bytes
    apdu: bytes

    @classmethod
    def from_bytes(cls, raw: bytes) -> PinVerify:
        """Read ``raw`` as libccid does; :class:`ApduFormatError` where libccid refuses."""
        return cls(**cls._fields_of(raw))  # type: ignore[arg-type]

    def insertion_offsets(self) -> tuple[int, ...]:
        return (self.position if self.units_bytes else self.position // 8,)


@dataclass(frozen=True, slots=True)
class PinModify(_Structure):
    """PIN_MODIFY_STRUCTURE: 24-byte header + the APDU template (``abData``).

    The current PIN goes at ``bInsertionOffsetOld`` and the new one at ``bInsertionOffsetNew``,
    both in bytes after Lc (the CCID text and vsmartcard's emulated reader read them so).
    """

    LAYOUT: ClassVar[tuple[Field, ...]] = MODIFY_LAYOUT
    HEADER_SIZE: ClassVar[int] = MODIFY_HEADER_SIZE
    NAME: ClassVar[str] = "PIN_MODIFY_STRUCTURE"

    timeout: int
    timeout2: int
    format_string: int
    block_string: int
    length_format: int
    offset_old: int
    offset_new: int
    max_extra_digit: int
    confirm: int
    validation: int
    messages: int
    lang_id: int
    msg_index1: int
    msg_index2: int
    msg_index3: int
    teo_prologue: bytes
    apdu: bytes

    @classmethod
    def from_bytes(cls, raw: bytes) -> PinModify:
        """Read ``raw`` as libccid does; :class:`ApduFormatError` where libccid refuses."""
        values = cls._fields_of(raw)
        messages = int(values["messages"])  # type: ignore[call-overload]
        if messages > MAX_MODIFY_MESSAGES and messages != DEFAULT_MESSAGE:
            raise ApduFormatError(f"PIN_MODIFY_STRUCTURE: wrong bNumberMessage {messages}")
        return cls(**values)  # type: ignore[arg-type]

    @property
    def asks_current(self) -> bool:
        return bool(self.confirm & ASK_CURRENT)

    @property
    def confirms_new(self) -> bool:
        return bool(self.confirm & CONFIRM_NEW)

    def insertion_offsets(self) -> tuple[int, ...]:
        if self.asks_current:
            return (self.offset_old, self.offset_new)
        return (self.offset_new,)


def parse_structure(feature: int, raw: bytes) -> PinVerify | PinModify:
    """The structure of a VERIFY_PIN_DIRECT or MODIFY_PIN_DIRECT request."""
    if feature == Feature.VERIFY_PIN_DIRECT:
        return PinVerify.from_bytes(raw)
    if feature == Feature.MODIFY_PIN_DIRECT:
        return PinModify.from_bytes(raw)
    raise ApduFormatError(f"feature {feature:#04x} carries no PIN structure")


# --- the social security card's two structures (card-profile §6, pin-pad.md §3) -----------------

DEFAULT_PIN_LENGTH = 6
DEFAULT_TIMEOUT = 30
NO_TEO_PROLOGUE = b"\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class PinLimits:
    """The pad's ``bMinPINSize`` / ``bMaxPINSize`` (None: the pad does not say)."""

    min_digits: int | None = None
    max_digits: int | None = None

    @classmethod
    def from_properties(cls, properties: Mapping[int, int | bytes]) -> PinLimits:
        def number(tag: int) -> int | None:
            value = properties.get(tag)
            return value if isinstance(value, int) else None

        return cls(number(Property.MIN_PIN_SIZE), number(Property.MAX_PIN_SIZE))

    def check(self, digits: int) -> None:
        """:class:`PinLengthError` when the pad cannot take ``digits`` digits (before sending)."""
        low, high = self.min_digits, self.max_digits
        # A pad that reports 0 for either bound puts no limit there (Cherry ST-2000 reports 0).
        if (low and digits < low) or (high and digits > high):
            raise PinLengthError(
                f"the PIN pad takes {low or 1} to {high or 'any number of'} digits; "
                f"this deployment's PIN has {digits}"
            )


def _check_length(pin_length: int, limits: PinLimits | None) -> int:
    if not pin_length_ok(pin_length):  # card-profile §6
        raise PinLengthError(
            f"the card's PIN has {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits, not {pin_length}"
        )
    if limits is not None:
        limits.check(pin_length)
    return (pin_length + 1) // 2  # Lc of the BCD block (card-profile §6)


def _check_timeout(timeout: int) -> int:
    if not 0 <= timeout <= 0xFF:
        raise ApduFormatError(f"a PIN-pad timeout is 0..255 seconds, got {timeout}")
    return timeout


def ssc_verify(
    pin_length: int = DEFAULT_PIN_LENGTH,
    *,
    timeout: int = DEFAULT_TIMEOUT,
    lang_id: int = LANG_ZH_CN,
    limits: PinLimits | None = None,
) -> PinVerify:
    """VERIFY ``00 20 00 00 Lc FF..`` for a ``pin_length``-digit BCD PIN at data offset 0.

    Refused with :class:`PinLengthError` before anything is sent when the length is outside the
    card's 4..16 or the pad's ``limits``.
    """
    block = _check_length(pin_length, limits)
    return PinVerify(
        timeout=_check_timeout(timeout),
        timeout2=timeout,
        format_string=format_string(ENCODING_BCD),
        block_string=block,
        length_format=0x00,
        max_extra_digit=(pin_length << 8) | pin_length,
        validation=VALIDATE_KEY,
        messages=1,
        lang_id=lang_id,
        msg_index=0,
        teo_prologue=NO_TEO_PROLOGUE,
        apdu=commands.verify(b"\xff" * block).to_bytes(),
    )


def ssc_change(
    pin_length: int = DEFAULT_PIN_LENGTH,
    *,
    timeout: int = DEFAULT_TIMEOUT,
    lang_id: int = LANG_ZH_CN,
    limits: PinLimits | None = None,
) -> PinModify:
    """CHANGE PIN ``80 5E 01 00 Lc FF..`` : current PIN at 0, new PIN after the FF separator.

    The pad asks for the current PIN, the new one and the new one again (bConfirmPIN 03).
    """
    block = _check_length(pin_length, limits)
    template = commands.change_pin(b"\xff" * block, b"\xff" * block).to_bytes()
    return PinModify(
        timeout=_check_timeout(timeout),
        timeout2=timeout,
        format_string=format_string(ENCODING_BCD),
        block_string=block,
        length_format=0x00,
        offset_old=0,
        offset_new=block + 1,
        max_extra_digit=(pin_length << 8) | pin_length,
        confirm=ASK_CURRENT | CONFIRM_NEW,
        validation=VALIDATE_KEY,
        messages=3,
        lang_id=lang_id,
        msg_index1=0,
        msg_index2=1,
        msg_index3=2,
        teo_prologue=NO_TEO_PROLOGUE,
        apdu=template,
    )


# --- features, properties ------------------------------------------------------------------------


def parse_features(raw: bytes) -> dict[int, int]:
    """``CM_IOCTL_GET_FEATURE_REQUEST`` answer -> {feature tag: control code}."""
    raw = bytes(raw)
    if len(raw) % FEATURE_TLV_SIZE:
        raise ApduFormatError(f"a feature list is 6-byte TLVs, got {len(raw)} bytes")
    out: dict[int, int] = {}
    for i in range(0, len(raw), FEATURE_TLV_SIZE):
        tag, length = raw[i], raw[i + 1]
        if length != 4:
            raise ApduFormatError(f"feature {tag:#04x} has length {length}, not 4")
        out[tag] = int.from_bytes(raw[i + 2 : i + 6], "big")
    return out


def encode_features(features: Mapping[int, int]) -> bytes:
    return b"".join(
        bytes((tag, 4)) + code.to_bytes(4, "big") for tag, code in features.items()
    )


def parse_properties(raw: bytes) -> dict[int, int | bytes]:
    """``FEATURE_GET_TLV_PROPERTIES`` answer -> {tag: int (little-endian) or bytes}."""
    raw = bytes(raw)
    out: dict[int, int | bytes] = {}
    i = 0
    while i < len(raw):
        if i + 2 > len(raw):
            raise ApduFormatError("TLV properties end inside a tag")
        tag, length = raw[i], raw[i + 1]
        value = raw[i + 2 : i + 2 + length]
        if len(value) != length:
            raise ApduFormatError(f"TLV property {tag} announces {length} bytes, has {len(value)}")
        numeric = tag in PROPERTY_SIZES and length in (1, 2, 4)
        out[tag] = int.from_bytes(value, "little") if numeric else value
        i += 2 + length
    return out


def encode_properties(properties: Mapping[int, int | bytes]) -> bytes:
    out = bytearray()
    for tag, value in properties.items():
        if isinstance(value, int):
            size = PROPERTY_SIZES.get(tag)
            if size is None:
                raise ApduFormatError(f"TLV property {tag} is not an integer property")
            raw = value.to_bytes(size, "little")
        else:
            raw = bytes(value)
        if len(raw) > 0xFF:
            raise ApduFormatError(f"TLV property {tag} is longer than 255 bytes")
        out += bytes((tag, len(raw))) + raw
    return bytes(out)


@dataclass(frozen=True, slots=True)
class PinProperties:
    """PIN_PROPERTIES_STRUCTURE (``FEATURE_IFD_PIN_PROPERTIES``): 4 bytes."""

    lcd_layout: int
    validation: int
    timeout2: int

    SIZE: ClassVar[int] = 4

    def to_bytes(self) -> bytes:
        return self.lcd_layout.to_bytes(2, "little") + bytes((self.validation, self.timeout2))

    @classmethod
    def from_bytes(cls, raw: bytes) -> PinProperties:
        raw = bytes(raw)
        if len(raw) < cls.SIZE:
            raise ApduFormatError(f"PIN_PROPERTIES_STRUCTURE has 4 bytes, got {len(raw)}")
        return cls(int.from_bytes(raw[:2], "little"), raw[2], raw[3])


def feature_name(tag: int) -> str:
    try:
        return Feature(tag).name
    except ValueError:
        return f"FEATURE_{tag:02X}"
