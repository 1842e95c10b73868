"""Run every benchmark and print one table (``make bench``; README "Performance").

Each ``bench/bench_*.py`` module exposes ``run(quick: bool = False) -> list[dict]`` with rows
``{"benchmark", "value", "unit", "note"}``.  Figures that compare two things are measured side by
side in one run, so the ratio holds even on a busy machine.

Usage: ``python -m bench [--quick] [--only NAME] [--markdown FILE]``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

MODULES = (
    "bench_simulator",
    "bench_drivers",
    "bench_read",
    "bench_appfiles",
    "bench_workflows",
    "bench_vpcd",
    "bench_pinpad",
    "bench_national",
    "bench_bridge",
)


def _format(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def render(rows: list[dict]) -> str:
    header = ("benchmark", "value", "unit", "note")
    table = [header] + [
        (r["benchmark"], _format(float(r["value"])), r["unit"], r.get("note", "")) for r in rows
    ]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in table[1:]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (CI smoke run)")
    parser.add_argument("--only", action="append", help="run only these modules (bench_xxx)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for name in args.only or MODULES:
        start = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        got = module.run(quick=args.quick)
        rows += got
        print(f"{name}: {len(got)} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    table = render(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
