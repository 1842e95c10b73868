"""The national facade in-process (terminal/national): every function on 2.x and 3.00 cards.

The routes of issue 12: the PSAM route (a simulated PSAM, or the software TEST module for
simulated cards), the HSM route (the TEST HSM of tests/hsm_helper.py plays the provincial HSM and
sees only the Step1 text), PIN entry through the scripted pinentry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apdu.keys import TEST_KEYS, KeySet
from terminal.national.card import CardSource, SourceConfig
from terminal.national.signatures import SIGNATURES
from tests.helpers_national import (
    CARD_INFO,
    INITIAL,
    NEW_PIN,
    NO_PSAM_TERMINAL,
    OTHER_PIN,
    PSAM_TERMINAL,
    REPO,
    PinQueue,
    card_file,
    expected_line,
    national,
    out,
    pin_queue,
    psam_file,
    source,
)
from tests.hsm_helper import auth_key, basic_key, corrupt, file_key, secure_key

GENS = (2, 3)


@pytest.fixture
def pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PinQueue:
    return pin_queue(tmp_path, monkeypatch)


def card_line(src: CardSource) -> str:
    """The iReadCardBas line a counter already has (what the TEST HSM gets for reload)."""
    n = national(src)
    step1 = out(n.iReadCardBas_HSM_Step1(3))
    result = n.iReadCardBas_HSM_Step2(basic_key(step1))
    assert result[0] == 0
    return out(result)


# --- iReadCardBas -------------------------------------------------------------------------------


@pytest.mark.parametrize("gen", GENS)
def test_basic_read_is_the_national_line_of_sscard_read(tmp_path: Path, gen: int) -> None:
    src = source(tmp_path, gen, "software")
    code, (line,) = national(src).iReadCardBas(3)
    assert code == 0
    assert line == expected_line(tmp_path / f"card{gen}.json", NO_PSAM_TERMINAL).encode("gbk")
    assert line.decode("gbk").count("|") == 11


@pytest.mark.parametrize("gen", GENS)
def test_basic_read_through_the_psam_reports_its_terminal_number(tmp_path: Path, gen: int) -> None:
    src = source(tmp_path, gen, "psam")
    code, (line,) = national(src).iReadCardBas(1)
    assert code == 0
    assert line.decode("gbk") == expected_line(tmp_path / f"card{gen}.json", PSAM_TERMINAL)


@pytest.mark.parametrize("gen", GENS)
def test_hsm_pair_gives_the_same_line_with_zero_terminal(tmp_path: Path, gen: int) -> None:
    src = source(tmp_path, gen, "hsm")
    n = national(src)
    step1 = out(n.iReadCardBas_HSM_Step1(3))
    fields = step1.split("|")
    assert len(fields) == 9 and fields[-1] == ""
    assert fields[2] == ("03" if gen == 3 else "01")
    assert bool(fields[6]) == (gen == 3) and bool(fields[7]) == (gen == 3)
    code, (line,) = n.iReadCardBas_HSM_Step2(basic_key(step1))
    assert code == 0
    assert line.decode("gbk") == expected_line(tmp_path / f"card{gen}.json", NO_PSAM_TERMINAL)
    assert n.iReadCardBas_HSM_Step2(basic_key(step1))[0] == -12  # the group is over


@pytest.mark.parametrize("gen", GENS)
def test_a_wrong_hsm_answer_is_minus_21_and_powers_the_card_down(tmp_path: Path, gen: int) -> None:
    src = source(tmp_path, gen, "hsm")
    n = national(src)
    step1 = out(n.iReadCardBas_HSM_Step1(3))
    assert n.iReadCardBas_HSM_Step2(corrupt(basic_key(step1)))[0] == -21
    assert src.counters.active == 0  # the card was closed and the reader freed
    assert n.iReadCardBas_HSM_Step2(basic_key(step1))[0] == -12


#: the shape of a real iReadCardBas_HSM_Step1 line (tests/data/real_cards/*-hsm-step1.trace):
#: deployed libraries may add a 9th field or drop the last "|"; sscard writes exactly 8 fields.
STEP1_FIELDS = r"\d{6}\|[0-9A-F]{26}\|0[13]\|[0-9A-F]{32}\|[0-9A-F]{16}\|[0-9A-F]{16}\|"
REAL_STEP1 = re.compile(STEP1_FIELDS + r"[0-9A-F]{16}\|[0-9A-F]{16}")
OURS_STEP1 = re.compile(STEP1_FIELDS + r"(([0-9A-F]{16}\|){2}|\|\|)")


def test_step1_has_the_shape_of_real_step1_lines(tmp_path: Path) -> None:
    real = []
    for trace in (REPO / "tests" / "data" / "real_cards").glob("*hsm-step1.trace"):
        for line in trace.read_text(encoding="utf-8").splitlines():
            if line.startswith("# data: iReadCardBas_HSM_Step1 line: "):
                real.append(line.split(": ", 2)[2])
    assert len(real) >= 2
    assert all(REAL_STEP1.match(line) for line in real)
    for gen in GENS:
        (tmp_path / str(gen)).mkdir()
        n = national(source(tmp_path / str(gen), gen, "hsm"))
        assert OURS_STEP1.fullmatch(out(n.iReadCardBas_HSM_Step1(3)))
        n.close()


def test_step2_without_step1_and_out_of_turn(tmp_path: Path) -> None:
    src = source(tmp_path, 3, "hsm")
    n = national(src)
    assert n.iReadCardBas_HSM_Step2("00" * 16 + "|")[0] == -12
    step1 = out(n.iReadCardBas_HSM_Step1(3))
    assert n.iReloadPIN_HSM_Step2("00" * 16)[0] == -12  # another group's step: abandoned
    assert n.iReadCardBas_HSM_Step2(basic_key(step1))[0] == -12
    step1 = out(n.iReadCardBas_HSM_Step1(3))
    assert n.iGetReaderInfo()[0] == 0  # any other call ends the open group too
    assert n.iReadCardBas_HSM_Step2(basic_key(step1))[0] == -12


def test_a_step_group_holds_the_reader_until_it_ends(tmp_path: Path) -> None:
    card = card_file(tmp_path, 3)
    src = CardSource(SourceConfig(sim=card, security="hsm", lock_timeout=0.05))
    first, second = national(src), national(src)
    step1 = out(first.iReadCardBas_HSM_Step1(3))
    code, (text,) = second.iVerifyPIN(3)
    assert code == -11 and "使用" in text.decode("gbk")
    assert first.iReadCardBas_HSM_Step2(basic_key(step1))[0] == 0
    assert second.iReadCardBas_HSM_Step1(3)[0] == 0
    second.abandon_steps()  # a connection's end or the step timeout does this
    assert src.counters.active == 0


def test_hsm_mode_refuses_the_psam_functions(tmp_path: Path) -> None:
    n = national(source(tmp_path, 3, "hsm"))
    for result in (n.iReadCardBas(3), n.iReloadPIN(3, CARD_INFO), n.iUnblockPIN(3, CARD_INFO),
                   n.iReadCard(3, 2, CARD_INFO, "DF04EF05|84|$")):
        assert result[0] == -2201


def test_psam_of_the_wrong_algorithm_is_minus_2202(tmp_path: Path) -> None:
    src = source(tmp_path, 3, "psam", psam_sim=psam_file(tmp_path, sm4=False))
    assert national(src).iReadCardBas(3)[0] == -2202


def test_psam_without_rksse_is_minus_2203(tmp_path: Path) -> None:
    roots = {name: TEST_KEYS.root(name) for name in TEST_KEYS.names if name != "RKSSSE"}
    keys = KeySet(roots, "TEST keys without RKSSSE")
    src = source(tmp_path, 3, "psam", psam_sim=psam_file(tmp_path, sm4=True, keys=keys))
    code, (text,) = national(src).iReadCardBas(3)
    assert code == -2203 and text.decode("gbk") == "PSAM卡内没有RKSSSE"


def test_absent_psam_is_minus_2201_and_pins_still_work(tmp_path: Path, pins: PinQueue) -> None:
    src = source(tmp_path, 3, "psam", psam_sim=tmp_path / "no-such-psam.json")
    n = national(src)
    assert n.iReadCardBas(3)[0] == -2201
    pins.put(f"PIN {INITIAL}", f"PIN {NEW_PIN}", f"PIN {NEW_PIN}")
    assert n.iChangePIN(3)[0] == 0


def test_a_counterfeit_card_fails_internal_authentication(tmp_path: Path) -> None:
    from simulator.samples import sample_personalisation
    from simulator.usercard import UserCard

    path = tmp_path / "fake.json"
    UserCard.issue(sample_personalisation(2), keys=KeySet.counterfeit(), path=path)
    src = CardSource(SourceConfig(sim=path, security="software"))
    assert national(src).iReadCardBas(3)[0] == -21


@pytest.mark.parametrize(("itype", "code"), [(2, -1), (4, -1), (0, -14), (5, -14), (-3, -14)])
def test_itype(tmp_path: Path, itype: int, code: int) -> None:
    n = national(source(tmp_path, 2, "software"))
    assert n.iReadCardBas(itype)[0] == code
    assert n.iReadCardBas_HSM_Step1(itype)[0] == code


def test_no_card_is_minus_2(tmp_path: Path) -> None:
    src = source(tmp_path, 3, "software")
    held = src._slots[False].held
    assert held is not None
    held.remove()  # type: ignore[attr-defined]
    assert national(src).iReadCardBas(3)[0] == -2


# --- PIN ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gen", GENS)
def test_verify_and_change(tmp_path: Path, pins: PinQueue, gen: int) -> None:
    n = national(source(tmp_path, gen, "software"))
    pins.put(f"PIN {INITIAL}")
    code, (text,) = n.iVerifyPIN(3)
    assert (code, text.decode("gbk")) == (-35, "初始密码不能交易(请先修改初始密码)")
    pins.put(f"PIN {INITIAL}", f"PIN {NEW_PIN}", f"PIN {NEW_PIN}")
    assert n.iChangePIN(3) == (0, (b"",))
    pins.put(f"PIN {NEW_PIN}")
    assert n.iVerifyPIN(3) == (0, (b"",))
    pins.put("PIN 111111")
    code, (text,) = n.iVerifyPIN(3)
    assert (code, text.decode("gbk")) == (-51, "PIN校验失败,剩余次数5次")
    pins.put(f"PIN {NEW_PIN}")
    assert n.iVerifyPIN(3)[0] == 0  # a right PIN restores the counter (§6)


def test_initial_pin_is_refused_before_a_try_is_spent(tmp_path: Path, pins: PinQueue) -> None:
    src = source(tmp_path, 3, "software")
    n = national(src)
    for _ in range(8):  # more than the card's tries: none is spent
        pins.put(f"PIN {INITIAL}")
        assert n.iVerifyPIN(3)[0] == -35
    pins.put(f"PIN {INITIAL}")
    from terminal.policy import SalePolicy

    assert national(src, policy=SalePolicy(refuse_initial_pin=False)).iVerifyPIN(3)[0] == 0


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        (["CANCEL"], -31),
        (["TIMEOUT"], -32),
        (["PIN 12"], -33),
        (["PIN 12345678901234567"], -33),
        (["PIN 12a456"], -33),
        ([], -31),  # an empty queue: the scripted holder cancels
    ],
)
def test_verify_entry_outcomes(tmp_path: Path, pins: PinQueue, answers: list[str],
                               code: int) -> None:
    n = national(source(tmp_path, 2, "software"))
    pins.put(*answers)
    assert n.iVerifyPIN(3)[0] == code


def test_a_pinentry_that_never_answers_times_out(tmp_path: Path, pins: PinQueue) -> None:
    import terminal.national.pinentry as pe

    n = national(source(tmp_path, 2, "software"), timeout=0)
    pins.put("HANG")
    old, pe.GRACE_SECONDS = pe.GRACE_SECONDS, 0.3
    try:
        assert n.iVerifyPIN(3)[0] == -32
    finally:
        pe.GRACE_SECONDS = old


def test_missing_pinentry_is_minus_13(tmp_path: Path) -> None:
    from terminal.national.facade import National, NationalConfig
    from terminal.national.pinentry import PinentryConfig

    n = National(source(tmp_path, 2, "software"),
                 NationalConfig(pinentry=PinentryConfig(program=str(tmp_path / "none"))))
    assert n.iVerifyPIN(3)[0] == -13
    n.config.pin_entry = "none"
    assert n.iVerifyPIN(3)[0] == -13


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ([f"PIN {INITIAL}", f"PIN {NEW_PIN}", f"PIN {OTHER_PIN}"], -34),
        ([f"PIN {INITIAL}", f"PIN {INITIAL}", f"PIN {INITIAL}"], -36),
        ([f"PIN {INITIAL}", "PIN 24681", "PIN 24681"], -33),  # the policy's 6 digits
        ([f"PIN {INITIAL}", "PIN 111111", "PIN 111111"], -23),  # trivial
        ([f"PIN {INITIAL}", "PIN 654321", "PIN 654321"], -23),
        ([f"PIN {NEW_PIN}", f"PIN {OTHER_PIN}", f"PIN {OTHER_PIN}"], -51),  # wrong old PIN
        (["PIN 12", f"PIN {NEW_PIN}", f"PIN {NEW_PIN}"], -33),
        ([f"PIN {INITIAL}", "CANCEL"], -31),
    ],
)
def test_change_outcomes(tmp_path: Path, pins: PinQueue, answers: list[str], code: int) -> None:
    n = national(source(tmp_path, 3, "software"))
    pins.put(*answers)
    assert n.iChangePIN(3)[0] == code


@pytest.mark.parametrize("mode", ["software", "psam"])
def test_block_then_unblock_then_reload(tmp_path: Path, pins: PinQueue, mode: str) -> None:
    n = national(source(tmp_path, 2, mode))
    for left in range(5, -1, -1):
        pins.put("PIN 999999")
        code, (text,) = n.iVerifyPIN(3)
        assert code == -51 and text.decode("gbk") == f"PIN校验失败,剩余次数{left}次"
    pins.put("PIN 999999")
    assert n.iVerifyPIN(3) == (-52, ("PIN锁定".encode("gbk"),))
    assert pins.remaining() == ["PIN 999999"]  # blocked: the holder is not even asked
    assert n.iUnblockPIN(3, CARD_INFO) == (0, (b"",))
    pins.put("PIN 123455")
    assert n.iVerifyPIN(3)[0] == -51  # unblock keeps the PIN and restores the tries
    pins.put(f"PIN {OTHER_PIN}", f"PIN {OTHER_PIN}")
    assert n.iReloadPIN(3, CARD_INFO) == (0, (b"",))
    pins.put(f"PIN {OTHER_PIN}")
    assert n.iVerifyPIN(3)[0] == 0
    assert n.iUnblockPIN(3, CARD_INFO.replace("D2143569X", "D2143569Y"))[0] == -22


@pytest.mark.parametrize("gen", GENS)
def test_reload_and_unblock_through_the_hsm(tmp_path: Path, pins: PinQueue, gen: int) -> None:
    src = source(tmp_path, gen, "hsm")
    line = card_line(src)
    n = national(src)
    step1 = out(n.iUnblockPIN_HSM_Step1(3, CARD_INFO))
    assert step1.split("|")[1] == "0090"
    step2 = out(n.iUnblockPIN_HSM_Step2(auth_key(step1, line)))
    assert step2.split("|")[1] == "0173" and step2.split("|")[3] == "8424000004"
    assert n.iUnblockPIN_HSM_Step3(secure_key(step2, line)) == (0, (b"",))

    step1 = out(n.iReloadPIN_HSM_Step1(3, CARD_INFO))
    pins.put(f"PIN {OTHER_PIN}", f"PIN {OTHER_PIN}")
    code, (step2b,) = n.iReloadPIN_HSM_Step2(auth_key(step1, line))
    assert code == 0
    step2 = step2b.decode("gbk")
    assert step2.split("|")[4] == OTHER_PIN  # the new PIN in clear: how the national route works
    key = secure_key(step2, line)
    assert len(key) == (34 if gen == 2 else 50)
    assert n.iReloadPIN_HSM_Step3(key[10:]) == (0, (b"",))  # data || MAC without the header
    pins.put(f"PIN {OTHER_PIN}")
    assert n.iVerifyPIN(3)[0] == 0


def test_hsm_reload_refusals(tmp_path: Path, pins: PinQueue) -> None:
    src = source(tmp_path, 3, "hsm")
    line = card_line(src)
    n = national(src)
    step1 = out(n.iReloadPIN_HSM_Step1(3, CARD_INFO))
    assert n.iReloadPIN_HSM_Step2(corrupt(auth_key(step1, line)))[0] == -25538  # 63C2: key try
    step1 = out(n.iReloadPIN_HSM_Step1(3, CARD_INFO))
    pins.put(f"PIN {OTHER_PIN}", f"PIN {NEW_PIN}")
    assert n.iReloadPIN_HSM_Step2(auth_key(step1, line))[0] == -34
    step1 = out(n.iReloadPIN_HSM_Step1(3, CARD_INFO))
    pins.put(f"PIN {OTHER_PIN}", f"PIN {OTHER_PIN}")
    step2 = out(n.iReloadPIN_HSM_Step2(auth_key(step1, line)))
    key = secure_key(step2, line)
    wrong_mac = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert n.iReloadPIN_HSM_Step3(wrong_mac)[0] == -37634  # 9302 MAC invalid
    assert n.iReloadPIN_HSM_Step3("XYZ")[0] == -12  # the group ended with the failure
    assert n.iReloadPIN_HSM_Step1(3, CARD_INFO.replace("FFFF|", "FFFE|"))[0] == -22


# --- iReadCard / iWriteCard ------------------------------------------------------------------


EVERY_FILE = (
    "SSSEEF05|01|02|03|04|05|06|07|$SSSEEF06|08|09|4E|0A|0B|0C|0D|$SSSEEF07|00|$"
    "SSSEEF08|00|$DF01EF05|20|21|$DF02EF05|42|$DF03EF05|61|$DF04EF05|84|$DF04EF06|90|92|$"
    "DF04EF08:01$DF04EF15:01$"
)
#: The sample card's first log record (simulator personalisation, apdu.appfiles layout).
LOG1 = "3^1^420100000001^20240603101530^25.60^0.00^0.00^"


@pytest.mark.parametrize("gen", GENS)
@pytest.mark.parametrize("auth", [1, 2])
def test_read_reaches_every_file_of_the_card(tmp_path: Path, pins: PinQueue, gen: int,
                                             auth: int) -> None:
    n = national(source(tmp_path, gen, "software"))
    pins.put(f"PIN {INITIAL}")
    code, (data,) = n.iReadCard(3, auth, CARD_INFO, EVERY_FILE)
    assert code == 0, data.decode("gbk")
    files = data.decode("gbk").split("$")
    assert files.pop() == "" and len(files) == 11
    assert files[0] == ("SSSEEF05|420100D15600000500000001FFFFFFFF|3|"
                        f"{gen}.00|915600000242010042010001|20240501|20340501|D2143569X|")
    assert files[1] == "SSSEEF06|420102198505151238|张三丰||1|01|420102|19850515|"
    assert files[2] == "SSSEEF07|" + "00" * 0x300 + "|"
    assert files[3].startswith("SSSEEF08|FFD8FF") and len(files[3]) == 9 + 0x2000 + 1  # JPEG
    assert files[4] == "DF01EF05|1|湖北省武汉市江岸区沿江大道100号|"
    assert files[5:7] == ["DF02EF05||", "DF03EF05||"]  # the sample holds none of these items
    assert files[7] == "DF04EF05|420100|"
    assert files[8] == "DF04EF06|0|0.00|"
    assert files[9] == f"DF04EF08:01|{LOG1}|"
    assert files[10] == "DF04EF15:01||"  # an empty record: no items
    assert pins.remaining() == []  # DF04 EF06/EF08 need the PIN whatever iAuthType says


def test_read_as_a_real_deployment_addresses_it(tmp_path: Path) -> None:
    # tests/data/real_cards/fuyang-2.00-ireadcard-ef05.trace: "MF|EF05|01|...|$" and its answer
    # "MF|EF05|<card id>|3|2.00|<institution>|<issued>|<expires>|<card number>|$"
    n = national(source(tmp_path, 2, "software"))
    data = out(n.iReadCard(3, 2, CARD_INFO, "MF|EF05|01|02|03|04|05|06|07|$"))
    assert data == ("MF|EF05|420100D15600000500000001FFFFFFFF|3|2.00|915600000242010042010001|"
                    "20240501|20340501|D2143569X|$")


def test_read_whole_cyclic_log_and_mismatch(tmp_path: Path, pins: PinQueue) -> None:
    n = national(source(tmp_path, 2, "software"))
    pins.put(f"PIN {INITIAL}")
    data = out(n.iReadCard(1, 1, CARD_INFO, "DF04EF08$"))
    records = data.removeprefix("DF04EF08|").removesuffix("|$").split("|")
    assert records[0] == LOG1 and len(records) == 3  # record 1 is the most recent
    assert n.iReadCard(3, 2, CARD_INFO.replace("D2143569X", "A1234567X"), "SSSEEF05|01|$")[0] == -22
    assert n.iReadCard(3, 3, CARD_INFO, "SSSEEF05|01|$")[0] == -14
    assert n.iReadCard(3, 2, CARD_INFO, "SSSEEF05|01$")[0] == -14
    assert n.iReadCard(3, 2, "x|y|", "SSSEEF05|01|$")[0] == -20
    assert n.iReadCard(3, 2, CARD_INFO, "DF09EF05|01|$")[0] == -27266  # no such DF: 6A82
    too_much = "SSSEEF08|00|$" * 3
    code, (text,) = n.iReadCard(3, 2, CARD_INFO, too_much)
    assert code == -14 and "超出" in text.decode("gbk")


def test_psam_without_a_df_key_is_minus_27272(tmp_path: Path) -> None:
    n = national(source(tmp_path, 3, "psam"))
    assert n.iReadCard(3, 2, CARD_INFO, "DF01EF05|20|$")[0] == -27272  # §11: no RK1DF01
    assert out(n.iReadCard(3, 2, CARD_INFO, "DF04EF05|84|$")) == "DF04EF05|420100|$"


@pytest.mark.parametrize("mode", ["software", "psam"])
def test_write_then_read_back(tmp_path: Path, pins: PinQueue, mode: str) -> None:
    n = national(source(tmp_path, 3, mode))
    assert n.iWriteCard(3, CARD_INFO, "SSSEEF05|06|$", "20391231|$") == (0, (b"",))
    assert out(n.iReadCard(3, 2, CARD_INFO, "SSSEEF05|06|$")) == "SSSEEF05|20391231|$"
    pins.put(f"PIN {INITIAL}", f"PIN {INITIAL}")
    assert n.iWriteCard(3, CARD_INFO, "DF04EF05|84|$", "430100|$")[0] == 0
    assert out(n.iReadCard(3, 1, CARD_INFO, "DF04EF05|84|$")) == "DF04EF05|430100|$"
    assert n.iWriteCard(3, CARD_INFO, "SSSEEF05|06|$", "2039|$")[0] == -23  # not a date
    assert n.iWriteCard(3, CARD_INFO, "DF04EF08:01$", "x|$")[0] == -13


@pytest.mark.parametrize("gen", GENS)
def test_read_and_write_through_the_hsm(tmp_path: Path, pins: PinQueue, gen: int) -> None:
    n = national(source(tmp_path, gen, "hsm"))
    step1 = out(n.iReadCard_HSM_Step1(3, CARD_INFO, "SSSEEF05|07|$DF04EF05|84|$"))
    assert len(step1.split("|")) == 8 and step1.split("|")[4] in ("0182", "0184")
    code, (data,) = n.iReadCard_HSM_Step2(file_key(step1))
    assert (code, data) == (0, b"SSSEEF05|D2143569X|$DF04EF05|420100|$")
    step1 = out(n.iWriteCard_HSM_Step1(3, CARD_INFO, "DF04EF05|84|$"))
    pins.put(f"PIN {INITIAL}")
    assert n.iWriteCard_HSM_Step2(file_key(step1), "440300|$") == (0, (b"",))
    step1 = out(n.iReadCard_HSM_Step1(3, CARD_INFO, "DF04EF05|84|$"))
    assert out(n.iReadCard_HSM_Step2(file_key(step1))) == "DF04EF05|440300|$"
    step1 = out(n.iReadCard_HSM_Step1(3, CARD_INFO, "SSSEEF05|07|$"))  # no key needed
    assert step1.split("|")[4:7] == ["", "", ""]
    assert out(n.iReadCard_HSM_Step2("")) == "SSSEEF05|D2143569X|$"
    both = "DF04EF05|84|$DF01EF05|20|$"
    assert n.iReadCard_HSM_Step1(3, CARD_INFO, both)[0] == -23  # one key per call
    step1 = out(n.iReadCard_HSM_Step1(3, CARD_INFO, "DF04EF05|84|$"))
    assert n.iReadCard_HSM_Step2(corrupt(file_key(step1)))[0] == -25538


# --- the rest -----------------------------------------------------------------------------------


def test_debit_is_not_supported_and_reader_info(tmp_path: Path) -> None:
    n = national(source(tmp_path, 3, "psam"))
    code, (text,) = n.iDoDebit(3, CARD_INFO, "x")
    assert code == -13 and "iDoDebit" in text.decode("gbk")
    assert n.iReadDebitRecord(3)[0] == -13
    code, (sn, term) = n.iGetReaderInfo()
    assert code == 0 and sn.startswith(b"sscard simulator") and term == PSAM_TERMINAL.encode()
    assert len(sn) <= 31


def test_every_output_stays_within_its_buffer(tmp_path: Path, pins: PinQueue) -> None:
    n = national(source(tmp_path, 3, "software"))
    long_text = "张" * 5000
    for name, sig in SIGNATURES.items():
        args: list[object] = []
        for p in sig.arguments:
            args.append(3 if p.kind == "int" else long_text)
        code, outputs = n.call(name, args)
        assert len(outputs) == len(sig.outputs)
        for data, param in zip(outputs, sig.outputs, strict=True):
            assert len(data) <= param.size - 1
            data.decode("gbk")
        if sig.arguments and any(p.kind == "in" for p in sig.arguments) and name != "iDoDebit":
            assert code in (-14, -12), name


def test_facts_of_the_date(tmp_path: Path) -> None:
    # The sample card is valid until 2034-05-01; the national line carries dates as YYYYMMDD.
    line = out(national(source(tmp_path, 3, "software")).iReadCardBas(3))
    assert line.split("|")[8] == "20340501"


def test_adapter_authenticates_in_the_current_df_even_before_the_identity(tmp_path: Path) -> None:
    from terminal.national.files import _key

    src = source(tmp_path, 3, "software")
    with src.card() as card:
        card.select_app("DF04")
        card.external_auth(_key("DF04", "RK1DF04"))  # reads the identity, comes back to DF04
        record = card.read_item(0xEF05, 0x84, le=5)
    assert record == bytes.fromhex("8403420100")


def test_no_security_state_passes_from_one_call_to_the_next(tmp_path: Path) -> None:
    from apdu.status import SecurityStatusNotSatisfied

    src = source(tmp_path, 3, "software")
    with src.card() as card:
        card.identity()
        card.verify_pin(bytearray(b"123456"), card.pin_status())
        card.select_app("DF04")
        assert card.read_item(0xEF05, 0x84, le=5) == bytes.fromhex("8403420100")
    with src.card() as card:  # the simulated card was power-cycled in between
        card.identity()
        card.select_app("DF04")
        with pytest.raises(SecurityStatusNotSatisfied):
            card.read_item(0xEF05, 0x84, le=5)
