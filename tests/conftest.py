"""Shared fixtures. ``pcsc_stack``: a real pcscd + vpcd + simulator for the whole session (issue 4).

See tests/pcsc_stack.py for what the fixture offers. It fails (never skips) when the PC/SC stack
cannot come up, with a message that says what to install.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pcsc_stack import PcscStack, StackError, running_stack


@pytest.fixture(scope="session")
def pcsc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscStack]:
    """pcscd (started only if none runs) + the simulator: user card in slot 0, PSAM in slot 1."""
    try:
        with running_stack(tmp_path_factory.mktemp("pcsc")) as stack:
            yield stack
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)
