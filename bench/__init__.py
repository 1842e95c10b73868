"""sscard benchmarks: speed is measured here, never asserted in tests."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed_calls(fn: Callable[[], object], n: int) -> list[float]:
    """``fn()`` ``n`` times; each call's duration in milliseconds (for medians of batches
    measured side by side)."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out
