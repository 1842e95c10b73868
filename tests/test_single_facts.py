"""Each spec fact is stated once and both sides use that one statement (issue 11).

The simulator produces what the terminal consumes; where the two used to keep their own copies
of a fact (the PSAM key table, the ATR form, the PIN length rule, ...), a change to one copy
silently broke the pair.  These tests pin the sharing itself: the simulated card and the terminal
resolve the fact from the same table object (or function), and what one side builds the other
side parses back.
"""

from __future__ import annotations

import pytest

from apdu import codec, psam
from apdu.crypto import Algorithm, Diversification, block8, card_key, session_key
from apdu.keys import TEST_KEYS
from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from simulator.psam import Psam
from terminal.sam import psam as terminal_psam
from terminal.sam.psam import PsamSam

CARD_ID = bytes.fromhex("420100D156000005" + "12345678" + "FFFFFFFF")
HIST = bytes.fromhex("0086" + "434F53" + "5343" + "4201" + "00001234")
DIV = Diversification.for_card(CARD_ID, HIST)


# --- the PSAM key table (card-profile §11) ------------------------------------------------------


def test_the_terminal_psam_module_sends_from_the_one_key_table() -> None:
    assert terminal_psam.PSAM_KEYS is psam.PSAM_KEYS
    assert terminal_psam.levels is psam.levels


def test_the_inverse_key_table_is_derived_not_restated() -> None:
    assert {slot: name for name, slot in psam.PSAM_KEYS.items()} == dict(psam.KEY_BY_SLOT)
    assert len(psam.KEY_BY_SLOT) == len(psam.PSAM_KEYS)


@pytest.mark.parametrize("alg", [Algorithm.DES, Algorithm.SM4], ids=lambda a: a.name)
@pytest.mark.parametrize("name", sorted(psam.PSAM_KEYS))
def test_every_key_name_resolves_to_the_same_psam_key_on_both_sides(
    alg: Algorithm, name: str
) -> None:
    """The terminal's PSAM module asks the simulated PSAM for ``name``: the PSAM resolves the
    usage/key id it is sent to that same card key, with the levels the terminal sent factors
    for, and derives the session key the card itself derives from its own key."""
    card = Psam.issue(algorithm=alg)
    sent: list[bytes] = []

    class Spy:
        def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
            sent.append(bytes(command))

    reader = SimulatedReader(card)
    reader.connect()
    module = PsamSam(CardChannel(reader, Spy()))
    challenge = bytes(range(8))
    module._deliver(alg, name, DIV, challenge)
    usage, key_id = psam.PSAM_KEYS[name]
    deliver = next(c for c in sent if c[:2] == b"\xbf\xde")
    assert (deliver[2], deliver[3]) == (usage, key_id)
    assert psam.KEY_BY_SLOT[(usage, key_id)] == name
    assert deliver[4] == 8 * psam.levels(usage) + len(block8(alg, challenge))
    stored = card._key_table[(usage, key_id)]
    assert stored.name == name and stored.levels == psam.levels(usage)
    expected = session_key(alg, card_key(alg, TEST_KEYS.root(name), DIV), challenge)
    assert card._sk == expected


# --- the PIN length rule (card-profile §6) ------------------------------------------------------


def test_the_pin_length_bounds_are_one_pair() -> None:
    from apdu import part10
    from simulator import personalisation, state
    from terminal import pinpolicy

    assert (codec.PIN_MIN_DIGITS, codec.PIN_MAX_DIGITS) == (4, 16)
    assert pinpolicy.PIN_MIN_DIGITS is codec.PIN_MIN_DIGITS
    assert pinpolicy.PinPolicy(length=None).max_length == codec.PIN_MAX_DIGITS
    assert part10.PIN_MAX_DIGITS is codec.PIN_MAX_DIGITS
    assert "4 to 16" in personalisation.PIN_PROBLEM
    pattern = state.PinState.model_fields["digits"].metadata[0].pattern
    assert pattern == r"^[0-9]{4,16}$"
    for digits in range(0, 20):
        pin = "1" * digits
        assert codec.pin_format_ok(pin) is (4 <= digits <= 16)
        assert pinpolicy.card_format_ok(pin) is codec.pin_format_ok(pin)


# --- the FCI (§3) and the bank application's data (§9) -------------------------------------------


