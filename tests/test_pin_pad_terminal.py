"""The terminal's PIN paths on a PIN-pad reader, in-process (issue 13, terminal part).

The reader is the simulator's in-process slot with PIN-pad firmware and a scripted keypad (the
simulated holder's fingers); the card is wrapped in a RecordingCard, so what the card *received*
is read on the card's side.  The terminal side (``terminal.open_card(pin_pad=...)``, the PIN
operations, both workflows) only ever hands the pad templates: its PIN source yields no digit.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import terminal
from apdu.errors import (
    CardRemovedError,
    ControlNotSupported,
    PinEntryCancelled,
    PinEntryMismatch,
    PinEntryTimeout,
    PinLengthError,
    PolicyError,
    UsageError,
)
from apdu.status import WrongPin
from drivers.simulated import SimulatedReader
from drivers.trace import RecordingTracer, StreamTracer
from simulator.pinpad import PadConfig, PinPadFirmware, ScriptedKeypad
from simulator.samples import sample_card, sample_personalisation
from terminal.bankhost import LoopbackBankHost
from terminal.card import Card
from terminal.pinpolicy import PinPolicy
from terminal.pinsource import ListPinSource, PinPadPinSource
from terminal.workflows.pharmacy import INITIAL_PIN_UNCHECKED
from tests.helpers_checks import TODAY
from tests.helpers_pinpad import RecordingCard, press

VERIFY_123456 = bytes.fromhex("0020000003123456")


def pin_commands(received: list[bytes]) -> list[bytes]:
    """The PIN-carrying commands among ``received`` (VERIFY with data, CHANGE PIN)."""
    return [c for c in received if (c[1] == 0x20 and len(c) > 4) or c[1] == 0x5E]


class Untouchable:
    """A host PIN source that fails the test if anything asks it for a PIN."""

    def get(self, prompt: str, *, confirm: bool = False) -> bytearray:
        raise AssertionError(f"the host was asked for the {prompt} on the pad path")


@dataclass
class Pad:
    keypad: ScriptedKeypad
    card: RecordingCard
    reader: SimulatedReader

    def type(self, *entries: str) -> None:
        press(self.keypad, *entries)



def tries(card: terminal.Card) -> int | None:
    """The card's try counter (the empty VERIFY, no try used), read through the same card."""
    return card.pin.status().tries_left


def make_pad(config: PadConfig | None = None) -> Pad:
    keypad = ScriptedKeypad()
    card = RecordingCard(sample_card(3))
    reader = SimulatedReader(card, pin_pad=PinPadFirmware(keypad, config))  # type: ignore[arg-type]
    return Pad(keypad, card, reader)


@pytest.fixture
def pad() -> Iterator[Pad]:
    p = make_pad()
    yield p
    assert p.keypad.pending == 0, "a test left keypad entries"


def opened(pad: Pad, **kwargs: object) -> terminal.Card:
    return terminal.open_card(reader=pad.reader, sam="test", today=TODAY, **kwargs)  # type: ignore[arg-type, return-value]


# --- the bytes the card receives ----------------------------------------------------------------


def test_verify_on_the_pad_reaches_the_card_as_exactly_the_bcd_pin(pad: Pad) -> None:
    pad.type("123456")
    with opened(pad) as card:  # pin_pad="auto": the reader has the pad
        mark = len(pad.card.received)
        result = card.pin.verify(Untouchable())
        assert result.verified and card.session.pin_verified
    assert pin_commands(pad.card.since(mark)) == [VERIFY_123456]
    assert pad.card.since(mark)[-1] == VERIFY_123456  # after the status query, nothing else


def test_change_on_the_pad_is_old_ff_new(pad: Pad) -> None:
    pad.type("123456", "739251", "739251", "739251", "123456", "123456")
    with opened(pad, pin_pad="on") as card:
        mark = len(pad.card.received)
        assert card.pin.change(Untouchable()).operation == "change"
        card.pin.change()  # no host source at all: the pad is the entry
        assert tries(card) == 6
    assert pin_commands(pad.card.since(mark)) == [
        bytes.fromhex("805E010007123456FF739251"),
        bytes.fromhex("805E010007739251FF123456"),
    ]


