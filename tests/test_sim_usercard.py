"""The simulated user card's command set (card-profile §3, §4, §5), on DES and SM4 cards."""

from __future__ import annotations

import json

import pytest

from apdu.names import DF_AIDS, PSE_NAME, SSSE_NAME, UNIONPAY_DEBIT_AID
from apdu.tlv import ber_decode_one, simple_record
from simulator import store
from simulator.samples import sample_card, sample_personalisation
from simulator.state import CardState
from simulator.usercard import UserCard
from tests.helpers_sim import (
    SELECT_SSSE,
    ext_auth,
    maced,
    select_ssse,
    sw,
    tx,
    verify_apdu,
)

GENS = pytest.mark.parametrize("gen", [2, 3])


@pytest.fixture(params=[2, 3], ids=["gen2-DES", "gen3-SM4"])
def card(request: pytest.FixtureRequest) -> UserCard:
    c = sample_card(request.param, t0=False)
    c.power_on()
    return c


# --- SELECT (§3) -------------------------------------------------------------------------------


@pytest.mark.parametrize("gen,sfi,alg", [(2, 0x0B, 1), (3, 0x1E, 3)])
def test_select_ssse_fci_names_dir_sfi_and_algorithm(gen: int, sfi: int, alg: int) -> None:
    c = sample_card(gen, t0=False)
    fci = ber_decode_one(select_ssse(c))
    assert fci.tag == 0x6F
    assert fci.find(0x84).value == SSSE_NAME
    assert fci.find(0xA5, 0x88).value == bytes([sfi])
    assert fci.find(0xA5, 0x9F0C, 0x86).value == bytes([alg])


def test_select_by_fid_and_ef(card: UserCard) -> None:
    data, status = tx(card, "00A40000023F00")
    assert status == 0x9000 and data.startswith(b"\x6f")
    select_ssse(card)
    assert tx(card, "00A4020002EF05") == (b"", 0x9000)  # EF: no FCI
    assert tx(card, "00A4000002EF05") == (b"", 0x9000)  # P1=00 accepted for EFs
    assert sw(card, "00B2042C05") & 0xFF00 == 0x6C00  # EF05 is now current (Le too short)
    assert sw(card, "00A4020002EF99") == 0x6A82
    assert sw(card, "00A40400051122334455") == 0x6A82
    assert sw(card, "00A4080002EF05") == 0x6A86
    assert sw(card, "00A4020102EF05") == 0x6A86
    assert sw(card, "00A4020003EF0500") == 0x6700


def test_select_df_answers_adf_fci_and_p2_0c_suppresses_it(card: UserCard) -> None:
    select_ssse(card)
    aid = DF_AIDS["DF04"]
    data, status = tx(card, bytes([0, 0xA4, 4, 0, len(aid)]) + aid + b"\x00")
    assert status == 0x9000 and ber_decode_one(data).find(0x84).value == aid
    assert tx(card, bytes([0, 0xA4, 4, 0x0C, len(aid)]) + aid) == (b"", 0x9000)


# --- READ RECORD (§4) ---------------------------------------------------------------------------


@GENS
def test_read_ef05_every_p2_mode(gen: int) -> None:
    c = sample_card(gen, t0=False)
    select_ssse(c)
    version = f"{gen}.00".encode()
    rec = bytes([0x03, 0x04]) + version
    assert tx(c, "00B2032806") == (rec, 0x9000)  # tag via SFI 5
    assert tx(c, "00B2032C06") == (rec, 0x9000)  # number via SFI 5 (EF05: number = tag)
    assert tx(c, "00B2030406") == (rec, 0x9000)  # number, current EF
    assert tx(c, "00B2030006") == (rec, 0x9000)  # tag, current EF


def test_read_record_le_as_real_cards_answer_it(card: UserCard) -> None:
    """A real 1.00 card answered Le 0E for an 0B-byte record with the record (issue 9): any Le
    of at least the record's length reads it; a shorter or absent Le gets 6Cxx."""
    select_ssse(card)
    data, status = tx(card, "00B2012800")  # Le 00 = 256
    assert status == 0x9000 and len(data) == 0x12
    assert tx(card, "00B207280E")[1] == 0x9000  # the real card's Le
    assert sw(card, "00B20128") == 0x6C12  # Le absent
    assert sw(card, "00B2072805") == 0x6C0B  # too short
    data, status = tx(card, "00B2012812")
    assert status == 0x9000 and len(data) == 0x12


