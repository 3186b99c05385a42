"""harness.data.images: any PIL mode to upright 8-bit RGB, and finding image files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.images import find_images, load_rgb
from harness.errors import HarnessError

ORIENTATION = 0x0112  # the Exif tag


def pixels(path: Path) -> np.ndarray:
    im = load_rgb(path)
    assert im.mode == "RGB"
    return np.asarray(im)


def test_greyscale_l(tmp_path: Path) -> None:
    p = tmp_path / "l.png"
    Image.fromarray(np.array([[0, 77, 255]], dtype=np.uint8), "L").save(p)
    assert pixels(p).tolist() == [[[0, 0, 0], [77, 77, 77], [255, 255, 255]]]


def test_greyscale_with_alpha_la(tmp_path: Path) -> None:
    p = tmp_path / "la.png"
    Image.new("LA", (3, 2), (100, 10)).save(p)
    a = pixels(p)
    assert a.shape == (2, 3, 3)
    assert (a == 100).all()


def test_palette_p(tmp_path: Path) -> None:
    p = tmp_path / "p.png"
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 200, 30, 7] + [0] * (256 * 3 - 6))
    im.putpixel((1, 0), 1)
    im.save(p)
    assert pixels(p).tolist() == [[[0, 0, 0], [200, 30, 7]]]


def test_rgba(tmp_path: Path) -> None:
    p = tmp_path / "rgba.png"
    Image.new("RGBA", (4, 3), (10, 20, 30, 128)).save(p)
    a = pixels(p)
    assert a.shape == (3, 4, 3)
    assert (a == [10, 20, 30]).all()


def test_cmyk_jpeg(tmp_path: Path) -> None:
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 0, 0)).save(p, quality=95)  # pure magenta ink
    with Image.open(p) as im:
        assert im.mode == "CMYK"
    a = pixels(p).astype(int)
    assert a.shape == (16, 16, 3)
    assert np.abs(a - [255, 0, 255]).max() <= 4  # JPEG is lossy


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    p = tmp_path / "i16.png"
    values = [0, 257, 32896, 65535, 1000, 60000]
    Image.fromarray(np.array([values], dtype=np.uint16)).save(p)
    with Image.open(p) as im:
        assert im.mode in ("I;16", "I")  # a 16-bit greyscale PNG, whatever PIL calls it
    a = pixels(p)
    assert (a[..., 0] == a[..., 1]).all() and (a[..., 0] == a[..., 2]).all()
    expected = [int(v * 255 / 65535 + 0.5) for v in values]
    assert expected[:4] == [0, 1, 128, 255]  # hand-checked anchors of the scaling
    assert a[0, :, 0].tolist() == expected


def test_one_pixel(tmp_path: Path) -> None:
    p = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (1, 2, 3)).save(p)
    assert load_rgb(p).size == (1, 1)
    assert pixels(p).tolist() == [[[1, 2, 3]]]


def marked_jpeg(path: Path, orientation: int | None) -> None:
    """A 40x20 black JPEG with a white 6x6 block in its stored top-left corner."""
    im = Image.new("RGB", (40, 20), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 6, 6))
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


def white_corners(im: Image.Image) -> list[str]:
    w, h = im.size
    corners = {"top-left": (1, 1), "top-right": (w - 2, 1), "bottom-left": (1, h - 2)}
    corners["bottom-right"] = (w - 2, h - 2)
    return [name for name, xy in corners.items() if min(im.getpixel(xy)) > 200]


@pytest.mark.parametrize(
    ("orientation", "size", "corner"),
    [
        (None, (40, 20), "top-left"),
        (1, (40, 20), "top-left"),
        (3, (40, 20), "bottom-right"),  # rotated 180 degrees
        (6, (20, 40), "top-right"),  # shown turned 90 degrees clockwise
        (8, (20, 40), "bottom-left"),  # shown turned 90 degrees anticlockwise
    ],
)
def test_exif_orientation_applied(
    tmp_path: Path, orientation: int | None, size: tuple[int, int], corner: str
) -> None:
    p = tmp_path / "exif.jpg"
    marked_jpeg(p, orientation)
    with Image.open(p) as raw:
        assert raw.size == (40, 20)  # stored as is; only the tag says how to show it
    im = load_rgb(p)
    assert im.size == size
    assert white_corners(im) == [corner]


def test_find_images_files_and_nested_folders(tmp_path: Path) -> None:
    d = tmp_path / "photos"
    for rel in ["b.png", "a.JPG", "sub/c.jpeg", "sub/deeper/d.webp", "z/e.bmp"]:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(b"")
    for rel in [".hidden.png", "sub/.also.jpg", ".cache/f.png", "notes.txt", "sub/readme.md"]:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(b"")
    single = tmp_path / "named.dat"  # a file named directly is taken whatever its extension
    single.write_bytes(b"")
    found, skipped = find_images([single, d])
    # every non-hidden file is tried, whatever its extension; hidden ones are reported
    assert found == [
        single,
        d / "a.JPG",
        d / "b.png",
        d / "notes.txt",
        d / "sub" / "c.jpeg",
        d / "sub" / "deeper" / "d.webp",
        d / "sub" / "readme.md",
        d / "z" / "e.bmp",
    ]
    assert sorted(p for p, _ in skipped) == [
        d / ".cache",
        d / ".hidden.png",
        d / "sub" / ".also.jpg",
    ]
    assert {why for _, why in skipped} == {"hidden (name starts with '.')"}


def test_find_images_accepts_strings(tiny_images: list[Path]) -> None:
    assert find_images([str(p) for p in tiny_images]) == (tiny_images, [])


def test_find_images_missing_path(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no such file or folder.*nope.png"):
        find_images([tmp_path / "nope.png"])


def test_find_images_empty_folder(tmp_path: Path) -> None:
    (tmp_path / ".notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no images found"):
        find_images([tmp_path])


def test_find_images_empty_folder_from_generator(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=re.escape(str(tmp_path))):
        find_images(p for p in [tmp_path])
