"""Shared helpers of the PIN and workflow tests (card-profile §6, §7.6): in-process sessions.

A :class:`Bench` is one simulated user card in a :class:`drivers.simulated.SimulatedReader`, a
:class:`terminal.session.CardSession` on it with the chosen security module (the software SAM or
a simulated PSAM behind its own reader), and a separate "observer" channel used only to ask the
card's PIN state with the empty VERIFY (no try used, §6) so that tests read the card's counter
from the card itself, not from the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from apdu import commands
from apdu.crypto import Algorithm
from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from terminal.pinstatus import PinStatus, pin_status
from terminal.sam.base import SecurityModule
from terminal.session import CardSession

#: distinctive PINs of the secrecy tests (found nowhere else in the project's data).
DISTINCTIVE_PIN = "480913"
DISTINCTIVE_NEW = "739251"
INITIAL = "123456"

GENERATIONS = (2, 3)  # 2: DES card, 3: SM4 card
SAMS = ("software", "psam")


def issue_card(generation: int, **overrides: Any) -> Any:
    from simulator.samples import sample_card

    return sample_card(generation, **overrides)


def make_sam(kind: str, generation: int) -> SecurityModule:
    if kind == "software":
        from terminal.sam.software import SoftwareSam

        return SoftwareSam()
    from simulator.psam import Psam
    from terminal.sam.psam import PsamSam

    alg = Algorithm.DES if generation == 2 else Algorithm.SM4
    reader = SimulatedReader(Psam.issue(algorithm=alg), name="sscard PSAM simulator")
    reader.connect()
    return PsamSam(CardChannel(reader))


@dataclass
class Bench:
    card: Any
    reader: SimulatedReader
    session: CardSession

    @property
    def channel(self) -> CardChannel:
        return self.session.channel

    def observe(self) -> PinStatus:
        """The card's PIN state through a separate channel (SELECT SSSE + empty VERIFY)."""
        watcher = CardChannel(self.reader)
        watcher.transmit(commands.select_by_name(_ssse_name()))
        result = pin_status(watcher)
        # a fresh SELECT clears an external authentication (§2); re-select for the session only
        # matters to tests that observe mid-way, which none do.
        return result


def _ssse_name() -> bytes:
    from apdu.names import SSSE_NAME

    return SSSE_NAME


def make_bench(generation: int = 3, sam: str | None = "software", **overrides: Any) -> Bench:
    return _bench_on(issue_card(generation, **overrides), sam, generation)


def _bench_on(card: Any, sam: str | None, generation: int) -> Bench:
    reader = SimulatedReader(card)
    reader.connect()
    module = make_sam(sam, generation) if sam else None
    return Bench(card, reader, CardSession(CardChannel(reader), sam=module))


@contextmanager
def bench(generation: int = 3, sam: str | None = "software", **overrides: Any) -> Iterator[Bench]:
    b = make_bench(generation, sam, **overrides)
    try:
        yield b
    finally:
        if b.session.sam is not None:
            b.session.sam.close()
        b.reader.disconnect()


@contextmanager
def bench_of(card: Any, sam: str | None = "software") -> Iterator[Bench]:
    """A bench on a card built elsewhere (e.g. a counterfeit with its ATR cut)."""
    b = _bench_on(card, sam, card.generation)
    try:
        yield b
    finally:
        if b.session.sam is not None:
            b.session.sam.close()
        b.reader.disconnect()


def wrong_pin_for(right: str = INITIAL) -> bytes:
    """A well-formed PIN that is not ``right``."""
    return b"000111" if right != "000111" else b"222333"


def card_file(path: Any, generation: int = 3, **overrides: Any) -> Any:
    """A sample card saved at ``path`` (for ``--sim PATH``); the CLI then persists its state."""
    card = issue_card(generation, **overrides)
    card.save(path)
    return path


def psam_file(path: Any, generation: int = 3) -> Any:
    """A simulated PSAM for ``--psam PATH`` with the card's algorithm (DES for 2, SM4 for 3)."""
    from simulator.psam import Psam

    Psam.issue(algorithm=Algorithm.DES if generation == 2 else Algorithm.SM4, path=path)
    return path


def run_cli(args: list[str], stdin: str = "") -> Any:
    """``sscard ARGS`` through click's CliRunner; stdout and stderr kept apart."""
    from click.testing import CliRunner

    from terminal.cli.main import cli

    return CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)
