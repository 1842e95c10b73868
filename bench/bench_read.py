"""Benchmark of the read-card flow (card-profile §12; issue 3 acceptance): APDUs and time per read.

- APDUs per read of a 2.x and a 3.00 card against the protocol minimum of §12: 15 (1 SELECT +
  14 READ RECORD) and 17 (+ GET CHALLENGE + EXTERNAL AUTHENTICATE).  A figure above the minimum
  means a wasted round trip (a wrong Le costing a ``6Cxx``, a needless SELECT) - on a real reader
  each one costs milliseconds.
- In-process read time (median, ms) of the whole terminal stack over the simulator: channel,
  reading, decoding, and for 3.00 the software SAM's SM4 cryptography (TEST keys).  Each read
  uses a fresh power-on, so a 3.00 card authenticates every time as in the field.
"""

from __future__ import annotations

import statistics
import time

from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from simulator.samples import sample_card
from terminal.reading import read_card
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession

#: §12: the least number of command APDUs a read can take, per generation.
MINIMUM_APDUS = {2: 15, 3: 17}
LABEL = {2: "2.x", 3: "3.00"}


def _reader(generation: int) -> SimulatedReader:
    return SimulatedReader(sample_card(generation))


def _read_once(reader: SimulatedReader, sam: SoftwareSam) -> int:
    reader.connect()
    try:
        return read_card(CardSession(CardChannel(reader), sam)).apdus
    finally:
        reader.disconnect()


def run(quick: bool = False) -> list[dict]:
    rounds = 20 if quick else 200
    sam = SoftwareSam()
    rows: list[dict] = []
    for generation in (2, 3):
        reader = _reader(generation)
        apdus = _read_once(reader, sam)
        minimum = MINIMUM_APDUS[generation]
        rows.append(
            {
                "benchmark": f"read: APDUs per read, {LABEL[generation]} card",
                "value": apdus,
                "unit": "APDUs",
                "note": f"protocol minimum {minimum} (card-profile §12)"
                + ("" if apdus == minimum else f"; {apdus - minimum} above it"),
            }
        )
        times: list[float] = []
        for _ in range(rounds):
            start = time.perf_counter()
            _read_once(reader, sam)
            times.append((time.perf_counter() - start) * 1000)
        rows.append(
            {
                "benchmark": f"read: in-process read time, {LABEL[generation]} card",
                "value": statistics.median(times),
                "unit": "ms (median)",
                "note": f"{rounds} reads, simulator in-process"
                + (", software SAM (TEST keys), SM4" if generation == 3 else ", DES"),
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
