"""The simulated card behaves like the cards in the field (issue 9 §6).

T=0 ATR ``3B 6D 00 00`` + 13 historical bytes and the FCI through ``61xx`` by default; READ
RECORD in every ISO/IEC 7816-4 P2 mode (the multi-record modes 05/06 included, refused with
``6A86`` as an option); the bank PAN at SFI 2 record 1 and GET PROCESSING OPTIONS in both formats;
1.00 cards.
"""

from __future__ import annotations

import pytest

from apdu.atr import build_ssc_atr, parse
from apdu.names import SSSE_NAME, UNIONPAY_DEBIT_AID
from apdu.tlv import simple_decode
from simulator.profile import historical_bytes
from simulator.samples import sample_card
from simulator.usercard import UserCard
from tests.helpers_sim import SELECT_SSSE, ext_auth, select_ssse, sw, tx

GENS = pytest.mark.parametrize("gen", [1, 2, 3])
SELECT_EF05 = "00A4020002EF05"
SELECT_BANK = bytes([0, 0xA4, 4, 0, 8]) + UNIONPAY_DEBIT_AID + b"\x00"


def _t1(gen: int = 2, **kw: object) -> UserCard:
    card = sample_card(gen, t0=False, **kw)
    card.power_on()
    return card


def _ef05(card: UserCard) -> list[bytes]:
    return [bytes(r) for r in card.state().files["MF/SSSE/EF05"].records or []]


# --- the ATR and T=0 (acceptance: 3B6D0000..., SELECT SSSE answers 61xx) --------------------------


@GENS
def test_the_default_card_is_t0_with_the_fields_atr(gen: int) -> None:
    card = sample_card(gen)
    atr = card.power_on()
    assert atr == build_ssc_atr(historical_bytes(card.card_id), "T0")
    assert atr.hex().upper().startswith("3B6D0000") and len(atr) == 17
    assert parse(atr).protocols == {"T0"}
    data, status = tx(card, SELECT_SSSE)
    assert data == b"" and status >> 8 == 0x61
    fci, status = tx(card, bytes((0, 0xC0, 0, 0, status & 0xFF)))
    assert status == 0x9000 and fci[0] == 0x6F and SSSE_NAME in fci


def test_the_t1_form_is_an_option() -> None:
    card = _t1(3)
    assert card.atr == build_ssc_atr(historical_bytes(card.card_id), "T1")
    assert tx(card, SELECT_SSSE)[1] == 0x9000


# --- READ RECORD in every P2 mode ---------------------------------------------------------------


@GENS
def test_p2_05_returns_every_record_of_the_ef_at_once(gen: int) -> None:
    card = _t1(gen)
    select_ssse(card)
    data, status = tx(card, "00B2012D00")  # (SFI 5 << 3) | 5, Le 00
    assert status == 0x9000 and data == b"".join(_ef05(card))
    assert [tag for tag, _ in simple_decode(data)] == [1, 2, 3, 4, 5, 6, 7]
    assert tx(card, SELECT_EF05)[1] == 0x9000
    assert tx(card, "00B2010500") == (data, 0x9000)  # the current EF: 00 B2 01 05 Le
    assert tx(card, "00B2040500")[0] == b"".join(_ef05(card)[3:])  # from record 4 on


def test_p2_05_with_a_short_or_absent_le_gets_6cxx_with_the_whole_length() -> None:
    card = _t1(2)
    select_ssse(card)
    total = len(b"".join(_ef05(card)))
    assert sw(card, "00B2012D10") == 0x6C00 | total
    assert sw(card, "00B2012D") == 0x6C00 | total
    assert tx(card, bytes.fromhex("00B2012D") + bytes((total,)))[1] == 0x9000


def test_p2_06_returns_from_the_last_down_to_p1() -> None:
    card = _t1(2)
    select_ssse(card)
    data, status = tx(card, "00B2052E00")  # records 7, 6, 5
    assert status == 0x9000 and data == b"".join(reversed(_ef05(card)[4:]))


def test_a_multi_record_read_of_more_than_256_bytes_says_more_data() -> None:
    """A transaction log of 12 records of 28 bytes (336): whole records up to Ne, then 6310."""
    from simulator.state import CardState

    data = sample_card(2, t0=False).state().model_dump()
    data["files"]["MF/SSSE/DF04/EF08"]["records"] = [bytes((i,)) * 28 for i in range(12)]
    card = UserCard(CardState.model_validate(data))
    card.power_on()
    select_ssse(card)
    tx(card, "00A4040006D1560000050300")
    assert sw(card, "0020000003123456") == 0x9000
    data_, status = tx(card, "00B2014500")
    assert status == 0x6310 and len(data_) == 9 * 28
    data_, status = tx(card, "00B2004500")  # P1 00: from the current record (the last returned)
    assert status == 0x9000 and len(data_) == 4 * 28 and data_[0] == 8


@pytest.mark.parametrize(
    ("apdus", "expected_tag"),
    [
        (["00B2032800"], 0x03),  # first occurrence of tag 03
        (["00B2032900"], 0x03),  # last occurrence
        (["00B2002800"], 0x01),  # P1 00, first: the first record whatever its tag
        (["00B2002900"], 0x07),  # P1 00, last
        (["00B2032800", "00B2002A00"], 0x04),  # next after the current record
        (["00B2032800", "00B2002B00"], 0x02),  # previous before it
        (["00B2002A00"], 0x01),  # no current record: next = first
        (["00B2002B00"], 0x07),  # no current record: previous = last
        (["00B2052C00", "00B2002C00"], 0x05),  # P1 00 by number: the current record
    ],
)
def test_record_identifier_modes_and_the_record_pointer(
    apdus: list[str], expected_tag: int
) -> None:
    card = _t1(2)
    select_ssse(card)
    for apdu in apdus:
        data, status = tx(card, apdu)
    assert status == 0x9000 and data[0] == expected_tag