def test_a_wrong_pin_on_the_pad_is_the_cards_refusal_with_the_tries_left(pad: Pad) -> None:
    pad.type("000111", "123456")
    with opened(pad) as card:
        with pytest.raises(WrongPin) as info:
            card.pin.verify()
        assert info.value.tries_left == 5 and not card.session.pin_verified
        card.pin.verify()  # the holder's decision to try again; the right PIN restores
        assert tries(card) == 6


# --- the pad's own results ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "operation", "error"),
    [
        (["cancel"], "verify", PinEntryCancelled),
        (["timeout"], "verify", PinEntryTimeout),
        (["123456", "cancel"], "change", PinEntryCancelled),
        (["123456", "739251", "739250"], "change", PinEntryMismatch),
        (["12345"], "verify", PinLengthError),
    ],
    ids=["cancel", "timeout", "cancel-in-change", "mismatch", "length"],
)
def test_the_pads_results_are_typed_and_the_card_receives_nothing(
    pad: Pad, entries: list[str], operation: str, error: type[Exception]
) -> None:
    pad.type(*entries)
    with opened(pad) as card:
        mark = len(pad.card.received)
        with pytest.raises(error) as info:
            getattr(card.pin, operation)()
        assert info.value.exit_code == 1  # type: ignore[attr-defined]
        assert tries(card) == 6  # no try used
    assert pin_commands(pad.card.since(mark)) == []


def test_cancel_says_cancelled() -> None:
    p = make_pad()
    p.type("cancel")
    with opened(p) as card, pytest.raises(PinEntryCancelled, match="cancel"):
        card.pin.verify()


# --- choosing the pad ---------------------------------------------------------------------------


def test_off_types_on_the_host_even_with_a_pad(pad: Pad) -> None:
    with opened(pad, pin_pad="off") as card:
        assert card.pin_pad is None
        assert card.pin.verify(ListPinSource(["123456"])).verified
    assert pad.keypad.pending == 0 and pin_commands(pad.card.received) == [VERIFY_123456]


def test_auto_on_a_reader_without_a_pad_is_the_host_entry() -> None:
    with terminal.open_card(sim=True, today=TODAY) as card:
        assert card.pin_pad is None
        source = ListPinSource(["123456"])
        assert card.pin_source(source) is source
        assert card.pin.verify(source).verified


def test_on_without_a_pad_is_a_clear_error_before_anything_is_sent() -> None:
    with terminal.open_card(sim=True, pin_pad="on") as card:
        for _ in range(2):  # asked again: still refused, never a quiet fallback to the host
            with pytest.raises(ControlNotSupported, match="has no PIN pad"):
                card.pin.verify(ListPinSource(["123456"]))
        assert card.apdus == 0


def test_on_refuses_digits_passed_in(pad: Pad) -> None:
    with opened(pad, pin_pad="on") as card, pytest.raises(UsageError, match="typed on the PIN"):
        card.pin.verify(b"123456")


def test_a_bad_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="pin_pad"):
        with terminal.open_card(sim=True, pin_pad="yes"):  # type: ignore[arg-type]
            pass


def test_auto_does_not_use_a_pad_that_cannot_take_the_length() -> None:
    p = make_pad(PadConfig(min_pin=8, max_pin=12))
    with opened(p) as card:
        assert card.pin_pad is None  # auto: the 6-digit deployment stays on the host
    with opened(p, pin_pad="on") as card, pytest.raises(PinLengthError, match="8 to 12"):
        card.pin.verify()  # on: the pad is used, and refuses the length before asking


