"""The EF08 photo (issue 15): the format facts of apdu.images on good, padded, truncated and
hostile images; the synthetic portrait; a photo round-trips byte-identically through
personalisation and READ BINARY of the simulated card after RKSSSE authentication."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from apdu.images import (
    PHOTO_MAX,
    ImageAbsent,
    ImageFormatError,
    ImageTruncated,
    check_image,
    image_end,
    strip_padding,
)
from simulator.photo import PhotoError, checked_photo, load_photo, synthetic_portrait
from simulator.samples import sample_card
from simulator.usercard import UserCard
from terminal.cli.main import cli
from tests.helpers_sim import ext_auth, select_ssse, tx


def _jpeg(size: tuple[int, int] = (40, 50), **kw: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG", **kw)
    return out.getvalue()


def _bmp(size: tuple[int, int] = (8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, "BMP")
    return out.getvalue()


def _read_photo(card: UserCard) -> bytes:
    """What a terminal does: RKSSSE, then READ BINARY of EF08 in the fewest short APDUs."""
    select_ssse(card)
    assert ext_auth(card, 0x0A, "RKSSSE") == 0x9000
    data, status = tx(card, "00B0880000")  # SFI 8, offset 0: selects EF08
    assert status == 0x9000
    offset = len(data)
    while offset < PHOTO_MAX:
        chunk, status = tx(card, bytes((0, 0xB0, offset >> 8, offset & 0xFF, 0)))
        assert status == 0x9000
        data += chunk
        offset += len(chunk)
    assert len(data) == PHOTO_MAX
    return data


# --- format facts ---------------------------------------------------------------------------------


def test_synthetic_portrait_is_a_baseline_jpeg_pillow_opens() -> None:
    photo = synthetic_portrait()
    assert len(photo) <= PHOTO_MAX
    info = check_image(photo)
    assert (info.kind, info.baseline, info.end) == ("jpeg", True, len(photo))
    with Image.open(io.BytesIO(photo)) as img:
        img.load()
        assert img.format == "JPEG" and img.size == (info.width, info.height) == (102, 126)
        assert img.info.get("progressive") is None


@pytest.mark.parametrize("pad", [b"\x00", b"\xff", b"\x5a"])
def test_end_found_by_structure_whatever_the_padding(pad: bytes) -> None:
    jpeg, bmp = _jpeg(), _bmp()
    assert strip_padding(jpeg + pad * 300) == jpeg
    assert strip_padding(bmp + pad * 300) == bmp
    assert check_image(bmp + pad).kind == "bmp" and check_image(bmp).width == 8


def test_progressive_jpeg_and_restart_markers_are_walked() -> None:
    prog = _jpeg((64, 64), progressive=True)
    assert image_end(prog + bytes(100)) == len(prog)
    assert check_image(prog).baseline is False
    # a scan with stuffed FF00 bytes and RSTn markers inside it
    head = _jpeg((16, 16))
    sos = head.index(b"\xff\xda")
    length = int.from_bytes(head[sos + 2 : sos + 4], "big")
    body = head[: sos + 2 + length] + b"\x12\xff\x00\x34\xff\xd0\x56\xff\xff\xd9"
    assert image_end(body + b"\x00\x00") == len(body)


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        (b"", ImageAbsent, "no image"),
        (bytes(PHOTO_MAX), ImageAbsent, "no image"),
        (b"\xff" * 64, ImageAbsent, "no image"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), ImageFormatError, "not a JPEG or BMP"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", ImageTruncated, "claims 16 bytes"),
        (b"\xff\xd8\xff\xd9", ImageFormatError, "EOI before any image data"),
        (b"\xff\xd8\xff\xe0\x00\x01", ImageFormatError, "length 1"),
        (b"\xff\xd8\xff\xda\x00\x02", ImageFormatError, "scan before the frame"),
        (b"\xff\xd8\xff\xc0\x00\x08\x08\x00\x00\x00\x10\x01", ImageFormatError, "0 pixels"),
        (b"\xff\xd8\xff\xe0\x00\x04ab\x00\x00", ImageFormatError, "no marker"),
        (b"BM" + bytes(10), ImageTruncated, "header truncated"),
    ],
)
def test_hostile_images_get_one_line_errors(data: bytes, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment) as info:
        check_image(data)
    assert "\n" not in str(info.value)


def test_truncated_images_say_so() -> None:
    jpeg, bmp = _jpeg(), _bmp()
    for cut in (len(jpeg) // 2, len(jpeg) - 1):
        with pytest.raises(ImageTruncated):
            check_image(jpeg[:cut])
    with pytest.raises(ImageTruncated, match="BMP says"):
        check_image(bmp[:-5])


def test_bmp_header_lies_are_refused() -> None:
    bmp = bytearray(_bmp())
    struct.pack_into("<I", bmp, 14, 77)  # unknown DIB header size
    with pytest.raises(ImageFormatError, match="DIB header size 77"):
        check_image(bytes(bmp))
    bmp = bytearray(_bmp())
    struct.pack_into("<I", bmp, 2, 60)  # file size too small for the pixels
    with pytest.raises(ImageFormatError, match="do not fit"):
        check_image(bytes(bmp))
    bmp = bytearray(_bmp())
    struct.pack_into("<H", bmp, 28, 7)  # 7 bits per pixel
    with pytest.raises(ImageFormatError, match="planes of 7 bits"):
        check_image(bytes(bmp))


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_image_errors(data: bytes) -> None:
    for candidate in (data, b"\xff\xd8\xff" + data, b"BM" + data):
        try:
            info = check_image(candidate)
        except ImageFormatError:
            continue
        assert 0 < info.end <= len(candidate)


# --- on the simulated card ------------------------------------------------------------------------


@pytest.mark.parametrize("gen", [2, 3])
def test_default_card_photo_round_trips_through_read_binary(gen: int) -> None:
    data = _read_photo(sample_card(gen, t0=False))
    photo = strip_padding(data)
    assert photo == synthetic_portrait()
    assert data[len(photo):] == bytes(PHOTO_MAX - len(photo))  # padded with 0x00
    with Image.open(io.BytesIO(photo)) as img:
        img.load()


@pytest.mark.parametrize("make", [_jpeg, _bmp])
def test_given_photo_round_trips_byte_identically(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    photo = make()
    card = sample_card(3, photo=photo, t0=False)
    card.save(tmp_path / "card.json")
    assert strip_padding(_read_photo(card)) == photo
    card.close()  # one owner per card file: the saved card is opened again below
    reloaded = UserCard.load(tmp_path / "card.json")
    try:
        assert strip_padding(_read_photo(reloaded)) == photo
    finally:
        reloaded.close()
    with Image.open(io.BytesIO(photo)) as img:
        img.load()


def test_photo_padding_of_a_read_photo_is_dropped_at_issue() -> None:
    photo = _jpeg()
    assert checked_photo(photo + bytes(50)) == photo


def test_photo_files_are_checked(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(_jpeg((600, 600), quality=95))
    assert big.stat().st_size > PHOTO_MAX
    with pytest.raises(PhotoError, match="more than 4096 bytes"):
        load_photo(big)
    with pytest.raises(PhotoError, match="not a regular file"):
        load_photo(tmp_path)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(_jpeg()[:300])
    with pytest.raises(PhotoError, match="truncated image"):
        load_photo(cut)
    good = tmp_path / "good.bmp"
    good.write_bytes(_bmp())
    assert load_photo(good) == _bmp()


def test_sim_issue_photo_option(tmp_path: Path) -> None:
    runner = CliRunner()
    photo = tmp_path / "me.jpg"
    photo.write_bytes(_jpeg())
    out = tmp_path / "card.json"
    r = runner.invoke(cli, ["sim", "issue", "--out", str(out), "--photo", str(photo), "--t1"])
    assert r.exit_code == 0, r.output
    assert strip_padding(_read_photo(UserCard.load(out))) == _jpeg()
    for content, fragment in ((b"hello", "not a JPEG or BMP image"),
                              (_jpeg()[:200], "truncated image"),
                              (b"\xff\xd8\xff" + bytes(5000), "more than 4096 bytes")):
        photo.write_bytes(content)
        bad = tmp_path / "bad.json"
        r = runner.invoke(cli, ["sim", "issue", "--out", str(bad), "--photo", str(photo)])
        assert r.exit_code == 2 and fragment in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1 and not bad.exists()


def test_allow_invalid_puts_a_broken_photo_on_the_card() -> None:
    """For testing a terminal's photo check: a non-image goes on only with allow_invalid."""
    from simulator.personalisation import PersonalisationError

    with pytest.raises(PersonalisationError, match="not a JPEG or BMP"):
        sample_card(3, photo=b"not an image", t0=False)
    card = sample_card(3, photo=b"not an image", allow_invalid=True, t0=False)
    with pytest.raises(ImageFormatError):
        check_image(_read_photo(card))
    with pytest.raises(PersonalisationError, match="at most 4096"):
        sample_card(3, photo=b"x" * 5000, allow_invalid=True, t0=False)
