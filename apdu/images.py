"""The photo of SSSE EF08 (application-files.md §3): find the image's real end, check it is a
well-formed JPEG or BMP, strip the padding.

EF08 is a 0x1000-byte binary file holding a JPEG or BMP "compressed to fit 4 KB"; the bytes after
the image are whatever the file was initialised with (this project's simulator pads with 0x00;
other padding is accepted, since the end is found from the image's own structure, never by
stripping bytes):

- JPEG (ITU T.81 B.1): SOI ``FFD8``, then marker segments, each ``FF xx`` + a two-byte length
  (stand-alone markers RSTn/TEM have none); after each SOS the entropy-coded data runs to the
  next marker that is not ``FF00`` stuffing or RSTn.  The image ends after EOI ``FFD9``.  Well
  formed = SOI first, a frame header (SOFn) with non-zero size and 1-4 components before the
  first scan, at least one scan, EOI inside the data, every length inside the data.
- BMP: ``BM``, then the file size (little-endian u32 at offset 2) — the image's end — the pixel
  data offset (u32 at 10) and a DIB header whose size is one of the known ones.  Well formed =
  non-zero width and height, one plane, a known bit depth, the pixel data inside the file and,
  for uncompressed bitmaps, the whole pixel array inside it too.

Every length comes from a card: it is checked against the bytes present before use.  Errors are
:class:`ImageFormatError` (one line); :class:`ImageTruncated` says the data ends before the image
does (a reader may fetch more), :class:`ImageAbsent` that EF08 holds no image at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from apdu.errors import DataFormatError

ImageKind = Literal["jpeg", "bmp"]

#: EF08's size (application-files.md §3): the largest photo a card holds.
PHOTO_MAX = 0x1000

#: SOFn markers (frame headers): C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: DIB header sizes: core, info, v2, v3, OS/2 v2, v4, v5.
_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_BMP_DEPTHS = frozenset({1, 4, 8, 16, 24, 32})


class ImageFormatError(DataFormatError):
    """The photo is not a well-formed JPEG or BMP image (the message says why, in one line)."""


class ImageTruncated(ImageFormatError):
    """The data ends before the image does."""


class ImageAbsent(ImageFormatError):
    """No image: empty, or nothing but padding."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the check found: the kind, the size in pixels, and where the image ends."""

    kind: ImageKind
    width: int
    height: int
    end: int
    baseline: bool = False  # JPEG: the frame is baseline DCT (SOF0)


def _u16be(data: bytes, pos: int) -> int:
    return (data[pos] << 8) | data[pos + 1]


