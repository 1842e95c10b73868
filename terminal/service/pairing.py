"""Pairing: which web origins the operator approved to use the card (Fortify's model).

An origin in the bridge's allow-list is not yet trusted: the first connection from it gets
``pairing_required`` with a short code, shown on the page and in the service's log.  The operator
compares the two and approves the origin locally (``sscard service approve CODE``, an op on the
service's Unix socket, which only this user can reach; or a pinentry CONFIRM prompt when the
configuration says so).  Approvals persist in a small JSON file of ours and survive restarts;
``sscard service revoke ORIGIN`` removes one, and the bridge checks approval on every message, so
a revocation holds from that origin's next message on.

The file: ``$XDG_CONFIG_HOME/sscard/bridge-pairings.json`` unless configured::

    {"version": 1, "origins": {"https://pos.example.com": {"approved": "2026-12-01T09:30:00Z"}}}

It is read only when it is a regular file (not a symbolic link) owned by this user with no group
or other permission (0600), and written atomically (a new 0600 file in the same directory,
fsync'ed, renamed over the old one): a file that fails the checks is refused with one line,
never "repaired" and never replaced.  Codes are 6 digits from :mod:`secrets`, one pending code per
origin, valid :data:`CODE_TTL` seconds.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apdu.errors import UsageError
from apdu.jsonfile import file_type, loads_strict
from terminal.service.bridge_policy import check_origin

STORE_NAME = "bridge-pairings.json"
STORE_VERSION = 1
#: Seconds a pairing code stays valid.
CODE_TTL = 300.0
CODE_DIGITS = 6
#: A pairing file holds a few origins; anything larger is not ours.
MAX_STORE_BYTES = 256 * 1024


def default_store_path() -> Path:
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(home) / "sscard" / STORE_NAME


@dataclass
class _Pending:
    code: str
    expires: float


def _check_ours(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"pairing file {path} is {file_type(st.st_mode)}, not a regular file: "
                         "refused")
    if st.st_uid != os.geteuid():
        raise UsageError(f"pairing file {path} belongs to uid {st.st_uid}, not to you: refused")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise UsageError(f"pairing file {path} has mode {mode:04o}, not 0600: refused "
                         "(chmod 600 it after checking what it holds)")


class PairingStore:
    """Approved origins (persisted) and pending codes (in memory); thread-safe."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._approved: dict[str, str] = self._load()

    # -- the file -----------------------------------------------------------------------------

    def _load(self) -> dict[str, str]:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UsageError(f"pairing file {self.path}: {exc.strerror or exc}") from None
        _check_ours(self.path, st)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            raise UsageError(f"pairing file {self.path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as f:
            _check_ours(self.path, os.fstat(f.fileno()))
            raw = f.read(MAX_STORE_BYTES + 1)
        if len(raw) > MAX_STORE_BYTES:
            raise UsageError(f"pairing file {self.path} is larger than {MAX_STORE_BYTES} bytes")
        try:
            data = loads_strict(raw, f"pairing file {self.path}")
        except Exception as exc:  # noqa: BLE001 - FileError or a JSON refusal: one line either way
            raise UsageError(str(exc).splitlines()[0]) from None
        return self._parse(data)

    def _parse(self, data: Any) -> dict[str, str]:
        where = f"pairing file {self.path}"
        if not isinstance(data, dict) or data.get("version") != STORE_VERSION:
            raise UsageError(f"{where}: not a version {STORE_VERSION} pairing file")
        origins = data.get("origins")
        if not isinstance(origins, dict) or set(data) != {"version", "origins"}:
            raise UsageError(f"{where}: expected exactly 'version' and 'origins'")
        out: dict[str, str] = {}
        for origin, entry in origins.items():
            check_origin(origin)
            when = entry.get("approved") if isinstance(entry, dict) else None
            if not isinstance(when, str) or len(when) > 40:
                raise UsageError(f"{where}: {origin}: no approval time")
            out[origin] = when
        return out

    def _save(self) -> None:
        """Write the approvals atomically (module docstring); the old file must be ours."""
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {directory}: {exc.strerror or exc}") from None
        try:
            _check_ours(self.path, os.lstat(self.path))
        except FileNotFoundError:
            pass
        body = {"version": STORE_VERSION,
                "origins": {o: {"approved": w} for o, w in sorted(self._approved.items())}}
        data = (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        tmp = directory / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(tmp, flags, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise UsageError(f"cannot write pairing file {self.path}: {exc.strerror or exc}"
                             ) from None

    # -- questions ----------------------------------------------------------------------------

    def is_approved(self, origin: str) -> bool:
        with self._lock:
            return origin in self._approved

    def approved(self) -> dict[str, str]:
        """origin -> when it was approved (UTC, ISO 8601)."""
        with self._lock:
            return dict(self._approved)

    def pending(self) -> dict[str, str]:
        """origin -> its pending code (unexpired)."""
        with self._lock:
            self._expire()
            return {o: p.code for o, p in self._pending.items()}

    # -- changes ------------------------------------------------------------------------------

    def _expire(self) -> None:
        now = self._clock()
        for origin in [o for o, p in self._pending.items() if p.expires <= now]:
            del self._pending[origin]

    def request(self, origin: str) -> tuple[str, bool]:
        """The pending code for ``origin`` (a new one when it has none): (code, new?)."""
        with self._lock:
            self._expire()
            pending = self._pending.get(origin)
            if pending is not None:
                return pending.code, False
            taken = {p.code for p in self._pending.values()}
            while True:
                code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
                if code not in taken:
                    break
            self._pending[origin] = _Pending(code, self._clock() + CODE_TTL)
            return code, True

    def approve(self, code: str) -> str | None:
        """Approve the origin whose pending code is ``code``; that origin, or None."""
        with self._lock:
            self._expire()
            found = None
            for origin, pending in self._pending.items():
                if hmac.compare_digest(pending.code.encode(), code.encode()):
                    found = origin
            if found is None:
                return None
            self._approve(found)
            return found

    def approve_origin(self, origin: str) -> None:
        """Approve ``origin`` directly (the operator confirmed it in a local prompt)."""
        with self._lock:
            self._approve(origin)

    def _approve(self, origin: str) -> None:
        before = dict(self._approved)
        self._approved[origin] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self._save()
        except UsageError:
            self._approved = before
            raise
        self._pending.pop(origin, None)

    def revoke(self, origin: str) -> bool:
        """Forget an approval (and a pending code); False when there was neither."""
        with self._lock:
            had_code = self._pending.pop(origin, None) is not None
            if origin not in self._approved:
                return had_code
            before = dict(self._approved)
            del self._approved[origin]
            try:
                self._save()
            except UsageError:
                self._approved = before
                raise
            return True
