"""The session owns the card's state (issue 11): every ordered pair of operations in one session.

The defect: after a status inspection (which selects the bank application) a PIN verify in the
same session went to the bank ADF and failed with ``6A88``.  Here every operation a counter does
runs after every other one, in one session, on DES and SM4 cards over T=0 and T=1, and

- each works (its result is checked);
- each costs exactly the minimum its needs allow given what the previous one left selected,
  authenticated or verified: no SELECT of the DF the card is in, no second external
  authentication of a key that holds, no VERIFY when the PIN is verified.  The minimum comes from
  a small model of the card profile written here (§2 security state, §3 SELECT, §5 commands; a T=0
  card adds a GET RESPONSE to each answer of a command that carries data), not from the code
  under test;
- the session's own account of the card (selected DF, authenticated keys) matches the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import terminal.pin as pinops
from apdu import commands
from apdu.errors import CardRemovedError
from apdu.names import Kid
from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from simulator.samples import sample_card, sample_personalisation
from simulator.usercard import UserCard
from terminal.card import Card
from terminal.pinpolicy import PinPolicy
from terminal.pinsource import ListPinSource
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession
from tests.helpers_checks import TODAY
from tests.helpers_pin import DISTINCTIVE_NEW, DISTINCTIVE_PIN
from tests.helpers_pin import bench as pin_bench

#: two PINs the operations toggle between (change, reset, activate), so that every operation
#: can follow every other one.
PINS = (DISTINCTIVE_PIN, DISTINCTIVE_NEW)
BANK_PIN = "582047"
LENIENT = PinPolicy(forbid_trivial=False)


# --- the model: what the card profile lets each step cost -----------------------------------------


@dataclass
class Model:
    """The card as the profile describes it, and the cost of getting what an operation needs."""

    generation: int
    t0: bool
    df: str | None = None
    auth: set[int] = field(default_factory=set)
    verified: bool = False
    card_id_known: bool = False
    gpo_spent: bool = False
    cost: int = 0

    def cmd(self, n: int = 1, *, data_answer: bool = False) -> None:
        """``n`` commands; one whose answer carries data to a command that carries data (case 4)
        needs a GET RESPONSE on T=0."""
        self.cost += n + (n if data_answer and self.t0 else 0)

    def enter(self, df: str, *, fresh: bool = False) -> None:
        if self.df == df and not fresh:
            return
        self.cmd(data_answer=True)  # SELECT by name: the FCI
        self.df, self.auth, self.gpo_spent = df, set(), False

    def pin_domain(self) -> None:
        if self.df not in ("SSSE", "DF04"):
            self.enter("SSSE")

    def authenticate(self, kid: int) -> None:
        if kid not in self.auth:
            self.cmd(2)  # GET CHALLENGE, EXTERNAL AUTHENTICATE
            self.auth.add(kid)

    # the steps of the library's paths, as the profile describes them

    def read(self) -> None:
        self.enter("SSSE")
        self.cmd()  # EF05, all records in one READ RECORD
        if self.generation == 3:
            self.authenticate(Kid.RKSSSE)
        self.cmd()  # EF06
        self.card_id_known = True

    def pin_status(self) -> None:
        self.pin_domain()
        self.cmd()  # the empty VERIFY

    def verify(self) -> None:
        self.pin_status()
        self.cmd()
        self.verified = True

    def check(self) -> None:
        self.read()
        self.pin_status()
        self.cmd(data_answer=True)  # INTERNAL AUTHENTICATE

    def pin_command(self) -> None:  # CHANGE PIN, unblock, reset
        self.cmd()
        self.verified = False

    def maintenance(self) -> None:  # unblock / reset (§7.6)
        self.enter("SSSE")
        if not self.card_id_known:
            self.cmd()  # READ RECORD EF05 tag 01
            self.card_id_known = True
        self.authenticate(Kid.PUK)
        self.cmd()  # GET CHALLENGE
        self.pin_command()

    def photo(self) -> None:  # issue 15: SSSE EF08 after RKSSSE, READ BINARY to the image's end
        self.enter("SSSE")
        if not self.card_id_known:
            self.cmd()  # READ RECORD EF05 tag 01
            self.card_id_known = True
        self.authenticate(Kid.RKSSSE)
        # the 2512-byte portrait: one extended READ BINARY on T=1 (the in-process reader carries
        # extended APDUs), ten of 256 bytes on T=0
        self.cmd(10 if self.t0 else 1)

    def area(self) -> None:
        if self.df not in ("SSSE", "DF04"):  # a DF of the SSSE is entered from the SSSE
            self.enter("SSSE")
        self.enter("DF04")
        self.cmd()  # READ RECORD tag 84


def _status(m: Model) -> None:
    m.check()
    m.enter("BANK")


def _change(m: Model) -> None:
    m.pin_status()
    m.pin_command()


def _bank(m: Model) -> None:
    m.enter("BANK")
    m.cmd()  # READ RECORD 1 of SFI 2


def _bank_gpo(m: Model) -> None:
    m.enter("BANK", fresh=m.gpo_spent)  # GPO once per selection (EMV)
    m.cmd(data_answer=True)  # GET PROCESSING OPTIONS
    m.cmd()
    m.gpo_spent = True


def _area(m: Model) -> None:
    if not m.verified:
        m.verify()
    m.area()


def _pharmacy(m: Model) -> None:
    m.check()
    m.pin_domain()
    m.cmd()  # VERIFY (the status is known from the check)
    m.verified = True
    m.area()


def _activate(m: Model) -> None:
    m.check()
    m.photo()  # for the clerk (issue 15)
    m.enter("BANK")
    m.cmd()  # the PAN record
    m.pin_domain()  # back from the bank application
    m.pin_command()  # CHANGE PIN (the status is known from the check)
    m.pin_status()  # the proof: the card reads "activated"


#: operation -> its model.
MODEL: dict[str, Callable[[Model], None]] = {
    "read": Model.read,
    "check": Model.check,
    "status": _status,
    "pin_status": Model.pin_status,
    "verify": Model.verify,
    "change": _change,
    "bank": _bank,
    "bank_gpo": _bank_gpo,
    "area_code": _area,
    "unblock": Model.maintenance,
    "reset": Model.maintenance,
    "pharmacy": _pharmacy,
    "activate": _activate,
}


# --- the operations, on the front door's Card -----------------------------------------------------


class Holder:
    """The holder's current PIN, which change / reset / activate toggle."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.pin = PINS[0]

    def other(self) -> str:
        return PINS[1] if self.pin == PINS[0] else PINS[0]


