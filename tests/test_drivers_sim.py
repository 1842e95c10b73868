"""The in-process simulator driver and open_reader (issue 3 §1, §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apdu.commands import read_record, select_by_name
from apdu.errors import CardRemovedError, NoCardError, UsageError
from apdu.names import SSSE_NAME
from drivers.channel import CardChannel
from drivers.open import open_reader
from drivers.simulated import SimulatedReader
from tests.helpers_drivers import ATR_T0, ATR_T1, FCI, TinyCard


def test_connect_powers_the_card_and_takes_the_protocol_from_the_atr() -> None:
    for card, atr, proto in ((TinyCard(t0=True), ATR_T0, "T0"), (TinyCard(t0=False), ATR_T1, "T1")):
        reader = SimulatedReader(card)
        with reader:
            assert card.powered and reader.atr == atr and reader.protocol == proto
        assert not card.powered  # disconnect removes power: the security state goes (§2)


def test_t0_card_through_the_channel_gets_its_fci_and_records() -> None:
    with SimulatedReader(TinyCard(t0=True)) as reader:
        channel = CardChannel(reader)
        assert channel.send(select_by_name(SSSE_NAME)) == FCI
        assert channel.apdu_count == 2  # SELECT answered 61xx, then GET RESPONSE
        # Le 00 gets 6Cxx from this card: one re-send with the exact length.
        assert channel.send(read_record(0x07, by_tag=True, sfi=5)) == b"\x07\x09D2143569X"
        assert channel.apdu_count == 4


def test_connect_without_a_card_is_no_card() -> None:
    reader = SimulatedReader()
    with pytest.raises(NoCardError, match="no card"):
        reader.connect()
    with pytest.raises(NoCardError):
        reader.transmit_raw(b"\x00\xa4\x00\x00")


def test_a_card_removed_mid_session_raises_card_removed() -> None:
    card = TinyCard()
    reader = SimulatedReader(card)
    channel = CardChannel(reader)
    reader.connect()
    channel.send(select_by_name(SSSE_NAME))
    reader.remove()
    assert reader.card is None and not card.powered
    with pytest.raises(CardRemovedError):
        channel.send(read_record(0x03, by_tag=True, sfi=5, le=6))
    with pytest.raises(CardRemovedError):
        _ = reader.atr
    with pytest.raises(NoCardError):  # a new session needs a card
        reader.connect()


def test_insert_a_new_card_and_reconnect() -> None:
    first, second = TinyCard(t0=True), TinyCard(t0=False)
    reader = SimulatedReader(first)
    reader.connect()
    reader.insert(second)  # the first is pulled out on the way
    assert not first.powered
    with pytest.raises(CardRemovedError):
        reader.transmit_raw(bytes.fromhex("00B2032806"))
    assert reader.connect() == ATR_T1 and reader.card is second
    assert CardChannel(reader).send(read_record(0x03, by_tag=True, sfi=5, le=6)) == b"\x03\x043.00"


def test_reset_keeps_the_session_and_power_cycles_state() -> None:
    card = TinyCard(t0=True)
    with SimulatedReader(card) as reader:
        card.pending = b"stale"
        assert reader.reset() == ATR_T0
        assert card.pending == b""


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "no card source"),
        ({"reader": "0", "sim": True}, "not both"),
        ({"reader": "  "}, "empty selector"),
        ({"sim": ""}, "empty card file"),
        ({"sim": True, "wait": -1}, "--wait"),
    ],
)
def test_open_reader_usage_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        open_reader(**kwargs)  # type: ignore[arg-type]


def test_open_reader_pcsc_is_lazy_and_unconnected() -> None:
    from drivers.pcsc import PcscReader

    reader = open_reader(reader="no such reader", wait=1.5)
    assert isinstance(reader, PcscReader) and reader.wait == 1.5


@pytest.mark.parametrize("t0", [True, False])
def test_the_sample_card_reads_through_the_stack(t0: bool) -> None:
    from simulator.samples import sample_card

    with SimulatedReader(sample_card(2, t0=t0)) as reader:
        assert reader.protocol == ("T0" if t0 else "T1")
        channel = CardChannel(reader)
        fci = channel.send(select_by_name(SSSE_NAME))
        assert fci[0] == 0x6F and SSSE_NAME in fci
        assert channel.apdu_count == (2 if t0 else 1)
        assert channel.send(read_record(0x03, by_tag=True, sfi=5, le=6))[2:] == b"2.00"


def test_open_reader_sim_true_is_the_generation_3_sample() -> None:
    reader = open_reader(sim=True)
    assert isinstance(reader, SimulatedReader)
    with reader:
        channel = CardChannel(reader)
        channel.send(select_by_name(SSSE_NAME))
        assert channel.send(read_record(0x03, by_tag=True, sfi=5, le=6))[2:] == b"3.00"


def test_open_reader_sim_path_loads_that_card_file(tmp_path: Path) -> None:
    from simulator.samples import sample_card

    path = tmp_path / "card.json"
    sample_card(2).save(path)
    reader = open_reader(sim=str(path))
    assert isinstance(reader, SimulatedReader) and str(path) in reader.name
    with reader:
        channel = CardChannel(reader)
        channel.send(select_by_name(SSSE_NAME))
        assert channel.send(read_record(0x03, by_tag=True, sfi=5, le=6))[2:] == b"2.00"
