"""The new-PIN policy and PIN entry (card-profile §6): refused before anything reaches the card.

A wrong old PIN burns a try, so a weak or mistyped new PIN must be refused by the terminal with
no APDU at all: the tests check the channel's APDU count and the card's own counter (read through
a separate channel with the empty VERIFY).
"""

from __future__ import annotations

import datetime as dt
import io

import pytest

from apdu.errors import PolicyError, UsageError
from terminal import pin as pinops
from terminal.pinpolicy import PinPolicy, birth_date_forms, is_trivial
from terminal.pinsource import (
    ListPinSource,
    PinSource,
    PromptPinSource,
    StdinPinSource,
    held,
    wipe,
)
from tests.helpers_pin import DISTINCTIVE_NEW, DISTINCTIVE_PIN, INITIAL, bench

BIRTH = dt.date(1990, 7, 15)

# --- the rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "again", "reason"),
    [
        ("73925a", "73925a", "digits"),
        ("７３９２５１", "７３９２５１", "digits"),  # full-width digits are not ASCII digits
        ("73925", "73925", "6 digits"),
        ("7392514", "7392514", "6 digits"),
        ("739251", "739252", "do not match"),
        ("123456", "123456", "initial"),
        ("000000", "000000", "too simple"),
        ("111111", "111111", "too simple"),
        ("654321", "654321", "too simple"),
        ("012345", "012345", "too simple"),
        ("890123", "890123", "too simple"),
        ("480913", "480913", "differ from the current"),
    ],
)
def test_weak_or_mismatched_new_pins_are_refused(new: str, again: str, reason: str) -> None:
    with pytest.raises(PolicyError) as info:
        PinPolicy().check(DISTINCTIVE_PIN.encode(), new.encode(), again.encode())
    message = str(info.value)
    assert reason in message
    for secret in {new, again, DISTINCTIVE_PIN}:
        assert secret not in message


def test_a_good_new_pin_passes() -> None:
    PinPolicy().check(b"480913", b"739251", b"739251")
    PinPolicy().check(bytearray(b"480913"), "739251")  # str and bytearray are accepted too


def test_length_is_configurable_within_the_card_limits() -> None:
    free = PinPolicy(length=None, min_length=4, max_length=8)
    free.check(b"480913", b"7392", b"7392")
    free.check(b"480913", b"73925184", None)
    with pytest.raises(PolicyError, match="4 to 8 digits"):
        free.check(b"480913", b"739251840", None)
    PinPolicy(length=4).check(b"480913", b"7392", None)
    bad_configs = (
        {"length": 3},
        {"length": 17},
        {"min_length": 2},
        {"min_length": 9, "max_length": 8},
    )
    for bad in bad_configs:
        with pytest.raises(UsageError):
            PinPolicy(**bad)  # type: ignore[arg-type]


def test_initial_and_trivial_rules_can_be_switched_off() -> None:
    PinPolicy(forbid_initial=False, forbid_trivial=False).check(b"480913", b"123456")
    PinPolicy(forbid_trivial=False).check(b"480913", b"111111")


def test_the_old_pin_must_have_the_card_format() -> None:
    with pytest.raises(PolicyError, match="current PIN"):
        PinPolicy().check(b"48a913", b"739251")
    with pytest.raises(PolicyError, match="current PIN"):
        PinPolicy().check(b"480", b"739251")


@pytest.mark.parametrize("form", ["900715", "150790", "071590"])
def test_birth_date_forms_are_refused_when_asked(form: str) -> None:
    PinPolicy().check(b"480913", form.encode(), birth_date=BIRTH)  # off by default
    with pytest.raises(PolicyError, match="birth date"):
        PinPolicy(forbid_birth_date=True).check(b"480913", form.encode(), birth_date=BIRTH)


def test_birth_date_forms_documented() -> None:
    assert birth_date_forms(BIRTH) == {
        b"19900715", b"900715", b"150790", b"071590", b"0715", b"1507", b"1990"
    }
    with pytest.raises(PolicyError):
        PinPolicy(length=8, forbid_birth_date=True).check(b"480913", b"19900715", None, BIRTH)
    with pytest.raises(PolicyError):
        PinPolicy(length=4, forbid_birth_date=True).check(b"480913", b"0715", None, BIRTH)