@GENS
def test_exact_le_option_is_the_card_profiles_text(gen: int) -> None:
    c = sample_card(gen, t0=False, exact_le=True)
    select_ssse(c)
    assert sw(c, "00B2012800") == 0x6C12  # card id: 16 + 2
    assert sw(c, "00B207280E") == 0x6C0B
    assert tx(c, "00B2012812")[1] == 0x9000
    assert tx(c, "00B2012D00")[1] == 0x9000  # the multi-record read still answers Le 00


def test_read_record_errors(card: UserCard) -> None:
    assert sw(card, "00B2012800") == 0x6A82  # MF: no SFI 5
    select_ssse(card)
    assert sw(card, "00B2010400") == 0x6986  # no current EF yet
    assert sw(card, "00B2092800") == 0x6A83  # EF05 has no tag 09
    assert sw(card, "00B2082C00") == 0x6A83  # nor a record 8
    assert sw(card, "00B2002C00") == 0x6A83  # P1 = 0: the current record; there is none yet
    assert sw(card, "00B2012F00") == 0x6A86  # P2 mode 111 is RFU
    assert sw(card, "00B2013800") == 0x6981  # SFI 7 is transparent
    assert sw(card, "00B2019800") == 0x6A82  # no SFI 0x13
    assert sw(card, "00B201280100") == 0x6700  # data in a case-2 command


@GENS
def test_ef06_name_extension_is_record_3_and_read_by_tag(gen: int) -> None:
    c = sample_card(gen, t0=False)
    select_ssse(c)
    if gen == 3:
        assert sw(c, "00B2093000") == 0x6982  # §1: 3.00 needs RKSSSE
        assert ext_auth(c, 0x0A, "RKSSSE") == 0x9000
    data, status = tx(c, "00B2033416")  # record number 3 of SFI 6
    assert status == 0x9000 and data[0] == 0x4E
    data, status = tx(c, "00B2093020")
    assert status == 0x9000
    assert simple_record(data, 0x09).rstrip(b"\x00").decode("gbk") == "张三丰"


def test_pad_0x20_option_pads_text_with_spaces() -> None:
    c = sample_card(2, pad=0x20, t0=False)
    select_ssse(c)
    data, _ = tx(c, "00B2093020")
    assert data[2:] == "张三丰".encode("gbk").ljust(30, b" ")


def test_dir_and_df04_log(card: UserCard) -> None:
    fci = ber_decode_one(select_ssse(card))
    dir_sfi = fci.find(0xA5, 0x88).value[0]
    data, status = tx(card, bytes([0, 0xB2, 1, (dir_sfi << 3) | 4, 0]))
    assert status == 0x9000
    assert ber_decode_one(data).find(0x4F).value == DF_AIDS["DF01"]
    aid = DF_AIDS["DF04"]
    tx(card, bytes([0, 0xA4, 4, 0, len(aid)]) + aid)
    assert sw(card, "00B2014400") == 0x6982  # EF08 log: PIN
    assert sw(card, "00B2842800") == 0x6982  # EF05: PIN or RK1DF04
    assert sw(card, verify_apdu("123456")) == 0x9000
    assert sw(card, "00B2014401") == 0x6C1C  # a 28-byte log record (issue 15 layout)
    assert tx(card, "00B2034400")[1] == 0x9000  # a fresh card: three purchases logged
    assert sw(card, "00B2044400") == 0x6A83  # and nothing after them
    assert tx(card, "00B2842805") == (bytes.fromhex("8403420100"), 0x9000)
    assert sw(card, "00B2863000") == 0x6982  # EF06: PIN *and* key


# --- READ BINARY --------------------------------------------------------------------------------


def test_read_binary(card: UserCard) -> None:
    select_ssse(card)
    assert sw(card, "00B0870000") == 0x6982  # EF07: RKSSSE
    assert ext_auth(card, 0x0A, "RKSSSE") == 0x9000
    assert sw(card, "00B0870000") == 0x9000
    assert len(tx(card, "00B0870000")[0]) == 256
    assert sw(card, "00B0030000") == 0x6B00  # EF07 (current) is 0x300 bytes
    data, status = tx(card, "00B0880004")
    assert (data[:3], status) == (bytes.fromhex("FFD8FF"), 0x9000)  # the photo is a JPEG
    assert sw(card, "00B00FFF10") == 0x6C01  # EF08 current: 1 byte left at 0x0FFF
    assert sw(card, "00B0100000") == 0x6B00  # offset 0x1000 outside
    assert sw(card, "00B0850000") == 0x6981  # SFI 5 is a record EF
    assert sw(card, "00B0A50000") == 0x6A86  # P1 bits 7-6 must be 00 with an SFI


