"""In-process overhead of the drivers layer per APDU (issue 3 §1; goal: ≤ 2x a bare card call).

The same READ RECORD (EF05 tag 03, exact Le, card-profile §4) is sent to the generation-3 sample
card two ways, interleaved in rounds within one run so that machine load hits both alike:

- bare: ``card.transmit(raw bytes)``;
- stack: ``CardChannel(SimulatedReader(card)).send(CommandAPDU)`` (APDU encoding, the reader's
  session check, the 61xx/6Cxx tests, the status check, counting; no tracer) -- what the
  terminal's reading code calls; ``transmit`` (which also builds a ResponseAPDU) is reported too.

The ratio of the medians of the rounds is the figure to watch.
"""

from __future__ import annotations

import statistics
import time

from apdu.commands import read_record, select_by_name
from apdu.names import SSSE_NAME
from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader

GOAL_RATIO = 2.0


def _per_call(fn: object, arg: object, n: int) -> float:
    call = fn  # local for speed
    start = time.perf_counter()
    for _ in range(n):
        call(arg)  # type: ignore[operator]
    return (time.perf_counter() - start) / n


def run(quick: bool = False) -> list[dict]:
    from simulator.samples import sample_card

    card = sample_card(3)
    reader = SimulatedReader(card)
    reader.connect()
    channel = CardChannel(reader)
    channel.send(select_by_name(SSSE_NAME))
    command = read_record(0x03, by_tag=True, sfi=5, le=6)
    raw = command.to_bytes()
    assert card.transmit(raw)[-2:] == b"\x90\x00"
    assert channel.send(command) == card.transmit(raw)[:-2]

    rounds, n = (5, 500) if quick else (15, 3000)
    bare: list[float] = []
    stack: list[float] = []
    full: list[float] = []
    for _ in range(rounds):
        bare.append(_per_call(card.transmit, raw, n))
        stack.append(_per_call(channel.send, command, n))
        full.append(_per_call(channel.transmit, command, n))
    reader.disconnect()
    b, s, f = statistics.median(bare), statistics.median(stack), statistics.median(full)
    ratio = s / b
    verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
    return [
        {
            "benchmark": "drivers: bare card.transmit (READ RECORD)",
            "value": b * 1e6,
            "unit": "µs/APDU",
            "note": f"median of {rounds} rounds x {n}",
        },
        {
            "benchmark": "drivers: CardChannel.send + SimulatedReader (READ RECORD)",
            "value": s * 1e6,
            "unit": "µs/APDU",
            "note": "same card, interleaved rounds, no tracer",
        },
        {
            "benchmark": "drivers: CardChannel.transmit + SimulatedReader (READ RECORD)",
            "value": f * 1e6,
            "unit": "µs/APDU",
            "note": f"returns a ResponseAPDU; {f / b:.2f}x bare",
        },
        {
            "benchmark": "drivers: in-process stack / bare ratio",
            "value": ratio,
            "unit": "x",
            "note": f"{verdict} the goal of <= {GOAL_RATIO:g}x",
        },
    ]


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
