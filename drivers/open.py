"""One entry point from the CLI options ``--reader`` / ``--sim`` / ``--wait`` to a :class:`Reader`.

Issue 3 §6: ``--reader R`` is a PC/SC reader (index, name or pattern, :mod:`drivers.pcsc`);
``--sim`` the in-process simulator, with no file the built-in generation-3 sample card, with a path
that card file (a user card or a PSAM).  Exactly one of the two must be given.

The reader is returned *unconnected*: the caller opens it with ``with reader:`` (or ``connect()``),
so that waiting for a card (``wait``) happens where the workflow starts, and pyscard is imported
only when a PC/SC reader is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike

from apdu.errors import UsageError
from drivers.base import Reader

#: generation of the built-in sample card used by a bare ``--sim`` (card-profile §1: 3.00 = SM4).
DEFAULT_SAMPLE_GENERATION = 3


def open_reader(
    *,
    reader: str | None = None,
    sim: str | PathLike[str] | bool | None = None,
    wait: float | None = None,
    on_waiting: Callable[[], None] | None = None,
) -> Reader:
    """The reader the options name; :class:`UsageError` unless exactly one of reader/sim is set.

    ``wait`` (seconds) and ``on_waiting`` (called while waiting, e.g. to turn a spinner) apply to
    a PC/SC reader; a simulated slot always holds its card, so they are ignored there.
    """
    use_sim = sim is not None and sim is not False
    if reader is not None and use_sim:
        raise UsageError("give either --reader (PC/SC) or --sim (simulator), not both")
    if wait is not None and wait < 0:
        raise UsageError(f"--wait must be a number of seconds >= 0, got {wait}")
    if use_sim:
        from drivers.simulated import SimulatedReader

        if sim is True:
            return SimulatedReader.sample(DEFAULT_SAMPLE_GENERATION)
        if isinstance(sim, str) and not sim.strip():
            raise UsageError("--sim was given an empty card file name")
        return SimulatedReader.from_file(sim)  # type: ignore[arg-type]
    if reader is not None:
        if not reader.strip():
            raise UsageError("--reader was given an empty selector")
        from drivers.pcsc import PcscReader

        return PcscReader(reader, wait=wait, on_waiting=on_waiting)
    raise UsageError("no card source: give --reader R (PC/SC) or --sim [CARD.json] (simulator)")
