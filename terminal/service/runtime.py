"""Where the service's socket lives, and the rules that keep other users out.

design-12: ``service.sock`` in the user's private run-time directory (:func:`apdu.rundir.
private_dir`: ``$XDG_RUNTIME_DIR/sscard/``, else ``$TMPDIR``/``/tmp`` ``sscard-<uid>/``, a real
directory of this user's, 0700, checked before every use and never "repaired": the same rule as
the simulator's control socket), the socket 0600, created under a restrictive umask *before*
``bind`` so that it is never reachable even for an instant.  ``--socket PATH`` overrides the
place; its socket gets the same 0600, and its directory must not be writable by others unless it
is sticky (as ``/tmp`` is), so no other user can replace the socket.

A path that already exists is only removed when it is a socket nobody answers on (a stale one);
a live service there is an error, and anything that is not a socket is never touched.

The C library computes the same default path (``terminal/national/c/sscard_national.c``); the
environment variable ``SSCARD_SOCKET`` overrides it there and in the Python client.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from pathlib import Path

from apdu.errors import UsageError
from apdu.rundir import private_dir

SOCKET_NAME = "service.sock"
ENV_SOCKET = "SSCARD_SOCKET"
#: AF_UNIX path limit (sun_path is 108 bytes on Linux, NUL included).
MAX_PATH = 107


def default_socket_path() -> Path:
    """``SSCARD_SOCKET`` when set, else ``service.sock`` in the private directory."""
    env = os.environ.get(ENV_SOCKET)
    if env:
        return Path(env)
    return private_dir(create=False) / SOCKET_NAME


def _check_parent(path: Path) -> None:
    st = os.stat(path.parent)
    writable_by_others = stat.S_IMODE(st.st_mode) & 0o022
    if writable_by_others and not st.st_mode & stat.S_ISVTX:
        raise UsageError(
            f"{path.parent} is writable by other users: they could replace the socket"
        )


def _clear_stale(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise UsageError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise UsageError(f"{path}: cannot tell whether a service is there ({exc})") from None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise UsageError(f"a service already listens on {path}")


def listen(path: Path | None = None, backlog: int = 64) -> tuple[socket.socket, Path]:
    """The listening socket at ``path`` (default: the private directory), mode 0600."""
    if path is None:
        path = private_dir() / SOCKET_NAME
    else:
        path = Path(path)
        if not path.parent.is_dir():
            raise UsageError(f"{path.parent} is not a directory")
        _check_parent(path)
    if len(os.fsencode(path)) > MAX_PATH:
        raise UsageError(f"socket path {path} is longer than {MAX_PATH} bytes")
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {path}: {exc.strerror}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(backlog)
    return sock, path


def socket_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the socket we bound, so shutdown removes ours and nothing else."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def remove_socket(path: Path, identity: tuple[int, int] | None) -> None:
    if identity is not None and socket_identity(path) == identity:
        with contextlib.suppress(OSError):
            os.unlink(path)
