"""Reading images from disk: finding them, decoding any mode to upright RGB."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from torchvision.datasets.folder import IMG_EXTENSIONS

from harness import HarnessError

EXTENSIONS = tuple(sorted({*IMG_EXTENSIONS, ".gif", ".jfif"}))


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """Whether a file name has an image extension (case-insensitive)."""
    return str(path).lower().endswith(EXTENSIONS)


def walk(root: Path) -> list[Path]:
    """Image files below ``root`` (recursive, sorted, hidden names and loops skipped)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in filenames if not f.startswith(".") and is_image_name(f)]
    return sorted(found)


def find_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly (any extension) plus the images in named folders."""
    paths = list(paths)
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += walk(p)
        elif p.is_file():
            out.append(p)
        else:
            raise HarnessError(f"no such file or folder: {str(p)!r}")
    if not out:
        raise HarnessError(f"no images found in {', '.join(map(str, paths))}")
    return out


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB; 16-bit and float greyscale are scaled, not clipped."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(im, dtype=np.float32)
        # PNG's 16-bit greyscale spans 0..65535; "F" images are taken as 0..255
        scale = 255 / 65535 if im.mode != "F" else 1.0
        im = Image.fromarray(np.clip(a * scale + 0.5, 0, 255).astype(np.uint8), "L")
    return im if im.mode == "RGB" else im.convert("RGB")


def load_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """Decode ``path`` fully, apply its EXIF orientation and return it as RGB.

    >>> from PIL import Image; import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "a.png"); Image.new("L", (3, 2)).save(f)
    >>> load_rgb(f).mode, load_rgb(f).size
    ('RGB', (3, 2))
    """
    with Image.open(path) as im:
        im.load()
        return to_rgb(ImageOps.exif_transpose(im))
