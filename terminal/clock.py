"""The terminal's "today": the one clock every date check (expiry, issue after expiry) reads.

A verdict that depends on the date must be reproducible: a test run in 2035 must judge the sample
card (expiring 2034-05-01) as a run in 2026 does, and an operator replaying a dispute must judge
a card by the day it was presented.  ``SSCARD_TODAY=YYYY-MM-DD`` in the environment fixes the day
for this process and every process it starts (the test suite sets it, tests/conftest.py); unset,
it is the local calendar day.  An explicit ``today=`` argument (``terminal.open_card(today=...)``)
wins over both.
"""

from __future__ import annotations

import datetime as dt
import os

from apdu.errors import UsageError

ENV = "SSCARD_TODAY"


def today() -> dt.date:
    """``SSCARD_TODAY`` when set (an ISO date; anything else is a :class:`UsageError`), else the
    local calendar day."""
    fixed = os.environ.get(ENV, "").strip()
    if not fixed:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(fixed)
    except ValueError:
        raise UsageError(f"{ENV}={fixed!r} is not a date (YYYY-MM-DD)") from None
