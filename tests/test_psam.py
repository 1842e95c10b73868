"""The simulated PSAM (card-profile §11): every command and status path, DES and SM4.

The session keys, MACs and cryptograms a terminal obtains through the PSAM must equal what
apdu.crypto computes from the card's own keys (§7): that is what lets a terminal authenticate to
a real card. Expected values here come from apdu.crypto over the TEST root keys (§7.7).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apdu import commands as C
from apdu.codec import cn_decode
from apdu.crypto import (
    Algorithm,
    Diversification,
    block_size,
    card_key,
    encrypt_data,
    external_auth_cryptogram,
    fold8,
    internal_auth_response,
    mac,
    session_key,
)
from apdu.keys import TEST_KEYS, KeySet
from apdu.names import PSAM_ADF_AID, PSAM_DES_NAME, PSAM_SM4_NAME
from apdu.psam import PSAM_KEYS, levels
from simulator.card import VirtualCard
from simulator.psam import Psam
from simulator.store import CardFileError

ALGS = [Algorithm.DES, Algorithm.SM4]

# A card of Wuhan (420100), as the terminal sees it: 卡的识别码 and ATR historical bytes.
CARD_ID = bytes.fromhex("420100D156000005" + "12345678" + "FFFFFFFF")
HIST = bytes.fromhex("0086" + "434F53" + "5343" + "4201" + "00001234")
DIV = Diversification.for_card(CARD_ID, HIST)
CHALLENGE = bytes.fromhex("1122334455667788")
USAGE = dict(PSAM_KEYS)


def send(psam: Psam, raw: bytes | C.CommandAPDU) -> tuple[bytes, int]:
    out = psam.transmit(bytes(raw))
    return out[:-2], int.from_bytes(out[-2:], "big")


def ok(psam: Psam, raw: bytes | C.CommandAPDU) -> bytes:
    data, status = send(psam, raw)
    assert status == 0x9000, f"{status:04X}"
    return data


def select_adf(psam: Psam) -> None:
    ok(psam, bytes.fromhex("00A4040006") + PSAM_ADF_AID)


def r_for(alg: Algorithm) -> bytes:
    return CHALLENGE if alg is Algorithm.DES else CHALLENGE + bytes(8)


def deliver(psam: Psam, name: str, challenge: bytes = CHALLENGE) -> int:
    usage, key_id = USAGE[name]
    factors = DIV.lowest_first()[: levels(usage)]
    r = challenge if psam.algorithm is Algorithm.DES else challenge + bytes(8)
    return send(psam, C.delivery_session_key(usage, key_id, factors, r))[1]


def card_session_key(alg: Algorithm, name: str, challenge: bytes = CHALLENGE) -> bytes:
    return session_key(alg, card_key(alg, TEST_KEYS.root(name), DIV), challenge)


@pytest.fixture(params=ALGS, ids=lambda a: a.name)
def psam(request: pytest.FixtureRequest) -> Psam:
    return Psam.issue(algorithm=request.param)


# --- power, ATR, files --------------------------------------------------------------------------


def test_is_a_virtual_card_with_a_section_10_atr(psam: Psam) -> None:
    assert isinstance(psam, VirtualCard)
    assert psam.atr[:4] == bytes.fromhex("3B6D0000") and len(psam.atr) == 17
    assert psam.atr[4 + 7 : 4 + 9] == bytes.fromhex("4201")  # T8-T9: area code 4201
    assert psam.power_on() == psam.atr and psam.reset() == psam.atr


@pytest.mark.parametrize(
    ("alg", "name"), [(Algorithm.DES, PSAM_DES_NAME), (Algorithm.SM4, PSAM_SM4_NAME)]
)
def test_select_mf_by_its_environment_name(alg: Algorithm, name: bytes) -> None:
    psam = Psam.issue(algorithm=alg)
    fci = ok(psam, bytes([0, 0xA4, 4, 0, len(name)]) + name + b"\x00")
    assert fci == b"\x6f" + bytes([len(name) + 2, 0x84, len(name)]) + name
    other = PSAM_SM4_NAME if alg is Algorithm.DES else PSAM_DES_NAME
    assert send(psam, bytes([0, 0xA4, 4, 0, len(other)]) + other)[1] == 0x6A82


def test_select_adf_by_aid_and_fid(psam: Psam) -> None:
    assert (
        ok(psam, bytes.fromhex("00A4040006") + PSAM_ADF_AID)
        == bytes.fromhex("6F088406") + PSAM_ADF_AID
    )
    assert ok(psam, bytes.fromhex("00A4000002DF01")) == bytes.fromhex("6F088406") + PSAM_ADF_AID
    assert ok(psam, bytes.fromhex("00A4000C02DF01")) == b""  # P2 0C: no FCI
    assert ok(psam, bytes.fromhex("00A40000023F00"))[:2] == b"\x6f\x11"


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        ("00A4040006D15600000591", 0x6A82),  # unknown AID
        ("00A40000021234", 0x6A82),  # unknown FID
        ("00A4080002DF01", 0x6A86),  # unsupported P1
        ("00A4000102DF01", 0x6A86),  # unsupported P2
        ("00A4000003DF0100", 0x6700),  # FID with 3 bytes
        ("00A4", 0x6700),  # truncated header
        ("00A4040010D156", 0x6700),  # Lc larger than the data
    ],
)
def test_select_errors(psam: Psam, apdu: str, status: int) -> None:
    assert send(psam, bytes.fromhex(apdu))[1] == status


def test_ef0015_and_ef0016_by_sfi() -> None:
    psam = Psam.issue(terminal_number="330100000042", serial="12345678901234567890")
    assert cn_decode(ok(psam, bytes.fromhex("00B095000A"))) == "12345678901234567890"
    assert cn_decode(ok(psam, bytes.fromhex("00B0960006"))) == "330100000042"
    assert psam.city_code == "330100"


def test_read_binary_after_select_ef(psam: Psam) -> None:
    assert send(psam, bytes.fromhex("00B0000006"))[1] == 0x6986  # no current EF
    ok(psam, bytes.fromhex("00A40200020016"))
    assert ok(psam, bytes.fromhex("00B0000000")) == bytes.fromhex("420100000001")
    assert ok(psam, bytes.fromhex("00B0000203")) == bytes.fromhex("0000000001")[:3]
    assert send(psam, bytes.fromhex("00B0000008"))[1] == 0x6C06  # Le too long: exact length
    assert send(psam, bytes.fromhex("00B0000600"))[1] == 0x6B00  # offset past the end
    ok(psam, bytes.fromhex("00A40000020015"))
    assert len(ok(psam, bytes.fromhex("00B0000000"))) == 10


@pytest.mark.parametrize(("apdu", "status"), [("00B0970000", 0x6A82), ("00B0A50000", 0x6A86)])
def test_read_binary_errors(psam: Psam, apdu: str, status: int) -> None:
    assert send(psam, bytes.fromhex(apdu))[1] == status


def test_efs_are_under_the_mf_only(psam: Psam) -> None:
    select_adf(psam)
    assert send(psam, bytes.fromhex("00A40200020015"))[1] == 0x6A82


# --- DELIVERY SESSION KEY -----------------------------------------------------------------------


def test_key_table_levels() -> None:
    assert {name: levels(u) for name, (u, _) in PSAM_KEYS.items()} == {
        "IRK": 3,
        "RK1DF04": 3,
        "PUK": 2,
        "STK": 2,
        "UKSSSE": 2,
        "RKSSSE": 2,
    }


def test_delivery_needs_df01(psam: Psam) -> None:
    assert deliver(psam, "RKSSSE") == 0x6985
    select_adf(psam)
    assert deliver(psam, "RKSSSE") == 0x9000


def test_delivery_unknown_key_and_wrong_factor_count(psam: Psam) -> None:
    select_adf(psam)
    r = r_for(psam.algorithm)
    assert send(psam, C.delivery_session_key(0x47, 0x0B, DIV.lowest_first()[:2], r))[1] == 0x6A88
    assert send(psam, C.delivery_session_key(0x67, 0x0A, DIV.lowest_first(), r))[1] == 0x6A88
    # RKSSSE has 2 levels: 3 factors (or 1) is wrong data.
    assert send(psam, C.delivery_session_key(0x47, 0x0A, DIV.lowest_first(), r))[1] == 0x6A80
    assert send(psam, C.delivery_session_key(0x47, 0x0A, DIV.lowest_first()[:1], r))[1] == 0x6A80
    # The other algorithm's R length is wrong data too.
    other = CHALLENGE + bytes(8) if psam.algorithm is Algorithm.DES else CHALLENGE
    assert (
        send(psam, C.delivery_session_key(0x47, 0x0A, DIV.lowest_first()[:2], other))[1] == 0x6A80
    )
    assert send(psam, bytes.fromhex("80DE470A00"))[1] == 0x6E00  # wrong CLA


def test_failed_delivery_forgets_the_previous_session_key(psam: Psam) -> None:
    select_adf(psam)
    assert deliver(psam, "RKSSSE") == 0x9000
    send(psam, C.delivery_session_key(0x47, 0x0A, DIV.lowest_first(), r_for(psam.algorithm)))
    assert (
        send(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, bytes(block_size(psam.algorithm))))[1]
        == 0x6985
    )


@pytest.mark.parametrize("name", sorted(USAGE))
def test_session_key_equals_the_cards(psam: Psam, name: str) -> None:
    """Encrypting one block under the PSAM's SK equals encrypting it under the card's SK."""
    alg = psam.algorithm
    select_adf(psam)
    assert deliver(psam, name) == 0x9000
    sk = card_session_key(alg, name)
    pt = bytes(range(block_size(alg)))
    got = ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, pt))
    assert got == _ecb(alg, sk, pt)


def _ecb(alg: Algorithm, sk: bytes, data: bytes) -> bytes:
    from apdu.crypto import encrypt_ecb

    return encrypt_ecb(alg, sk, data)


def test_two_level_keys_are_the_psams_province() -> None:
    """A PSAM of another province derives other 2-level card keys (the stored-key CHOICE)."""
    psam = Psam.issue(terminal_number="330100000001")
    select_adf(psam)
    assert deliver(psam, "RKSSSE") == 0x9000
    ad = ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, bytes(8)))
    assert ad != _ecb(Algorithm.DES, card_session_key(Algorithm.DES, "RKSSSE"), bytes(8))
    assert deliver(psam, "IRK") == 0x9000  # 3 levels: the national root, any province
    ad = ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, bytes(8)))
    assert ad == _ecb(Algorithm.DES, card_session_key(Algorithm.DES, "IRK"), bytes(8))


# --- what a terminal does with the PSAM (§7.3-§7.6) ---------------------------------------------


def test_external_authentication_cryptogram(psam: Psam) -> None:
    alg = psam.algorithm
    select_adf(psam)
    assert deliver(psam, "RKSSSE") == 0x9000
    d = bytes.fromhex("0102030405060708")
    if alg is Algorithm.DES:
        ad = ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, d))
    else:
        ad = fold8(ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, d + bytes(8))))
    assert ad == external_auth_cryptogram(alg, card_session_key(alg, "RKSSSE"), d)


def test_internal_authentication_check(psam: Psam) -> None:
    alg = psam.algorithm
    r1, r2 = bytes.fromhex("A1A2A3A4A5A6A7A8"), bytes.fromhex("B1B2B3B4B5B6B7B8")
    select_adf(psam)
    assert deliver(psam, "IRK", r1) == 0x9000
    block = r2 if alg is Algorithm.DES else r2 + bytes(8)
    got = ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, block))
    expected = internal_auth_response(alg, card_key(alg, TEST_KEYS.root("IRK"), DIV), r1, r2)
    assert (got if alg is Algorithm.DES else fold8(got)) == expected


def test_pin_reset_encryption_and_mac(psam: Psam) -> None:
    """§7.6: LD||PIN||80.. encrypted (P1 02 then 00) and the MAC (P1 05) of the command."""
    alg = psam.algorithm
    select_adf(psam)
    assert deliver(psam, "STK") == 0x9000
    sk = card_session_key(alg, "STK")
    block = encrypt_data(alg, sk, bytes.fromhex("123456"))
    assert ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, _clear(alg, "123456"))) == block
    two = _clear(alg, "123456") * 2
    assert ok(psam, C.cipher_data(C.CIPHER_ENCRYPT_MORE, two)) == block * 2
    lc = len(block) + 4
    message = bytes([0x84, 0x24, 0x00, 0x01, lc]) + block
    iv = bytes(block_size(alg))
    assert ok(psam, C.cipher_data(C.CIPHER_MAC_SINGLE, iv + message)) == mac(alg, sk, message)


def _clear(alg: Algorithm, pin: str) -> bytes:
    body = bytes([len(pin) // 2]) + bytes.fromhex(pin) + b"\x80"
    return body + bytes(-len(body) % block_size(alg))


@pytest.mark.parametrize("split", [(1, 0), (1, 1), (2, 3), (0, 0)])
def test_chained_mac_equals_one_mac(psam: Psam, split: tuple[int, int]) -> None:
    alg = psam.algorithm
    bs = block_size(alg)
    select_adf(psam)
    assert deliver(psam, "UKSSSE") == 0x9000
    sk = card_session_key(alg, "UKSSSE")
    iv = bytes(range(0x40, 0x40 + bs))
    first, middle = bytes([1]) * (split[0] * bs), bytes([2]) * (split[1] * bs)
    last = b"\x04\xdc\x01\x04\x0b"
    assert ok(psam, C.cipher_data(C.CIPHER_MAC_FIRST, iv + first)) == b""
    if middle:
        assert ok(psam, C.cipher_data(C.CIPHER_MAC_MIDDLE, middle)) == b""
    got = ok(psam, C.cipher_data(C.CIPHER_MAC_LAST, last))
    assert got == mac(alg, sk, first + middle + last, iv)
    # The chain is finished: another last part has nothing to continue.
    assert send(psam, C.cipher_data(C.CIPHER_MAC_LAST, last))[1] == 0x6985


@pytest.mark.parametrize(
    ("p1", "data_len", "status"),
    [
        (C.CIPHER_ENCRYPT_LAST, 5, 0x6700),  # not block-aligned
        (C.CIPHER_ENCRYPT_MORE, 17, 0x6700),
        (C.CIPHER_MAC_SINGLE, 4, 0x6700),  # shorter than the IV
        (C.CIPHER_MAC_FIRST, 4, 0x6700),
        (C.CIPHER_MAC_FIRST, 16 + 3, 0x6700),  # part after the IV not aligned (DES: 8+11)
        (C.CIPHER_MAC_MIDDLE, 16, 0x6985),  # no MAC first
        (C.CIPHER_MAC_LAST, 3, 0x6985),
        (0x04, 16, 0x6A86),  # unknown P1
    ],
)
def test_cipher_data_errors(psam: Psam, p1: int, data_len: int, status: int) -> None:
    select_adf(psam)
    assert deliver(psam, "STK") == 0x9000
    assert send(psam, C.cipher_data(p1, bytes(data_len)))[1] == status


def test_cipher_data_needs_a_session_key(psam: Psam) -> None:
    select_adf(psam)
    assert send(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, bytes(16)))[1] == 0x6985
    assert deliver(psam, "STK") == 0x9000
    assert send(psam, bytes.fromhex("80FA000110") + bytes(16))[1] == 0x6A86  # P2 must be 00
    assert send(psam, bytes.fromhex("80FA0000"))[1] == 0x6700  # no data
    assert send(psam, bytes.fromhex("00FA000010") + bytes(16))[1] == 0x6E00


@pytest.mark.parametrize("forget", ["select_mf", "power_off", "reset"])
def test_session_key_is_volatile(psam: Psam, forget: str) -> None:
    select_adf(psam)
    assert deliver(psam, "STK") == 0x9000
    if forget == "select_mf":
        ok(psam, bytes.fromhex("00A40000023F00"))
        select_adf(psam)
    elif forget == "power_off":
        psam.power_off()
        psam.power_on()
        select_adf(psam)
    else:
        psam.reset()
        select_adf(psam)
    assert send(psam, C.cipher_data(C.CIPHER_ENCRYPT_LAST, bytes(16)))[1] == 0x6985


# --- other commands, T=0, robustness ------------------------------------------------------------


@pytest.mark.parametrize(
    ("apdu", "status"),
    [("00B2010400", 0x6D00), ("00200000", 0x6D00), ("10A4000002DF01", 0x6E00), ("00", 0x6700)],
)
def test_unsupported(psam: Psam, apdu: str, status: int) -> None:
    assert send(psam, bytes.fromhex(apdu))[1] == status


def test_t0_answers_case_4_through_get_response() -> None:
    psam = Psam.issue(t0=True)
    assert psam.t0
    data, status = send(psam, bytes.fromhex("00A4040006") + PSAM_ADF_AID)
    assert (data, status) == (b"", 0x610A)
    assert send(psam, bytes.fromhex("00C000000C"))[1] == 0x6C0A
    assert ok(psam, bytes.fromhex("00C000000A")) == bytes.fromhex("6F088406") + PSAM_ADF_AID
    assert send(psam, bytes.fromhex("00C000000A"))[1] == 0x6985  # nothing pending any more
    assert deliver(psam, "STK") == 0x9000
    assert send(psam, C.cipher_data(C.CIPHER_MAC_SINGLE, bytes(16)))[1] == 0x6104
    sk = card_session_key(Algorithm.DES, "STK")
    assert ok(psam, bytes.fromhex("00C0000004")) == mac(Algorithm.DES, sk, bytes(8))


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_never_raises_and_always_ends_with_a_status_word(raw: bytes) -> None:
    psam = Psam.issue(algorithm=Algorithm.SM4)
    select_adf(psam)
    assert deliver(psam, "STK") == 0x9000
    for cmd in (raw, bytes.fromhex("80FA") + raw, bytes.fromhex("BFDE") + raw):
        out = psam.transmit(cmd)
        assert len(out) >= 2


def test_save_and_load_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "psam.json"
    psam = Psam.issue(algorithm=Algorithm.SM4, terminal_number="110100000009", path=path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "sscard-psam" and data["keys"]["test_only"] is True
    again = Psam.load(path)
    assert (again.algorithm, again.terminal_number, again.atr) == (
        Algorithm.SM4,
        "110100000009",
        psam.atr,
    )
    select_adf(again)
    assert deliver(again, "RK1DF04") == 0x9000


def test_load_rejects_other_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "card.json"
    path.write_text(json.dumps({"kind": "sscard-card"}), encoding="utf-8")
    with pytest.raises(CardFileError):
        Psam.load(path)
    path.write_text(json.dumps({"kind": "sscard-psam", "algorithm": "DES"}), encoding="utf-8")
    with pytest.raises(CardFileError):
        Psam.load(path)


def test_a_key_set_without_a_key_answers_6a88() -> None:
    keys = KeySet({"IRK": TEST_KEYS.root("IRK")}, "partial TEST keys")
    psam = Psam.issue(keys=keys)
    select_adf(psam)
    assert deliver(psam, "IRK") == 0x9000
    assert deliver(psam, "STK") == 0x6A88


def test_repr_says_test_keys_and_shows_no_key() -> None:
    psam = Psam.issue()
    text = repr(psam)
    assert "TEST" in text
    for name in TEST_KEYS.names:
        assert TEST_KEYS.root(name).hex() not in text.lower()


@pytest.mark.parametrize(
    "bad", [{"terminal_number": "4201"}, {"serial": "12"}, {"algorithm": Algorithm.SSF33}]
)
def test_issue_validates(bad: dict) -> None:  # type: ignore[type-arg]
    from apdu.errors import DataFormatError

    with pytest.raises(DataFormatError):
        Psam.issue(**bad)