def test_a_policy_length_the_pad_refuses_is_refused_before_anything_is_sent() -> None:
    p = make_pad(PadConfig(min_pin=4, max_pin=8))
    with opened(p) as card:
        mark = len(p.card.received)
        with pytest.raises(PinLengthError, match="4 to 8"):
            card.pin.change(policy=PinPolicy(length=10))
        with pytest.raises(PolicyError, match="outside the policy"):
            card.pin.change(policy=PinPolicy(length=None, min_length=7, max_length=8))
    assert p.card.since(mark) == []


def test_the_birth_date_rule_on_a_pad_is_refused_not_skipped(pad: Pad) -> None:
    with opened(pad) as card:
        mark = len(pad.card.received)
        with pytest.raises(UsageError, match="birth-date rule"):
            card.pin.change(policy=PinPolicy(forbid_birth_date=True))
    assert pad.card.since(mark) == []


def test_a_card_pulled_out_during_pad_entry_ends_what_the_session_knew(pad: Pad) -> None:
    pad.type("123456")
    with opened(pad) as card:
        card.pin.verify()
        assert card.session.pin_verified and card.session.selected == "SSSE"
        source = card.pin_source(None)
        assert isinstance(source, PinPadPinSource)
        pad.reader.remove()
        with pytest.raises(CardRemovedError):
            source.verify()
        assert not card.session.pin_verified and card.session.selected is None


def test_the_pin_source_never_yields_a_digit(pad: Pad) -> None:
    with opened(pad) as card:
        source = card.pin_source(None)
        assert isinstance(source, PinPadPinSource)
        for confirm in (False, True):
            with pytest.raises(UsageError, match="typed on the PIN pad"):
                source.get("social security PIN", confirm=confirm)
        assert "123456" not in repr(source) and "digits" in repr(source)


# --- the workflows ------------------------------------------------------------------------------


def test_pharmacy_on_the_pad_says_the_initial_pin_rule_could_not_run(pad: Pad) -> None:
    pad.type("123456")
    with opened(pad) as card:
        result = card.pharmacy(Untouchable())  # type: ignore[arg-type]
    assert result.pin == "verified" and result.medical_area_code
    assert INITIAL_PIN_UNCHECKED in result.notes  # never implied to have been checked
    assert pin_commands(pad.card.received) == [VERIFY_123456]


def test_activation_changes_the_ss_pin_on_the_pad_and_takes_the_bank_pin_from_the_host(
    pad: Pad,
) -> None:
    holder = sample_personalisation(3).holder
    bank = ListPinSource(["582047", "582047"])  # the bank PIN: a part 10 pad cannot block it
    pad.type("123456", "739251", "739251")
    with opened(pad) as card:
        result = card.activate(clerk_name=holder.name, clerk_id_number=holder.ssn,
                               pin_source=bank)
    assert result.activated and result.ss_pin_changed and bank.remaining == 0
    assert pin_commands(pad.card.received) == [bytes.fromhex("805E010007123456FF739251")]


def test_reset_takes_the_new_pin_from_the_host(pad: Pad) -> None:
    with opened(pad) as card:
        source = card.pin_source(ListPinSource(["739251", "739251"]))
        assert isinstance(source, PinPadPinSource)
        assert card.pin.reset(source).operation == "reset"  # the SAM encrypts it: host entry
        with pytest.raises(UsageError, match="cannot be typed on a PC/SC PIN pad"):
            card.pin.reset(card.pin_source(None))


# --- no digit on the terminal side --------------------------------------------------------------