def test_next_and_previous_run_out() -> None:
    card = _t1(2)
    select_ssse(card)
    assert tx(card, "00B2072800")[1] == 0x9000
    assert sw(card, "00B2002A00") == 0x6A83  # nothing after the last record
    assert tx(card, "00B2012800")[1] == 0x9000
    assert sw(card, "00B2002B00") == 0x6A83


def test_a_new_ef_has_no_current_record() -> None:
    card = _t1(2)
    select_ssse(card)
    assert tx(card, "00B2052C00")[1] == 0x9000
    assert tx(card, "00B2083000")[1] == 0x9000  # EF06 now current
    assert tx(card, "00B2003400")[1] == 0x9000  # its current record is 08 (by tag above)
    select_ssse(card)
    assert sw(card, "00B2002C00") == 0x6A83  # EF05 again, after a SELECT: no current record


def test_the_multi_record_modes_need_a_readable_ef() -> None:
    card = _t1(3)
    select_ssse(card)
    assert sw(card, "00B2013500") == 0x6982  # EF06 of a 3.00 card: RKSSSE first
    assert ext_auth(card, 0x0A, "RKSSSE") == 0x9000
    assert tx(card, "00B2013500")[1] == 0x9000
    assert sw(card, "00B2013D00") == 0x6981  # SFI 7 is transparent
    assert sw(card, "00B2092D00") == 0x6A83  # no record 9


@pytest.mark.parametrize("p2", ["2D", "2E"])
def test_the_no_multi_record_option_refuses_with_6a86(p2: str) -> None:
    card = _t1(2, multi_record=False)
    select_ssse(card)
    assert sw(card, f"00B201{p2}00") == 0x6A86
    assert tx(card, "00B2032800")[1] == 0x9000  # the other modes still answer


def test_mode_111_is_rfu() -> None:
    card = _t1(2)
    select_ssse(card)
    assert sw(card, "00B2012F00") == 0x6A86


# --- the bank application -------------------------------------------------------------------


@pytest.mark.parametrize("t0", [False, True])
def test_the_pan_reads_at_sfi_2_record_1(t0: bool) -> None:
    card = sample_card(2, t0=t0)
    card.power_on()
    status = tx(card, SELECT_BANK)[1]
    if t0:
        assert status >> 8 == 0x61
        status = tx(card, bytes((0, 0xC0, 0, 0, status & 0xFF)))[1]
    assert status == 0x9000
    data, status = tx(card, "00B2011400")
    assert status == 0x9000 and data[0] == 0x70 and b"\x5a" in data


@pytest.mark.parametrize(("fmt", "answer"), [
    (1, "80067C0010010100"),
    (2, "770A82027C00940410010100"),
])
def test_gpo_answers_with_an_afl_pointing_at_the_pan(fmt: int, answer: str) -> None:
    card = _t1(3, gpo_format=fmt)
    assert sw(card, "80A8000002830000") == 0x6985  # the MF: not the bank application
    assert tx(card, SELECT_BANK)[1] == 0x9000
    assert sw(card, "80A80000028301") == 0x6A80  # 83 claims 1 byte, holds none
    assert sw(card, "80A8000002840000") == 0x6A80  # not an 83 object
    assert sw(card, "80A8010002830000") == 0x6A86
    assert tx(card, "80A8000002830000") == (bytes.fromhex(answer), 0x9000)
    assert sw(card, "80A8000002830000") == 0x6985  # once per selection
    assert tx(card, SELECT_BANK)[1] == 0x9000
    assert tx(card, "80A800000B830900000000000000015600")[1] == 0x9000  # PDOL data accepted


def test_gpo_on_a_t0_card_goes_through_61xx() -> None:
    card = sample_card(3)
    card.power_on()
    status = tx(card, SELECT_BANK)[1]
    tx(card, bytes((0, 0xC0, 0, 0, status & 0xFF)))
    assert tx(card, "80A8000002830000") == (b"", 0x6108)
    assert tx(card, "00C0000008") == (bytes.fromhex("80067C0010010100"), 0x9000)


# --- 1.00 cards -----------------------------------------------------------------------------------


def test_a_1_00_card_is_what_the_real_one_is() -> None:
    card = _t1(1)
    fci = select_ssse(card)
    assert fci == b"\x6f\x16\x84\x0f" + SSSE_NAME + bytes.fromhex("A50388010B")
    assert tx(card, "00B2032806") == (b"\x03\x041.00", 0x9000)
    name, status = tx(card, "00B2093020")  # EF06 free, 0x20 padding
    assert status == 0x9000 and name[2:] == "张三丰".encode("gbk").ljust(30, b" ")
    assert sw(card, "00B24E3016") == 0x6A83  # no tag 4E on a 1.00 card
    assert card.algorithm.name == "DES"


def test_a_1_00_name_must_fit_tag_09() -> None:
    from simulator.personalisation import PersonalisationError

    with pytest.raises(PersonalisationError, match="1.00 card has no tag 4E"):
        sample_card(1, name="欧阳" + "娜" * 16)