def test_read_binary_no_current_ef(card: UserCard) -> None:
    select_ssse(card)
    assert sw(card, "00B0000010") == 0x6986


# --- UPDATE RECORD ------------------------------------------------------------------------------


def test_update_record_needs_ukssse_and_appends_missing(card: UserCard) -> None:
    select_ssse(card)
    new = bytes.fromhex("0709") + b"D9999999X"
    cmd = bytes([0, 0xDC, 0x07, 0x28, len(new)]) + new
    assert sw(card, cmd) == 0x6982
    assert ext_auth(card, 0x04, "UKSSSE") == 0x9000
    assert sw(card, cmd) == 0x9000
    assert tx(card, "00B207280B") == (new, 0x9000)
    extra = bytes.fromhex("2002ABCD")
    assert sw(card, bytes([0, 0xDC, 0x20, 0x28, 4]) + extra) == 0x9000  # appended
    assert tx(card, "00B2082C04") == (extra, 0x9000)  # as record 8
    assert sw(card, bytes([0, 0xDC, 0x21, 0x28, 4]) + extra) == 0x6A80  # tag ≠ P1
    assert sw(card, bytes([0, 0xDC, 0x09, 0x2C, 4]) + extra) == 0x6A83  # no record 9
    assert sw(card, bytes([0, 0xDC, 0x20, 0x28, 3]) + extra[:3]) == 0x6A80  # length ≠ TLV


def test_update_record_in_never_writable_cyclic_ef() -> None:
    c = sample_card(3, t0=False)
    select_ssse(c)
    aid = DF_AIDS["DF04"]
    tx(c, bytes([0, 0xA4, 4, 0, len(aid)]) + aid)
    assert sw(c, verify_apdu("123456")) == 0x9000
    assert sw(c, bytes.fromhex("00DC01440301010A")) == 0x6985


# --- GET CHALLENGE / GET RESPONSE / T=0 -----------------------------------------------------------


def test_get_challenge_sizes_and_single_use(card: UserCard) -> None:
    for n in (4, 8, 16):
        data, status = tx(card, f"00840000{n:02X}")
        assert status == 0x9000 and len(data) == n
    assert sw(card, "0084000005") == 0x6700
    assert sw(card, "00840000") == 0x6700
    assert sw(card, "0084010008") == 0x6A86
    assert tx(card, "0084000008")[0] != tx(card, "0084000008")[0]


def test_t0_card_answers_fci_through_61xx_and_get_response() -> None:
    c = sample_card(3, t0=True)
    assert c.t0 and c.atr.startswith(bytes.fromhex("3B6D0000"))
    c.power_on()
    data, status = tx(c, SELECT_SSSE)
    assert (data, status) == (b"", 0x611E)
    assert sw(c, "00C0000010") == 0x610E  # partial, 14 more
    rest, status = tx(c, "00C000000E")
    assert status == 0x9000 and len(rest) == 14
    tx(c, SELECT_SSSE)
    assert sw(c, "00C0000020") == 0x6C1E  # too long: the right length, data kept
    data, status = tx(c, "00C000001E")
    assert status == 0x9000 and ber_decode_one(data).find(0x84).value == SSSE_NAME
    assert sw(c, "00C000001E") == 0x6985  # nothing pending any more
    tx(c, SELECT_SSSE)
    tx(c, "00B2032806")  # any other command drops the pending data
    assert sw(c, "00C000001E") == 0x6985


def test_t1_atr_has_right_tck_and_get_response_not_used() -> None:
    c = sample_card(3, t0=False)
    atr = c.atr
    assert atr[:8] == bytes.fromhex("3BED00008131FE45") and len(atr) == 8 + 13 + 1
    x = 0
    for b in atr[1:]:
        x ^= b
    assert x == 0
    assert atr[8 + 7 : 8 + 9] == bytes.fromhex("4201")  # T8-T9: city code 4201
    assert sw(c, "00C0000010") == 0x6985


# --- unknown commands and malformed APDUs ---------------------------------------------------------


