"""The user's private run-time directory for sockets: ``$XDG_RUNTIME_DIR/sscard/``, else
``/tmp/sscard-<uid>/`` (the system's temporary directory: ``$TMPDIR`` when set); created 0700 and
checked before every use.

Why: a socket at a fixed name in a shared directory (``/tmp/sscard-sim-<uid>.sock``) can be
created first by another user; the ``eject``/``insert`` client then talks to the squatter and
sends it card paths.  Inside a directory that is ours (owner = this user, mode 0700, not a
symbolic link) nobody else can create, replace or even reach a socket.  A directory that exists
but fails a check is refused with one line, never "fixed" (it may be someone else's trap).

Both the simulator's control socket (simulator/vpcd.py) and the sscard service's socket
(terminal/service/runtime.py) live here, so the rule is in ``apdu/``: the one package both may
import (as :mod:`apdu.jsonfile`, the one bounded file reader, is).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Final

from apdu.errors import UsageError
from apdu.jsonfile import file_type

#: The subdirectory of ``$XDG_RUNTIME_DIR``.
APP_DIR: Final = "sscard"


def _base() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return Path(runtime) / APP_DIR
    return Path(tempfile.gettempdir()) / f"sscard-{os.geteuid()}"


def check_private(path: Path) -> None:
    """``path`` is a real directory owned by this user with no group or other permission."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UsageError(f"private directory {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(
            f"private directory {path} is {file_type(st.st_mode)}, not a directory: refused"
        )
    if st.st_uid != os.geteuid():
        raise UsageError(
            f"private directory {path} belongs to uid {st.st_uid}, not to you: refused "
            "(remove it, or set XDG_RUNTIME_DIR)"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077 or mode & 0o700 != 0o700:
        raise UsageError(
            f"private directory {path} has mode {mode:04o}, not 0700: refused (chmod 700 it)"
        )


def private_dir(create: bool = True) -> Path:
    """This user's private run-time directory (module docstring), created 0700 when missing
    and ``create``; checked before it is returned (UsageError with one line otherwise)."""
    path = _base()
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(f"cannot create {path}: {exc.strerror or exc}") from None
        else:
            os.chmod(path, 0o700)  # ours and new: undo what a strict umask took from the owner
    elif not os.path.lexists(path):
        return path
    check_private(path)
    return path
