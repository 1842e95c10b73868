"""Fuzzing the terminal: hostile card answers give a result or one of OUR typed errors (issue 6 §3).

OpenSC's CVEs are out-of-bounds reads while parsing what a card returned; sscard treats every
length a card returns as hostile (lessons-from-peers, "Untrusted cards").  Each target below feeds
random or mutated answers to one terminal-side parser and accepts only a result or an
:class:`apdu.errors.SSCardError` - never IndexError, ValueError, UnicodeError, KeyError,
pydantic's ValidationError, AssertionError, ...

Targets:

- ``fci``: SSSE FCI bytes -> :func:`terminal.session.parse_ssse_fci` and ``select_ssse``;
- ``tlv`` / ``codec`` / ``atr``: SIMPLE- and BER-TLV, an/cn/date/PIN codecs, ATR parsing,
  response APDUs;
- ``bank``: bank records -> :func:`terminal.bank.parse_bank_record` / ``read_bank_record``;
- workflows (``read``, ``check``, ``status``, ``verify``, ``change``, ``unblock``, ``reset``,
  ``pharmacy``, ``activation``): a real exchange with the simulator is recorded once, then each
  example replays it MUTATED (answers kept, replaced by random bytes, data bytes flipped,
  truncated, status words swapped, extra answers) through
  :meth:`drivers.replay.ReplayReader.from_responses` - so the fuzzer reaches deep steps;
- ``psam``: the PSAM's answers, mutated the same way, to :class:`terminal.sam.psam.PsamSam`;
- ``vpcd``: a random byte stream on the simulator's vpcd connection: the server never raises
  anything but OSError and every frame it sends back is well formed.

Examples: ``SSCARD_FUZZ_EXAMPLES`` is the TOTAL for this module, shared evenly by its
:data:`TARGETS` targets (``make fuzz`` sets 200000: 8000 per target); unset, each target runs 300.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apdu import atr as atr_mod
from apdu import codec, tlv
from apdu.crypto import Algorithm, Diversification
from apdu.errors import SSCardError
from apdu.response import ResponseAPDU
from drivers.base import Protocol, Reader
from drivers.channel import CardChannel
from drivers.replay import ReplayReader
from drivers.simulated import SimulatedReader
from simulator.psam import Psam
from simulator.samples import sample_card, sample_personalisation
from simulator.vpcd import VpcdServer
from terminal import pin as pinops
from terminal.bank import parse_bank_record, read_bank_record
from terminal.bankhost import LoopbackBankHost
from terminal.inspect import inspect_card
from terminal.pinsource import ListPinSource
from terminal.policy import SalePolicy
from terminal.reading import read_card
from terminal.sam.psam import PsamSam
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession, parse_ssse_fci
from terminal.workflows.activation import activate
from terminal.workflows.pharmacy import pharmacy

#: tlv, codec, fci, bank, vpcd + 9 workflows x 2 cards + 2 PSAMs.
TARGETS = 25
_TOTAL = os.environ.get("SSCARD_FUZZ_EXAMPLES")
EXAMPLES = max(50, int(_TOTAL) // TARGETS) if _TOTAL else 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TODAY = dt.date(2026, 1, 1)
#: these runs are about faults, not the counter's policy: the initial PIN may verify a sale.
ACCEPT_INITIAL = SalePolicy(refuse_initial_pin=False)
INITIAL, NEW, NEW_BANK = "123456", "739251", "864209"
ATR_T1 = atr_mod.build_ssc_atr(bytes.fromhex("01020304050607330100000042"), "T1")

#: status words a terminal branches on: success, T=0 chaining, wrong Le, PIN counters, access.
INTERESTING_SW = [
    0x9000, 0x6100, 0x6102, 0x61FF, 0x6C00, 0x6C01, 0x6C20, 0x63C0, 0x63C1, 0x63C5, 0x63CF,
    0x6300, 0x6983, 0x6982, 0x6A83, 0x6A82, 0x6A81, 0x9303, 0x6985, 0x6F00, 0x6700, 0x6D00,
    0x6E00, 0x9302, 0x6984, 0x6A88, 0x6B00, 0x6281,
]


def only_ours(action: Callable[[], object]) -> None:
    """Run ``action``; a result or an SSCardError is fine, anything else fails the example."""
    try:
        action()
    except SSCardError:
        pass


# --- pure parsers --------------------------------------------------------------------------------

ber_like = st.one_of(
    st.binary(max_size=300),
    # a plausible head (FCI / template tags) followed by random bytes: reaches the nested levels
    st.tuples(
        st.sampled_from([b"\x6f", b"\x70", b"\xa5", b"\x84", b"\x9f\x0c", b"\x5a", b"\xbf\x0c"]),
        st.sampled_from([b"", b"\x81", b"\x82", b"\x83", b"\x84\xff\xff\xff\xff", b"\x80"]),
        st.binary(max_size=260),
    ).map(lambda t: b"".join(t)),
)


@FUZZ
@given(ber_like)
def test_fuzz_tlv(data: bytes) -> None:
    only_ours(lambda: tlv.ber_decode(data))
    only_ours(lambda: list(tlv.iter_tree(tlv.ber_decode(data))))
    only_ours(lambda: [o.find(0xA5, 0x9F0C, 0x86) for o in tlv.ber_decode(data)])
    only_ours(lambda: tlv.ber_decode_one(data))
    only_ours(lambda: tlv.simple_decode(data))
    only_ours(lambda: tlv.simple_record(data, data[0] if data else None))


@FUZZ
@given(st.binary(max_size=64))
def test_fuzz_codec_atr_response(data: bytes) -> None:
    for decode in (codec.an_decode, codec.cn_decode, codec.date_decode, codec.pin_decode,
                   codec.hex_decode):
        only_ours(lambda d=decode: d(data))  # type: ignore[misc]
    only_ours(lambda: atr_mod.parse(data))
    only_ours(lambda: atr_mod.historical_bytes(data))
    only_ours(lambda: atr_mod.preferred_protocol(data))
    only_ours(lambda: ResponseAPDU.from_bytes(data))
    only_ours(lambda: Diversification.for_card(data[:10], data[10:]))


@FUZZ
@given(ber_like, st.sampled_from([0x9000, 0x6100, 0x6110, 0x6C10, 0x6A82, 0x9303, 0x6A81]))
def test_fuzz_fci(data: bytes, sw: int) -> None:
    info = parse_ssse_fci(data)  # tolerant by design: never raises, reports a problem instead
    assert info.algorithm in tuple(Algorithm)
    reader = ReplayReader.from_responses(ATR_T1, [data + sw.to_bytes(2, "big"), data + b"\x90\x00"])
    reader.connect()
    only_ours(lambda: CardSession(CardChannel(reader)).select_ssse())


bank_record = st.one_of(
    ber_like,
    st.tuples(
        st.binary(max_size=12), st.binary(max_size=30), st.binary(max_size=5),
        st.binary(max_size=3),
    ).map(lambda t: tlv.ber_encode(0x70, [
        tlv.ber_encode(0x5A, t[0]), tlv.ber_encode(0x5F20, t[1]), tlv.ber_encode(0x5F24, t[2]),
        tlv.ber_encode(0x5F34, t[3]),
    ])),
)


@FUZZ
@given(bank_record, st.lists(st.binary(max_size=40), max_size=4))
def test_fuzz_bank(record: bytes, others: list[bytes]) -> None:
    only_ours(lambda: parse_bank_record(record))
    reader = ReplayReader.from_responses(ATR_T1, [record + b"\x90\x00", *others])
    reader.connect()
    only_ours(lambda: read_bank_record(CardChannel(reader)))


# --- workflows over mutated recordings -----------------------------------------------------------


class _Recorder(Reader):
    """Passes everything to ``inner`` and keeps the answers (the script the fuzzer mutates)."""

    def __init__(self, inner: Reader) -> None:
        self.inner = inner
        self.answers: list[bytes] = []

    def connect(self) -> bytes:
        return self.inner.connect()

    def disconnect(self) -> None:
        self.inner.disconnect()

    def reset(self) -> bytes:
        return self.inner.reset()

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    @property
    def protocol(self) -> Protocol:
        return self.inner.protocol

    def transmit_raw(self, command: bytes) -> bytes:
        answer = self.inner.transmit_raw(command)
        self.answers.append(answer)
        return answer


def _activation(session: CardSession) -> object:
    holder = sample_personalisation(3).holder
    return activate(
        session,
        clerk_name=holder.name,
        clerk_id_number=holder.ssn,
        pin_source=ListPinSource([NEW_BANK, NEW_BANK, INITIAL, NEW, NEW]),
        bank_host=LoopbackBankHost(),
        today=TODAY,
    )


WORKFLOWS: dict[str, Callable[[CardSession], object]] = {
    "read": read_card,
    "check": lambda s: inspect_card(s, checks=True, status=False, today=TODAY),
    "status": lambda s: inspect_card(s, checks=False, status=True, today=TODAY),
    "verify": lambda s: pinops.verify(s, INITIAL),
    "change": lambda s: pinops.change(s, INITIAL, NEW),
    "unblock": pinops.unblock,
    "reset": lambda s: pinops.reset(s, NEW),
    "pharmacy": lambda s: pharmacy(s, ListPinSource([INITIAL]), today=TODAY, policy=ACCEPT_INITIAL),
    "activation": _activation,
}

#: (workflow, card) -> (ATR, the card's answers in a clean run).
_RECORDINGS: dict[tuple[str, int, bool], tuple[bytes, list[bytes]]] = {}


def recording(name: str, generation: int, t0: bool) -> tuple[bytes, list[bytes]]:
    key = (name, generation, t0)
    if key not in _RECORDINGS:
        rec = _Recorder(SimulatedReader(sample_card(generation, t0=t0)))
        atr = rec.connect()
        WORKFLOWS[name](CardSession(CardChannel(rec), sam=SoftwareSam()))
        _RECORDINGS[key] = (atr, rec.answers)
    return _RECORDINGS[key]


def _damage(draw: st.DrawFn, answer: bytes) -> list[bytes]:
    """One answer replaced, damaged, lengthened, cut, given another status, or followed by an
    extra answer (everything after it shifts)."""
    data, sw = answer[:-2], answer[-2:]
    how = draw(st.integers(0, 6))
    if how == 0:
        return [draw(st.binary(max_size=300))]
    if how == 1 and data:
        i = draw(st.integers(0, len(data) - 1))
        return [data[:i] + bytes((draw(st.integers(0, 255)),)) + data[i + 1 :] + sw]
    if how == 2:
        return [data[: draw(st.integers(0, len(data)))] + sw]
    if how == 3:
        return [data + draw(st.sampled_from(INTERESTING_SW)).to_bytes(2, "big")]
    if how == 4:
        return [draw(st.sampled_from(INTERESTING_SW)).to_bytes(2, "big")]
    if how == 5:
        return [answer, draw(st.binary(max_size=40))]
    return [data + draw(st.binary(min_size=1, max_size=30)) + sw]


@st.composite
def mutated(draw: st.DrawFn, answers: list[bytes]) -> list[bytes]:
    """``answers`` with one to three of them damaged (the rest kept, so every step is reached)."""
    n = len(answers)
    where = set(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3)))
    out: list[bytes] = []
    for i, answer in enumerate(answers):
        out.extend(_damage(draw, answer) if i in where else [answer])
    return out


CARD_KINDS = [(2, True), (3, False)]


@pytest.mark.parametrize(("generation", "t0"), CARD_KINDS, ids=["DES-T0", "SM4-T1"])
@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_fuzz_workflow(name: str, generation: int, t0: bool) -> None:
    assert len(WORKFLOWS) * len(CARD_KINDS) + 7 == TARGETS  # keeps the example share honest
    atr, answers = recording(name, generation, t0)

    @FUZZ
    @given(mutated(answers), st.booleans())
    def run(script: list[bytes], with_sam: bool) -> None:
        reader = ReplayReader.from_responses(atr, script)
        reader.connect()
        session = CardSession(CardChannel(reader), sam=SoftwareSam() if with_sam else None)
        only_ours(lambda: WORKFLOWS[name](session))

    run()


# --- the PSAM's answers ---------------------------------------------------------------------------

_PSAM_RECORDINGS: dict[Algorithm, tuple[bytes, list[bytes]]] = {}
DIV = Diversification.for_card(bytes.fromhex("420100D156000005"), bytes(13))


def _psam_session(sam: PsamSam, alg: Algorithm) -> None:
    sam.external_auth(alg, "RKSSSE", DIV, bytes(8))
    sam.internal_auth(alg, DIV, bytes(8), bytes(range(8)))
    sam.secure_message(alg, "STK", DIV, bytes(8), bytes.fromhex("84240001"), b"\x12\x34\x56")


def psam_recording(alg: Algorithm) -> tuple[bytes, list[bytes]]:
    if alg not in _PSAM_RECORDINGS:
        rec = _Recorder(SimulatedReader(Psam.issue(algorithm=alg)))
        atr = rec.connect()
        _psam_session(PsamSam(CardChannel(rec)), alg)
        _PSAM_RECORDINGS[alg] = (atr, rec.answers)
    return _PSAM_RECORDINGS[alg]


@pytest.mark.parametrize("alg", [Algorithm.DES, Algorithm.SM4], ids=["DES", "SM4"])
def test_fuzz_psam(alg: Algorithm) -> None:
    atr, answers = psam_recording(alg)

    @FUZZ
    @given(mutated(answers))
    def run(script: list[bytes]) -> None:
        reader = ReplayReader.from_responses(atr, script)
        reader.connect()
        only_ours(lambda: _psam_session(PsamSam(CardChannel(reader)), alg))

    run()


# --- vpcd frames ----------------------------------------------------------------------------------

frames = st.lists(
    st.one_of(
        st.binary(max_size=300).map(lambda p: struct.pack(">H", len(p)) + p),  # well framed
        st.sampled_from([b"\x00\x01\x00", b"\x00\x01\x01", b"\x00\x01\x02", b"\x00\x01\x03",
                         b"\x00\x01\x04", b"\x00\x01\x07", b"\x00\x00"]),  # control codes, empty
        st.binary(max_size=40),  # raw garbage (lengths that announce anything)
    ),
    max_size=12,
).map(b"".join)

SAMPLE = sample_card(3, t0=False)


def _read_frames(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        assert pos + 2 <= len(data), "a response frame was cut"
        (n,) = struct.unpack_from(">H", data, pos)
        assert pos + 2 + n <= len(data), "a response frame announces more than was sent"
        out.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return out


@FUZZ
@given(frames)
def test_fuzz_vpcd_frames(stream: bytes) -> None:
    """Whatever vpcd sends, the server answers well-formed frames only and returns at EOF."""
    server = VpcdServer([SAMPLE], port=1)
    ours, theirs = socket.socketpair()
    try:
        ours.settimeout(10)
        theirs.settimeout(10)
        ours.sendall(stream)
        ours.shutdown(socket.SHUT_WR)
        try:
            server._serve_connection(theirs, SAMPLE)  # noqa: SLF001 - the frame reader itself
        except OSError:
            pass
        theirs.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := ours.recv(65536):
            received += chunk
        for frame in _read_frames(received):
            assert len(frame) >= 2  # an ATR or data + SW1 SW2
    finally:
        ours.close()
        theirs.close()
    # the card behind the server still answers (random APDUs may legitimately change its state)
    assert SAMPLE.transmit(bytes.fromhex("00A40000023F00"))[-2:] == b"\x90\x00"

