"""Builders for every command of card-profile §5 (user card) and §11 (PSAM).

Each builder returns a :class:`CommandAPDU`; none does I/O.  The PIN-carrying builders take the PIN
already coded (see :func:`apdu.codec.pin_encode`) and refuse an empty one: an empty VERIFY is the
status query and has its own builder, so "verify" can never become "query" by accident
(OpenSC CVE-2023-40660, card-profile §6).
"""

from __future__ import annotations

from collections.abc import Sequence

from apdu.command import CommandAPDU
from apdu.emv import TAG_PDOL_DATA
from apdu.errors import ApduFormatError

# --- INS codes (§5, §11) -----------------------------------------------------------------------

INS_SELECT = 0xA4
INS_READ_RECORD = 0xB2
INS_READ_BINARY = 0xB0
INS_UPDATE_RECORD = 0xDC
INS_GET_CHALLENGE = 0x84
INS_GET_RESPONSE = 0xC0
INS_EXTERNAL_AUTH = 0x82
INS_INTERNAL_AUTH = 0x88
INS_VERIFY = 0x20
INS_CHANGE_PIN = 0x5E
INS_PIN_UNBLOCK_RESET = 0x24
INS_APPLICATION_BLOCK = 0x1E
INS_CARD_BLOCK = 0x16
INS_GET_PROCESSING_OPTIONS = 0xA8  # the bank application (§9, EMV), CLA 80
INS_DELIVERY_SESSION_KEY = 0xDE
INS_CIPHER_DATA = 0xFA

#: READ RECORD / UPDATE RECORD P2 low bits (§4, ISO/IEC 7816-4 table "P2 of READ RECORD").
#: P1 is a record identifier (tag) in modes 0-3 and a record number in modes 4-6.
BY_TAG = 0b000  # first occurrence of identifier P1
LAST_BY_TAG = 0b001  # last occurrence
NEXT_BY_TAG = 0b010  # next occurrence after the current record
PREVIOUS_BY_TAG = 0b011  # previous occurrence before the current record
BY_NUMBER = 0b100  # record number P1 (00: the current record)
ALL_FROM = 0b101  # all records from number P1 up to the last, concatenated
ALL_TO = 0b110  # all records from the last down to number P1
#: the multi-record modes: one answer holds several whole SIMPLE-TLV records.
MULTI_RECORD_MODES = frozenset({ALL_FROM, ALL_TO})

#: PIN UNBLOCK / RESET P2 (§6).
P2_UNBLOCK = 0x00
P2_RESET = 0x01

#: CIPHER DATA P1 (§11).
CIPHER_ENCRYPT_LAST = 0x00
CIPHER_ENCRYPT_MORE = 0x02
CIPHER_MAC_SINGLE = 0x05
CIPHER_MAC_FIRST = 0x07
CIPHER_MAC_MIDDLE = 0x03
CIPHER_MAC_LAST = 0x01

MAC_LEN = 4


def _byte(name: str, value: int, lo: int = 0, hi: int = 0xFF) -> int:
    if not lo <= value <= hi:
        raise ApduFormatError(f"{name} must be in {lo}..{hi}, got {value}")
    return value


# --- selection and reading ----------------------------------------------------------------------


def select_by_name(name: bytes) -> CommandAPDU:
    """``00 A4 04 00 Lc name 00``: select a DF/ADF by name and ask for its FCI (§3)."""
    return CommandAPDU(0x00, INS_SELECT, 0x04, 0x00, bytes(name), 256)


def select_df(fid: int) -> CommandAPDU:
    """``00 A4 00 00 02 FID``: MF or DF by file identifier."""
    return CommandAPDU(0x00, INS_SELECT, 0x00, 0x00, fid.to_bytes(2, "big"))


def select_ef(fid: int) -> CommandAPDU:
    """``00 A4 02 00 02 FID``: an EF under the current DF (no FCI returned)."""
    return CommandAPDU(0x00, INS_SELECT, 0x02, 0x00, fid.to_bytes(2, "big"))


def read_record(p1: int, *, by_tag: bool, sfi: int | None = None, le: int = 256) -> CommandAPDU:
    """``00 B2 P1 P2 Le`` in the four modes of §4.

    ``by_tag`` True: P1 is a record identifier (tag); False: a record number.  ``sfi`` None reads
    the current EF.  Pass the exact ``le`` (value + 2) so no ``6Cxx`` round trip is wasted (§12).
    """
    p2 = BY_TAG if by_tag else BY_NUMBER
    if sfi is not None:
        p2 |= _byte("SFI", sfi, 1, 30) << 3
    return CommandAPDU(0x00, INS_READ_RECORD, _byte("P1", p1), p2, b"", le)


