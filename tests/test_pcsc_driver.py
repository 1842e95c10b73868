"""The PC/SC driver end to end: pyscard -> real pcscd -> vpcd -> simulator (issue 3 §1, issue 4 §4).

Uses the session-wide ``pcsc_stack`` fixture (tests/conftest.py): user card in slot 0, PSAM in
slot 1.  A test that ejects a card puts it back in a ``finally``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from apdu import atr as atr_mod
from apdu.commands import read_record, select_by_name
from apdu.errors import CardRemovedError, NoCardError, NoReaderError
from apdu.names import SSSE_NAME
from drivers import pcsc
from drivers.channel import CardChannel
from drivers.events import Event, watch
from drivers.pcsc import PcscReader

SPEC_VERSION = read_record(0x03, by_tag=True, sfi=5, le=6)


def _connected(selector: str) -> PcscReader:
    """Connect and do one SELECT.  No retry: the stack's swap waits until PC/SC has seen the
    removal and the new card (tests/stack.py), after which the first exchange goes through."""
    reader = PcscReader(selector, wait=5)
    try:
        reader.connect()
        CardChannel(reader).send(select_by_name(SSSE_NAME))
    except BaseException:
        reader.disconnect()
        raise
    return reader


@pytest.fixture
def card(pcsc_stack: Any) -> Iterator[PcscReader]:
    reader = _connected(pcsc_stack.card_reader)
    try:
        yield reader
    finally:
        reader.disconnect()


def test_list_and_resolve_readers(pcsc_stack: Any) -> None:
    names = pcsc.list_readers()
    assert pcsc_stack.card_reader in names and pcsc_stack.psam_reader in names
    index = names.index(pcsc_stack.card_reader)
    assert pcsc.resolve_reader(str(index)) == pcsc_stack.card_reader
    assert pcsc.resolve_reader(pcsc_stack.card_reader) == pcsc_stack.card_reader
    # long enough to tell "Virtual PCD 00 00" from the PIN-pad reader "sscard PIN pad 00 00"
    pattern = "*" + pcsc_stack.card_reader[-10:].lower()
    assert pcsc.resolve_reader(pattern) == pcsc_stack.card_reader
    with pytest.raises(NoReaderError, match=r"no reader matches .*readers: 0: "):
        pcsc.resolve_reader("no such reader anywhere")
    with pytest.raises(NoReaderError):
        pcsc.resolve_reader(str(len(names) + 5))


def test_connect_takes_protocol_from_the_atr_and_reads(pcsc_stack: Any, card: PcscReader) -> None:
    assert card.name == pcsc_stack.card_reader
    assert card.atr == pcsc_stack.card_atr
    assert card.protocol == atr_mod.preferred_protocol(card.atr)
    channel = CardChannel(card)
    with card.transaction(), card.transaction():  # re-entrant
        fci = channel.send(select_by_name(SSSE_NAME))
        assert fci[0] == 0x6F and SSSE_NAME in fci
        assert channel.send(SPEC_VERSION)[2:] == b"3.00"
    assert channel.apdu_count in (2, 3)  # + GET RESPONSE on a T=0 card


def test_a_reset_by_another_program_ends_the_workflow(pcsc_stack: Any, card: PcscReader) -> None:
    other = _connected(pcsc_stack.card_reader)
    try:
        other.reset()
    finally:
        other.disconnect()
    with pytest.raises(CardRemovedError, match="reset by another program"):
        CardChannel(card).send(SPEC_VERSION)
    # the handle was reconnected: a new workflow starts over with SELECT
    channel = CardChannel(card)
    channel.send(select_by_name(SSSE_NAME))
    assert channel.send(SPEC_VERSION)[2:] == b"3.00"


def test_card_pulled_out_mid_session(pcsc_stack: Any, card: PcscReader) -> None:
    channel = CardChannel(card)
    try:
        pcsc_stack.eject(0)
        with pytest.raises(CardRemovedError):
            channel.send(SPEC_VERSION)
        with pytest.raises(NoCardError):
            PcscReader(pcsc_stack.card_reader).connect()
    finally:
        pcsc_stack.restore()


def test_wait_for_card_sees_an_insertion(pcsc_stack: Any) -> None:
    ticks: list[float] = []
    try:
        pcsc_stack.eject(0)
        with pytest.raises(NoCardError, match="within"):
            pcsc.wait_for_card(pcsc_stack.card_reader, 0.3)

        def waiting() -> None:  # the card goes in once the driver really waits (no timer race)
            ticks.append(time.monotonic())
            if len(ticks) == 1:
                pcsc_stack.insert(0, wait=False)

        name = pcsc.wait_for_card(pcsc_stack.card_reader, 15, on_waiting=waiting)
        assert name == pcsc_stack.card_reader
        assert ticks  # the spinner callback ran while waiting
    finally:
        pcsc_stack.restore()


def test_a_present_card_is_found_at_once(pcsc_stack: Any) -> None:
    """Found without waiting at all (no wait slice, so no spinner tick), not "fast enough"."""
    ticks: list[float] = []
    found = pcsc.wait_for_card(pcsc_stack.card_reader, 10, on_waiting=lambda: ticks.append(1))
    assert found == pcsc_stack.card_reader and ticks == []


def _next(events: Iterator[Event], kind: str) -> Event:
    for event in events:
        if event.kind == kind:
            return event
    raise AssertionError(f"the watch ended before a {kind!r} event")


def test_events_report_present_cards_then_removal_and_insertion(pcsc_stack: Any) -> None:
    events = watch(pcsc_stack.card_reader, timeout=30)
    try:
        first = next(events)
        assert first == Event("reader_added", pcsc_stack.card_reader)
        present = next(events)
        assert present.kind == "inserted" and present.atr == pcsc_stack.card_atr
        pcsc_stack.eject(0, wait=False)
        assert _next(events, "removed").reader == pcsc_stack.card_reader
        pcsc_stack.insert(0, wait=False)
        again = _next(events, "inserted")
        assert again.reader == pcsc_stack.card_reader and again.atr == pcsc_stack.card_atr
    finally:
        events.close()
        pcsc_stack.restore()


def test_a_reset_by_another_program_between_workflows_does_not_fail_the_next(
    pcsc_stack: Any, card: PcscReader
) -> None:
    """Another program's disconnect resets the card (SCARD_RESET_CARD); our next workflow must
    re-attach and run, because no security state of ours was lost between workflows."""
    other = _connected(pcsc_stack.card_reader)
    other.disconnect()  # resets the card under our handle
    with card.transaction():
        channel = CardChannel(card)
        channel.send(select_by_name(SSSE_NAME))
        assert channel.send(SPEC_VERSION)[2:] == b"3.00"
