"""The two security modules (terminal.sam): software TEST keys and a PSAM (card-profile §7, §11).

Each is judged by the simulated user card itself: the card accepts the external authentication,
its internal authentication answer matches, and it accepts a MAC-protected command.  A card issued
under another key set (a counterfeit) fails internal authentication, and a 3.00 counterfeit fails
the RKSSSE external authentication.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from apdu import commands
from apdu.crypto import Algorithm
from apdu.errors import CardNotSupportedError, NoCardError, UsageError
from apdu.keys import TEST_KEYS, KeySet
from apdu.names import SFI_EF06, Kid
from apdu.status import ApplicationBlocked, WrongKey
from drivers.channel import CardChannel
from drivers.replay import ReplayReader
from drivers.simulated import SimulatedReader
from simulator.psam import Psam
from simulator.samples import sample_card
from simulator.usercard import UserCard
from terminal.reading import read_card
from terminal.sam.base import SecurityModule
from terminal.sam.psam import PsamSam
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession

GENERATION = {Algorithm.DES: 2, Algorithm.SM4: 3}
ALGS = [Algorithm.DES, Algorithm.SM4]

SamFactory = Callable[[Algorithm], SecurityModule]


def _psam(alg: Algorithm, **kw: object) -> PsamSam:
    reader = SimulatedReader(Psam.issue(algorithm=alg, **kw))  # type: ignore[arg-type]
    reader.connect()
    return PsamSam(CardChannel(reader))


FACTORIES: dict[str, SamFactory] = {"software": lambda alg: SoftwareSam(), "psam": _psam}


@pytest.fixture(params=sorted(FACTORIES))
def make_sam(request: pytest.FixtureRequest) -> SamFactory:
    return FACTORIES[request.param]


def _session(card: UserCard, sam: SecurityModule | None) -> CardSession:
    reader = SimulatedReader(card)
    reader.connect()
    s = CardSession(CardChannel(reader), sam)
    s.select_ssse()
    s.card_id = card.card_id
    return s


@pytest.mark.parametrize("alg", ALGS)
def test_external_auth_is_accepted_and_opens_ef06(make_sam: SamFactory, alg: Algorithm) -> None:
    card = sample_card(GENERATION[alg])
    s = _session(card, make_sam(alg))
    tries = card.key_tries_left("SSSE", Kid.RKSSSE)
    s.external_auth("RKSSSE", Kid.RKSSSE)
    assert card.key_tries_left("SSSE", Kid.RKSSSE) == tries
    ssn = s.channel.send(commands.read_record(0x08, by_tag=True, sfi=SFI_EF06, le=20))
    assert ssn[2:] == b"420102198505151238"  # the sample holder's SSN


@pytest.mark.parametrize("alg", ALGS)
def test_internal_auth_proves_a_genuine_card(make_sam: SamFactory, alg: Algorithm) -> None:
    s = _session(sample_card(GENERATION[alg]), make_sam(alg))
    assert s.internal_auth() is True


@pytest.mark.parametrize("alg", ALGS)
def test_counterfeit_card_fails_internal_auth(make_sam: SamFactory, alg: Algorithm) -> None:
    s = _session(sample_card(GENERATION[alg], keys=KeySet.counterfeit()), make_sam(alg))
    assert s.internal_auth() is False


def test_counterfeit_3_00_card_refuses_the_rkssse_external_auth(make_sam: SamFactory) -> None:
    card = sample_card(3, keys=KeySet.counterfeit())
    s = _session(card, make_sam(Algorithm.SM4))
    before = card.key_tries_left("SSSE", Kid.RKSSSE)
    with pytest.raises(WrongKey) as info:
        s.external_auth("RKSSSE", Kid.RKSSSE)
    assert info.value.tries_left == before - 1


@pytest.mark.parametrize("alg", ALGS)
def test_secure_message_is_the_same_from_both_sams(alg: Algorithm) -> None:
    card = sample_card(GENERATION[alg])
    s = _session(card, None)
    div = s.diversification()
    challenge = bytes(range(8))
    for header, plaintext in ((bytes.fromhex("84240000"), None),
                              (bytes.fromhex("84240001"), b"\x12\x34\x56"),
                              (bytes.fromhex("84240001"), bytes(range(15)))):  # LD||pt aligned
        soft = SoftwareSam().secure_message(alg, "STK", div, challenge, header, plaintext)
        hard = _psam(alg).secure_message(alg, "STK", div, challenge, header, plaintext)
        assert soft == hard


@pytest.mark.parametrize("alg", ALGS)
def test_secure_message_is_accepted_by_the_card(make_sam: SamFactory, alg: Algorithm) -> None:
    card = sample_card(GENERATION[alg])
    sam = make_sam(alg)
    s = _session(card, sam)
    challenge = s.channel.send(commands.get_challenge(8))
    header = bytes.fromhex("841E0001")
    mac = sam.secure_message(alg, "STK", s.diversification(), challenge, header)
    s.channel.send(commands.application_block(mac))
    assert card.application_blocked
    with pytest.raises(ApplicationBlocked):
        read_card(CardSession(s.channel, sam))


@pytest.mark.parametrize(("strategy", "apdus"), [("auto", 5), ("by-tag", 17)])
def test_3_00_card_reads_through_a_psam(strategy: str, apdus: int) -> None:
    reader = SimulatedReader(sample_card(3, t0=False))
    reader.connect()
    session = CardSession(CardChannel(reader), _psam(Algorithm.SM4), read_strategy=strategy)
    result = read_card(session)
    assert result.apdus == apdus and result.ef06_access == "authenticated"
    assert result.holder is not None and result.holder.name == "张三丰"


def test_psam_of_the_other_algorithm_is_refused_with_a_clear_error() -> None:
    s = _session(sample_card(3), _psam(Algorithm.DES))
    with pytest.raises(UsageError, match="this PSAM holds DES keys; the card uses SM4"):
        s.external_auth("RKSSSE", Kid.RKSSSE)


# --- PSAM opening -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_psam_opening_learns_algorithm_serial_and_terminal_number(alg: Algorithm) -> None:
    sam = _psam(alg, terminal_number="330100000042", serial="12345678901234567890", t0=True)
    assert sam.algorithm is alg
    assert sam.serial == "12345678901234567890"
    assert sam.terminal_number == "330100000042"
    assert "12345678901234567890" in sam.label


def test_a_user_card_in_the_psam_reader_is_not_a_psam() -> None:
    # A user card answers to the DES PSAM's MF name (it is the SSSE name): caught on EF 0015.
    reader = SimulatedReader(sample_card(2))
    reader.connect()
    with pytest.raises(CardNotSupportedError, match="not a social security PSAM"):
        PsamSam(CardChannel(reader))


def test_a_foreign_card_in_the_psam_reader_is_not_a_psam() -> None:
    reader = ReplayReader.from_responses(bytes.fromhex("3B00"), [b"\x6a\x82", b"\x6a\x82"])
    reader.connect()
    with pytest.raises(CardNotSupportedError):
        PsamSam(CardChannel(reader))


def test_psam_close_powers_off_once() -> None:
    sam = _psam(Algorithm.DES)
    sam.close()
    sam.close()
    with pytest.raises(NoCardError):  # powered off: the PSAM no longer answers
        sam.channel.send(commands.get_challenge(8))


# --- software SAM key files ---------------------------------------------------------------------


def test_software_sam_from_key_file_uses_those_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(KeySet.counterfeit().to_json()), encoding="utf-8")
    sam = SoftwareSam.from_key_file(path)
    s = _session(sample_card(2, keys=KeySet.counterfeit()), sam)
    assert s.internal_auth() is True
    assert "TEST" in sam.label


@pytest.mark.parametrize(
    "content", ["not json", json.dumps({"keys": {"IRK": "zz"}}), json.dumps([1, 2])]
)
def test_bad_key_file_is_a_usage_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match="key file"):
        SoftwareSam.from_key_file(path)


def test_missing_key_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read key file"):
        SoftwareSam.from_key_file(tmp_path / "absent.json")


def test_software_sam_never_shows_key_bytes() -> None:
    sam = SoftwareSam()
    shown = repr(sam) + str(sam) + sam.label
    assert "TEST" in shown
    for name in TEST_KEYS.names:
        key = TEST_KEYS.root(name)
        assert key.hex() not in shown.lower() and key.hex().upper() not in shown


def test_a_psam_of_the_other_algorithm_is_refused_before_any_card_apdu() -> None:
    """A DES PSAM with an SM4 card: a clear usage error, and the card sees no GET CHALLENGE."""
    s = _session(sample_card(3), _psam(Algorithm.DES))
    s.select_ssse()
    before = s.channel.apdu_count
    with pytest.raises(UsageError, match="holds DES keys; the card uses SM4"):
        s.external_auth("RKSSSE", Kid.RKSSSE)
    with pytest.raises(UsageError):
        s.internal_auth()
    assert s.channel.apdu_count == before
