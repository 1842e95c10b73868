"""Reading the small input files of ``sscard sim issue`` (a photo, an extension declaration).

Only regular files, read with a bound (one byte more than allowed, to tell "too big"), so a
hostile path (a FIFO, a device, a huge file) costs nothing; errors are one line, in the caller's
error class.
"""

from __future__ import annotations

import os
from pathlib import Path

from apdu.errors import SSCardError


def read_small_file(path: str | os.PathLike[str], limit: int, what: str,
                    error: type[SSCardError]) -> bytes:
    """The bytes of ``path``; ``error("WHAT PATH: why")`` when it is not a regular file of at
    most ``limit`` bytes."""
    p = Path(path)
    try:
        if not p.is_file():
            raise error(f"{what} {p}: not a regular file")
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{what} {p}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {p}: more than {limit} bytes")
    return data
