"""Per-APDU round trip through pyscard -> pcscd -> Debian's vpcd -> simulator (issue 4).

Side by side in one run: the simulator in vpcd slot 0 and a bare responder (bench.stack
BareResponder, same VpcdServer code path, no card logic) in slot 1, measured alternately so load on
the machine hits both alike. Two response sizes: 2 bytes (the empty VERIFY of card-profile §6 on the
user card) and 250 bytes (CIPHER DATA of 248 bytes on the PSAM, §11; the card in slot 0 is swapped
through the control channel). Goal: simulator median <= 1 ms and <= 1.2x the floor.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path

from bench.stack import (
    BARE_ATR,
    VPCD_PORT,
    Pcscd,
    Server,
    card_atr,
    check_prerequisites,
    issue_psam,
    issue_user_card,
    stack_lock,
    wait_readers,
)

EMPTY_VERIFY = bytes.fromhex("00200000")
CIPHER_248 = bytes.fromhex("80FA0000F8") + bytes(range(248)) + b"\x00"


def _connect(reader: str):  # type: ignore[no-untyped-def]
    from smartcard.System import readers

    conn = next(r for r in readers() if str(r) == reader).createConnection()
    conn.connect()
    return conn


def _prepare_psam(conn) -> None:  # type: ignore[no-untyped-def]
    from apdu.commands import delivery_session_key
    from apdu.names import PSAM_ADF_AID

    conn.transmit(list(bytes.fromhex("00A4040006") + PSAM_ADF_AID))
    factors = [b"CARDFACT", b"420100sx"]
    _, sw1, sw2 = conn.transmit(list(bytes(delivery_session_key(0x46, 0x09, factors, bytes(8)))))
    assert (sw1, sw2) == (0x90, 0x00), f"DELIVERY SESSION KEY answered {sw1:02X}{sw2:02X}"


def _measure(sim, bare, command: bytes, n: int, size: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    apdu = list(command)
    sim_t: list[float] = []
    bare_t: list[float] = []
    for i in range(n + n // 10):
        for conn, out in ((sim, sim_t), (bare, bare_t)):
            t = time.perf_counter()
            data, sw1, _ = conn.transmit(apdu)
            elapsed = time.perf_counter() - t
            if len(data) + 2 != size:
                raise RuntimeError(
                    f"expected a {size}-byte response, got {len(data) + 2} (SW1 {sw1:02X})"
                )
            if i >= n // 10:  # the first 10% warm up
                out.append(elapsed * 1000)
    return sim_t, bare_t


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def run(quick: bool = False) -> list[dict]:
    n = 200 if quick else 2000
    check_prerequisites()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="sscard-bench-vpcd-") as tmp, stack_lock():
        work = Path(tmp)
        card = issue_user_card(work / "card.json")
        psam = issue_psam(work / "psam.json")
        pcscd = Pcscd.ensure(work)
        sim = Server.simulator(work, card, None, VPCD_PORT, verbose=False)
        bare = Server.bare(work, VPCD_PORT + 1)
        try:
            names = wait_readers([card_atr(card), BARE_ATR])
            for label, path, command, size in (
                ("2-byte response (empty VERIFY)", card, EMPTY_VERIFY, 2),
                ("250-byte response (PSAM CIPHER DATA)", psam, CIPHER_248, 250),
            ):
                if path != card:
                    sim.control(f"insert 0 {path}")
                    wait_readers([card_atr(path), BARE_ATR])
                sim_conn, bare_conn = _connect(names[0]), _connect(names[1])
                try:
                    if path == psam:
                        _prepare_psam(sim_conn)
                    s, b = _measure(sim_conn, bare_conn, command, n, size)
                finally:
                    for conn in (sim_conn, bare_conn):
                        conn.disconnect()
                        conn.release()
                ms, mb = statistics.median(s), statistics.median(b)
                note = f"{label}, n={len(s)}"
                rows += [
                    {"benchmark": "vpcd simulator median", "value": ms, "unit": "ms", "note": note},
                    {
                        "benchmark": "vpcd simulator p90",
                        "value": _p90(s),
                        "unit": "ms",
                        "note": note,
                    },
                    {
                        "benchmark": "vpcd bare responder median",
                        "value": mb,
                        "unit": "ms",
                        "note": note,
                    },
                    {
                        "benchmark": "vpcd bare responder p90",
                        "value": _p90(b),
                        "unit": "ms",
                        "note": note,
                    },
                    {
                        "benchmark": "vpcd simulator / floor",
                        "value": ms / mb,
                        "unit": "x",
                        "note": f"{label}; goal <= 1.2x and <= 1 ms",
                    },
                ]
        finally:
            gc.collect()  # pyscard contexts go while pcscd still answers
            sim.stop()
            bare.stop()
            pcscd.stop()
    return rows


if __name__ == "__main__":
    from bench.__main__ import render

    print(render(run()))