def _jpeg(data: bytes) -> ImageInfo:
    n = len(data)
    pos = 2
    frame: tuple[int, int, int] | None = None
    scans = 0
    while True:
        if pos >= n:
            raise ImageTruncated("JPEG ends before its EOI marker")
        if data[pos] != 0xFF:
            raise ImageFormatError(f"JPEG: no marker at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= n:
            raise ImageTruncated("JPEG ends inside a marker")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            if frame is None or scans == 0:
                raise ImageFormatError("JPEG: EOI before any image data")
            return ImageInfo("jpeg", frame[0], frame[1], pos, baseline=frame[2] == 0xC0)
        if marker in (0x00, 0xD8):
            raise ImageFormatError(f"JPEG: unexpected marker FF{marker:02X} at byte {pos - 2}")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # stand-alone markers carry no length
        if pos + 2 > n:
            raise ImageTruncated("JPEG ends inside a segment length")
        length = _u16be(data, pos)
        if length < 2:
            raise ImageFormatError(f"JPEG: segment FF{marker:02X} has length {length}")
        if pos + length > n:
            raise ImageTruncated(f"JPEG segment FF{marker:02X} claims {length} bytes, "
                                 f"{n - pos} present")
        if marker in _SOF:
            frame = _frame(data[pos + 2 : pos + length], marker)
        elif marker == 0xDA and frame is None:
            raise ImageFormatError("JPEG: scan before the frame header")
        pos += length
        if marker == 0xDA:
            scans += 1
            pos = _scan_end(data, pos)


def _frame(seg: bytes, marker: int) -> tuple[int, int, int]:
    if len(seg) < 6:
        raise ImageFormatError("JPEG: frame header too short")
    height, width, components = _u16be(seg, 1), _u16be(seg, 3), seg[5]
    if width == 0 or height == 0:
        raise ImageFormatError(f"JPEG: frame of {width}x{height} pixels")
    if not 1 <= components <= 4 or len(seg) < 6 + 3 * components:
        raise ImageFormatError(f"JPEG: frame with {components} components")
    return width, height, marker


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data after an SOS header ends: the next real marker."""
    n = len(data)
    while True:
        i = data.find(b"\xff", pos)
        if i < 0 or i + 1 >= n:
            raise ImageTruncated("JPEG ends inside the image data")
        nxt = data[i + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
            pos = i + 2  # stuffed FF, or a restart marker inside the scan
        elif nxt == 0xFF:
            pos = i + 1  # fill byte: the marker follows
        else:
            return i


def _bmp(data: bytes) -> ImageInfo:
    n = len(data)
    if n < 26:
        raise ImageTruncated(f"BMP header truncated ({n} bytes)")
    file_size = int.from_bytes(data[2:6], "little")
    offset = int.from_bytes(data[10:14], "little")
    dib = int.from_bytes(data[14:18], "little")
    if dib not in _DIB_SIZES:
        raise ImageFormatError(f"BMP: unknown DIB header size {dib}")
    if 14 + dib > n:
        raise ImageTruncated(f"BMP: DIB header of {dib} bytes, {n - 14} present")
    if dib == 12:
        width, height = int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        planes, depth, compression = int.from_bytes(data[22:24], "little"), data[24], 0
    else:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        planes = int.from_bytes(data[26:28], "little")
        depth = int.from_bytes(data[28:30], "little")
        compression = int.from_bytes(data[30:34], "little")
    if width <= 0 or height == 0:
        raise ImageFormatError(f"BMP: {width}x{height} pixels")
    if planes != 1 or depth not in _BMP_DEPTHS:
        raise ImageFormatError(f"BMP: {planes} planes of {depth} bits")
    if file_size < 14 + dib or not 14 + dib <= offset < file_size:
        raise ImageFormatError(f"BMP: file size {file_size} and pixel offset {offset} disagree")
    if compression in (0, 3):  # BI_RGB, BI_BITFIELDS: the pixel array's size is known
        row = (width * depth + 31) // 32 * 4
        if offset + row * abs(height) > file_size:
            raise ImageFormatError(
                f"BMP: {width}x{abs(height)} pixels do not fit {file_size} bytes")
    if file_size > n:
        raise ImageTruncated(f"BMP says {file_size} bytes, {n} present")
    return ImageInfo("bmp", width, abs(height), file_size)


def image_kind(data: bytes) -> ImageKind | None:
    """"jpeg" or "bmp" by the first bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:2] == b"BM":
        return "bmp"
    return None


def check_image(data: bytes) -> ImageInfo:
    """Check ``data`` (an image, possibly followed by padding) and find where the image ends.

    Raises :class:`ImageAbsent`, :class:`ImageTruncated` or :class:`ImageFormatError`.
    """
    data = bytes(data)
    if not data.strip(b"\x00") or not data.strip(b"\xff"):
        raise ImageAbsent("no image: the data is empty or only padding")
    kind = image_kind(data)
    if kind == "jpeg":
        return _jpeg(data)
    if kind == "bmp":
        return _bmp(data)
    raise ImageFormatError(f"not a JPEG or BMP image (starts {data[:4].hex(' ').upper()})")


def image_end(data: bytes) -> int:
    """The offset just after the image (the first padding byte)."""
    return check_image(data).end


def strip_padding(data: bytes) -> bytes:
    """The image without the padding after its end (what ``read --photo`` writes)."""
    return bytes(data[: image_end(data)])
