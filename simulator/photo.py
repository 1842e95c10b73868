"""The photo a simulated card carries in SSSE EF08 (application-files.md §3; issue 15).

By default a synthetic portrait drawn by this module — a plain background, shoulders, a neck, a
head with hair: shapes, never a real person's face — encoded as a baseline JPEG of a few KB, the
way issuers compress the ID photo to fit EF08's 4 KB.  Drawn and encoded with Pillow (a
well-kept library; the project does not keep a JPEG encoder of its own), once per process.

``sscard sim issue --photo FILE`` puts a given JPEG or BMP on the card instead; it must fit EF08
and be well formed (:func:`apdu.images.check_image`).  EF08 is padded with 0x00 after the image
[choice: no public source says what padding real cards use; 0x00 is what a freshly created
transparent EF holds on this simulator].
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

from apdu.errors import SSCardError
from apdu.images import PHOTO_MAX, ImageFormatError, ImageTruncated, check_image
from simulator.smallfile import read_small_file

#: Portrait size in pixels: the 358x441 proportions of the card photo, scaled down.
SIZE = (102, 126)
QUALITY = 80
PADDING = 0x00


class PhotoError(SSCardError):
    """A photo that cannot go onto a card (one line: too big, not an image, truncated...)."""


@functools.lru_cache(maxsize=1)
def synthetic_portrait() -> bytes:
    """The default photo: a drawn head-and-shoulders figure as a baseline JPEG (≤ 4 KB)."""
    from PIL import Image, ImageDraw

    w, h = SIZE
    img = Image.new("RGB", SIZE, (67, 142, 219))  # the blue background of ID photos
    draw = ImageDraw.Draw(img)
    draw.ellipse((-12, 92, w + 12, h + 60), fill=(38, 44, 58))  # shoulders (a dark jacket)
    draw.polygon([(w // 2 - 13, 96), (w // 2 + 13, 96), (w // 2, 118)], fill=(235, 235, 235))
    draw.rectangle((w // 2 - 9, 74, w // 2 + 9, 98), fill=(222, 184, 150))  # neck
    draw.ellipse((w // 2 - 24, 24, w // 2 + 24, 86), fill=(230, 192, 158))  # head
    draw.chord((w // 2 - 26, 18, w // 2 + 26, 62), 180, 360, fill=(30, 30, 34))  # hair
    draw.ellipse((w // 2 - 28, 48, w // 2 - 20, 62), fill=(222, 184, 150))  # ears
    draw.ellipse((w // 2 + 20, 48, w // 2 + 28, 62), fill=(222, 184, 150))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=QUALITY, optimize=False, progressive=False)
    data = out.getvalue()
    if len(data) > PHOTO_MAX:  # pragma: no cover - a fixed drawing; guarded all the same
        raise PhotoError(f"synthetic portrait is {len(data)} bytes, more than {PHOTO_MAX}")
    return data


def checked_photo(data: bytes, where: str = "photo") -> bytes:
    """``data`` as it goes onto the card: size and well-formedness checked, anything after the
    image's end (padding of a photo read from a card) removed."""
    if len(data) > PHOTO_MAX:
        raise PhotoError(f"{where}: {len(data)} bytes, EF08 holds at most {PHOTO_MAX}")
    try:
        info = check_image(data)
    except ImageTruncated as exc:
        raise PhotoError(f"{where}: truncated image ({exc})") from None
    except ImageFormatError as exc:
        raise PhotoError(f"{where}: {exc}") from None
    return bytes(data[: info.end])


def load_photo(path: str | os.PathLike[str]) -> bytes:
    """Read and check a photo file (a regular file of at most 4 KB holding a JPEG or BMP)."""
    try:
        data = read_small_file(path, PHOTO_MAX, "photo", PhotoError)
    except PhotoError as exc:
        raise PhotoError(f"{exc}; EF08 holds at most {PHOTO_MAX} (compress it)"
                         if "more than" in str(exc) else str(exc)) from None
    return checked_photo(data, f"photo {Path(path)}")


def ef08_content(photo: bytes | None, size: int) -> bytes:
    """EF08's bytes: the photo (default: the synthetic portrait), padded to the file's size."""
    data = synthetic_portrait() if photo is None else photo
    return data.ljust(size, bytes((PADDING,)))
