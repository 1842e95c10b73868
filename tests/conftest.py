"""Shared fixtures. ``pcsc_stack``: a real pcscd + vpcd + simulator for the whole session (issue 4).

See tests/pcsc_stack.py for what the fixture offers. It fails (never skips) when the PC/SC stack
cannot come up, with a message that says what to install.

Before any test runs, :func:`pytest_configure` points this process (and every process it starts)
at a private pcscd socket when one can be had (tests/stack.py): libpcsclite reads the socket's
name once per process, so this cannot wait for the fixture.  It also fixes "today"
(``SSCARD_TODAY``, terminal/clock.py) for the whole run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal import clock
from tests.helpers_checks import TODAY
from tests.pcsc_stack import PcscStack, StackError, running_stack
from tests.stack import prepare_private_pcscd

_RUN_DIR: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _RUN_DIR
    # One fixed "today" for this process and every process it starts (terminal/clock.py): date
    # verdicts must not change with the year the suite runs in (the sample card expires in 2034).
    os.environ[clock.ENV] = TODAY.isoformat()
    _RUN_DIR = Path(tempfile.mkdtemp(prefix="sscard-pcscd-"))
    prepare_private_pcscd(_RUN_DIR)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUN_DIR is not None:
        shutil.rmtree(_RUN_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_model_memory() -> Iterator[None]:
    """Each test starts with no card model remembered as refusing READ RECORD P2 = 05: the
    memory is process-wide by design (terminal.reading), tests must not see each other's."""
    from terminal.photo import EXTENDED_LE_REFUSALS
    from terminal.reading import MULTI_RECORD_REFUSALS

    MULTI_RECORD_REFUSALS.clear()
    EXTENDED_LE_REFUSALS.clear()
    yield
    MULTI_RECORD_REFUSALS.clear()
    EXTENDED_LE_REFUSALS.clear()


@pytest.fixture(scope="session")
def pcsc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscStack]:
    """pcscd (private when possible) + the simulator: user card in slot 0, PSAM in slot 1."""
    try:
        with running_stack(tmp_path_factory.mktemp("pcsc")) as stack:
            yield stack
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)