def _op_change(card: Card, h: Holder) -> None:
    new = h.other()
    assert card.pin.change(h.pin, new, policy=LENIENT).operation == "change"
    h.pin = new


def _op_reset(card: Card, h: Holder) -> None:
    new = h.other()
    assert card.pin.reset(new, policy=LENIENT).operation == "reset"
    h.pin = new


def _op_activate(card: Card, h: Holder) -> None:
    holder = sample_personalisation(h.generation).holder
    new = h.other()
    source = ListPinSource([BANK_PIN, BANK_PIN, h.pin, new, new])
    result = card.activate(
        clerk_name=holder.name, clerk_id_number=holder.ssn, pin_source=source,
        pin_policy=LENIENT, today=TODAY,
    )
    assert result.activated and source.remaining == 0
    h.pin = new


OPS: dict[str, Callable[[Card, Holder], None]] = {
    "read": lambda card, h: _is(card.read().holder is not None),
    "check": lambda card, h: _is(card.check(today=TODAY).verdict == "ok"),
    "status": lambda card, h: _is(card.status(today=TODAY).verdict == "activated"),
    "pin_status": lambda card, h: _is(card.pin.status().state == "enabled"),
    "verify": lambda card, h: _is(card.pin.verify(h.pin).verified),
    "change": _op_change,
    "bank": lambda card, h: _is(card.bank().pan.startswith("621483")),
    "bank_gpo": lambda card, h: _is(card.bank(gpo=True).pan.startswith("621483")),
    "area_code": lambda card, h: _is(card.area_code(h.pin) == "420100"),
    "unblock": lambda card, h: _is(card.pin.unblock().operation == "unblock"),
    "reset": _op_reset,
    "pharmacy": lambda card, h: _is(
        card.pharmacy(ListPinSource([h.pin]), today=TODAY).pin == "verified"
    ),
    "activate": _op_activate,
}
assert OPS.keys() == MODEL.keys()