@pytest.mark.parametrize(
    "apdu,expected",
    [
        ("00CA000000", 0x6D00),  # GET DATA: not supported
        ("80A4040000", 0x6E00),  # SELECT with a proprietary CLA
        ("FFB2010400", 0x6E00),
        ("00B2", 0x6700),
        ("", 0x6700),
        ("00A4040005AABB", 0x6700),  # Lc says 5, 2 bytes follow
        ("00B2010400000012", 0x6700),  # malformed extended form
    ],
)
def test_unknown_and_malformed(card: UserCard, apdu: str, expected: int) -> None:
    assert sw(card, apdu) == expected


def test_extended_le_is_understood(card: UserCard) -> None:
    select_ssse(card)
    assert tx(card, "00B20328000006")[1] == 0x9000


# --- the bank application (§9) ----------------------------------------------------------


def test_bank_application_record_and_firewall(card: UserCard) -> None:
    data, status = tx(card, bytes([0, 0xA4, 4, 0, len(PSE_NAME)]) + PSE_NAME + b"\x00")
    assert status == 0x9000
    data, status = tx(card, bytes([0, 0xA4, 4, 0, 8]) + UNIONPAY_DEBIT_AID + b"\x00")
    assert status == 0x9000 and ber_decode_one(data).find(0x84).value == UNIONPAY_DEBIT_AID
    assert sw(card, "00B2010C00") == 0x6A82  # no SFI 1 in the ADF: kiosks read SFI 2
    data, status = tx(card, "00B2011400")  # issue 9: 00 B2 01 14 00 returns the PAN record
    assert status == 0x9000
    rec = ber_decode_one(data)
    pan = rec.find(0x5A).value.hex().upper().rstrip("F")
    assert pan.startswith("6214") and len(pan) == 19
    assert rec.find(0x5F20).value == b"ZHANG/SANFENG"
    assert rec.find(0x5F24).value == bytes.fromhex("340531")
    # the SSSE PIN is not the bank's: not usable here, and SSSE keys are not visible
    assert sw(card, verify_apdu("123456")) == 0x6A88
    assert sw(card, "00200000") == 0x6A88
    tx(card, "0084000008")
    assert sw(card, "00820004100000000000000000" + "0000000000000000") == 0x6A88


def test_card_without_bank_application() -> None:
    c = sample_card(3, bank=None, t0=False)
    assert sw(c, bytes([0, 0xA4, 4, 0, 8]) + UNIONPAY_DEBIT_AID) == 0x6A82


# --- blocking -------------------------------------------------------------------------------------


def test_application_block_then_select_ssse_answers_9303(card: UserCard) -> None:
    select_ssse(card)
    bad = maced(card, 0x84, 0x1E, 0x00, 0x01)
    assert sw(card, bad[:-1] + bytes([bad[-1] ^ 1])) == 0x9302
    assert sw(card, "841E00010400000000") == 0x6984  # no challenge
    assert sw(card, maced(card, 0x84, 0x1E, 0x00, 0x01)) == 0x9000
    assert card.application_blocked
    assert sw(card, SELECT_SSSE) == 0x9303
    aid = DF_AIDS["DF04"]
    assert sw(card, bytes([0, 0xA4, 4, 0, len(aid)]) + aid) == 0x9303
    assert sw(card, "00B2032806") == 0x6A82  # nothing of SSSE reachable from the MF
    assert sw(card, bytes([0, 0xA4, 4, 0, 8]) + UNIONPAY_DEBIT_AID) == 0x9000  # bank still works


def test_card_block_makes_every_command_6a81(card: UserCard) -> None:
    assert sw(card, maced(card, 0x84, 0x16, 0x00, 0x01)) == 0x6A86
    assert sw(card, maced(card, 0x84, 0x16, 0x00, 0x00)) == 0x9000
    for apdu in (SELECT_SSSE, bytes.fromhex("00B2032806"), b"\x00", b"",
                 bytes.fromhex("0084000008")):
        assert card.transmit(apdu) == b"\x6a\x81"
    card.power_on()
    assert card.transmit(SELECT_SSSE) == b"\x6a\x81"


