"""The holder's photo (SSSE EF08, application-files.md §3): read it in the fewest APDUs, find the
image's real end, check it, save it (issue 15).

EF08 is a 0x1000-byte binary file read after external authentication with RKSSSE (KID ``0A``,
card-profile §5).  :func:`read_photo`:

1. 卡的识别码 (EF05 tag 01) when the session does not know it yet (the key is diversified with
   it, §7.1): 1 READ RECORD; SELECT SSSE first when the card is elsewhere (+1 on T=0);
2. RKSSSE through the security module: GET CHALLENGE + EXTERNAL AUTHENTICATE (2), nothing when
   the session authenticated it in the SSSE already (a 3.00 card's read of EF06 did);
3. READ BINARY: the first one by SFI 8 (``00 B0 88 00 Le``, no SELECT of the EF; the card makes
   EF08 the current EF), the next ones by offset in the current EF (a COS that refuses the SFI
   form, ``6A86``/``6A81``/``6981``, gets ``SELECT EF08`` by FID and the same reads, +2).
   Each answer is checked with :func:`apdu.images.check_image` and the read stops as soon as
   the image is whole (JPEG EOI, BMP file size): a 2.5 KB JPEG takes 10 short reads, not the 16
   the file holds.

Le: extended (one READ BINARY for the whole file, ``Le = 0x1000``) when the link can carry it
— the reader says so (:attr:`drivers.base.Reader.extended_apdu`) and the protocol is T=1 (T=0
cannot carry an extended Le in one exchange) — and the card's model has not refused it before;
a card that answers the extended read with ``6700``/``6A86``/``6D00``/``6E00`` is read with short
reads at once and its model (ATR historical bytes T1-T5) remembered for the process
(:data:`EXTENDED_LE_REFUSALS`, the same :class:`terminal.reading.ModelMemory` as the multi-record
read's).  Otherwise the largest short read, Le ``00`` (256 bytes).

Every length is the card's, so untrusted: an answer longer than the Le asked or running past
the file's size is a :class:`apdu.errors.ResponseFormatError`; an image that is not well formed is
an :class:`apdu.images.ImageFormatError` (:class:`~apdu.images.ImageAbsent` for an empty EF08).

:func:`save_photo` writes the image (padding stripped) to a file, replacing only a regular file
with one name that already holds a JPEG or BMP image (a photo saved before): anything else there
is refused, and the write is atomic (a temporary file in the same directory, then a rename).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import terminal.pin as pinops
from apdu import commands, status
from apdu.appfiles import SSSE_EF08
from apdu.command import SHORT_NE_MAX
from apdu.errors import CryptoError, FileError, ResponseFormatError, UsageError
from apdu.images import ImageAbsent, ImageFormatError, ImageInfo, ImageTruncated, check_image
from apdu.jsonfile import file_type, read_regular
from apdu.names import SFI_EF08, Kid
from apdu.status import FileNotFound, StatusError
from terminal.reading import ModelMemory, card_model
from terminal.session import CardSession

#: the key that opens EF08 (application-files §3, card-profile §5).
PHOTO_KEY = ("RKSSSE", Kid.RKSSSE)

#: status words of a card that does not take an extended Le: wrong length, wrong P1/P2,
#: INS or CLA not supported.
EXTENDED_REFUSED = frozenset(
    {status.WRONG_LENGTH, status.WRONG_P1P2, status.INS_NOT_SUPPORTED, status.CLA_NOT_SUPPORTED}
)
#: answers that carry photo data: success, and "end of file reached before Le bytes" (6282).
_DATA_SW = frozenset({status.SUCCESS, status.END_OF_RECORD})

#: answers of a card that does not take READ BINARY by SFI (P1 b8 = 1): wrong P1/P2, function
#: not supported, incompatible file structure.
_SFI_REFUSED = frozenset(
    {status.WRONG_P1P2, status.FUNCTION_NOT_SUPPORTED, status.INCOMPATIBLE_FILE_STRUCTURE}
)

#: card models (historical bytes T1-T5) known to refuse an extended Le, for the process.
EXTENDED_LE_REFUSALS = ModelMemory()


@dataclass(frozen=True)
class Photo:
    """The photo as read: the image bytes (padding stripped) and what the check found."""

    data: bytes
    info: ImageInfo
    #: bytes read from EF08 (the image and the padding the last READ BINARY brought).
    read_bytes: int
    #: READ BINARY commands sent (GET RESPONSE and 6Cxx re-sends not included).
    reads: int
    #: the largest Le used: 256 (short) or the file size (extended).
    max_le: int
    #: command APDUs of the whole photo read (identification, authentication and reads).
    apdus: int

    @property
    def kind(self) -> str:
        return self.info.kind

    def summary(self) -> str:
        i = self.info
        return f"{i.kind.upper()} {i.width}x{i.height}, {len(self.data)} bytes"

    def to_json(self) -> dict[str, Any]:
        """``{"kind", "width", "height", "bytes", "base64", "reads", "apdus"}``: what a kiosk
        needs to show it (``base64`` holds the image without padding)."""
        return {
            "kind": self.info.kind,
            "width": self.info.width,
            "height": self.info.height,
            "bytes": len(self.data),
            "base64": base64.b64encode(self.data).decode("ascii"),
            "reads": self.reads,
            "apdus": self.apdus,
        }

    def __repr__(self) -> str:
        return f"Photo({self.summary()}, reads={self.reads})"


def extended_possible(session: CardSession) -> bool:
    """Whether this read may use an extended Le: the reader carries extended APDUs, the link is
    T=1 and the card's model has not refused one before (module docstring)."""
    reader = session.channel.reader
    if not reader.extended_apdu or reader.protocol != "T1":
        return False
    return not EXTENDED_LE_REFUSALS.refuses(card_model(session.atr))


