"""The national error codes and their texts, and how sscard's typed errors become them.

national-interface.md §4 (SCRW2 App. A).  Two tables and one function:

- :data:`CODE_TEXTS`: code -> the text a caller shows (GBK on the wire; ``-51`` carries the tries
  left);
- :data:`SW_TEXTS`: the status words of card-profile §5 -> their meaning, used in the text of
  the ``-(SW1*256 + SW2)`` codes;
- :func:`outcome_of`: any exception the facade meets -> ``(code, text)``.  A PIN pad's own
  results (PC/SC part 10) map to the PIN-entry codes: cancel -31, timeout -32, a length the pad
  refused -33, the two new entries differ -34; a reader without the pad -13.  VERIFY's answers are
  the exception to the ``-SW`` rule (``63Cx`` -> -51 with the tries left, ``6983`` -> -52), and
  sscard applies the same to CHANGE PIN, whose ``63Cx`` is also "the PIN was wrong" [choice].

:class:`NationalError` is how the facade itself refuses (a bad parameter, a mismatch, a PIN entry
cancelled): a code and an optional detail.  :class:`SamFailure` is how the card adapter reports
that the security module (PSAM) could not do its part, so the caller can switch to the HSM route
(-2201/-2202/-2203/-24, or the PSAM's own status word).

Texts name what went wrong, never a PIN or a key.
"""

from __future__ import annotations

from typing import Literal

from apdu import status
from apdu.errors import (
    CardNotSupportedError,
    CardRemovedError,
    ControlNotSupported,
    NoCardError,
    NoReaderError,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
    PinPadError,
    PolicyError,
    ReaderGoneError,
    SSCardError,
    TransportError,
    UsageError,
)
from terminal.policy import INITIAL_PIN_CODE, INITIAL_PIN_TEXT

OK = 0
WRONG_CARD_TYPE = -1
NO_CARD = -2
CARD_NOT_POWERED = -3
CARD_MUTE = -4
LIBRARY_LOAD = -5
READER_CONNECTION = -11
NOT_CONNECTED = -12
NOT_SUPPORTED = -13
BAD_PARAMETER = -14
CHECKSUM = -15
CARD_ID_FORMAT = -20
INTERNAL_AUTH_FAILED = -21
DATA_MISMATCH = -22
DATA_INVALID = -23
PSAM_KEY_LEVEL = -24
PIN_CANCELLED = -31
PIN_TIMEOUT = -32
PIN_LENGTH = -33
PIN_MISMATCH = -34
INITIAL_PIN_REFUSED = INITIAL_PIN_CODE  # -35, the sale policy's code (terminal/policy.py)
NEW_PIN_IS_INITIAL = -36
HSM_DATA_CHARACTERS = -41
HSM_DATA_LENGTH = -42
PIN_WRONG = -51
PIN_BLOCKED = -52
NO_PSAM = -2201
PSAM_ALGORITHM = -2202
PSAM_NO_RKSSSE = -2203
HSM_NOT_NEEDED = -2204

#: code -> text (national-interface §4).  ``{tries}`` is filled in for -51.
CODE_TEXTS: dict[int, str] = {
    OK: "成功",
    WRONG_CARD_TYPE: "卡类型不对",
    NO_CARD: "无卡",
    CARD_NOT_POWERED: "有卡未上电",
    CARD_MUTE: "卡无应答",
    LIBRARY_LOAD: "加载动态库错",
    READER_CONNECTION: "读卡器连接错",
    NOT_CONNECTED: "未建立连接",
    NOT_SUPPORTED: "不支持该命令",
    BAD_PARAMETER: "命令参数错",
    CHECKSUM: "信息校验和出错",
    CARD_ID_FORMAT: "卡识别码格式错",
    INTERNAL_AUTH_FAILED: "内部认证失败(用户卡不合法)",
    DATA_MISMATCH: "传入数据与卡内不符",
    DATA_INVALID: "传入数据不合法",
    PSAM_KEY_LEVEL: "PSAM卡密钥级别不够",
    PIN_CANCELLED: "用户取消密码输入",
    PIN_TIMEOUT: "密码输入超时",
    PIN_LENGTH: "输入密码长度错",
    PIN_MISMATCH: "两次输入密码不一致",
    INITIAL_PIN_REFUSED: INITIAL_PIN_TEXT,
    NEW_PIN_IS_INITIAL: "不能改为初始密码",
    HSM_DATA_CHARACTERS: "运算数据含非法字符",
    HSM_DATA_LENGTH: "运算数据长度错",
    PIN_WRONG: "PIN校验失败,剩余次数{tries}次",
    PIN_BLOCKED: "PIN锁定",
    NO_PSAM: "无PSAM卡",
    PSAM_ALGORITHM: "PSAM卡算法不支持",
    PSAM_NO_RKSSSE: "PSAM卡内没有RKSSSE",
    HSM_NOT_NEEDED: "不需要加密机认证",
}

