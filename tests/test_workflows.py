"""The pharmacy and bank activation workflows end to end, in process and through the CLI (issue 5).

The simulated card is the judge: PIN counters are read from it through a second channel (empty
VERIFY, no try used), the bank host is the loopback one that deciphers the PIN block with the same
TEST key to prove it was built for the right PIN and PAN.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from apdu import status
from apdu.errors import PolicyError
from apdu.keys import KeySet
from apdu.names import SSSE_NAME
from apdu.tlv import ber_encode
from simulator.samples import sample_card, sample_personalisation
from terminal import pin as pinops
from terminal.bankhost import LoopbackBankHost
from terminal.pinblock import PinKey
from terminal.pinsource import ListPinSource
from terminal.pinstatus import PinStatus
from terminal.policy import NOT_CHECKED_BY_POLICY, SalePolicy
from terminal.workflows import CheckFailed, WorkflowRefused
from terminal.workflows.activation import BankHostRefused, HolderMismatch, activate
from terminal.workflows.pharmacy import pharmacy
from tests.helpers_checks import with_fci, with_state
from tests.helpers_pin import (
    DISTINCTIVE_NEW,
    DISTINCTIVE_PIN,
    GENERATIONS,
    bench,
    bench_of,
    card_file,
    run_cli,
)

PIN, NEW, BANK = DISTINCTIVE_PIN, DISTINCTIVE_NEW, "582047"
#: the counterfeit of issue 9: its ATR cut to 12 historical bytes (no card factor).
CUT_ATR = bytes.fromhex("3B680000008653494D534342")
#: an SSSE FCI announcing SSF33, which no security module here implements.
SSF33_FCI = ber_encode(0x6F, [
    ber_encode(0x84, SSSE_NAME),
    ber_encode(0xA5, ber_encode(0x88, b"\x0b") + ber_encode(0x9F0C, ber_encode(0x86, b"\x02"))),
])


def holder(generation: int):  # type: ignore[no-untyped-def]
    return sample_personalisation(generation).holder


def pan(generation: int) -> str:
    return sample_personalisation(generation).bank.pan


# --- pharmacy -----------------------------------------------------------------------------------


#: command APDUs of a pharmacy sale (T=1): read (3 / 5), PIN status, INTERNAL AUTHENTICATE,
#: VERIFY, SELECT DF04, READ RECORD 84.  A T=0 card adds a GET RESPONSE for the SSSE FCI, the
#: internal authentication and the DF04 FCI (+3).
SALE_APDUS = {2: 8, 3: 10}
T0_EXTRA = 3


@pytest.mark.parametrize("t0", [False, True])
@pytest.mark.parametrize("generation", GENERATIONS)
def test_pharmacy_sale(generation: int, t0: bool) -> None:
    with bench(generation, pin=PIN, t0=t0) as b:
        source = ListPinSource([PIN])
        result = pharmacy(b.session, source)
        h = holder(generation)
        assert (result.name, result.ssn, result.birth_date) == (h.name, h.ssn, h.birth_date)
        assert result.medical_area_code == "420100"
        assert result.pin == "verified" and result.genuine is True
        assert result.apdus == SALE_APDUS[generation] + (T0_EXTRA if t0 else 0)
        assert source.remaining == 0
        assert b.observe() == PinStatus("enabled", 6)
        assert json.loads(json.dumps(result.to_json()))["medical_area_code"] == "420100"
        assert result.warnings == [] and result.notes == []


@pytest.mark.parametrize("generation", GENERATIONS)
def test_pharmacy_without_an_enabled_pin_asks_nothing(generation: int) -> None:
    with bench(generation, pin_not_enabled=True, t0=False) as b:
        source = ListPinSource([PIN])
        result = pharmacy(b.session, source)
        assert result.pin == "not_enabled" and result.medical_area_code == "420100"
        assert source.remaining == 1
        assert result.apdus == SALE_APDUS[generation] - 1
        assert any(w.startswith("pin_state: ") for w in result.warnings)


def test_pharmacy_wrong_pin_stops_before_the_medical_data() -> None:
    with bench(3, pin=PIN, t0=False) as b:
        with pytest.raises(status.WrongPin) as info:
            pharmacy(b.session, ListPinSource(["000111", PIN]))
        assert info.value.tries_left == 5
        assert b.channel.apdu_count == 5 + 3  # no SELECT DF04, no READ RECORD 84
        assert b.observe() == PinStatus("enabled", 5)


def test_pharmacy_blocked_pin_fails_the_check_and_is_not_tried() -> None:
    with bench(2, pin=PIN, pin_tries=3) as b:
        for _ in range(3):
            with pytest.raises(status.WrongPin):
                pinops.verify(b.session, b"000111")
        source = ListPinSource([PIN])
        with pytest.raises(CheckFailed) as info:
            pharmacy(b.session, source)
        assert [name for name, _ in info.value.failures] == ["pin_state"]
        assert source.remaining == 1
        assert b.observe() == PinStatus("blocked", 0)


def test_pharmacy_sells_to_an_expired_card_with_a_warning_by_default() -> None:
    """Cards stay in use after their expiry date in many regions (issue 9): a warning."""
    with bench(2, pin=PIN) as b:
        result = pharmacy(b.session, ListPinSource([PIN]), today=dt.date(2040, 1, 1))
        assert any(w.startswith("not_expired: expired on 2034-05-01") for w in result.warnings)


def test_a_policy_that_refuses_expired_cards_stops_the_sale_with_its_reason() -> None:
    with bench(2, pin=PIN) as b:
        source = ListPinSource([PIN])
        with pytest.raises(CheckFailed) as info:
            pharmacy(b.session, source, today=dt.date(2040, 1, 1),
                     policy=SalePolicy().stopping_on("not_expired"))
        assert [name for name, _ in info.value.failures] == ["not_expired"]
        assert "expired on 2034-05-01" in str(info.value)
        assert source.remaining == 1  # no PIN asked, no try used
        assert info.value.exit_code == 1


@pytest.mark.parametrize("generation", GENERATIONS)
def test_pharmacy_refuses_a_counterfeit_card(generation: int) -> None:
    with bench(generation, pin=PIN, keys=KeySet.counterfeit()) as b:
        source = ListPinSource([PIN])
        with pytest.raises((CheckFailed, WorkflowRefused)) as info:
            pharmacy(b.session, source)
        assert source.remaining == 1
        if generation == 2:
            assert [name for name, _ in info.value.failures] == ["genuine"]  # type: ignore[attr-defined]
        else:  # the counterfeit 3.00 card cannot even open EF06 with the issuer's RKSSSE
            assert "EF06" in str(info.value)


@pytest.mark.parametrize("what", ["atr", "algorithm flag"])
def test_pharmacy_refuses_a_counterfeit_that_prevents_authentication(what: str) -> None:
    card = sample_card(2, pin=PIN, keys=KeySet.counterfeit())
    if what == "atr":
        card = with_state(card, atr=CUT_ATR)
    else:
        card = with_fci(card, SSF33_FCI)
    with bench_of(card) as b:
        source = ListPinSource([PIN])
        with pytest.raises(CheckFailed) as info:
            pharmacy(b.session, source)
        assert [name for name, _ in info.value.failures] == ["genuine"]
        assert "cannot be performed" in str(info.value)
        assert source.remaining == 1


def test_pharmacy_without_a_security_module_refuses_by_default() -> None:
    with bench(2, sam=None, pin=PIN) as b:
        source = ListPinSource([PIN])
        with pytest.raises(CheckFailed) as info:
            pharmacy(b.session, source)
        assert [name for name, _ in info.value.failures] == ["genuine"]
        assert "no security module" in str(info.value) and "--no-genuine-required" in str(
            info.value
        )
        assert source.remaining == 1


def test_pharmacy_without_a_security_module_when_the_policy_says_so() -> None:
    with bench(2, sam=None, pin=PIN, t0=False) as b:
        result = pharmacy(b.session, ListPinSource([PIN]),
                          policy=SalePolicy(require_genuine=False))
        assert result.genuine is None and result.apdus == SALE_APDUS[2] - 1
        assert result.notes == [NOT_CHECKED_BY_POLICY]
    with bench(3, sam=None, pin=PIN) as b:
        with pytest.raises(WorkflowRefused, match="EF06"):
            pharmacy(b.session, ListPinSource([PIN]), policy=SalePolicy(require_genuine=False))


def test_pharmacy_on_a_t0_card() -> None:
    with bench(3, pin=PIN, t0=True) as b:
        assert pharmacy(b.session, ListPinSource([PIN])).medical_area_code == "420100"


# --- activation ---------------------------------------------------------------------------------


def _activate(b, generation: int, pins: list[str], host: LoopbackBankHost, **kw):  # type: ignore[no-untyped-def]
    h = holder(generation)
    args = {"clerk_name": h.name, "clerk_id_number": h.ssn, **kw}
    return activate(b.session, pin_source=ListPinSource(pins), bank_host=host, **args)


@pytest.mark.parametrize("fmt", [0, 4])
@pytest.mark.parametrize("generation", GENERATIONS)
def test_activation(generation: int, fmt: int) -> None:
    host = LoopbackBankHost()
    with bench(generation, pin="123456") as b:
        result = _activate(b, generation, [BANK, BANK, "123456", NEW, NEW], host, fmt=fmt)
        assert result.activated and result.status.verdict == "activated"
        assert result.bank.accepted and result.ss_pin_changed
        (request,) = host.requests
        assert request.pan == pan(generation) and request.fmt == fmt
        assert host.decrypt(request) == bytearray(BANK.encode())
        assert len(request.pin_block) == (8 if fmt == 0 else 16)
        # the PAN in full only in the host message
        assert pan(generation) not in json.dumps(result.to_json()) + repr(result)
        assert result.masked_pan == pan(generation)[:6] + "*" * 9 + pan(generation)[-4:]
        # T=0 (T=1: 10 / 12), then the photo for the clerk: 10 short READ BINARY of the 2.5 KB
        # portrait, and on a 2.x card RKSSSE first (+2; 3.00: authenticated by the read)
        assert result.apdus == {2: 14 + 2 + 10, 3: 16 + 10}[generation]
        assert result.photo is not None and result.photo.state == "ok"
        # the card: new social security PIN in force, counter full
        assert b.observe() == PinStatus("enabled", 6)
        assert pinops.verify(b.session, NEW.encode()).verified


def test_activation_enables_a_not_enabled_pin() -> None:
    host = LoopbackBankHost()
    with bench(2, pin_not_enabled=True) as b:
        assert b.observe().state == "not_enabled"
        result = _activate(b, 2, [BANK, BANK, "123456", NEW, NEW], host)
        assert result.activated
        assert b.observe() == PinStatus("enabled", 6)


@pytest.mark.parametrize(
    ("name", "id_number", "what"),
    [("李四", None, "name"), (None, "420102198505151246", "ID number")],
)
def test_activation_refuses_another_person(
    name: str | None, id_number: str | None, what: str
) -> None:
    host = LoopbackBankHost()
    h = holder(3)
    with bench(3) as b:
        source = ListPinSource([BANK, BANK, "123456", NEW, NEW])
        with pytest.raises(HolderMismatch, match=what) as info:
            activate(
                b.session,
                clerk_name=name or h.name,
                clerk_id_number=id_number or h.ssn,
                pin_source=source,
                bank_host=host,
            )
        assert h.ssn not in str(info.value)
        assert source.remaining == 5 and not host.requests


def test_activation_matches_names_and_ids_leniently() -> None:
    host = LoopbackBankHost()
    h = holder(2)
    with bench(2) as b:
        result = activate(
            b.session,
            clerk_name=" ".join(h.name),
            clerk_id_number=h.ssn.lower() + " ",
            pin_source=ListPinSource([BANK, BANK, "123456", NEW, NEW]),
            bank_host=host,
        )
        assert result.activated


@pytest.mark.parametrize(
    "pins", [["111111", "111111"], [BANK, "582048"], ["58204", "58204"]], ids=str
)
def test_activation_refuses_a_weak_or_mismatched_bank_pin(pins: list[str]) -> None:
    host = LoopbackBankHost()
    with bench(3) as b:
        with pytest.raises(PolicyError):
            _activate(b, 3, [*pins, "123456", NEW, NEW], host)
        assert not host.requests
        assert b.observe() == PinStatus("enabled", 6)


def test_activation_stops_when_the_host_declines() -> None:
    host = LoopbackBankHost(accept=False)
    with bench(3) as b:
        with pytest.raises(BankHostRefused):
            _activate(b, 3, [BANK, BANK, "123456", NEW, NEW], host)
        assert pinops.verify(b.session, b"123456").verified  # social security PIN untouched


def test_activation_with_a_wrong_current_pin_says_the_bank_pin_was_set() -> None:
    host = LoopbackBankHost()
    with bench(3) as b:
        with pytest.raises(status.WrongPin) as info:
            _activate(b, 3, [BANK, BANK, "000111", NEW, NEW], host)
        assert info.value.tries_left == 5
        assert any("bank PIN WAS set" in note for note in info.value.__notes__)
        assert len(host.requests) == 1


def test_activation_with_a_terminal_pin_key_of_our_own() -> None:
    key = PinKey(bytes(range(16)), "3DES", "lab TEST key")
    host = LoopbackBankHost(keys={0: key})
    with bench(2) as b:
        _activate(b, 2, [BANK, BANK, "123456", NEW, NEW], host, pin_key=key)
        assert host.decrypt(host.requests[0]) == bytearray(BANK.encode())
    other = LoopbackBankHost()  # the built-in TEST key cannot read a block made with another key
    with bench(2) as b:
        with pytest.raises(BankHostRefused):
            _activate(b, 2, [BANK, BANK, "123456", NEW, NEW], other, pin_key=key)


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def card(tmp_path: Path) -> str:
    return str(card_file(tmp_path / "card.json", 3))


def test_cli_pharmacy(tmp_path: Path) -> None:
    card = str(card_file(tmp_path / "c.json", 3, pin=PIN))
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin"], f"{PIN}\n")
    assert r.exit_code == 0, r.stderr
    assert "张三丰" in r.stdout and "420100" in r.stdout and "verified" in r.stdout
    assert "Genuine card         yes" in r.stdout
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin", "--json"], "000111\n")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["tries_left"] == 5
    assert "5 tries left" in r.stderr
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin", "--json"], f"{PIN}\n")
    assert r.exit_code == 0 and json.loads(r.stdout)["medical_area_code"] == "420100"


def test_cli_pharmacy_policy_switches(tmp_path: Path) -> None:
    card = str(card_file(tmp_path / "c.json", 2, pin=PIN))
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin", "--refuse-expired"], f"{PIN}\n")
    assert r.exit_code == 0, r.stderr  # not expired: the switch changes nothing
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin", "--stop-on", "nonsense"], f"{PIN}\n")
    assert r.exit_code == 2


def test_cli_activate(card: str, tmp_path: Path) -> None:
    h = holder(3)
    key = tmp_path / "tpk.hex"
    key.write_text(bytes(range(16)).hex())
    who = ["--name", h.name, "--id-number", h.ssn]
    stdin = f"{BANK}\n{BANK}\n123456\n{NEW}\n{NEW}\n"
    r = run_cli(["activate", "--sim", card, "--pin-stdin", *who, "--bank-key", str(key),
                 "--format", "4", "--json"], stdin)
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["activated"] is True and out["pin_block_format"] == 4
    assert out["status"]["verdict"] == "activated"
    assert pan(3) not in r.stdout + r.stderr
    r = run_cli(["status", "--sim", card, "--json"])
    assert json.loads(r.stdout)["activated"] is True
    r = run_cli(["pharmacy", "--sim", card, "--pin-stdin"], f"{NEW}\n")
    assert r.exit_code == 0


def test_cli_activate_refusals_and_usage(card: str) -> None:
    h = holder(3)
    r = run_cli(["activate", "--sim", card, "--pin-stdin", "--name", "李四", "--id-number", h.ssn])
    assert r.exit_code == 1 and "does not match" in r.stderr
    r = run_cli(["activate", "--sim", card, "--pin-stdin", "--id-number", h.ssn])
    assert r.exit_code == 2
    who = ["--name", h.name, "--id-number", h.ssn]
    r = run_cli(["activate", "--sim", card, "--pin-stdin", *who, "--format", "1"])
    assert r.exit_code == 2
    stdin = f"{BANK}\n{BANK}\n000111\n{NEW}\n{NEW}\n"
    r = run_cli(["activate", "--sim", card, "--pin-stdin", *who], stdin)
    assert r.exit_code == 1
    assert "4 tries left" in r.stderr or "5 tries left" in r.stderr
    assert "bank PIN WAS set" in r.stderr
