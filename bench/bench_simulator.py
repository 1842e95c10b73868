"""In-process throughput of the simulated user card (issue 2 acceptance: ≥ 20,000 READ RECORD/s).

``run(quick)`` returns rows ``{"benchmark", "value", "unit", "note"}`` for the lead's bench runner:
READ RECORD and VERIFY APDUs per second, in memory and file-backed. A file-backed VERIFY with the
right PIN still decrements, saves, compares, restores and saves again (card-profile §6
anti-tearing), so it measures two atomic fsync'ed writes per APDU.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from apdu.names import SSSE_NAME
from simulator.samples import sample_card
from simulator.usercard import UserCard

SELECT_SSSE = bytes.fromhex("00A404000F") + SSSE_NAME + b"\x00"
READ_EF05_03 = bytes.fromhex("00B2032806")
VERIFY_OK = bytes.fromhex("0020000003123456")


def _rate(card: UserCard, apdu: bytes, seconds: float, expect: bytes) -> float:
    transmit: Callable[[bytes], bytes] = card.transmit
    assert transmit(apdu)[-2:] == expect
    n, batch = 0, 500
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            transmit(apdu)
        n += batch
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def _file_rate(card: UserCard, apdu: bytes, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        card.transmit(apdu)
    return count / (time.perf_counter() - start)


def run(quick: bool = False) -> list[dict]:
    seconds = 0.3 if quick else 2.0
    rows: list[dict] = []
    for gen in (2, 3):
        card = sample_card(gen)
        card.power_on()
        card.transmit(SELECT_SSSE)
        alg = card.algorithm.name
        rows.append({
            "benchmark": f"simulator READ RECORD gen {gen} ({alg}), in memory",
            "value": round(_rate(card, READ_EF05_03, seconds, b"\x90\x00")),
            "unit": "APDU/s",
            "note": "00 B2 03 28 06 (EF05 tag 03 via SFI 5), card.transmit() in-process",
        })
        rows.append({
            "benchmark": f"simulator VERIFY gen {gen} ({alg}), in memory",
            "value": round(_rate(card, VERIFY_OK, seconds, b"\x90\x00")),
            "unit": "APDU/s",
            "note": "right PIN; counter decremented then restored, nothing written",
        })
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "card.json"
        card = sample_card(3)
        card.save(path)
        card.power_on()
        card.transmit(SELECT_SSSE)
        rows.append({
            "benchmark": "simulator READ RECORD gen 3, file-backed",
            "value": round(_rate(card, READ_EF05_03, seconds, b"\x90\x00")),
            "unit": "APDU/s",
            "note": "READ RECORD never writes the card file",
        })
        rows.append({
            "benchmark": "simulator VERIFY gen 3, file-backed",
            "value": round(_file_rate(card, VERIFY_OK, 20 if quick else 100), 1),
            "unit": "APDU/s",
            "note": "two atomic fsync'ed saves per VERIFY (try spent before the compare, §6)",
        })
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in run():
        print(f"{row['benchmark']:<50} {row['value']:>12,} {row['unit']}  ({row['note']})")
