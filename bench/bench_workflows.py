"""APDUs per PIN operation and workflow vs the protocol minimum, and pharmacy time in-process.

Card-profile §6, §7.6, §12; issues 5 and 9.  Counts are command APDUs on the user card's channel
(a PSAM adds its own on its own reader), each on a fresh session with the software SAM and the
in-memory simulator, on a T=1 card: a T=0 card (the field's and the simulator's default) adds one
GET RESPONSE for each answer to a command that carries data (SELECT with FCI, INTERNAL
AUTHENTICATE, GET PROCESSING OPTIONS).  The protocol minimum of each is derived here, next to
its number, so the gap is explained rather than just measured:

- status: SELECT SSSE + empty VERIFY = 2 (the minimum: the PIN lives in the SSSE).
- verify: minimum SELECT + VERIFY = 2; sscard sends 3: the empty VERIFY first, so a blocked PIN
  is reported and not tried, and a not-enabled PIN is never asked for (§6).
- change: minimum SELECT + CHANGE PIN = 2; sscard 3 (the status query, as for verify).
- unblock / reset: SELECT, READ RECORD EF05 01 (卡的识别码: the diversification needs it),
  GET CHALLENGE + EXTERNAL AUTHENTICATE (PUK), GET CHALLENGE, 84 24 = 6: sscard is at the minimum.
- pharmacy: the read (3 on 2.x, 5 on 3.00: one READ RECORD per EF, issue 9), VERIFY, SELECT
  DF04, READ RECORD 84 = 6 / 8; sscard adds the status query and the genuineness check (INTERNAL
  AUTHENTICATE) = 8 / 10.
- activation: the read, SELECT bank ADF, READ RECORD bank (SFI 2), SELECT SSSE again, CHANGE PIN
  = 7 / 9; sscard adds the status query, the internal authentication, a final status query (the
  proof that the card reads "activated") = 10 / 12.  The bank record is read with Le 00, which
  the EMV bank application answers at once (§9; no ``6Cxx`` round trip).

A second operation in the same session (issue 11: the session knows what is selected, what is
authenticated, whether the PIN is verified) pays only for what is missing:

- read, then read again: EF05 + EF06 = 2 on both generations (the SSSE is selected, RKSSSE still
  holds on a 3.00 card): the minimum.
- status, then verify: the status ends in the bank application, so SELECT SSSE + VERIFY = 2 is
  the minimum; sscard 3 (the status query).  Before issue 11 the VERIFY went to the bank ADF and
  failed (6A88).
- verify, then the medical area code: SELECT DF04 + READ RECORD 84 = 2, no second VERIFY (the PIN
  holds in the SSSE's DFs, §2): the minimum.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

_GEN = {2: "2.x", 3: "3.00"}
PIN = "480913"
NEW = "739251"

#: (operation, generation) -> the protocol minimum derived in the module docstring.
MINIMUM: dict[tuple[str, int], int] = {
    ("pin status", 2): 2, ("pin status", 3): 2,
    ("pin verify", 2): 2, ("pin verify", 3): 2,
    ("pin change", 2): 2, ("pin change", 3): 2,
    ("pin unblock", 2): 6, ("pin unblock", 3): 6,
    ("pin reset", 2): 6, ("pin reset", 3): 6,
    ("pharmacy", 2): 6, ("pharmacy", 3): 8,
    ("activation", 2): 7, ("activation", 3): 9,
}


def _session(generation: int) -> Any:
    from drivers.channel import CardChannel
    from drivers.simulated import SimulatedReader
    from simulator.samples import sample_card
    from terminal.sam.software import SoftwareSam
    from terminal.session import CardSession

    reader = SimulatedReader(sample_card(generation, pin=PIN, t0=False))
    reader.connect()
    return CardSession(CardChannel(reader), sam=SoftwareSam())


def _holder(generation: int) -> Any:
    from simulator.samples import sample_personalisation

    return sample_personalisation(generation).holder


def _operations(generation: int) -> dict[str, Callable[[Any], object]]:
    from terminal import pin as pinops
    from terminal.bankhost import LoopbackBankHost
    from terminal.pinsource import ListPinSource
    from terminal.workflows.activation import activate
    from terminal.workflows.pharmacy import pharmacy

    holder = _holder(generation)
    return {
        "pin status": pinops.status_of,
        "pin verify": lambda s: pinops.verify(s, PIN.encode()),
        "pin change": lambda s: pinops.change(s, PIN.encode(), NEW.encode()),
        "pin unblock": pinops.unblock,
        "pin reset": lambda s: pinops.reset(s, NEW.encode()),
        "pharmacy": lambda s: pharmacy(s, ListPinSource([PIN])),
        "activation": lambda s: activate(
            s,
            clerk_name=holder.name,
            clerk_id_number=holder.ssn,
            pin_source=ListPinSource([NEW, NEW, PIN, NEW, NEW]),
            bank_host=LoopbackBankHost(),
        ),
    }


def apdu_counts() -> list[dict[str, Any]]:
    rows = []
    for generation in (2, 3):
        for name, operation in _operations(generation).items():
            session = _session(generation)
            operation(session)
            count = session.channel.apdu_count
            minimum = MINIMUM[(name, generation)]
            alg = "DES" if generation == 2 else "SM4"
            rows.append(
                {
                    "benchmark": f"APDUs: {name} ({_GEN[generation]} card, {alg})",
                    "value": count,
                    "unit": "APDUs",
                    "note": f"protocol minimum {minimum} (+{count - minimum}: see bench_workflows)",
                }
            )
    return rows


#: (first, then) -> (what the second costs at the protocol minimum, on 2.x and 3.00 cards).
SEQUENCES: dict[tuple[str, str], tuple[int, int]] = {
    ("read", "read"): (2, 2),
    ("status", "pin verify"): (2, 2),
    ("pin verify", "area code"): (2, 2),
}


def _card_operations() -> dict[str, Callable[[Any], object]]:
    return {
        "read": lambda card: card.read(),
        "status": lambda card: card.status(),
        "pin verify": lambda card: card.pin.verify(PIN.encode()),
        "area code": lambda card: card.area_code(),
    }


def sequence_counts() -> list[dict[str, Any]]:
    """What the second of two operations in one session costs (module docstring)."""
    from terminal.card import Card

    ops = _card_operations()
    rows = []
    for generation in (2, 3):
        for (first, then), minimum in SEQUENCES.items():
            card = Card(_session(generation))
            ops[first](card)
            before = card.apdus
            ops[then](card)
            count = card.apdus - before
            least = minimum[generation - 2]
            rows.append(
                {
                    "benchmark": f"APDUs: {then} after {first}, one session "
                    f"({_GEN[generation]} card)",
                    "value": count,
                    "unit": "APDUs",
                    "note": f"protocol minimum {least} (+{count - least}: see bench_workflows)",
                }
            )
    return rows


def pharmacy_time(quick: bool) -> list[dict[str, Any]]:
    from terminal.pinsource import ListPinSource
    from terminal.workflows.pharmacy import pharmacy

    rows = []
    for generation in (2, 3):
        times = []
        for _ in range(5 if quick else 40):
            session = _session(generation)  # card issue is not timed
            start = time.perf_counter()
            pharmacy(session, ListPinSource([PIN]))
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "benchmark": f"pharmacy workflow in-process ({_GEN[generation]} card)",
                "value": statistics.median(times) * 1000,
                "unit": "ms (median)",
                "note": "read + checks + PIN + DF04 area code, software SAM, in-memory card",
            }
        )
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    return apdu_counts() + sequence_counts() + pharmacy_time(quick)


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(row)
