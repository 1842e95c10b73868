"""Per-APDU round trip through pyscard -> pcscd -> Debian's vpcd -> simulator (issue 4).

Side by side in one run: the simulator in vpcd slot 0 and a bare responder (tests.stack
BareResponder, same VpcdServer code path, no card logic) in slot 1, measured alternately so load on
the machine hits both alike. Two response sizes, both plain user-card reads so the ratio measures
the transport and the card OS, not cryptography: 2 bytes (the empty VERIFY of card-profile §6) and
250 bytes (READ BINARY of 248 bytes of EF08 by SFI, §5, after one RKSSSE external authentication
(§7.4) done beforehand with the terminal's SoftwareSam over the TEST keys). An earlier version
measured the PSAM's CIPHER DATA (§11) for the large case: ~15 us of encryption per APDU that the
floor does not do. Goal: simulator median <= 1 ms and <= 1.2x the floor.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path

from tests.stack import (
    BARE_ATR,
    READ_EF08_248,
    Pcscd,
    Server,
    authenticate_rksse,
    card_atr,
    check_prerequisites,
    issue_user_card,
    prepare_private_pcscd,
    stack_lock,
    wait_readers,
)

EMPTY_VERIFY = bytes.fromhex("00200000")


def _connect(reader: str):  # type: ignore[no-untyped-def]
    from smartcard.System import readers

    conn = next(r for r in readers() if str(r) == reader).createConnection()
    conn.connect()
    return conn


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


def _rows(label: str, s: list[float], b: list[float]) -> list[dict]:
    ms, mb = statistics.median(s), statistics.median(b)
    note = f"{label}, n={len(s)}"
    return [
        {"benchmark": "vpcd simulator median", "value": ms, "unit": "ms", "note": note},
        {"benchmark": "vpcd simulator p90", "value": _p90(s), "unit": "ms", "note": note},
        {"benchmark": "vpcd bare responder median", "value": mb, "unit": "ms", "note": note},
        {"benchmark": "vpcd bare responder p90", "value": _p90(b), "unit": "ms", "note": note},
        {
            "benchmark": "vpcd simulator / floor",
            "value": ms / mb,
            "unit": "x",
            "note": f"{label}; goal <= 1.2x and <= 1 ms",
        },
    ]


def run(quick: bool = False) -> list[dict]:
    n = 200 if quick else 2000
    check_prerequisites()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="sscard-bench-vpcd-") as tmp, stack_lock():
        work = Path(tmp)
        prepare_private_pcscd(work / "run")  # before the first PC/SC call of this process
        card = issue_user_card(work / "card.json")  # 3rd generation (SM4), the issue default
        pcscd = Pcscd.ensure(work)
        sim = Server.simulator(work, card, None, pcscd.vpcd_port, verbose=False)
        bare = Server.bare(work, pcscd.vpcd_port + 1)
        try:
            names = wait_readers([card_atr(card), BARE_ATR])
            sim_conn, bare_conn = _connect(names[0]), _connect(names[1])
            try:
                authenticate_rksse(sim_conn)
                for label, command, size in (
                    ("2-byte response (empty VERIFY)", EMPTY_VERIFY, 2),
                    ("250-byte response (READ BINARY EF08)", READ_EF08_248, 250),
                ):
                    s, b = _measure(sim_conn, bare_conn, command, n, size)
                    rows += _rows(label, s, b)
            finally:
                for conn in (sim_conn, bare_conn):
                    conn.disconnect()
                    conn.release()
        finally:
            gc.collect()  # pyscard contexts go while pcscd still answers
            sim.stop()
            bare.stop()
            pcscd.stop()
    return rows


if __name__ == "__main__":
    from bench.__main__ import render

    print(render(run()))