def test_traces_and_logs_hold_only_templates(pad: Pad, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stream, recorder = io.StringIO(), RecordingTracer()

    class Both:
        def exchange(self, *a: object) -> None:
            StreamTracer(stream).exchange(*a)  # type: ignore[arg-type]
            recorder.exchange(*a)  # type: ignore[arg-type]

        def control(self, *a: object) -> None:
            StreamTracer(stream).control(*a)  # type: ignore[arg-type]
            recorder.control(*a)  # type: ignore[arg-type]

    pad.type("123456", "480913", "480913", "480914", "480913", "123456", "123456")
    errors = []
    with opened(pad, trace=Both()) as card:
        card.pin.change()
        with pytest.raises(WrongPin) as wrong:
            card.pin.verify()
        errors.append(f"{wrong.value} {wrong.value!r} {card!r} {card.session!r}")
        card.pin.change()
    host_side = "\n".join([stream.getvalue(), caplog.text, *errors, str(recorder.to_json())])
    assert "VERIFY_PIN_DIRECT" in host_side and "MODIFY_PIN_DIRECT" in host_side
    for secret in ("480913", "48 09 13", "480914", "48 09 14"):
        assert secret not in host_side.upper().replace("0X", "")
    assert bytes.fromhex("0020000003480914") in pad.card.received  # the card did get them


def test_card_repr_and_result_are_free_of_pin_data(pad: Pad) -> None:
    pad.type("123456")
    with opened(pad) as card:
        result = card.pin.verify()
        text = f"{card!r} {result!r} {result.to_json()} {card.pin_source(None)!r}"
    assert "123456" not in text and isinstance(card, Card)


# --- the README's example ---------------------------------------------------------------------


def test_the_readme_pin_pad_example_runs() -> None:
    import contextlib
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(from drivers.simulated import SimulatedReader\n.*?)```",
                        readme, re.S)
    assert len(blocks) == 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102
    assert out.getvalue().split() == ["verified"]


# --- the national mapping and the service's setting -------------------------------------------


@pytest.mark.parametrize(
    ("sw", "code"),
    [(0x6401, -31), (0x6400, -32), (0x6403, -33), (0x6402, -34), (0x6B80, -13)],
)
def test_the_pads_results_are_the_national_pin_entry_codes(sw: int, code: int) -> None:
    from apdu import part10
    from terminal.national.codes import outcome_of

    error = part10.reader_error(sw)
    assert error is not None
    found, text = outcome_of(error)
    assert found == code and text


def test_a_reader_without_the_pad_is_minus_13() -> None:
    from terminal.national.codes import outcome_of

    assert outcome_of(ControlNotSupported("no pad"))[0] == -13


def test_the_service_configuration_names_the_pad() -> None:
    from terminal.service.config import parse_config

    config = parse_config({"reader": {"pcsc": "sscard PIN pad 00 00"},
                           "pin": {"entry": "pad", "pad_length": 8}})
    national = config.national_config()
    assert national.pin_entry == "pad" and national.pad_length == 8
    for bad in (3, 17):
        with pytest.raises(UsageError, match="pin.pad_length"):
            parse_config({"reader": {"pcsc": "R"}, "pin": {"pad_length": bad}})


def test_application_files_that_need_the_pin_take_it_on_the_pad(pad: Pad) -> None:
    """``card.read_files`` with a PIN source on a pad reader: ONE VERIFY, its digits typed on the
    pad (the host source is never asked), and the PIN-only transaction log is opened."""
    pad.type("123456")
    with opened(pad) as card:
        mark = len(pad.card.received)
        found = card.read_files("DF04", pin=Untouchable())
    assert pin_commands(pad.card.since(mark)) == [VERIFY_123456]
    assert not found.failed
    assert any(r.path == "DF04/EF08" and "PIN" in r.opened_with for r in found.files)


def test_activation_on_the_pad_refuses_a_digit_rule_before_the_bank_pin_is_set(pad: Pad) -> None:
    """A rule the pad cannot apply (the birth date, asked for explicitly) stops the activation
    before anything irreversible: no bank PIN asked or sent to the bank host, no card PIN."""
    holder = sample_personalisation(3).holder
    host = LoopbackBankHost()
    with opened(pad) as card:
        with pytest.raises(UsageError, match="birth-date rule"):
            card.activate(clerk_name=holder.name, clerk_id_number=holder.ssn,
                          pin_source=Untouchable(), bank_host=host,
                          pin_policy=PinPolicy(forbid_birth_date=True))
    assert host.requests == []
    assert pin_commands(pad.card.received) == []
