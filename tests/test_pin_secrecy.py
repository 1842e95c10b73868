"""PINs leak nowhere (issue 5 acceptance; card-profile §6; lessons-from-peers "PINs leak").

Every PIN command and both workflows run with the distinctive PIN 480913 (new PIN 739251), in
process and through the CLI.  Everything a user or an operator could see is captured: log records
of every logger at DEBUG (message and arguments), the APDU trace (``--trace`` on stderr, and the
redacting tracers of :mod:`drivers.trace` in process), stdout, stderr, exception texts and reprs,
and the reprs of every result object.  Neither PIN may appear as text, as its BCD bytes in hex
(``480913``, ``48 09 13``), nor as its ASCII bytes in hex.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from apdu import status
from apdu.errors import SSCardError
from drivers.trace import LogTracer, RecordingTracer, StreamTracer
from terminal import pin as pinops
from terminal.bankhost import LoopbackBankHost
from terminal.pinsource import ListPinSource, StdinPinSource
from tests.helpers_pin import (
    DISTINCTIVE_NEW,
    DISTINCTIVE_PIN,
    bench,
    card_file,
    psam_file,
    run_cli,
)

SECRETS = (DISTINCTIVE_PIN, DISTINCTIVE_NEW)
NEW = DISTINCTIVE_NEW


def _forms(pin: str) -> list[str]:
    pairs = [pin[i : i + 2] for i in range(0, len(pin), 2)]
    ascii_hex = pin.encode().hex()
    return [
        pin,  # text, and the BCD bytes as unbroken hex (the same digits)
        " ".join(pairs),  # BCD bytes as spaced hex
        ":".join(pairs),
        ascii_hex,  # the ASCII digits as hex
        " ".join(ascii_hex[i : i + 2] for i in range(0, len(ascii_hex), 2)),
    ]


FORBIDDEN = [form for pin in SECRETS for form in _forms(pin)]


def assert_clean(text: str, where: str) -> None:
    squeezed = text.lower()
    for form in FORBIDDEN:
        assert form.lower() not in squeezed, f"a PIN form {form!r} leaked into {where}"
    # BCD hex with any separator the tracers might use between bytes
    for pin in SECRETS:
        pairs = [pin[i : i + 2] for i in range(0, len(pin), 2)]
        pattern = r"[^0-9a-f]?".join(pairs)
        assert not re.search(pattern, squeezed), f"a PIN leaked into {where}"


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Everything seen; checked at the end of the test, after every log record is in."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    seen: list[str] = []
    yield seen
    for record in caplog.records:
        seen.append(record.getMessage())
        seen.append(repr(record.args))
    assert seen, "nothing was captured: the test did not run anything"
    for i, text in enumerate(seen):
        assert_clean(text, f"capture #{i}")


def _tracers() -> tuple[RecordingTracer, io.StringIO, object]:
    stream = io.StringIO()
    recording = RecordingTracer()

    class Both:
        def exchange(self, command: bytes, response: bytes, seconds: float) -> None:
            recording.exchange(command, response, seconds)
            StreamTracer(stream).exchange(command, response, seconds)
            LogTracer(logging.getLogger("sscard.apdu")).exchange(command, response, seconds)

    return recording, stream, Both()


# --- in process: the Python API -----------------------------------------------------------------


@pytest.mark.parametrize("generation", [2, 3])
def test_pin_operations_in_process(captured: list[str], generation: int) -> None:
    recording, stream, tracer = _tracers()
    with bench(generation, pin=DISTINCTIVE_PIN, pin_tries=3) as b:
        b.session.channel.tracer = tracer  # type: ignore[assignment]
        results: list[object] = []
        for attempt in (b"480914", b"480914", b"480914", DISTINCTIVE_PIN.encode()):
            try:
                results.append(pinops.verify(b.session, ListPinSource([attempt])))
            except SSCardError as exc:
                captured += [str(exc), repr(exc), pinops.explain(exc)]
        results.append(pinops.unblock(b.session))
        results.append(pinops.verify(b.session, DISTINCTIVE_PIN))
        results.append(pinops.change(b.session, DISTINCTIVE_PIN, DISTINCTIVE_NEW))
        results.append(pinops.reset(b.session, bytearray(DISTINCTIVE_PIN.encode())))
        for weak in (DISTINCTIVE_PIN, "111111"):
            try:
                pinops.change(b.session, DISTINCTIVE_PIN, weak, new_again=DISTINCTIVE_NEW)
            except SSCardError as exc:
                captured += [str(exc), repr(exc)]
        captured += [repr(r) for r in results]
        captured += [repr(b.session), repr(b.session.sam), repr(b.card)]
    captured.append(stream.getvalue())
    captured.append(json.dumps(recording.to_json()))
    assert "redacted" in stream.getvalue()


def test_pin_sources_and_errors_hold_no_pin(captured: list[str]) -> None:
    source = StdinPinSource(io.StringIO(f"{DISTINCTIVE_PIN}\n{DISTINCTIVE_NEW}\n480914\n"))
    captured.append(repr(source))
    pin = source.get("PIN")
    captured.append(repr(source))
    try:
        source.get("new PIN", confirm=True)
    except SSCardError as exc:
        captured += [str(exc), repr(exc)]
    assert pin == bytearray(DISTINCTIVE_PIN.encode())


# --- the CLI: every PIN command and both workflows ----------------------------------------------


def _cli(captured: list[str], args: list[str], stdin: str = "") -> int:
    result = run_cli([*args, "--trace"], stdin)
    captured += [result.stdout, result.stderr]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        captured += [str(result.exception), repr(result.exception)]
    return result.exit_code


def test_pin_commands_through_the_cli(captured: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    card = str(card_file(tmp_path / "card.json", 3, pin=DISTINCTIVE_PIN, pin_tries=3))
    psam = str(psam_file(tmp_path / "psam.json", 3))
    sim = ["--sim", card, "--pin-stdin"]
    p, n = DISTINCTIVE_PIN, DISTINCTIVE_NEW
    runs: list[tuple[list[str], str, int]] = [
        (["pin", "status", "--sim", card], "", 0),
        (["pin", "verify", *sim], f"{p}\n", 0),
        (["pin", "verify", *sim, "--json"], "480914\n", 1),
        (["pin", "change", *sim], f"{p}\n{n}\n739250\n", 1),  # mismatch
        (["pin", "change", *sim], f"{p}\n{p}\n{p}\n", 1),  # same as old
        (["pin", "change", *sim], f"480914\n{n}\n{n}\n", 1),  # wrong old PIN
        (["pin", "change", *sim, "--json"], f"{p}\n{n}\n{n}\n", 0),
        (["pin", "verify", *sim], "480914\n", 1),
        (["pin", "verify", *sim], "480914\n", 1),
        (["pin", "verify", *sim], "480914\n", 1),  # now blocked
        (["pin", "verify", *sim], f"{n}\n", 1),  # blocked: not tried
        (["pin", "unblock", "--sim", card, "--psam", psam], "", 0),
        (["pin", "reset", *sim, "--psam", psam], f"{p}\n{p}\n", 0),
        (["pin", "verify", *sim], f"{p}\n", 0),
    ]
    for args, stdin, code in runs:
        assert _cli(captured, args, stdin) == code, args


def test_workflows_through_the_cli(captured: list[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    from simulator.samples import sample_personalisation

    holder = sample_personalisation(3).holder
    card = str(card_file(tmp_path / "card.json", 3, pin=DISTINCTIVE_PIN))
    sim = ["--sim", card, "--pin-stdin"]
    assert _cli(captured, ["pharmacy", *sim], "480914\n") == 1
    assert _cli(captured, ["pharmacy", *sim, "--json"], f"{DISTINCTIVE_PIN}\n") == 0
    who = ["--name", holder.name, "--id-number", holder.ssn]
    # bank PIN = the new PIN, social security PIN changed from 480913 to 739251
    stdin = f"{DISTINCTIVE_NEW}\n{DISTINCTIVE_NEW}\n{DISTINCTIVE_PIN}\n{DISTINCTIVE_NEW}\n"
    assert _cli(captured, ["activate", *sim, *who], stdin + f"{DISTINCTIVE_NEW}\n") == 0
    assert _cli(captured, ["pharmacy", *sim], f"{DISTINCTIVE_NEW}\n") == 0
    card4 = str(card_file(tmp_path / "card4.json", 2, pin=DISTINCTIVE_PIN))
    sim4 = ["--sim", card4, "--pin-stdin", "--format", "4", "--json"]
    assert _cli(captured, ["activate", *sim4, *who], stdin + "739250\n") == 1  # mismatch


def test_activation_in_process(captured: list[str]) -> None:
    from simulator.samples import sample_personalisation
    from terminal.workflows.activation import activate
    from terminal.workflows.pharmacy import pharmacy

    recording, stream, tracer = _tracers()
    host = LoopbackBankHost()
    with bench(3, pin=DISTINCTIVE_PIN) as b:
        b.session.channel.tracer = tracer  # type: ignore[assignment]
        holder = sample_personalisation(3).holder
        try:
            pharmacy(b.session, ListPinSource(["480914"]))
        except status.WrongPin as exc:
            captured += [str(exc), repr(exc)]
        result = activate(
            b.session,
            clerk_name=holder.name,
            clerk_id_number=holder.ssn,
            pin_source=ListPinSource([NEW, NEW, DISTINCTIVE_PIN, NEW, NEW]),
            bank_host=host,
        )
        captured += [repr(result), json.dumps(result.to_json(), default=str)]
    captured += [repr(host), repr(host.requests), stream.getvalue()]
    captured.append(json.dumps(recording.to_json()))
    assert host.decrypt(host.requests[0]) == bytearray(DISTINCTIVE_NEW.encode())