def test_the_session_reads_the_fci_with_the_parser_beside_the_builder() -> None:
    from apdu import fci
    from terminal import session

    assert session.parse_ssse_fci is fci.parse_ssse_fci
    assert session.SsseInfo is fci.SsseInfo


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_every_generation_s_fci_parses_back_to_what_it_announces(generation: int) -> None:
    from apdu.fci import DIR_SFI_FOR_GENERATION, parse_ssse_fci
    from simulator.profile import ALGORITHM_FOR_GENERATION, ssse_fci

    info = parse_ssse_fci(ssse_fci(generation))
    assert info.fci_problem is None
    assert info.dir_sfi == DIR_SFI_FOR_GENERATION[generation]
    assert info.algorithm is ALGORITHM_FOR_GENERATION[generation]


@pytest.mark.parametrize("fmt", [1, 2])
def test_the_simulated_gpo_answer_and_pan_record_parse_with_the_terminal_s_parsers(
    fmt: int,
) -> None:
    from simulator.profile import BANK_PAN_SFI, contents, gpo_answer
    from simulator.samples import sample_personalisation
    from terminal import bank

    assert bank.parse_gpo(gpo_answer(fmt)).afl == ((BANK_PAN_SFI, 1, 1),)
    perso = sample_personalisation()
    assert perso.bank is not None
    (record,) = contents(perso)["MF/PSE/UNIONPAY/EF01"]
    assert isinstance(record, bytes)
    parsed = bank.parse_bank_record(record)
    assert parsed is not None
    assert (parsed.pan, parsed.expiry, parsed.pan_sequence) == (
        perso.bank.pan, perso.bank.expiry, perso.bank.pan_seq
    )
    assert parsed.cardholder_name == perso.bank.cardholder_name


# --- identifier rules (§8, §9) --------------------------------------------------------------------


def test_issuer_and_terminal_judge_an_ssn_with_the_same_functions() -> None:
    from apdu import identifiers
    from simulator import personalisation
    from terminal import checks

    for name in ("ssn_sex", "ssn_birth_date"):
        assert getattr(checks, name) is getattr(identifiers, name)
        assert getattr(personalisation, name) is getattr(identifiers, name)
    assert checks.ssn_shaped is identifiers.ssn_shaped


@pytest.mark.parametrize(
    ("ssn", "sex", "born"),
    [
        ("420102198505151238", "1", "1985-05-15"),
        ("11010519491231002X", "2", "1949-12-31"),
        ("420102198502301238", "1", None),  # 30 February
        ("4201021985051512", None, "1985-05-15"),  # too short for a sequence digit
        ("42010219850515 1 8", None, "1985-05-15"),
        ("４２０１０２１９８５０５１５１２３８", None, None),  # full-width: not GB 11643
    ],
)
def test_ssn_rules(ssn: str, sex: str | None, born: str | None) -> None:
    from apdu.identifiers import ssn_birth_date, ssn_sex

    assert ssn_sex(ssn) == sex
    date = ssn_birth_date(ssn)
    assert (date.isoformat() if date else None) == born


def test_the_sample_pan_passes_the_issuer_s_luhn_check() -> None:
    from apdu.identifiers import luhn_check_digit, luhn_ok
    from simulator.personalisation import luhn_ok as issuer_luhn_ok
    from simulator.samples import luhn_complete, sample_personalisation

    bank = sample_personalisation().bank
    assert bank is not None and issuer_luhn_ok(bank.pan) and luhn_ok(bank.pan)
    assert luhn_complete("7992739871") == "79927398713"  # the classic example
    assert luhn_check_digit("621483420100000001") == bank.pan[-1]
    assert not luhn_ok(bank.pan[:-1] + str((int(bank.pan[-1]) + 1) % 10))
    assert not issuer_luhn_ok("79927398713")  # a PAN has at least 12 digits


# --- the ATR form (§10) --------------------------------------------------------------------------


@pytest.mark.parametrize("t0", [True, False])
def test_both_simulated_cards_answer_the_one_atr_form(t0: bool) -> None:
    from apdu import atr, crypto
    from simulator.samples import sample_card

    user = sample_card(3, t0=t0)
    for answer, protocol in ((user.atr, "T0" if t0 else "T1"), (Psam.issue(t0=t0).atr, "T0")):
        parsed = atr.parse(answer)
        assert answer == atr.build_ssc_atr(parsed.historical, protocol)
        # the terminal's card factor (crypto, for the diversification) is the ATR module's
        assert crypto.card_factor(parsed.historical) == parsed.card_factor
    # T8..T13 (in the card factor after the card maker) are the card id's area and serial
    div = Diversification.for_card(user.card_id, atr.parse(user.atr).historical)
    assert div.card[2:] == user.card_id[0:2] + user.card_id[8:12]
