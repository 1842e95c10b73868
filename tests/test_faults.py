"""Fault injection: the card is pulled out before and after every APDU of each workflow (issue 6).

For each workflow (read, check, status, PIN status, verify, verify with a wrong PIN, change,
unblock, reset, pharmacy, activation) on a DES card (2nd generation, T=0: GET RESPONSE rounds are
tearing points too) and an SM4 card (3rd generation, T=1):

1. a clean run through :class:`drivers.faults.FaultyReader` counts the N APDUs on the wire and
   gives the card's NEW state;
2. for every i in 0..N-1, a fresh copy of the card has its card pulled out before APDU i (not
   delivered) and, in another run, after APDU i (executed, answer lost). Each run must end in
   :class:`apdu.errors.CardRemovedError` - or one of our typed errors whose ``__cause__`` chain
   holds it - and the card must be in its OLD or its NEW state: never a half-changed PIN, never a
   try counter that went up (card-profile §6).

Cards whose PIN can change (verify, change, unblock, reset, activation) are file-backed and
reloaded from disk, so what is checked is what the card persisted; the others are in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apdu.crypto import Algorithm
from apdu.errors import CardRemovedError, SSCardError
from apdu.status import WrongPin
from drivers.channel import CardChannel
from drivers.faults import FaultyReader
from drivers.simulated import SimulatedReader
from simulator.psam import Psam
from simulator.samples import sample_card, sample_personalisation
from simulator.state import CardState
from simulator.usercard import UserCard
from terminal import pin as pinops
from terminal.bankhost import LoopbackBankHost
from terminal.inspect import inspect_card
from terminal.pinsource import ListPinSource
from terminal.policy import SalePolicy
from terminal.reading import read_card
from terminal.sam.base import SecurityModule
from terminal.sam.psam import PsamSam
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession
from terminal.workflows.activation import activate
from terminal.workflows.pharmacy import pharmacy

TODAY = dt.date(2026, 1, 1)
#: these runs are about faults, not the counter's policy: the initial PIN may verify a sale.
ACCEPT_INITIAL = SalePolicy(refuse_initial_pin=False)
INITIAL = "123456"
WRONG = "000111"
NEW = "739251"
NEW_BANK = "864209"

Run = Callable[[CardSession], object]


def _holder() -> tuple[str, str]:
    h = sample_personalisation(3).holder
    return h.name, h.ssn


def _activation(session: CardSession) -> object:
    name, ssn = _holder()
    return activate(
        session,
        clerk_name=name,
        clerk_id_number=ssn,
        pin_source=ListPinSource([NEW_BANK, NEW_BANK, INITIAL, NEW, NEW]),
        bank_host=LoopbackBankHost(),
        today=TODAY,
    )


@dataclass(frozen=True)
class Workflow:
    run: Run
    #: wrong PIN tries spent before the workflow (unblock/reset need something to undo).
    spent_tries: int = 0
    #: the clean run's own outcome when it is a refusal (a wrong PIN).
    refused: type[SSCardError] | None = None
    #: the card is file-backed and reloaded from disk (the workflow may write to it).
    on_disk: bool = False


WORKFLOWS: dict[str, Workflow] = {
    "read": Workflow(read_card),
    "check": Workflow(lambda s: inspect_card(s, checks=True, status=False, today=TODAY)),
    "status": Workflow(lambda s: inspect_card(s, checks=False, status=True, today=TODAY)),
    "pin_status": Workflow(pinops.status_of),
    "verify": Workflow(lambda s: pinops.verify(s, INITIAL), on_disk=True),
    "verify_wrong": Workflow(lambda s: pinops.verify(s, WRONG), refused=WrongPin, on_disk=True),
    "change": Workflow(lambda s: pinops.change(s, INITIAL, NEW), on_disk=True),
    "unblock": Workflow(pinops.unblock, spent_tries=6, on_disk=True),
    "reset": Workflow(lambda s: pinops.reset(s, NEW), spent_tries=2, on_disk=True),
    "pharmacy": Workflow(
        lambda s: pharmacy(s, ListPinSource([INITIAL]), today=TODAY, policy=ACCEPT_INITIAL),
        on_disk=True,
    ),
    "activation": Workflow(_activation, on_disk=True),
}

CARDS = {"DES-T0": (2, True), "DES-T1": (2, False), "SM4-T0": (3, True), "SM4-T1": (3, False)}

_BASE: dict[str, dict[str, Any]] = {}
_PSAMS: dict[Algorithm, dict[str, Any]] = {}


def _psam(alg: Algorithm) -> Psam:
    """A fresh simulated PSAM (TEST keys) of ``alg``, issued once and copied."""
    if alg not in _PSAMS:
        _PSAMS[alg] = Psam.issue(algorithm=alg).to_json()
    return Psam.from_json(_PSAMS[alg])


def base_state(card_kind: str, spent: int) -> dict[str, Any]:
    """The card's state as a JSON-able dict (issued once per kind; tries spent as asked)."""
    key = f"{card_kind}/{spent}"
    if key not in _BASE:
        generation, t0 = CARDS[card_kind]
        state = sample_card(generation, t0=t0).state().model_dump(mode="json")
        state["pin"]["tries_left"] -= spent
        _BASE[key] = state
    return _BASE[key]