def minimum_reads(image_bytes: int, max_le: int) -> int:
    """The fewest READ BINARY commands that bring ``image_bytes`` with ``max_le`` per answer."""
    return max(1, -(-image_bytes // max_le))


def _authenticate(session: CardSession) -> None:
    """RKSSSE in the SSSE: the card identification code first (the key's diversification)."""
    if session.sam is None:
        raise UsageError(
            "the photo (EF08) is read after external authentication with RKSSSE: no security "
            "module (SAM) is configured"
        )
    pinops.read_card_id(session)
    session.enter("SSSE")
    session.external_auth(*PHOTO_KEY)


class _Reader:
    """READ BINARY of EF08 chunk by chunk, each answer's length checked against what was asked."""

    def __init__(self, session: CardSession) -> None:
        self.session = session
        self.size = SSSE_EF08.size
        self.data = bytearray()
        self.reads = 0
        #: the first read names EF08 by SFI; a card that refuses that form gets SELECT EF08.
        self.by_sfi = True

    def read(self, le: int) -> int:
        """One READ BINARY at the current end, ``le`` bytes at most (an Le above 256 is sent
        extended); returns the status word (the data kept on success)."""
        offset = len(self.data)
        le = min(le, self.size - offset)
        if offset == 0 and self.by_sfi:
            self.session.named_by_sfi()
            cmd = commands.read_binary(0, le, sfi=SFI_EF08)
        else:
            self.session.select_ef(SSSE_EF08.fid)  # nothing sent when EF08 is current
            cmd = commands.read_binary(offset, le)
        resp = self.session.channel.transmit(cmd)
        self.reads += 1
        if offset == 0 and self.by_sfi and resp.sw in _SFI_REFUSED:
            self.by_sfi = False  # a COS without the SFI form of READ BINARY: select EF08
            return self.read(le)
        if offset == 0 and resp.sw in _DATA_SW | {status.OFFSET_OUTSIDE_EF}:
            self.session.named_by_sfi(SSSE_EF08.fid)  # it succeeded: EF08 is current
        if resp.sw in _DATA_SW:
            got = len(resp.data)
            if got > le:
                raise ResponseFormatError(f"EF08: the card returned {got} bytes, Le was {le}")
            if got == 0 and resp.sw == status.SUCCESS:  # it would never end
                raise ResponseFormatError(f"EF08: the card returned no data at offset {offset}")
            self.data += resp.data
        return resp.sw

    @property
    def full(self) -> bool:
        return len(self.data) >= self.size


def _image(data: bytes, final: bool) -> ImageInfo | None:
    """The image's facts once it is whole; None while more data may complete it."""
    try:
        return check_image(data)
    except ImageTruncated:
        if final:
            raise
        return None


def read_photo(session: CardSession) -> Photo:
    """Read, check and strip the photo of SSSE EF08 (module docstring for the steps and costs).

    Raises :class:`apdu.errors.UsageError` without a security module, the typed status errors
    of the authentication (:class:`apdu.status.WrongKey`...) and of READ BINARY (``6982``...),
    :class:`apdu.images.ImageFormatError` (``ImageAbsent``, ``ImageTruncated``) for what EF08
    holds, and :class:`apdu.errors.ResponseFormatError` for answers longer than asked.
    """
    channel = session.channel
    start = channel.apdu_count
    _authenticate(session)
    reader = _Reader(session)
    max_le = SHORT_NE_MAX
    if extended_possible(session):
        sw = reader.read(reader.size)
        if sw in EXTENDED_REFUSED:
            EXTENDED_LE_REFUSALS.remember(card_model(session.atr))
        else:
            status.check(sw, commands.INS_READ_BINARY)
            max_le = reader.size
    info: ImageInfo | None = None
    if reader.data:
        info = _image(bytes(reader.data), reader.full)
    while info is None:
        if reader.full:
            info = _image(bytes(reader.data), True)
            break
        sw = reader.read(SHORT_NE_MAX)
        if sw == status.OFFSET_OUTSIDE_EF and reader.data:
            info = _image(bytes(reader.data), True)  # the card's EF08 is smaller: it ends here
            break
        status.check(sw, commands.INS_READ_BINARY)
        info = _image(bytes(reader.data), reader.full or sw == status.END_OF_RECORD)
        if sw == status.END_OF_RECORD and info is None:  # pragma: no cover - final raised
            break
    assert info is not None
    return Photo(
        data=bytes(reader.data[: info.end]),
        info=info,
        read_bytes=len(reader.data),
        reads=reader.reads,
        max_le=max_le,
        apdus=channel.apdu_count - start,
    )


# --- the photo as a finding (the check, the activation) ----------------------------------------

PhotoState = Literal["ok", "absent", "not_image", "not_read"]


@dataclass(frozen=True)
class PhotoFinding:
    """What trying to read the photo gave, without raising: the photo (``ok``), an empty EF08
    (``absent``), something that is not a well-formed image or an answer that makes no sense
    (``not_image``), or no read at all (``not_read``: no security module, a refused key...)."""

    state: PhotoState
    photo: Photo | None = None
    problem: str | None = None

    @property
    def detail(self) -> str:
        if self.photo is not None:
            return self.photo.summary()
        return self.problem or self.state

    def to_json(self, *, image: bool = False) -> dict[str, Any]:
        """``{"state", "detail", "kind", "width", "height", "bytes"}`` (+ ``base64`` with
        ``image``); the image fields are null unless ``state`` is ``ok``."""
        p = self.photo
        out: dict[str, Any] = {
            "state": self.state,
            "detail": self.detail,
            "kind": p.kind if p else None,
            "width": p.info.width if p else None,
            "height": p.info.height if p else None,
            "bytes": len(p.data) if p else None,
        }
        if image:
            out["base64"] = base64.b64encode(p.data).decode("ascii") if p else None
        return out


def try_photo(session: CardSession) -> PhotoFinding:
    """:func:`read_photo` as a finding; transport errors still raise (the card is gone)."""
    try:
        return PhotoFinding("ok", read_photo(session))
    except ImageAbsent:
        return PhotoFinding("absent", problem="EF08 holds no photo (empty)")
    except FileNotFound:
        return PhotoFinding("absent", problem="the card has no photo file (EF08: 6A82)")
    except ImageFormatError as exc:
        return PhotoFinding("not_image", problem=f"EF08 is not a well-formed JPEG or BMP: {exc}")
    except ResponseFormatError as exc:
        return PhotoFinding("not_image", problem=f"EF08 could not be read sensibly: {exc}")
    except (UsageError, CryptoError, StatusError) as exc:
        return PhotoFinding("not_read", problem=f"not read: {exc}")


# --- saving ---------------------------------------------------------------------------------------


def _ours(target: Path) -> bool:
    """Whether ``target`` (an existing regular file) holds a JPEG or BMP image: a photo."""
    try:
        check_image(read_regular(target, 1 << 20, "photo file"))
    except (FileError, ImageFormatError):
        return False
    return True


def check_photo_target(path: str | os.PathLike[str]) -> None:
    """Refuse, before any card I/O, a ``path`` :func:`save_photo` would refuse: something there
    that is not a previous photo, or a directory that does not exist (one FileError line)."""
    target = Path(path)
    _replaceable(target, f"photo file {os.fspath(path)}")
    if not target.parent.is_dir():
        raise FileError(f"photo file {os.fspath(path)}: no such directory")


def _replaceable(target: Path, where: str) -> None:
    """Nothing at ``target``, or a regular single-link file holding a photo; else FileError."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or "not a valid path"
        raise FileError(f"{where}: {reason}") from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise FileError(f"refusing to replace {where}: it is {file_type(st.st_mode)}")
        if st.st_nlink > 1:
            raise FileError(f"refusing to replace {where}: it has {st.st_nlink} hard links")
        if not _ours(target):
            raise FileError(f"refusing to replace {where}: it does not hold a JPEG or BMP photo")


def save_photo(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` (an image) to ``path`` atomically; see the module docstring for what may
    be replaced.  One :class:`apdu.errors.FileError` line when it cannot or may not be."""
    target = Path(path)
    where = f"photo file {os.fspath(path)}"
    _replaceable(target, where)
    parent = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        reason = "no such directory" if exc.errno == errno.ENOENT else exc.strerror or str(exc)
        raise FileError(f"{where}: {reason}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:  # an interrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FileError(f"{where}: {exc.strerror or exc}") from None
        raise
    return target


__all__ = [
    "EXTENDED_LE_REFUSALS", "PHOTO_KEY", "Photo", "PhotoFinding", "check_photo_target",
    "extended_possible",
    "minimum_reads", "read_photo", "save_photo", "try_photo",
]
