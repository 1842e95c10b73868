"""Card state on disk: JSON written atomically, so a crash never leaves a half-written card.

The write goes to a temporary file in the same directory, is flushed and fsync'ed, then renamed
over the old file (atomic on POSIX), and the directory is fsync'ed so the rename itself survives a
power cut.  A reader therefore sees the old state or the new one, never a mixture.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from apdu.errors import SSCardError


class CardFileError(SSCardError):
    """A card file that cannot be read or is not a card of the expected kind."""


def save_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    target = Path(path)
    payload = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(target.parent or ".", os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_json(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except FileNotFoundError:
        raise CardFileError(f"no card file at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CardFileError(f"{path} is not a readable card file: {exc}") from None