class Rig:
    """One card copy in a faulty in-process reader, with a software SAM or a simulated PSAM
    (itself in a faulty reader, ``psam_reader``)."""

    def __init__(self, state: dict[str, Any], path: Path | None, psam: bool = False) -> None:
        model = CardState.model_validate(state)
        if path is not None:
            model.save(path)
        self.path = path
        self.card = UserCard(model, path)
        self.reader = FaultyReader(SimulatedReader(self.card))
        self.reader.connect()
        self.psam_reader: FaultyReader | None = None
        sam: SecurityModule = SoftwareSam()
        if psam:
            alg = Algorithm(model.algorithm)
            self.psam_reader = FaultyReader(SimulatedReader(_psam(alg)))
            self.psam_reader.connect()
            sam = PsamSam(CardChannel(self.psam_reader))
            self.psam_reader.reset_count()  # count the workflow's PSAM APDUs only
        self.session = CardSession(CardChannel(self.reader), sam=sam)

    def state(self) -> dict[str, Any]:
        """What the card holds now: from disk for a file-backed card (what survives)."""
        if self.path is not None:
            return CardState.load(self.path).model_dump(mode="json")
        return self.card.state().model_dump(mode="json")


def removal_in_chain(exc: BaseException) -> bool:
    """True when ``exc`` is CardRemovedError or one of its ``__cause__`` chain is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, CardRemovedError):
            return True
        seen = seen.__cause__
    return False


def clean_run(flow: Workflow, state: dict[str, Any], path: Path | None) -> tuple[int, dict]:
    rig = Rig(state, path)
    if flow.refused is not None:
        with pytest.raises(flow.refused):
            flow.run(rig.session)
    else:
        flow.run(rig.session)
    return rig.reader.count, rig.state()


def faulted_run(flow: Workflow, state: dict[str, Any], path: Path | None, index: int,
                after: bool) -> dict[str, Any]:
    rig = Rig(state, path)
    if after:
        rig.reader.remove_after(index)
    else:
        rig.reader.remove_before(index)
    where = f"card removed {'after' if after else 'before'} APDU {index}"
    try:
        flow.run(rig.session)
    except SSCardError as exc:
        assert removal_in_chain(exc), f"{where}: ended in {type(exc).__name__}: {exc}"
    else:
        pytest.fail(f"{where}: the workflow succeeded on a removed card")
    assert rig.reader.removed and rig.reader.removed_at == index, where
    return rig.state()


def describe_pin(state: dict[str, Any]) -> str:
    pin = "initial" if state["pin"]["digits"] == INITIAL else "other"
    return f"tries {state['pin']['tries_left']}, PIN {pin}"


@pytest.mark.parametrize("card_kind", list(CARDS))
@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_card_removed_at_every_apdu(name: str, card_kind: str, tmp_path: Path) -> None:
    flow = WORKFLOWS[name]
    state = base_state(card_kind, flow.spent_tries)
    path = tmp_path / "card.json" if flow.on_disk else None
    count, new = clean_run(flow, state, path)
    assert count > 0
    old = CardState.model_validate(state).model_dump(mode="json")
    for index in range(count):
        for after in (False, True):
            got = faulted_run(flow, state, path, index, after)
            where = f"{name} on {card_kind}, removed {'after' if after else 'before'} APDU {index}"
            assert got == old or got == new, (
                f"{where}: the card is neither in its old state ({describe_pin(old)}) nor in its "
                f"new one ({describe_pin(new)}): {describe_pin(got)}"
            )
            assert got["pin"]["tries_left"] <= old["pin"]["tries_left"] or got == new, where


def test_new_states_really_differ_where_the_workflow_writes() -> None:
    """The old/new check has teeth: change, reset, unblock and a wrong VERIFY do change the card."""
    for name in ("change", "reset", "unblock", "verify_wrong"):
        flow = WORKFLOWS[name]
        state = base_state("SM4-T1", flow.spent_tries)
        _, new = clean_run(flow, state, None)
        assert new != CardState.model_validate(state).model_dump(mode="json"), name


def test_removal_before_the_change_leaves_the_old_pin_usable() -> None:
    """After a pull before CHANGE PIN, the holder's old PIN still works with every try left."""
    flow = WORKFLOWS["change"]
    state = base_state("SM4-T1", 0)
    count, _ = clean_run(flow, state, None)
    rig = Rig(state, None)
    rig.reader.remove_before(count - 1)
    with pytest.raises(CardRemovedError):
        flow.run(rig.session)
    rig.reader.reinsert()
    rig.reader.connect()
    session = CardSession(CardChannel(rig.reader))
    result = pinops.verify(session, INITIAL)
    assert result.verified and result.tries_left == 6


