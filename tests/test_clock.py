"""The terminal's one clock (terminal/clock.py): date verdicts reproducible across years.

The suite runs with ``SSCARD_TODAY`` fixed (tests/conftest.py), so the sample card (valid until
2034-05-01) is judged the same in every year this suite is run, in this process and in every
``sscard`` process the tests start.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from apdu.errors import UsageError
from terminal import clock
from tests.helpers_checks import TODAY

SSCARD = [sys.executable, "-m", "terminal.cli.main"]


def _not_expired(today: str) -> dict[str, str]:
    done = subprocess.run(
        [*SSCARD, "check", "--sim", "--json"], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, SSCARD_TODAY=today), check=False,
    )
    assert done.returncode == 0, done.stderr
    checks = json.loads(done.stdout)["checks"]
    return next(c for c in checks if c["name"] == "not_expired")  # type: ignore[no-any-return]


def test_the_suite_runs_on_a_fixed_day() -> None:
    assert os.environ[clock.ENV] == TODAY.isoformat() and clock.today() == TODAY


def test_a_started_sscard_judges_expiry_by_the_fixed_day() -> None:
    assert _not_expired("2034-04-30")["status"] == "pass"
    assert _not_expired("2034-05-02")["status"] == "warn"


def test_unset_it_is_the_calendar_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.ENV)
    before = dt.date.today()
    assert clock.today() in (before, dt.date.today())  # midnight may pass in between


def test_a_malformed_day_is_a_clear_error_never_the_calendar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(clock.ENV, "30/11/2026")
    with pytest.raises(UsageError, match="SSCARD_TODAY"):
        clock.today()
    done = subprocess.run(
        [*SSCARD, "check", "--sim"], capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "SSCARD_TODAY" in done.stderr
