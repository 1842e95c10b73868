"""Card files on disk: one owner per file, saves that respect the path, bounded loading.

**One owner.**  A user card keeps its try counters in its file (card-profile §6), so two
processes holding the same card would each spend "their" tries and the last save would win: 30
wrong PINs, 6 tries, and the file back at 6.  :class:`CardLock` is an advisory ``flock`` on a
lock file *beside* the card, ``.<name>.lock`` (the card file itself is replaced by ``rename`` at
every save, so its inode cannot carry a lock).  It is taken before the card is read and held
until the card is closed: a second process waits a bounded time (``SSCARD_CARD_LOCK_WAIT``
seconds, default :data:`DEFAULT_LOCK_WAIT`), then fails with "card file … is in use by PID n"
(the holder writes its PID into the lock file).  Inside one process a second open of a card that
is already open fails at once.  The lock file is never deleted (deleting it would let two
processes lock two different inodes).

**The path.**  Card files are addressed by their *real* path: a symbolic link is resolved once,
when the card is opened, and the card reads, locks and writes its target, so a spent try can
never be refunded through another name.  Hard links are refused (two names, two lock files, and
a save would break the link).  A save (:func:`write_atomic`) goes to a temporary file in the same
directory with the replaced file's mode (and owner, when run as root), is fsync'ed, renamed over
the old file (atomic on POSIX) and the directory fsync'ed: a crash leaves the old card or the new
one, never half of one.  It refuses a path that has become anything but a regular file.  A file
or directory without write permission (for root too: no write bit at all) is refused when the
card is opened, with a message, rather than failing at the first wrong PIN.  Replacing an
existing file (``sim issue --force``) is allowed only when that file is itself an sscard card
file: ``--out /etc/passwd --force`` is refused.

**Loading** goes through :mod:`apdu.jsonfile`: regular files only (a FIFO or a device is refused
without blocking), at most 1 MiB, strict JSON.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Final

from apdu.errors import FileError
from apdu.jsonfile import file_type, loads_strict, read_regular

#: Environment variable: how long (seconds) to wait for a card file another process holds.
LOCK_WAIT_ENV: Final = "SSCARD_CARD_LOCK_WAIT"
#: Default wait: long enough for another short command (a read, a PIN try) to finish, short
#: enough that a card left open at someone's PIN prompt is reported, not waited for.
DEFAULT_LOCK_WAIT: Final = 5.0
#: The ``kind`` values of our card files (only these may be replaced by ``--force``).
CARD_KINDS: Final = frozenset({"sscard-user-card", "sscard-psam"})


class CardFileError(FileError):
    """A card file that cannot be opened, read, written or is not a card of the expected kind."""


class CardInUseError(CardFileError):
    """Another process (or another object of this process) holds the card file."""


class CardWriteError(CardFileError):
    """A save failed (the card answers 6581, a memory failure): the old file is intact."""


def real_path(path: str | os.PathLike[str]) -> Path:
    """The path a card file is known by: absolute, every symbolic link resolved."""
    try:
        return Path(os.path.realpath(os.fspath(path)))
    except (OSError, ValueError) as exc:
        raise CardFileError(f"card file {os.fspath(path)!r}: not a usable path ({exc})") from None


def lock_path(card: Path) -> Path:
    """``.<name>.lock`` beside the card file."""
    return card.parent / f".{card.name}.lock"


def lock_wait(explicit: float | None = None) -> float:
    """Seconds to wait for a busy card: ``explicit``, else ``$SSCARD_CARD_LOCK_WAIT``, else
    :data:`DEFAULT_LOCK_WAIT`."""
    if explicit is not None:
        return explicit
    text = os.environ.get(LOCK_WAIT_ENV)
    if text is None or not text.strip():
        return DEFAULT_LOCK_WAIT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise CardFileError(f"{LOCK_WAIT_ENV} must be a number of seconds >= 0, got {text!r}")
    return value


def _write_failure(what: str, target: Path, exc: OSError) -> CardFileError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT and not target.parent.is_dir():
        reason = f"the directory {target.parent} does not exist"
    return CardWriteError(f"cannot {what} {target}: {reason}")


class CardLock:
    """An exclusive advisory lock on a card file, held from open to close (module docstring).

    Release it with :meth:`release` (or ``with``); it is also released when the object is
    garbage-collected or the process ends (the kernel drops the ``flock`` with the descriptor).
    """

    _held: weakref.WeakValueDictionary[str, CardLock] = weakref.WeakValueDictionary()
    _guard = threading.Lock()

    def __init__(self, card: Path, fd: int) -> None:
        self.card = card
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: str | os.PathLike[str], wait: float | None = None) -> CardLock:
        """Lock the card file at ``path`` (its real path); CardInUseError when another holder
        keeps it longer than ``wait`` seconds (see :func:`lock_wait`)."""
        card = real_path(path)
        seconds = lock_wait(wait)
        key = str(card)
        with cls._guard:
            other = cls._held.get(key)
        if other is not None and other.held:
            raise CardInUseError(
                f"card file {card} is already open in this process (PID {os.getpid()}); "
                "close it first"
            )
        fd = cls._open(card)
        try:
            cls._lock(fd, card, seconds)
            # A fixed-width record, so no truncate is needed (a truncate costs a journal commit).
            os.pwrite(fd, f"{os.getpid():<19}\n".encode("ascii"), 0)
        except BaseException:
            os.close(fd)
            raise
        lock = cls(card, fd)
        with cls._guard:
            cls._held[key] = lock
        return lock

    @staticmethod
    def _open(card: Path) -> int:
        where = lock_path(card)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(where, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CardFileError(f"lock file {where} is a symbolic link: refused") from None
            raise CardFileError(
                f"cannot create the lock file {where} beside the card: {exc.strerror or exc}"
            ) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise CardFileError(f"lock file {where} is {file_type(mode)}: refused")
        return fd

    @staticmethod
    def _lock(fd: int, card: Path, seconds: float) -> None:
        import fcntl

        deadline = time.monotonic() + seconds
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise CardInUseError(
                    f"card file {card} is in use by {_holder(fd)} (waited {seconds:g} s; "
                    f"{LOCK_WAIT_ENV} sets the wait)"
                )
            time.sleep(min(pause, left))  # no lock-release event exists to wait on
            pause = min(pause * 2, 0.1)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> CardLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the kernel releases it anyway
            self.release()

    def __repr__(self) -> str:
        return f"<CardLock {self.card} {'held' if self.held else 'released'}>"


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 20, 0).decode("ascii").split("\n")[0].strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"PID {text}" if text.isdigit() else "another process"


# --- checks --------------------------------------------------------------------------------------


def _stat(target: Path) -> os.stat_result | None:
    try:
        return os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CardFileError(f"card file {target}: {exc.strerror or exc}") from None


def check_writable_dir(target: Path) -> None:
    """The card's directory exists and may be written (temporary file, rename, lock file)."""
    parent = target.parent
    try:
        st = os.stat(parent)
    except OSError:
        raise CardFileError(f"card file {target}: the directory {parent} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise CardFileError(f"card file {target}: {parent} is not a directory")
    if not (st.st_mode & 0o222) or not os.access(parent, os.W_OK | os.X_OK):
        raise CardFileError(
            f"card file {target}: its directory {parent} is read-only; a simulated card saves "
            "its try counters there (card-profile §6)"
        )


def check_card_file(target: Path, st: os.stat_result, *, writable: bool = True) -> None:
    """An existing card file is regular, has one name, and (``writable``) may be written."""
    if stat.S_ISLNK(st.st_mode):
        raise CardFileError(f"card file {target} became a symbolic link: refused")
    if not stat.S_ISREG(st.st_mode):
        raise CardFileError(f"card file {target} is {file_type(st.st_mode)}, not a regular file")
    if st.st_nlink > 1:
        raise CardFileError(
            f"card file {target} has {st.st_nlink} hard links: a save would break them and each "
            "name would count tries apart; keep one name (a symbolic link is fine)"
        )
    if writable and (not (st.st_mode & 0o222) or not os.access(target, os.W_OK)):
        raise CardFileError(
            f"card file {target} is read-only (mode {stat.S_IMODE(st.st_mode):04o}); a simulated "
            "card writes its try counters to its file: make it writable or use a copy"
        )


def check_replaceable(target: Path) -> None:
    """``target`` may receive a new card file: absent (in a writable directory), or an existing
    sscard card file that :func:`check_card_file` accepts.  Anything else is refused."""
    check_writable_dir(target)
    st = _stat(target)
    if st is None:
        return
    check_card_file(target, st)
    try:
        data = loads_strict(read_regular(target, what="card file"), f"card file {target}")
    except FileError:
        data = None
    if not (isinstance(data, dict) and data.get("kind") in CARD_KINDS):
        raise CardFileError(f"refusing to replace {target}: it is not an sscard card file")


# --- reading and writing -------------------------------------------------------------------------


def read_card_file(path: str | os.PathLike[str]) -> tuple[bytes, Any]:
    """The raw bytes of a card file and their strict JSON (:mod:`apdu.jsonfile`)."""
    try:
        raw = read_regular(path, what="card file")
        return raw, loads_strict(raw, f"card file {os.fspath(path)}")
    except CardFileError:
        raise
    except FileError as exc:
        raise CardFileError(str(exc)) from None


def load_json(path: str | os.PathLike[str]) -> Any:
    """The strict JSON of a card file (no lock: for inspecting a file, not for using a card)."""
    return read_card_file(path)[1]


def dumps(data: Any) -> bytes:
    """The canonical bytes of a card file."""
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def write_atomic(path: str | os.PathLike[str], payload: bytes) -> None:
    """Replace ``path`` (already a real path) with ``payload`` atomically (module docstring).

    Raises CardWriteError, leaving the old file as it was, when the path is not a regular
    single-link writable file any more, or when the file system refuses.
    """
    target = Path(path)
    st = _stat(target)
    if st is not None:
        try:
            check_card_file(target, st)
        except CardFileError as exc:
            raise CardWriteError(str(exc)) from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _write_failure("write", target, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if st is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                if os.geteuid() == 0:  # root keeps the owner of a file it rewrites
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_failure("write", target, exc) from None
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise _write_failure("sync the directory of", target, exc) from None


def save_json_atomic(path: str | os.PathLike[str], data: Any, raw: bytes | None = None) -> bytes:
    """Write ``data`` as a card file (``raw``: the exact bytes to write, when the caller holds
    bytes that encode ``data``, e.g. those the card was loaded from); returns what was written."""
    payload = dumps(data) if raw is None else raw
    write_atomic(path, payload)
    return payload


def replace_file(path: str | os.PathLike[str], data: Any, wait: float | None = None) -> Path:
    """Write a new card file at ``path`` under the card lock, refusing to replace anything that
    is not a card file (:func:`check_replaceable`).  Returns the real path written."""
    target = real_path(path)
    check_replaceable(target)  # before the lock file is created beside it
    with CardLock.acquire(target, wait):
        check_replaceable(target)
        save_json_atomic(target, data)
    return target
