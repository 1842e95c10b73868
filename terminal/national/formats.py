"""The HSM step texts of national-interface §3: what Step1 says, what an HSM answers.

Every step text is ``|``-terminated fields; hex is upper case on output and accepted in either
case on input ("strict in what you produce, tolerant in what you accept").

- ``iReadCardBas_HSM_Step1`` (8 fields)::

      区划|历史字节|算法标识|卡识别码|内部认证过程因子|内部认证原始信息|外部认证过程因子|外部认证原始信息|

  算法标识 is the SSSE FCI flag as 2 hex digits (``01`` DES, ``03`` SM4); the internal factors are
  R1 and R2 (§7.5), the external ones the card's challenge and the data D (§7.4), empty on cards
  older than 3.00.
- its ``pKey`` (:func:`parse_basic_key`): ``IA(16)R2(16)|AD(16)D(16)|``, the second part empty
  without external authentication; a missing last ``|`` is accepted.
- ``iReadCard_HSM_Step1`` / ``iWriteCard_HSM_Step1`` [choice: SCRW2's table is not public; one
  external authentication, as their 32-character ``pKey`` implies]::

      区划|历史字节|算法标识|卡识别码|外部认证密钥地址|外部认证过程因子|外部认证原始信息|

  and their ``pKey`` is ``AD(16)D(16)`` (empty when no key is needed).
- Reload/Unblock Step1: ``算法标识|外部认证密钥地址|过程因子|原始信息|`` (the PUK); Step2's
  ``pKey`` is ``AD‖D``; Step2 out: ``算法标识|安全报文密钥地址|过程因子|APDU命令头|明文数据|``
  (the STK; the header is CLA INS P1 P2 Lc; for reload the plaintext is the new PIN, BCD, in
  hex); Step3's ``pKey`` is ``header‖data‖MAC`` or ``data‖MAC`` (both accepted).

Malformed HSM data: a character that is not hex -> -41, a wrong length -> -42.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from terminal.national.codes import HSM_DATA_CHARACTERS, HSM_DATA_LENGTH, NationalError

_HEX = re.compile(r"[0-9A-Fa-f]*")


def hx(data: bytes) -> str:
    return data.hex().upper()


def fields(*values: str) -> str:
    """``a|b|c|``: every field ``|``-terminated."""
    return "".join(v + "|" for v in values)


def unhex(text: str, length: int | None, what: str) -> bytes:
    """Hex -> bytes; -41 for a non-hex character, -42 for a wrong length (``length`` in bytes)."""
    if not _HEX.fullmatch(text):
        raise NationalError(HSM_DATA_CHARACTERS, f"{what}含非十六进制字符")
    if len(text) % 2 or (length is not None and len(text) != 2 * length):
        want = f"{2 * length}位" if length is not None else "偶数位"
        raise NationalError(HSM_DATA_LENGTH, f"{what}应为{want}十六进制数,收到{len(text)}位")
    return bytes.fromhex(text)


def split_fields(text: str, count: int, what: str) -> list[str]:
    """``count`` ``|``-terminated fields; the last ``|`` (and empty trailing fields) optional."""
    parts = text.split("|")
    if parts and parts[-1] == "":
        parts.pop()
    while len(parts) < count:
        parts.append("")
    if len(parts) != count:
        raise NationalError(HSM_DATA_LENGTH, f"{what}应有{count}段,收到{len(parts)}段")
    return parts


@dataclass(frozen=True)
class BasicKey:
    """An HSM's answer to ``iReadCardBas_HSM_Step1``."""

    internal: bytes  # the card's expected INTERNAL AUTHENTICATE answer
    r2: bytes  # the data it was computed for
    cryptogram: bytes | None  # AD for EXTERNAL AUTHENTICATE (3.00 cards)
    d: bytes | None


def parse_basic_key(text: str, external: bool) -> BasicKey:
    """``IA‖R2|AD‖D|`` (national-interface §3); ``external`` says whether AD‖D must be there."""
    first, second = split_fields(text, 2, "pKey")
    pair = unhex(first, 16, "pKey内部认证部分")
    if external:
        ext = unhex(second, 16, "pKey外部认证部分")
        return BasicKey(pair[:8], pair[8:], ext[:8], ext[8:])
    if second:
        unhex(second, 16, "pKey外部认证部分")  # tolerated (a non-3.00 card needs none), but checked
    return BasicKey(pair[:8], pair[8:], None, None)


def parse_auth_key(text: str, required: bool) -> tuple[bytes, bytes] | None:
    """``AD(16)D(16)`` for one external authentication; empty allowed when ``required`` is False."""
    text = text.rstrip("|")
    if not text and not required:
        return None
    raw = unhex(text, 16, "pKey")
    return raw[:8], raw[8:]


def parse_secure_key(text: str, header: bytes, data_len: int) -> tuple[bytes, bytes]:
    """Step3 ``pKey``: ``header‖data‖MAC`` or ``data‖MAC`` -> (data, MAC)."""
    text = text.rstrip("|")
    raw = unhex(text, None, "pKey")
    if raw[: len(header)] == header and len(raw) == len(header) + data_len + 4:
        raw = raw[len(header) :]
    if len(raw) != data_len + 4:
        full = 2 * (len(header) + data_len + 4)
        short = 2 * (data_len + 4)
        raise NationalError(HSM_DATA_LENGTH, f"pKey应为{full}位或{short}位十六进制数")
    return raw[:data_len], raw[data_len:]
