"""Strict JSON from untrusted files: the one way sscard reads a card, PSAM or key file.

A file name given on the command line may be anything: a FIFO (an ordinary ``open`` blocks
until a writer appears, forever), a character device (``/dev/zero`` never ends), a directory, a
100 MB file, or JSON that Python's parser takes too kindly (duplicate keys, where the last one
silently wins; ``NaN``; a 5000-digit integer, which raises ``ValueError``; 100,000 nested
arrays, which raise ``RecursionError``).  :func:`read_regular` and :func:`loads_strict` turn all
of these into one :class:`apdu.errors.FileError` line naming the file, quickly:

- the path is ``stat``-ed first and anything but a regular file is refused before it is even
  opened (opening some devices has effects); then it is opened ``O_NONBLOCK`` and ``fstat``-ed
  again (it may have been swapped in between), and at most ``limit + 1`` bytes are read;
- the text must be UTF-8; duplicate keys, ``NaN``/``Infinity`` (and ``1e999``), integers of
  more than :data:`MAX_INT_DIGITS` digits and lone surrogates are refused while parsing; nesting
  deeper than :data:`MAX_DEPTH` is refused (the C parser's own depth guard stops a 100,000-deep
  file early, and is turned into the same one line).

Why this I/O helper lives in ``apdu``, the package that otherwise holds no I/O: the simulator
(card and PSAM files) and the terminal (``--keys``, ``--bank-key``) must read files by the same
rule, and ``apdu`` is the only package both may import.  It reads bytes and nothing else.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from typing import Any, Final, NoReturn

from apdu.errors import FileError

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT_DIGITS",
    "file_type",
    "load_strict",
    "loads_strict",
    "read_regular",
]

#: The largest file read.  A user card file is about 16 KB (its largest EF, the 4 KB photo, is
#: 8 KB of hex); 1 MiB leaves a 60-fold margin for bigger photos and fingerprint files and still
#: bounds memory and parse time (a few milliseconds).
MAX_FILE_BYTES: Final = 1 << 20
#: Deepest nesting of arrays and objects.  A card file nests 5 deep.
MAX_DEPTH: Final = 32
#: Longest integer: 20 digits hold any 64-bit value; no file of ours has a larger number.
MAX_INT_DIGITS: Final = 20

_TYPES: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)

#: A lone surrogate can only come from a \uD800-\uDFFF escape (UTF-8 cannot encode one).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def file_type(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words ("a FIFO (named pipe)", "a directory", ...)."""
    for test, words in _TYPES:
        if test(mode):
            return words
    return "not a regular file"


def _os_failure(where: str, exc: OSError) -> NoReturn:
    if exc.errno == errno.ENOENT:
        raise FileError(f"{where}: no such file") from None
    if exc.errno in (errno.EACCES, errno.EPERM):
        raise FileError(f"{where}: permission denied") from None
    raise FileError(f"{where}: cannot read it ({exc.strerror or exc})") from None


def read_regular(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES,
                 what: str = "file") -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit``), else one FileError line.

    Symbolic links are followed (the caller decides whether it wants them).  ``what`` names the
    kind of file in messages ("card file", "key file").
    """
    where = f"{what} {os.fspath(path)}"
    try:
        before = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        if isinstance(exc, OSError):
            _os_failure(where, exc)
        raise FileError(f"{where}: not a valid path") from None
    if not stat.S_ISREG(before.st_mode):
        raise FileError(f"{where} is {file_type(before.st_mode)}, not a regular file")
    if before.st_size > limit:
        raise FileError(f"{where} is {before.st_size} bytes; the limit is {limit}")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        _os_failure(where, exc)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"{where} is {file_type(st.st_mode)}, not a regular file")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        _os_failure(where, exc)
    finally:
        os.close(fd)
    if total > limit:
        raise FileError(f"{where} is more than {limit} bytes; the limit is {limit}")
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"the key {key[:40]!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    raise _Refused(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


class _Refused(ValueError):
    """Raised by the parser hooks; becomes a FileError naming the file."""


def _depth(data: Any) -> int:
    """Deepest nesting of a parsed document, without recursion."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node if isinstance(child, (dict, list)))
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text[:20]} is not a finite number")
    return value


def loads_strict(raw: bytes, where: str = "file") -> Any:
    """Parse ``raw`` as strict JSON (module docstring); one FileError line when it is not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_bounded_int,
        )
        if _SURROGATE_ESCAPE.search(text):  # a lone one parses, then fails every later encode
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except _Refused as exc:
        raise FileError(f"{where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise FileError(
            f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except UnicodeEncodeError:
        raise FileError(f"{where}: a string holds a lone surrogate (not Unicode text)") from None
    except RecursionError:  # the C parser counts its depth: 100,000 "[" end here, quickly
        raise FileError(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # belt and braces: the hooks above refuse what Python would not
        raise FileError(f"{where}: not usable JSON ({type(exc).__name__})") from None
    if _depth(data) > MAX_DEPTH:
        raise FileError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    return data


def load_strict(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES,
                what: str = "file") -> Any:
    """:func:`read_regular` then :func:`loads_strict`."""
    return loads_strict(read_regular(path, limit, what), f"{what} {os.fspath(path)}")