def test_removal_forgets_the_verified_pin() -> None:
    """A card pulled out loses power: its verified PIN is gone when it comes back (§2)."""
    rig = Rig(base_state("SM4-T1", 0), None)
    pinops.verify(rig.session, INITIAL)
    rig.reader.remove_before(rig.reader.count)
    with pytest.raises(CardRemovedError):
        pinops.status_of(CardSession(CardChannel(rig.reader)))
    with pytest.raises(CardRemovedError):
        _ = rig.reader.atr
    rig.reader.reinsert()
    rig.reader.connect()
    session = CardSession(CardChannel(rig.reader))
    from terminal.workflows.pharmacy import read_area_code

    session.select_ssse()
    with pytest.raises(SSCardError):  # DF04 tag 84 needs the PIN again: 6982
        read_area_code(session)


def test_corrupted_answer_is_a_typed_error() -> None:
    """A garbage answer (one byte: not even a status word) ends the read in our hierarchy."""
    rig = Rig(base_state("SM4-T1", 0), None)
    rig.reader.corrupt(3, b"\x90")
    with pytest.raises(SSCardError):
        read_card(rig.session)


#: workflows that use the security module, run with a PSAM whose own card is pulled out.
PSAM_WORKFLOWS = ("check", "unblock", "reset", "pharmacy")


@pytest.mark.parametrize("card_kind", ["DES-T0", "SM4-T1"])
@pytest.mark.parametrize("name", PSAM_WORKFLOWS)
def test_psam_removed_at_every_psam_apdu(name: str, card_kind: str, tmp_path: Path) -> None:
    """The PSAM (second reader) is pulled out before/after each of its APDUs: the workflow ends
    in CardRemovedError and the user card keeps its old state (nothing was sent to it yet that
    needed the PSAM's answer) or its new one."""
    flow = WORKFLOWS[name]
    state = base_state(card_kind, flow.spent_tries)
    path = tmp_path / "card.json" if flow.on_disk else None
    rig = Rig(state, path, psam=True)
    flow.run(rig.session)
    assert rig.psam_reader is not None
    count, new = rig.psam_reader.count, rig.state()
    assert count > 0
    old = CardState.model_validate(state).model_dump(mode="json")
    for index in range(count):
        for after in (False, True):
            rig = Rig(state, path, psam=True)
            assert rig.psam_reader is not None
            if after:
                rig.psam_reader.remove_after(index)
            else:
                rig.psam_reader.remove_before(index)
            where = f"{name} on {card_kind}, PSAM removed {'after' if after else 'before'} {index}"
            with pytest.raises(SSCardError) as caught:
                flow.run(rig.session)
            assert removal_in_chain(caught.value), f"{where}: {caught.value!r}"
            got = rig.state()
            assert got == old or got == new, where
            assert got["pin"]["tries_left"] <= old["pin"]["tries_left"] or got == new, where
