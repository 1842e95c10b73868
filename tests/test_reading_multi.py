"""The multi-record read (issue 9 §7): one READ RECORD per EF where the card allows, by tag where
it does not, and each card model probed at most once per process.

Acceptance: on a card that answers P2 = 05 a read takes 12 command APDUs fewer than by tag (2.x
T=1: 3, 3.00 T=1: 5, T=0 +1 GET RESPONSE for the FCI); on one that refuses it, one APDU more than
by tag the first time and none more after that in the same process.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu.atr import build_ssc_atr
from apdu.codec import cn_encode, date_encode
from apdu.errors import UsageError
from apdu.names import SSSE_NAME
from apdu.status import WrongParameters
from apdu.tlv import simple_encode
from drivers.channel import CardChannel
from drivers.replay import ReplayReader
from drivers.simulated import SimulatedReader
from drivers.trace import RecordingTracer
from simulator.samples import sample_card
from simulator.state import CardState
from simulator.usercard import UserCard
from terminal.reading import MULTI_RECORD_REFUSALS, ModelMemory, card_model, read_card
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession

OK = b"\x90\x00"
HIST = bytes.fromhex("008653494D5343420100000001")
ATR = build_ssc_atr(HIST, "T1")
CARD_ID = bytes.fromhex("420100D15600000500000001FFFFFFFF")


def _session(card: Any, strategy: str = "auto", sam: bool = True) -> CardSession:
    reader = SimulatedReader(card)
    reader.connect()
    return CardSession(CardChannel(reader, RecordingTracer()), SoftwareSam() if sam else None,
                       read_strategy=strategy)


def _sent(session: CardSession) -> list[bytes]:
    return [e.command for e in session.channel.tracer.exchanges]  # type: ignore[union-attr]


@pytest.mark.parametrize(("generation", "t0", "auto", "by_tag"), [
    (2, False, 3, 15), (3, False, 5, 17), (2, True, 4, 16), (3, True, 6, 18),
])
def test_a_card_that_answers_p2_05_reads_in_12_apdus_fewer(
    generation: int, t0: bool, auto: int, by_tag: int
) -> None:
    fast = read_card(_session(sample_card(generation, t0=t0)))
    slow = read_card(_session(sample_card(generation, t0=t0), "by-tag"))
    assert (fast.apdus, slow.apdus) == (auto, by_tag) and by_tag - auto == 12
    assert fast.holder == slow.holder and fast.issuer == slow.issuer
    assert fast.notes == slow.notes == []


@pytest.mark.parametrize(("generation", "by_tag"), [(2, 15), (3, 17)])
def test_a_card_that_refuses_costs_one_apdu_more_once_per_model(
    generation: int, by_tag: int
) -> None:
    card = sample_card(generation, t0=False, multi_record=False)
    first = _session(card)
    assert read_card(first).apdus == by_tag + 1
    assert _sent(first)[1] == bytes.fromhex("00B2012D00")  # the probe, answered 6A86
    assert card_model(card.atr) == HIST[:5] and len(MULTI_RECORD_REFUSALS) == 1
    for _ in range(3):  # the same model, any number of cards: no probe any more
        again = _session(sample_card(generation, t0=False, multi_record=False))
        result = read_card(again)
        assert result.apdus == by_tag and all(c[3] & 7 != 5 for c in _sent(again))
    MULTI_RECORD_REFUSALS.clear()
    assert read_card(_session(card)).apdus == by_tag + 1  # forgotten: probed again


def test_the_memory_is_per_model_not_per_process() -> None:
    MULTI_RECORD_REFUSALS.remember(b"\x00\x99XYZ")
    assert read_card(_session(sample_card(2, t0=False))).apdus == 3  # another model: still fast
    assert MULTI_RECORD_REFUSALS.refuses(b"\x00\x99XYZ")
    memory = ModelMemory()
    memory.remember(b"a")
    assert memory.refuses(b"a") and len(memory) == 1
    memory.clear()
    assert not memory.refuses(b"a")


def test_card_model_is_t1_to_t5_or_the_whole_atr() -> None:
    assert card_model(ATR) == HIST[:5]
    short = bytes.fromhex("3B630000010203")
    assert card_model(short) == b"ATR:" + short
    assert card_model(b"\x01\x02") == b"ATR:\x01\x02"  # not even an ATR: keyed as it is


def test_strategy_by_tag_never_probes_and_multi_record_insists() -> None:
    session = _session(sample_card(2, t0=False), "by-tag")
    read_card(session)
    assert all(c[3] & 7 == 0 for c in _sent(session) if c[1] == 0xB2)
    refusing = sample_card(2, t0=False, multi_record=False)
    with pytest.raises(WrongParameters):
        read_card(_session(refusing, "multi-record"))
    assert len(MULTI_RECORD_REFUSALS) == 0  # the strict strategy neither reads nor writes it
    MULTI_RECORD_REFUSALS.remember(card_model(refusing.atr))
    forced = _session(sample_card(2, t0=False), "multi-record")
    assert read_card(forced).apdus == 3  # multi-record ignores the memory


def test_an_unknown_strategy_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="read strategy"):
        read_card(_session(sample_card(2)), "fastest")


def test_the_1_00_card_reads_its_absent_4e_by_tag() -> None:
    session = _session(sample_card(1, t0=False))
    result = read_card(session)
    assert result.generation == 1 and result.holder is not None
    assert result.holder.name == "张三丰" and result.holder.name_extension is None
    assert result.apdus == 4 and _sent(session)[-1] == bytes.fromhex("00B24E3016")


# --- scripted answers: what a card may do with P2 = 05 -------------------------------------------


def _rec(tag: int, value: bytes) -> bytes:
    return simple_encode(tag, value)


EF05 = [
    _rec(0x01, CARD_ID), _rec(0x02, b"3"), _rec(0x03, b"2.00"),
    _rec(0x04, cn_encode("915600000242010042010001")),
    _rec(0x05, date_encode(dt.date(2024, 5, 1))), _rec(0x06, date_encode(dt.date(2034, 5, 1))),
    _rec(0x07, b"D2143569X"),
]
EF06 = [
    _rec(0x08, b"420102198505151238"), _rec(0x09, "张三丰".encode("gbk")), _rec(0x4E, b""),
    _rec(0x0A, b"1"), _rec(0x0B, b"\x01"), _rec(0x0C, cn_encode("420102")),
    _rec(0x0D, date_encode(dt.date(1985, 5, 15))),
]
FCI = (b"\x6f\x1c\x84\x0f" + SSSE_NAME + bytes.fromhex("A50988010B9F0C03860101") + OK)


def _scripted(answers: list[bytes]) -> CardSession:
    reader = ReplayReader.from_responses(ATR, answers)
    reader.connect()
    return CardSession(CardChannel(reader, RecordingTracer()))


def test_a_tag_that_did_not_come_back_is_read_by_tag() -> None:
    ef05 = b"".join(r for r in EF05 if r[0] != 0x07)
    session = _scripted([FCI, ef05 + OK, EF05[6] + OK, b"".join(EF06) + OK])
    result = read_card(session)
    assert result.issuer.card_number == "D2143569X" and result.holder is not None
    assert result.apdus == 4
    assert _sent(session)[2] == bytes.fromhex("00B207280B")  # tag 07, exact Le


def test_garbage_after_some_records_leaves_the_rest_to_the_by_tag_reads() -> None:
    broken = b"".join(EF05[:3]) + b"\x04\x30\x01"  # tag 04 claims 48 bytes
    answers = [FCI, broken + OK] + [r + OK for r in EF05[3:]] + [b"".join(EF06) + OK]
    result = read_card(_scripted(answers))
    assert result.apdus == 2 + 4 + 1 and result.decode_errors == {}
    assert any("stops parsing at byte" in n for n in result.notes)


def test_padding_after_the_last_record_is_not_an_error() -> None:
    answers = [FCI, b"".join(EF05) + b"\xff" * 8 + OK, b"".join(EF06) + b"\x00" * 4 + OK]
    result = read_card(_scripted(answers))
    assert result.apdus == 3 and result.decode_errors == {}
    assert [n for n in result.notes if "parsing" in n] == []


def test_more_data_available_reads_the_rest_by_tag() -> None:
    answers = [FCI, b"".join(EF05[:5]) + b"\x63\x10", EF05[5] + OK, EF05[6] + OK,
               b"".join(EF06) + OK]
    result = read_card(_scripted(answers))
    assert result.apdus == 5 and result.issuer.card_number == "D2143569X"


def test_a_6cxx_for_the_multi_record_read_is_followed_as_the_channel_does() -> None:
    ef05 = b"".join(EF05)
    session = _scripted([FCI, bytes((0x6C, len(ef05))), ef05 + OK, b"".join(EF06) + OK])
    result = read_card(session)
    assert result.apdus == 4 and _sent(session)[2] == bytes.fromhex(f"00B2012D{len(ef05):02X}")
    assert result.decode_errors == {}


@pytest.mark.parametrize("refusal", [b"\x6a\x86", b"\x6a\x81", b"\x6d\x00", b"\x6e\x00"])
def test_each_refusal_falls_back_by_tag_and_is_remembered(refusal: bytes) -> None:
    answers = [FCI, refusal] + [r + OK for r in EF05] + [r + OK for r in EF06]
    result = read_card(_scripted(answers))
    assert result.apdus == 16 and result.holder is not None
    assert MULTI_RECORD_REFUSALS.refuses(HIST[:5])


def test_record_not_found_for_record_1_reads_by_tag_and_is_not_remembered() -> None:
    answers = [FCI, b"\x6a\x83"] + [r + OK for r in EF05] + [b"".join(EF06) + OK]
    result = read_card(_scripted(answers))
    assert result.apdus == 2 + 7 + 1 and len(MULTI_RECORD_REFUSALS) == 0


def test_a_protected_ef06_on_a_2x_card_without_sam_is_a_note() -> None:
    reader = ReplayReader.from_responses(ATR, [FCI, b"".join(EF05) + OK, b"\x69\x82"])
    reader.connect()
    result = read_card(CardSession(CardChannel(reader)))
    assert result.holder is None and result.ef06_access == "no_sam" and result.apdus == 3


# --- property: the two strategies agree on whatever records a card holds --------------------------


def _card_with(records: list[bytes]) -> UserCard:
    card = sample_card(2, t0=False)
    data = card.state().model_dump()
    data["files"]["MF/SSSE/EF06"]["records"] = records
    return UserCard(CardState.model_validate(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(len(EF06))), keep=st.lists(st.booleans(), min_size=7,
                                                                max_size=7))
def test_multi_record_and_by_tag_reads_agree(order: list[int], keep: list[bool]) -> None:
    records = [EF06[i] for i, k in zip(order, keep, strict=True) if k]
    MULTI_RECORD_REFUSALS.clear()
    fast = read_card(_session(_card_with(records)))
    slow = read_card(_session(_card_with(records), "by-tag"))
    assert fast.holder == slow.holder and fast.decode_errors == slow.decode_errors
    assert fast.apdus <= slow.apdus