def _is(condition: bool) -> None:
    assert condition


CONFIGS = [(g, t0) for g in (2, 3) for t0 in (False, True)]
_CARDS: dict[tuple[int, bool], UserCard] = {}


def _fresh_card(generation: int, t0: bool) -> UserCard:
    """A new in-memory card of this kind (issued once, then copied: its state is the issue's)."""
    key = (generation, t0)
    if key not in _CARDS:
        _CARDS[key] = sample_card(generation, t0=t0, pin=PINS[0])
    return UserCard(_CARDS[key].state())


def _session_state(session: CardSession) -> tuple[str | None, set[int]]:
    return session.selected, set(session.authenticated)


@pytest.mark.parametrize("first", list(OPS))
@pytest.mark.parametrize(("generation", "t0"), CONFIGS, ids=lambda v: str(v))
def test_every_pair_of_operations_works_at_the_minimum_cost(
    generation: int, t0: bool, first: str
) -> None:
    for second in OPS:
        reader = SimulatedReader(_fresh_card(generation, t0))
        reader.connect()
        try:
            session = CardSession(CardChannel(reader), sam=SoftwareSam())
            card, holder = Card(session), Holder(generation)
            model = Model(generation, t0)
            for op in (first, second):
                model.cost = 0
                MODEL[op](model)
                before = card.apdus
                OPS[op](card, holder)
                spent = card.apdus - before
                where = f"{first} -> {second}: {op} (gen {generation}, T={int(not t0)})"
                assert spent == model.cost, f"{where}: {spent} APDUs, the minimum is {model.cost}"
                assert _session_state(session) == (model.df, model.auth), where
        finally:
            reader.disconnect()


# --- the reported defect, on its own --------------------------------------------------------------


@pytest.mark.parametrize("generation", [2, 3])
def test_a_verify_after_a_status_inspection_goes_to_the_ssse(generation: int) -> None:
    """Issue 11: status selects the bank application; the VERIFY that follows used to be sent
    there and fail with 6A88.  Now it selects the SSSE again (one SELECT) and verifies."""
    with pin_bench(generation, pin=PINS[0]) as b:
        card = Card(b.session)
        assert card.status(today=TODAY).bank_application is True
        assert b.session.selected == "BANK"
        b.channel.tracer = tracer = _Recorder()
        assert card.pin.verify(PINS[0]).verified
        sent = [c[:4].hex().upper() for c in tracer.commands]
        assert sent[0] == "00A40400" and sent[-1] == "00200000"  # SELECT SSSE first
        assert b.session.selected == "SSSE" and b.session.pin_verified


class _Recorder:
    def __init__(self) -> None:
        self.commands: list[bytes] = []

    def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
        self.commands.append(bytes(command))


# --- a reset, a reconnect or a lost card clears the state -----------------------------------------


def _in_ssse_authenticated(b: Any) -> Card:
    card = Card(b.session)
    card.read()
    assert b.session.selected == "SSSE" and Kid.RKSSSE in b.session.authenticated
    card.pin.verify(PINS[0])
    assert b.session.pin_verified
    return card


@pytest.mark.parametrize("how", ["reset", "reconnect"])
def test_a_reset_or_reconnect_clears_the_state(how: str) -> None:
    with pin_bench(3, pin=PINS[0]) as b:
        card = _in_ssse_authenticated(b)
        getattr(b.session, how)()
        assert (b.session.selected, b.session.authenticated, b.session.pin_verified) == (
            None, frozenset(), False,
        )
        assert b.session.card_id is None and b.session.ssse is None
        before = card.apdus
        card.read()  # everything again: SELECT (+ GET RESPONSE), EF05, authentication, EF06
        assert card.apdus - before == 6


def test_a_card_lost_under_the_channel_clears_the_state() -> None:
    with pin_bench(3, pin=PINS[0]) as b:
        _in_ssse_authenticated(b)
        b.reader.remove()
        with pytest.raises(CardRemovedError):
            b.channel.transmit(commands.verify_status())
        assert b.session.selected is None and not b.session.pin_verified
        assert b.session.authenticated == frozenset()