#: card-profile §5 status words -> meaning (the families 63Cx / 61xx / 6Cxx are in :func:`sw_text`).
SW_TEXTS: dict[int, str] = {
    status.MEMORY_FAILURE: "存储器故障",
    status.WRONG_LENGTH: "长度错误",
    status.COMMAND_NOT_ACCEPTED: "命令不被接受(状态无效)",
    status.INCOMPATIBLE_FILE_STRUCTURE: "命令与文件结构不相容",
    status.SECURITY_STATUS_NOT_SATISFIED: "不满足安全状态",
    status.AUTH_METHOD_BLOCKED: "认证方法锁定",
    status.REFERENCED_DATA_INVALID: "引用数据无效(无随机数)",
    status.CONDITIONS_NOT_SATISFIED: "不满足使用条件",
    status.NO_CURRENT_EF: "没有当前文件",
    status.SM_DATA_INCORRECT: "安全报文数据项不正确",
    status.WRONG_DATA: "数据域参数不正确",
    status.FUNCTION_NOT_SUPPORTED: "功能不支持(或卡已锁定)",
    status.FILE_NOT_FOUND: "文件未找到",
    status.RECORD_NOT_FOUND: "记录未找到",
    status.WRONG_P1P2: "P1/P2参数不正确",
    status.KEY_NOT_FOUND: "未找到引用数据(密钥)",
    status.OFFSET_OUTSIDE_EF: "偏移量超出文件",
    status.INS_NOT_SUPPORTED: "指令不支持",
    status.CLA_NOT_SUPPORTED: "类别不支持",
    status.NO_PRECISE_DIAGNOSIS: "无精确诊断",
    status.MAC_INVALID: "MAC无效",
    status.APPLICATION_BLOCKED: "应用已被永久锁定",
}


def sw_code(sw: int) -> int:
    """The ``-SW`` rule of national-interface §4: ``6A82`` -> -27266."""
    return -(sw & 0xFFFF)


def sw_text(sw: int) -> str:
    """The meaning of any status word, for a ``-SW`` code's text."""
    if sw & 0xFFF0 == 0x63C0:
        meaning = f"认证失败,剩余次数{sw & 0x0F}次"
    elif sw >> 8 == 0x6C:
        meaning = f"Le错误,正确长度{(sw & 0xFF) or 256}"
    elif sw >> 8 == 0x61:
        meaning = f"还有{(sw & 0xFF) or 256}字节数据"
    else:
        meaning = SW_TEXTS.get(sw, "未知状态")
    return f"卡片返回状态字{sw:04X}:{meaning}"


def text_of(code: int, *, tries: int | None = None) -> str:
    """The base text of ``code``; a ``-SW`` code gets the status word's meaning."""
    if code == PIN_WRONG:
        return CODE_TEXTS[PIN_WRONG].format(tries="?" if tries is None else tries)
    if code in CODE_TEXTS:
        return CODE_TEXTS[code]
    if -0xFFFF <= code <= -0x6000:
        return sw_text(-code)
    return f"错误{code}"


class NationalError(SSCardError):
    """The facade refuses with a national code; ``detail`` (optional) says more, in Chinese."""

    exit_code = 1

    def __init__(self, code: int, detail: str = "", *, tries: int | None = None) -> None:
        self.code = code
        self.detail = detail
        self.tries = tries
        base = text_of(code, tries=tries)
        self.text = f"{base}({detail})" if detail else base
        super().__init__(f"national code {code}: {self.text}")


SamFailureKind = Literal["absent", "algorithm", "no_key", "level", "status", "other"]


