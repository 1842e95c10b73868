"""Every real card of the corpus decodes as its source shows and fails no check (issue 9 §5).

The terminal's own read (:func:`terminal.reading.read_card`, strategy ``auto``: the multi-record
probe, refused, then the by-tag reads) runs against :class:`tests.realcards.TraceCard`, and the
checks are evaluated with a fixed clock.  Warnings are allowed: they are how real cards differ
from the national text.  A check whose input the source does not show is not judged from that
source; a card that really is defective is listed in :data:`DEFECTIVE` with the reason (or says
so itself in a ``# defective: <check>: <reason>`` header).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from terminal.bank import parse_gpo, read_bank_record, select_bank
from terminal.checks import CHECKS, evaluate
from terminal.models import CardRead
from terminal.reading import read_card
from terminal.session import CardSession
from tests.realcards import (
    NATIONAL_FIELDS,
    TraceCard,
    TraceFile,
    TraceSam,
    corpus,
    expected_value,
    load,
)

TODAY = dt.date(2026, 1, 1)

#: check -> the item fields it judges; a check is judged from a trace only when the trace shows
#: every one of them (genuineness never is: a trace holds no keys).
CHECK_INPUTS: dict[str, set[str]] = {
    "ssn_check_char": {"ssn"},
    "ssn_birth_date": {"ssn", "birth_date"},
    "ssn_sex": {"ssn", "sex"},
    "ssn_area": {"ssn"},
    "birthplace_area": {"birthplace"},
    "card_number_check_char": {"card_number"},
    "card_id_structure": {"card_id"},
    "init_institution": {"init_institution"},
    "dates": {"issue_date", "expiry_date"},
    "not_expired": {"expiry_date"},
    "spec_version_known": {"spec_version"},
    "card_type_known": {"card_type"},
    "data_decodes": set(),
    "card_not_blocked": set(),
    "application_not_blocked": set(),
    "pin_state": set(),
}
NEVER_JUDGED = {"genuine"}

#: cards that really are defective: file -> (the checks that fail, why).
DEFECTIVE: dict[str, tuple[set[str], str]] = {
    "zhoukou-3.00-unpersonalised.trace": (
        {"ssn_check_char"}, "a blank card read before personalisation: no SSN on it yet",
    ),
}

TRACES = corpus()


def test_the_corpus_is_there() -> None:
    assert TRACES, "tests/data/real_cards holds no *.trace file"
    assert set(CHECK_INPUTS) | NEVER_JUDGED == set(CHECKS)


def _read(trace: TraceFile) -> tuple[TraceCard, CardRead, CardSession]:
    card = TraceCard(trace)
    reader = SimulatedReader(card, name=f"trace {trace.name}")  # type: ignore[arg-type]
    reader.connect()
    session = CardSession(CardChannel(reader), TraceSam())
    return card, read_card(session), session


def _decoded(read: CardRead, name: str) -> str | None:
    if name == "algorithm":
        return read.algorithm.name
    value = read.to_json().get(name)
    return None if value is None else str(value)


def _defect(trace: TraceFile) -> tuple[set[str], str] | None:
    for line in trace.headers.get("defective", []):
        check, _, why = line.partition(":")
        return {check.strip()}, why.strip()
    return DEFECTIVE.get(trace.name)


def _card_traces() -> list[Path]:
    return [p for p in TRACES if load(p).expects or load(p).exchanges]


@pytest.mark.parametrize("path", _card_traces(), ids=lambda p: p.name)
def test_a_real_card_decodes_as_its_source_shows(path: Path) -> None:
    trace = load(path)
    assert trace.source, f"{path.name}: no '# source:' line"
    card, read, session = _read(trace)
    for name, value in trace.expects.items():
        if name == "national_line":
            line = trace.national_line()
            assert line is not None
            ours = read.national_format().split("|")
            for i, field_name in enumerate(NATIONAL_FIELDS[:9]):
                assert ours[i] == line[field_name].rstrip(" "), (field_name, ours, line)
        elif name == "pan":
            session.reset()
            assert select_bank(session)
            assert read_bank_record(session.channel).pan == value
        else:
            assert _decoded(read, name) == expected_value(name, value), name
    assert read.decode_errors == {}, read.decode_errors
    assert not [c for c in card.unanswered if c[1] not in (0x20, 0x88)], card.unanswered


@pytest.mark.parametrize("path", _card_traces(), ids=lambda p: p.name)
def test_a_real_card_fails_no_check_it_can_be_judged_on(path: Path) -> None:
    trace = load(path)
    _, read, _ = _read(trace)
    report = evaluate(read, today=TODAY, sam_present=False)
    shown = trace.shown
    judged = {name for name, inputs in CHECK_INPUTS.items() if inputs <= shown}
    failed = set(report.failed) & judged
    defect = _defect(trace)
    expected, why = defect if defect is not None else (set(), "")
    assert failed == expected, (why, report.to_json())
    assert report.by_name("genuine").status == "skip"  # never judged from a trace


@pytest.mark.parametrize("path", _card_traces(), ids=lambda p: p.name)
def test_the_read_costs_one_probe_then_by_tag(path: Path) -> None:
    """No source shows READ RECORD P2 = 05: the probe is refused (6A86), the model remembered."""
    from terminal.reading import MULTI_RECORD_REFUSALS

    _, read, _ = _read(load(path))
    assert len(MULTI_RECORD_REFUSALS) == 1
    _, again, _ = _read(load(path))
    assert again.apdus == read.apdus - 1


def test_the_real_gpo_answers_parse() -> None:
    """The bank application's GET PROCESSING OPTIONS answers in both formats (data lines)."""
    samples = [p for p in TRACES if p.name.startswith("z390-bank-gpo")]
    seen = 0
    for path in samples:
        for line in load(path).headers.get("data", []):
            if not line.startswith("format"):
                continue
            raw = bytes.fromhex(line.split(":", 1)[1].split("(")[0].replace(" ", ""))
            assert raw[-2:] == b"\x90\x00"
            options = parse_gpo(raw[:-2])
            assert len(options.aip) == 2 and options.afl
            seen += 1
    assert seen == 2 * len(samples)


def test_the_hangzhou_1_00_trace_replays_exactly_where_it_can() -> None:
    """The one complete real trace: SELECT 61 18 + GET RESPONSE, the card id read by tag with
    the exact Le the source used, the 0x20-padded name."""
    path = next((p for p in TRACES if p.name.startswith("hangzhou-1.00")), None)
    assert path is not None
    card, read, _ = _read(load(path))
    assert read.generation == 1 and read.algorithm.name == "DES"
    assert read.holder is not None and read.holder.name == "戴赛崖"
    assert read.historical_bytes.hex().upper() == "0081008843866533010114F199"
    report = evaluate(read, today=TODAY, sam_present=False)
    assert report.by_name("ssn_area").status == "warn"
    assert "historical code (valid 1989–1994)" in report.by_name("ssn_area").detail
