"""Images made for tests: tiny PNGs, marked photos (which way up they are), HEIC, a PNG bomb."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

ORIENTATION = 0x0112  # the Exif tag


def image(path: Path, colour: tuple[int, int, int] = (9, 99, 199), size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
    return path


def marked(size: tuple[int, int]) -> Image.Image:
    """Black, with a white block in the top-left corner and a grey one in the middle."""
    w, h = size
    im = Image.new("RGB", size, (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, w // 6, h // 6))
    im.paste((120, 180, 60), (w // 3, h // 3, 2 * w // 3, 2 * h // 3))
    return im


def save_heic(path: Path, size: tuple[int, int], orientation: int = 1) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    marked(size).save(path, format="HEIF", exif=exif.tobytes(), quality=90)


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type and data."""
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid PNG header declaring a huge RGB image (900 megapixels) over a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