class SamFailure(SSCardError):
    """The security module could not do its part (raised by the card adapter).

    ``kind``: ``absent`` (no PSAM, or it is gone), ``algorithm`` (not the card's), ``no_key``
    (the PSAM lacks the key ``key``), ``level`` (its key cannot be diversified for this card),
    ``status`` (the PSAM answered ``sw``), ``other``.
    """

    exit_code = 1

    def __init__(
        self, kind: SamFailureKind, message: str, *, key: str | None = None, sw: int | None = None
    ) -> None:
        self.kind = kind
        self.key = key
        self.sw = sw
        super().__init__(message)


def _sam_outcome(exc: SamFailure) -> tuple[int, str]:
    if exc.kind == "absent":
        return NO_PSAM, text_of(NO_PSAM)
    if exc.kind == "algorithm":
        return PSAM_ALGORITHM, text_of(PSAM_ALGORITHM)
    if exc.kind == "no_key":
        if exc.key == "RKSSSE":
            return PSAM_NO_RKSSSE, text_of(PSAM_NO_RKSSSE)
        # Not RKSSSE: the PSAM's own "key not found" (-27272), which callers also switch on.
        code = sw_code(status.KEY_NOT_FOUND)
        return code, f"PSAM卡内没有{exc.key or ''}密钥:{SW_TEXTS[status.KEY_NOT_FOUND]}"
    if exc.kind == "level":
        return PSAM_KEY_LEVEL, text_of(PSAM_KEY_LEVEL)
    if exc.kind == "status" and exc.sw is not None:
        return sw_code(exc.sw), "PSAM" + sw_text(exc.sw)[2:]
    return NO_PSAM, f"{text_of(NO_PSAM)}(PSAM不可用)"


#: What a PIN pad made instead of the card's status word (PC/SC part 10) -> codes; any other
#: refusal of the pad (``6B80``: a structure its firmware cannot carry out) is -13.
_PIN_PAD: tuple[tuple[type[PinPadError], int], ...] = (
    (PinEntryCancelled, PIN_CANCELLED),
    (PinEntryTimeout, PIN_TIMEOUT),
    (PinEntryMismatch, PIN_MISMATCH),
    (PinLengthError, PIN_LENGTH),
)

#: Transport errors -> codes (most specific class first).
_TRANSPORT: tuple[tuple[type[SSCardError], int], ...] = (
    (ReaderGoneError, READER_CONNECTION),
    (NoReaderError, READER_CONNECTION),
    (CardRemovedError, NO_CARD),
    (NoCardError, NO_CARD),
    (TransportError, CARD_MUTE),
    (CardNotSupportedError, WRONG_CARD_TYPE),
)


def outcome_of(exc: BaseException) -> tuple[int, str]:
    """``(code, text)`` for an exception raised while serving a national call."""
    if isinstance(exc, NationalError):
        return exc.code, exc.text
    if isinstance(exc, SamFailure):
        return _sam_outcome(exc)
    if isinstance(exc, status.WrongPin):
        return PIN_WRONG, text_of(PIN_WRONG, tries=exc.tries_left)
    if isinstance(exc, status.PinBlocked):
        return PIN_BLOCKED, text_of(PIN_BLOCKED)
    if isinstance(exc, status.StatusError):
        return sw_code(exc.sw), sw_text(exc.sw)
    if isinstance(exc, PinPadError):
        found = next((code for cls, code in _PIN_PAD if isinstance(exc, cls)), None)
        if found is None:
            return NOT_SUPPORTED, f"{text_of(NOT_SUPPORTED)}(密码键盘拒绝)"
        return found, text_of(found)
    if isinstance(exc, ControlNotSupported):
        return NOT_SUPPORTED, f"{text_of(NOT_SUPPORTED)}(读卡器没有密码键盘)"
    for cls, code in _TRANSPORT:
        if isinstance(exc, cls):
            return code, text_of(code)
    if isinstance(exc, PolicyError | UsageError):
        return DATA_INVALID, text_of(DATA_INVALID)
    if isinstance(exc, SSCardError):
        # Garbage from the card (a record that does not parse, a protocol breach): the card
        # did not answer as a social security card does.
        return CARD_MUTE, f"{text_of(CARD_MUTE)}(卡片应答格式错)"
    return NOT_SUPPORTED, f"{text_of(NOT_SUPPORTED)}(内部错误)"
