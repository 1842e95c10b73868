"""National error codes (national-interface §4): status words, transport errors, the PSAM switch.

Table-driven: every status word of card-profile §5 maps to -(SW1*256+SW2) after any command but
VERIFY/CHANGE PIN, where 63Cx is -51 with the tries left and 6983 is -52.
"""

from __future__ import annotations

import pytest

from apdu import commands, status
from apdu.errors import (
    CardNotSupportedError,
    CardRemovedError,
    NoCardError,
    NoReaderError,
    ProtocolError,
    ReaderGoneError,
    ResponseFormatError,
    TransportError,
)
from terminal.national import gbk
from terminal.national.card import _sam_failure
from terminal.national.codes import (
    CODE_TEXTS,
    SW_TEXTS,
    NationalError,
    SamFailure,
    outcome_of,
    sw_code,
    text_of,
)

#: card-profile §5's status words (besides 9000 and the 61xx/6Cxx families).
SPEC_SWS = sorted(status.SW_TABLE)


@pytest.mark.parametrize("sw", SPEC_SWS, ids=lambda sw: f"{sw:04X}")
def test_every_status_word_of_the_table_maps_to_minus_sw(sw: int) -> None:
    code, text = outcome_of(status.error_for(sw, commands.INS_READ_RECORD))
    assert code == -sw
    assert f"{sw:04X}" in text and SW_TEXTS[sw] in text


@pytest.mark.parametrize(
    ("sw", "ins", "code"),
    [
        (0x6983, commands.INS_EXTERNAL_AUTH, -27011),  # national-interface §4's own examples
        (0x6A82, commands.INS_SELECT, -27266),
        (0x63C2, commands.INS_EXTERNAL_AUTH, -25538),
        (0x9303, commands.INS_SELECT, -37635),
        (0x6A88, commands.INS_READ_RECORD, -27272),
        (0x6C10, commands.INS_READ_RECORD, -0x6C10),
        (0x6F00, commands.INS_UPDATE_RECORD, -0x6F00),
        (0x6E00, commands.INS_SELECT, -0x6E00),
    ],
)
def test_spec_examples(sw: int, ins: int, code: int) -> None:
    assert outcome_of(status.error_for(sw, ins))[0] == code
    assert sw_code(sw) == code


@pytest.mark.parametrize("ins", [commands.INS_VERIFY, commands.INS_CHANGE_PIN])
@pytest.mark.parametrize("tries", range(0, 16))
def test_verify_63cx_is_minus_51_with_the_tries_left(ins: int, tries: int) -> None:
    code, text = outcome_of(status.error_for(0x63C0 | tries, ins))
    assert code == -51
    assert text == f"PIN校验失败,剩余次数{tries}次"


@pytest.mark.parametrize("ins", [commands.INS_VERIFY, commands.INS_CHANGE_PIN])
def test_verify_6983_is_minus_52(ins: int) -> None:
    assert outcome_of(status.error_for(0x6983, ins)) == (-52, "PIN锁定")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (NoReaderError("x"), -11),
        (ReaderGoneError("x"), -11),
        (NoCardError("x"), -2),
        (CardRemovedError("x"), -2),
        (ProtocolError("x"), -4),
        (TransportError("x"), -4),
        (CardNotSupportedError("x"), -1),
        (ResponseFormatError("x"), -4),
        (NationalError(-22, "卡号与卡内不符"), -22),
        (RuntimeError("bug"), -13),
    ],
)
def test_other_errors(exc: BaseException, code: int) -> None:
    assert outcome_of(exc)[0] == code


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (SamFailure("absent", "x"), -2201),
        (SamFailure("algorithm", "x"), -2202),
        (SamFailure("no_key", "x", key="RKSSSE"), -2203),
        (SamFailure("no_key", "x", key="RK1DF01"), -27272),
        (SamFailure("level", "x", sw=0x6A80), -24),
        (SamFailure("status", "x", sw=0x6985), -0x6985),
        (SamFailure("other", "x"), -2201),
    ],
)
def test_psam_failures_tell_the_caller_to_switch(failure: SamFailure, code: int) -> None:
    assert outcome_of(failure)[0] == code


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (status.error_for(0x6A88, 0xDE), "no_key"),  # DELIVERY SESSION KEY: no such key
        (status.error_for(0x6A80, 0xDE), "level"),  # factor count the key's level refuses
        (status.error_for(0x6985, 0xFA), "status"),
        (NoCardError("PSAM gone"), "absent"),
    ],
)
def test_psam_exceptions_are_classified(exc: Exception, kind: str) -> None:
    assert _sam_failure(exc, "RKSSSE").kind == kind


def test_every_code_text_is_gbk_and_national_error_carries_detail() -> None:
    for code in CODE_TEXTS:
        assert gbk.encode(text_of(code, tries=3)).decode("gbk") == text_of(code, tries=3)
    err = NationalError(-14, "pFileAddr为空")
    assert err.text == "命令参数错(pFileAddr为空)" and err.code == -14


def test_gbk_cut_never_splits_a_character() -> None:
    data = gbk.encode("卡a号卡")
    for limit in range(len(data) + 1):
        piece = gbk.cut(data, limit)
        assert len(piece) <= limit
        piece.decode("gbk")  # never half a character
    assert gbk.encode("a😀b") == b"a?b"  # GBK has no emoji: never a GB18030 4-byte sequence
