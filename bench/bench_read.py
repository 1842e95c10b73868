"""Benchmark of the read-card flow (card-profile §12; issues 3 and 9): APDUs and time per read.

- APDUs per read, multi-record against by tag, for both kinds of card: one that answers READ
  RECORD P2 = 05 (all records of an EF in one answer: 3 command APDUs for a 2.x card, 5 for a
  3.00 card) and one that refuses it (the first read of its model pays one probe, later reads in
  the same process none: the model is remembered).  By tag, §12's flow: 15 and 17 (1 SELECT + 14
  READ RECORD with the exact Le, + GET CHALLENGE and EXTERNAL AUTHENTICATE on 3.00).  T=1 cards;
  a T=0 card adds one GET RESPONSE for the FCI.  On a real reader each APDU costs milliseconds.
- In-process read time (median, ms) of the whole terminal stack over the simulator, both
  strategies side by side: channel, reading, decoding, and for 3.00 the software SAM's SM4
  cryptography (TEST keys).  Each read uses a fresh power-on, so a 3.00 card authenticates every
  time as in the field.
"""

from __future__ import annotations

import statistics
import time

from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from simulator.samples import sample_card
from terminal.reading import MULTI_RECORD_REFUSALS, read_card
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession

#: §12: the least number of command APDUs a by-tag read can take, per generation; the
#: multi-record read takes 12 fewer (one READ RECORD per EF instead of seven).
BY_TAG_APDUS = {2: 15, 3: 17}
LABEL = {2: "2.x", 3: "3.00"}


def _read_once(reader: SimulatedReader, sam: SoftwareSam, strategy: str) -> int:
    reader.connect()
    try:
        return read_card(CardSession(CardChannel(reader), sam, read_strategy=strategy)).apdus
    finally:
        reader.disconnect()


def _row(name: str, value: float, unit: str, note: str) -> dict:
    return {"benchmark": name, "value": value, "unit": unit, "note": note}


def apdu_counts(sam: SoftwareSam) -> list[dict]:
    rows: list[dict] = []
    for generation in (2, 3):
        label, minimum = LABEL[generation], BY_TAG_APDUS[generation]
        answering = SimulatedReader(sample_card(generation, t0=False))
        refusing = SimulatedReader(sample_card(generation, t0=False, multi_record=False))
        MULTI_RECORD_REFUSALS.clear()
        fast = _read_once(answering, sam, "auto")
        slow = _read_once(answering, sam, "by-tag")
        first = _read_once(refusing, sam, "auto")
        later = _read_once(refusing, sam, "auto")
        MULTI_RECORD_REFUSALS.clear()
        rows += [
            _row(f"read: APDUs, {label} card answering P2=05, multi-record (auto)", fast, "APDUs",
                 f"{slow - fast} fewer than by tag; T=0 +1 GET RESPONSE"),
            _row(f"read: APDUs, {label} card, by tag", slow, "APDUs",
                 f"card-profile §12 minimum {minimum}"),
            _row(f"read: APDUs, {label} card refusing P2=05, first read of its model", first,
                 "APDUs", f"by tag + {first - minimum} probe (6A86)"),
            _row(f"read: APDUs, {label} card refusing P2=05, later reads", later, "APDUs",
                 "the model (ATR T1-T5) is remembered: no probe"),
        ]
    return rows


def read_times(sam: SoftwareSam, quick: bool) -> list[dict]:
    rounds = 20 if quick else 200
    rows: list[dict] = []
    for generation in (2, 3):
        reader = SimulatedReader(sample_card(generation, t0=False))
        times: dict[str, list[float]] = {"auto": [], "by-tag": []}
        for _ in range(rounds):
            for strategy, bucket in times.items():  # interleaved: the ratio holds when busy
                start = time.perf_counter()
                _read_once(reader, sam, strategy)
                bucket.append((time.perf_counter() - start) * 1000)
        crypto = ", software SAM (TEST keys), SM4" if generation == 3 else ", DES"
        for strategy, bucket in times.items():
            rows.append(_row(
                f"read: in-process read time, {LABEL[generation]} card, {strategy}",
                statistics.median(bucket), "ms (median)",
                f"{rounds} reads, simulator in-process{crypto}",
            ))
    return rows


def run(quick: bool = False) -> list[dict]:
    sam = SoftwareSam()
    return apdu_counts(sam) + read_times(sam, quick)


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