def test_a_failed_select_leaves_the_selection_unknown() -> None:
    """Cards differ in what a refused SELECT leaves selected: the next operation selects again."""
    with pin_bench(2, bank=None) as b:
        card = Card(b.session)
        card.read()
        assert not card.has_bank() and b.session.selected is None
        before = card.apdus
        card.pin.status()
        assert card.apdus - before == 3  # SELECT SSSE + GET RESPONSE, empty VERIFY


def test_another_df_ends_the_authentication_and_not_the_pin() -> None:
    """§2: an external authentication ends when another DF is selected; a verified PIN holds in
    the SSSE's DFs (DF04), and not in the firewalled bank application."""
    with pin_bench(3, pin=PINS[0]) as b:
        card = _in_ssse_authenticated(b)
        assert card.area_code() == "420100"  # no VERIFY: the PIN holds in DF04
        assert b.session.selected == "DF04" and b.session.authenticated == frozenset()
        assert b.session.in_pin_domain
        card.bank()
        assert not b.session.in_pin_domain and b.session.pin_verified
        before = card.apdus
        assert card.area_code() == "420100"  # back to DF04: the PIN still counts there
        assert card.apdus - before == 5  # SELECT SSSE, SELECT DF04 (each + GET RESPONSE), READ


#: a region's own DF with one record EF read after the PIN (application-files §4).
LOCAL_DF = """
[[df]]
name = "DF0B"
aid = "D1560000050B"
zh = "区县应用"
en = "county application"

[[ef]]
path = "DF0B/EF0E"
zh = "区县数据"
en = "county data"
read = "pin"
write = "never"
[[ef.item]]
tag = 0xD1
field = "county_code"
zh = "区县代码"
en = "county code"
format = "cn"
size = 3
sample = "420102"
"""


@pytest.mark.parametrize("by", ["declaration", "fid"])
def test_a_regional_df_is_a_place_in_the_pin_domain(by: str) -> None:
    """A region's DF (application-files §4) enters by its declaration (AID) or, as a local DF
    named DFxx, by FID under the SSSE; the SSSE PIN counts there."""
    from apdu.extensions import parse_extension
    from simulator.extensions import JIANGSU

    text = JIANGSU.read_text(encoding="utf-8") + LOCAL_DF
    (df,) = parse_extension(text).dfs
    card = sample_card(3, extension=text, t0=False, pin=PINS[0])
    reader = SimulatedReader(card)
    reader.connect()
    try:
        session = CardSession(CardChannel(reader), sam=SoftwareSam())
        session.enter(df if by == "declaration" else "DF0B")
        assert session.channel.apdu_count == 2  # through the SSSE: SELECT SSSE, SELECT DF0B
        session.enter("DF04")
        assert session.channel.apdu_count == 3  # a sibling by AID: one SELECT
        session.enter(df if by == "declaration" else "DF0B")
        # by AID from a sibling directly; by FID through the SSSE (a FID is a child's)
        assert session.channel.apdu_count == (4 if by == "declaration" else 5)
        assert session.selected == "DF0B" and session.in_pin_domain
        before = session.channel.apdu_count
        assert Card(session).pin.verify(PINS[0]).verified
        assert session.channel.apdu_count - before == 2  # no SELECT: the PIN counts in DF0B
        data = session.channel.send(commands.read_record(0xD1, by_tag=True, sfi=0x0E, le=5))
        assert data == bytes.fromhex("D103420102")
        session.enter("DF0B")
        assert session.channel.apdu_count - before == 3  # already there: nothing sent
    finally:
        reader.disconnect()


def test_an_unknown_place_is_a_usage_error() -> None:
    from apdu.errors import UsageError

    with pin_bench(2) as b, pytest.raises(UsageError, match="no such DF"):
        b.session.enter("EF05")


def test_reading_the_card_id_by_sfi_leaves_the_current_ef_unknown() -> None:
    """The card id is read through EF05's SFI, which makes EF05 the card's current EF: a session
    that had selected another EF must select it again before a read of the current EF."""
    with pin_bench(3) as b:
        b.session.enter("SSSE")
        b.session.select_ef(0xEF06)
        assert b.session.ef == 0xEF06
        b.session.card_id = None
        pinops.read_card_id(b.session)
        assert b.session.ef is None