def read_records_from(first: int = 1, *, sfi: int | None = None, le: int = 256) -> CommandAPDU:
    """``00 B2 P1 (SFI<<3)|5 00``: every record from number ``first`` to the last, in one answer.

    ISO/IEC 7816-4 mode ``101``; the card profile omits it, deployed terminals use it and real
    cards answer it (issue 9).  Le 00 (256) asks for as much as the card has.
    """
    p2 = ALL_FROM
    if sfi is not None:
        p2 |= _byte("SFI", sfi, 1, 30) << 3
    return CommandAPDU(0x00, INS_READ_RECORD, _byte("P1", first), p2, b"", le)


def read_binary(offset: int = 0, le: int = 256, sfi: int | None = None) -> CommandAPDU:
    """``00 B0 P1 P2 Le``: with an SFI, P1 = 80|SFI and P2 = offset (0..255)."""
    if sfi is not None:
        return CommandAPDU(
            0x00, INS_READ_BINARY, 0x80 | _byte("SFI", sfi, 1, 30), _byte("offset", offset), b"", le
        )
    _byte("offset", offset, 0, 0x7FFF)
    return CommandAPDU(0x00, INS_READ_BINARY, offset >> 8, offset & 0xFF, b"", le)


def update_record(
    record: bytes, p1: int, *, by_tag: bool = True, sfi: int | None = None
) -> CommandAPDU:
    """``00 DC P1 P2 Lc record``: ``record`` is the whole SIMPLE-TLV record (tag len value)."""
    if not record:
        raise ApduFormatError("UPDATE RECORD needs the record's bytes")
    p2 = BY_TAG if by_tag else BY_NUMBER
    if sfi is not None:
        p2 |= _byte("SFI", sfi, 1, 30) << 3
    return CommandAPDU(0x00, INS_UPDATE_RECORD, _byte("P1", p1), p2, bytes(record))


def get_response(n: int) -> CommandAPDU:
    """``00 C0 00 00 Le`` (T=0)."""
    return CommandAPDU(0x00, INS_GET_RESPONSE, 0, 0, b"", _byte("Le", n, 1, 256))


# --- authentication -----------------------------------------------------------------------------


def get_challenge(n: int = 8) -> CommandAPDU:
    """``00 84 00 00 Le``: 8 random bytes (4 and 16 also allowed)."""
    if n not in (4, 8, 16):
        raise ApduFormatError("GET CHALLENGE asks for 4, 8 or 16 bytes")
    return CommandAPDU(0x00, INS_GET_CHALLENGE, 0, 0, b"", n)


def external_authenticate(
    kid: int, cryptogram: bytes, d: bytes, version: int | None = None
) -> CommandAPDU:
    """``00 82 00 KID 10 AD D`` (or ``11 AD D version``), §7.4."""
    if len(cryptogram) != 8 or len(d) != 8:
        raise ApduFormatError("EXTERNAL AUTHENTICATE takes an 8-byte cryptogram and 8-byte D")
    data = bytes(cryptogram) + bytes(d)
    if version is not None:
        data += bytes((_byte("version", version),))
    return CommandAPDU(0x00, INS_EXTERNAL_AUTH, 0x00, _byte("KID", kid), data)


def internal_authenticate(r1: bytes, r2: bytes, kid: int = 0x00) -> CommandAPDU:
    """``00 88 00 KID 10 R1 R2 00``, §7.5: the card answers 8 bytes."""
    if len(r1) != 8 or len(r2) != 8:
        raise ApduFormatError("INTERNAL AUTHENTICATE takes 8-byte R1 and R2")
    return CommandAPDU(0x00, INS_INTERNAL_AUTH, 0x00, _byte("KID", kid), bytes(r1) + bytes(r2), 256)


# --- PIN (§6) -----------------------------------------------------------------------------------


def verify(pin_block: bytes) -> CommandAPDU:
    """``00 20 00 00 Lc PIN``.  Refuses an empty PIN block (that would be the status query)."""
    if not pin_block:
        raise ApduFormatError("VERIFY with no PIN data is the status query; use verify_status()")
    return CommandAPDU(0x00, INS_VERIFY, 0x00, 0x00, bytes(pin_block))


