"""Benchmark of the photo read and the application-file read (issue 15): APDUs against the
minimum the protocol allows, and in-process time.

- Photo (SSSE EF08, the 2512-byte sample portrait): the card identification code (EF05 tag 01:
  the key is diversified with it), RKSSSE (GET CHALLENGE + EXTERNAL AUTHENTICATE), then READ
  BINARY until the image's end (never the whole 4 KB file).  The minimum is SELECT SSSE (+1 GET
  RESPONSE on T=0) + 1 + 2 + ceil(image / Le) with the largest Le the link carries: 256 with
  short APDUs, the file with an extended Le (T=1 and a reader that carries extended APDUs).
- DF04 with the PIN (EF05, EF06, the transaction log EF08, EF15): SELECT DF04, the PIN (empty
  VERIFY for the state, then VERIFY), one READ RECORD P2=05 per file, and for EF06 ("PIN and
  RK1DF04") the card identification code and RK1DF04.  The minimum leaves out the empty VERIFY
  (kept: a blocked PIN must be reported, not tried, card-profile §6).  A card refusing P2=05 is
  read by tag (record EFs) and by record number (the log), its model remembered.
"""

from __future__ import annotations

import statistics
import time

from apdu.appfiles import APP_DFS
from drivers.channel import CardChannel
from drivers.simulated import SimulatedReader
from simulator.photo import synthetic_portrait
from simulator.samples import sample_card
from terminal.appread import select_files
from terminal.card import Card
from terminal.photo import EXTENDED_LE_REFUSALS, minimum_reads
from terminal.reading import MULTI_RECORD_REFUSALS
from terminal.sam.software import SoftwareSam
from terminal.session import CardSession

PIN = "123456"


def _row(name: str, value: float, unit: str, note: str) -> dict:
    return {"benchmark": name, "value": value, "unit": unit, "note": note}


def _card(reader: SimulatedReader, sam: SoftwareSam) -> Card:
    reader.connect()
    return Card(CardSession(CardChannel(reader), sam))


def photo_rows(sam: SoftwareSam) -> list[dict]:
    image = len(synthetic_portrait())
    cases = (
        ("T=0 card (every real card), short reads", dict(t0=True), True, 256, 2),
        ("T=1 card, reader without extended APDUs", dict(t0=False), False, 256, 1),
        ("T=1 card and reader, extended Le", dict(t0=False), True, 0x1000, 1),
    )
    rows: list[dict] = []
    for label, options, extended, le, select in cases:
        reader = SimulatedReader(sample_card(3, **options))
        reader.extended_apdu = extended
        EXTENDED_LE_REFUSALS.clear()
        try:
            photo = _card(reader, sam).photo()
        finally:
            reader.disconnect()
        minimum = select + 1 + 2 + minimum_reads(image, le)
        whole = select + 1 + 2 + minimum_reads(0x1000, le)
        rows.append(_row(
            f"photo: APDUs, {label}", photo.apdus, "APDUs",
            f"minimum {minimum}; {photo.reads} READ BINARY for {image} bytes "
            f"(the whole 4 KB EF08: {whole})",
        ))
    return rows


def df04_rows(sam: SoftwareSam) -> list[dict]:
    rows: list[dict] = []
    cases = (
        ("T=0 card", dict(t0=True), 12),
        ("T=1 card", dict(t0=False), 10),
        ("T=1 card refusing P2=05, first read of its model", dict(t0=False, multi_record=False),
         None),
    )
    MULTI_RECORD_REFUSALS.clear()
    for label, options, minimum in cases:
        reader = SimulatedReader(sample_card(3, **options))
        try:
            found = _card(reader, sam).read_files("DF04", pin=PIN)
        finally:
            reader.disconnect()
        assert found.complete
        note = (f"minimum {minimum} (without the PIN state query)" if minimum is not None
                else "record EFs by tag, the log by record number, + 1 probe (6A86)")
        rows.append(_row(f"read --files DF04 (PIN): APDUs, {label}", found.apdus, "APDUs", note))
    MULTI_RECORD_REFUSALS.clear()
    return rows


def times(sam: SoftwareSam, quick: bool) -> list[dict]:
    rounds = 10 if quick else 100
    reader = SimulatedReader(sample_card(3, t0=True))
    photo: list[float] = []
    files: list[float] = []
    for _ in range(rounds):
        for bucket, action in ((photo, "photo"), (files, "files")):
            start = time.perf_counter()
            card = _card(reader, sam)
            try:
                card.photo() if action == "photo" else card.read_files("all", pin=PIN)
            finally:
                reader.disconnect()
            bucket.append((time.perf_counter() - start) * 1000)
    return [
        _row("photo: in-process read time, T=0 short reads", statistics.median(photo),
             "ms (median)", f"{rounds} reads: SM4 RKSSSE, 10 READ BINARY, JPEG check"),
        _row("read --files all (PIN): in-process time", statistics.median(files), "ms (median)",
             f"{rounds} reads: {len(APP_DFS)} DFs, {len(select_files('all'))} files decoded"),
    ]


def run(quick: bool = False) -> list[dict]:
    sam = SoftwareSam()
    return photo_rows(sam) + df04_rows(sam) + times(sam, quick)


if __name__ == "__main__":
    for row in run(quick=True):
        print(row)