def test_trivial_detection() -> None:
    assert all(is_trivial(p) for p in (b"999999", b"345678", b"987654", b"901234", b"5555"))
    assert not any(is_trivial(p) for p in (b"739251", b"112233", b"121212", b"135790"))


def test_policy_repr_holds_no_pin() -> None:
    assert INITIAL not in repr(PinPolicy())


# --- PIN entry ----------------------------------------------------------------------------------


def test_stdin_source_gives_one_pin_per_line_in_order() -> None:
    source = StdinPinSource(io.StringIO("480913\n739251\r\n739251\n"))
    assert isinstance(source, PinSource)
    assert source.get("current PIN") == bytearray(b"480913")
    assert source.get("new PIN", confirm=True) == bytearray(b"739251")
    with pytest.raises(UsageError, match="line 4"):
        source.get("PIN")
    assert "480913" not in repr(source)


def test_stdin_source_refuses_two_different_entries() -> None:
    source = StdinPinSource(io.StringIO("739251\n739252\n"))
    with pytest.raises(PolicyError, match="do not match") as info:
        source.get("new PIN", confirm=True)
    assert "73925" not in str(info.value)


def test_stdin_source_missing_repetition_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        StdinPinSource(io.StringIO("739251\n")).get("new PIN", confirm=True)


def test_prompt_source_asks_twice_without_echo() -> None:
    asked: list[tuple[str, dict[str, object]]] = []
    answers = iter(["739251", "739251", "480913"])

    def fake_prompt(text: str, **kwargs: object) -> str:
        asked.append((text, kwargs))
        return next(answers)

    source = PromptPinSource(prompt_func=fake_prompt)
    assert source.get("new PIN", confirm=True) == bytearray(b"739251")
    assert source.get("PIN") == bytearray(b"480913")
    assert len(asked) == 3
    assert all(kw["hide_input"] is True and kw["err"] is True for _, kw in asked)
    assert "again" in asked[1][0]


def test_list_source_and_wiping() -> None:
    source = ListPinSource(["480913"])
    with held(source.get("PIN")) as pin:
        kept = pin
        assert pin == bytearray(b"480913")
    assert kept == bytearray(6)
    with pytest.raises(UsageError):
        source.get("PIN")
    buf = bytearray(b"739251")
    wipe(buf, None)
    assert buf == bytearray(6)


# --- nothing reaches the card -------------------------------------------------------------------


@pytest.mark.parametrize("generation", [2, 3])
@pytest.mark.parametrize(
    ("new", "again"),
    [("111111", "111111"), ("123456", "123456"), ("73925", "73925"), ("739251", "739215")],
)
def test_refused_change_sends_no_apdu(generation: int, new: str, again: str) -> None:
    with bench(generation) as b:
        before = b.observe()
        count = b.channel.apdu_count
        with pytest.raises(PolicyError):
            pinops.change(b.session, INITIAL.encode(), new.encode(), new_again=again.encode())
        assert b.channel.apdu_count == count
        assert b.observe() == before
        assert before.tries_left is not None


def test_refused_change_through_a_source_sends_no_apdu() -> None:
    with bench(3) as b:
        count = b.channel.apdu_count
        source = StdinPinSource(io.StringIO(f"{INITIAL}\n{DISTINCTIVE_NEW}\n739250\n"))
        with pytest.raises(PolicyError, match="do not match"):
            pinops.change(b.session, source, source)
        assert b.channel.apdu_count == count


def test_malformed_pin_to_verify_sends_no_verify() -> None:
    with bench(3) as b:
        before = b.observe()
        with pytest.raises(PolicyError):
            pinops.verify(b.session, b"12")  # would be a short BCD block, never sent
        # only the SELECT and the status query went out; the counter is untouched
        assert b.channel.apdu_count == 3  # SELECT (+ GET RESPONSE: T=0), status query
        assert b.observe() == before