def verify_status() -> CommandAPDU:
    """``00 20 00 00``: the empty VERIFY; asks the PIN state without using a try (§6)."""
    return CommandAPDU(0x00, INS_VERIFY, 0x00, 0x00)


def change_pin(old_block: bytes, new_block: bytes) -> CommandAPDU:
    """``80 5E 01 00 Lc old FF new`` (§6)."""
    if not old_block or not new_block:
        raise ApduFormatError("CHANGE PIN needs the old and the new PIN")
    return CommandAPDU(
        0x80, INS_CHANGE_PIN, 0x01, 0x00, bytes(old_block) + b"\xff" + bytes(new_block)
    )


def mac_input(cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    """The bytes a §7.3 MAC covers: header, Lc counting the 4 MAC bytes, then the data."""
    return bytes((cla, ins, p1, p2, len(data) + MAC_LEN)) + bytes(data)


def _with_mac(ins: int, p1: int, p2: int, data: bytes, mac: bytes) -> CommandAPDU:
    if len(mac) != MAC_LEN:
        raise ApduFormatError("a MAC has 4 bytes")
    return CommandAPDU(0x84, ins, p1, p2, bytes(data) + bytes(mac))


def pin_unblock(mac: bytes) -> CommandAPDU:
    """``84 24 00 00 04 MAC``: reset the try counter, keep the PIN (§6)."""
    return _with_mac(INS_PIN_UNBLOCK_RESET, 0x00, P2_UNBLOCK, b"", mac)


def pin_reset(encrypted_pin: bytes, mac: bytes) -> CommandAPDU:
    """``84 24 00 01 Lc Enc(LD PIN 80..) MAC``: set a new PIN without the old one (§6)."""
    if not encrypted_pin:
        raise ApduFormatError("PIN RESET needs the encrypted new PIN")
    return _with_mac(INS_PIN_UNBLOCK_RESET, 0x00, P2_RESET, encrypted_pin, mac)


def application_block(mac: bytes) -> CommandAPDU:
    """``84 1E 00 01 04 MAC`` (§5)."""
    return _with_mac(INS_APPLICATION_BLOCK, 0x00, 0x01, b"", mac)


def card_block(mac: bytes) -> CommandAPDU:
    """``84 16 00 00 04 MAC`` (§5)."""
    return _with_mac(INS_CARD_BLOCK, 0x00, 0x00, b"", mac)


def get_processing_options(pdol_data: bytes = b"") -> CommandAPDU:
    """``80 A8 00 00 Lc 83 len pdol-data 00`` (§9, EMV): no PDOL gives ``83 00``."""
    if len(pdol_data) > 0xFD:
        raise ApduFormatError("PDOL data too long for one GET PROCESSING OPTIONS")
    return CommandAPDU(
        0x80, INS_GET_PROCESSING_OPTIONS, 0, 0, bytes((TAG_PDOL_DATA, len(pdol_data))) + pdol_data,
        256,
    )


# --- PSAM (§11) ---------------------------------------------------------------------------------


def delivery_session_key(
    usage: int, key_id: int, factors: Sequence[bytes], challenge: bytes
) -> CommandAPDU:
    """``BF DE usage id Lc factors(lowest level first) R``: the PSAM derives and keeps an SK.

    ``challenge`` is the card's 8 bytes (padded to 16 with zeros by the caller for SM4).
    """
    if any(len(f) != 8 for f in factors):
        raise ApduFormatError("diversification factors have 8 bytes each")
    if len(challenge) not in (8, 16):
        raise ApduFormatError("the session-key input R has 8 or 16 bytes")
    data = b"".join(factors) + bytes(challenge)
    return CommandAPDU(
        0xBF, INS_DELIVERY_SESSION_KEY, _byte("usage", usage), _byte("key id", key_id), data
    )


def cipher_data(p1: int, data: bytes, le: int = 256) -> CommandAPDU:
    """``80 FA P1 00 Lc data Le``: encrypt or MAC with the PSAM's session key (§11)."""
    if not data:
        raise ApduFormatError("CIPHER DATA needs data")
    return CommandAPDU(0x80, INS_CIPHER_DATA, _byte("P1", p1), 0x00, bytes(data), le)