def test_blocks_survive_save_and_load(tmp_path) -> None:
    path = tmp_path / "card.json"
    c = sample_card(2, t0=False)
    c.save(path)
    c.power_on()
    select_ssse(c)
    assert sw(c, maced(c, 0x84, 0x1E, 0x00, 0x01)) == 0x9000
    c.close()
    again = UserCard.load(path)
    again.power_on()
    assert sw(again, SELECT_SSSE) == 0x9303


# --- persistence ----------------------------------------------------------------------------------


def test_read_record_never_writes_the_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    c = sample_card(3, t0=False)
    c.save(path)
    writes: list[object] = []
    monkeypatch.setattr("simulator.state.save_json_atomic", lambda *a: writes.append(a))
    c.power_on()
    select_ssse(c)
    for _ in range(10):
        assert sw(c, "00B2032806") == 0x9000
    tx(c, "00200000")
    assert writes == []
    assert sw(c, verify_apdu("123456")) == 0x9000
    assert len(writes) == 2  # decremented, then restored


def test_in_memory_card_never_touches_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("simulator.state.save_json_atomic",
                        lambda *a: pytest.fail("in-memory card wrote a file"))
    c = UserCard.in_memory(sample_personalisation())
    c.power_on()
    assert tx(c, SELECT_SSSE)[1] & 0xFF00 == 0x6100  # the default card is T=0
    assert tx(c, "00C000001E")[1] == 0x9000
    assert sw(c, verify_apdu("654321")) == 0x63C5
    assert sw(c, "805E010007123456FF111111") == 0x9000


def test_atomic_save_leaves_old_file_on_crash(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    c = sample_card(3, t0=False)
    c.save(path)
    before = path.read_bytes()

    def crash(*args: object) -> None:
        raise OSError("disk pulled")

    monkeypatch.setattr(store.os, "replace", crash)
    c.power_on()
    select_ssse(c)
    assert c.transmit(verify_apdu("000000")) == b"\x65\x81"  # the save failed: memory failure
    assert path.read_bytes() == before
    # no temp file left behind (the lock file beside the card stays: it is never deleted)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".card.json.lock", "card.json"]
    json.loads(before)


def test_file_card_state_roundtrip(tmp_path) -> None:
    path = tmp_path / "card.json"
    c = sample_card(2, t0=False)
    c.save(path)
    data = json.loads(path.read_text("utf-8"))
    assert data["kind"] == "sscard-user-card" and data["test_only"] is True
    assert "test_card_keys" in data and "123456" not in json.dumps(data["personalisation"])
    c.close()
    c2 = UserCard.load(path)
    assert c2.atr == c.atr and c2.card_id == c.card_id
    c2.power_on()
    select_ssse(c2)
    assert tx(c2, "00B2032806") == (bytes.fromhex("0304322E3030"), 0x9000)


def test_load_rejects_other_files(tmp_path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"kind": "something"}')
    with pytest.raises(store.CardFileError):
        UserCard.load(bad)
    bad.write_text('{"kind": "sscard-user-card", "format": 1, "pin": 3}')
    with pytest.raises(store.CardFileError):
        UserCard.load(bad)


def test_force_block_for_test_cards(tmp_path) -> None:
    path = tmp_path / "card.json"
    c = sample_card(3, t0=False)
    c.save(path)
    c.force_block(application=True)
    assert CardState.load(path).application_blocked
    c.force_block(card=True)
    c.close()
    with UserCard.load(path) as again:
        assert sw(again, "00A40000023F00") == 0x6A81


def test_select_with_no_data_selects_the_mf(card: UserCard) -> None:
    select_ssse(card)
    data, status = tx(card, "00A4000000")
    assert status == 0x9000 and data.startswith(b"\x6f")
    assert sw(card, "00B2032806") == 0x6A82  # back at the MF: no SFI 5 here


def test_bank_records_follow_emv_le_even_on_an_exact_le_card() -> None:
    """§9 bank application: Le 00 returns the whole record (as EMV cards do), also on a card
    whose §4 SSC records answer 6Cxx to anything but the exact Le."""
    c = sample_card(3, t0=False, exact_le=True)
    c.power_on()
    assert c.transmit(bytes.fromhex("00A4040008A00000033301010100"))[-2:] == b"\x90\x00"
    rec = c.transmit(bytes.fromhex("00B2011400"))
    assert rec[-2:] == b"\x90\x00" and rec[0] == 0x70 and len(rec) - 2 == rec[1] + 2
    select_ssse(c)
    assert c.transmit(bytes.fromhex("00B2032800")) == b"\x6c\x06"
