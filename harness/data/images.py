"""Reading images from disk: finding them, decoding any mode to upright RGB."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from pillow_heif import register_heif_opener
from torchvision.datasets.folder import IMG_EXTENSIONS

from harness.config import MAX_PIXELS
from harness.errors import HarnessError, ImageTooLarge

register_heif_opener()  # HEIC/HEIF (iPhone photos) open like any other format
EXTENSIONS = tuple(sorted({*IMG_EXTENSIONS, ".gif", ".jfif", ".heic", ".heif"}))


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """Whether a file name has an image extension (case-insensitive)."""
    return str(path).lower().endswith(EXTENSIONS)


Skip = tuple[Path, str]  # a file passed over, and why


def scan(root: Path) -> tuple[list[Path], list[Skip]]:
    """Every file below ``root`` (sorted) to try as an image, and what was passed over.

    Files are tried whatever their extension (a JPEG may be named ``.png`` or
    ``.dat``); the decoder decides. Hidden names are passed over, folder links
    are followed once (a link back up is reported as a loop), unreadable folders
    are reported.
    """
    files: list[Path] = []
    skipped: list[Skip] = []
    seen: set[str] = set()

    def visit(folder: Path) -> None:
        real = os.path.realpath(folder)
        if real in seen:
            skipped.append((folder, "symlink loop: this folder was already visited"))
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            skipped.append((folder, f"unreadable folder: {e.strerror or e}"))
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                kind = "hidden (name starts with '.')" if entry.name[0] == "." else _kind(entry)
            except OSError as e:  # a link to itself, say
                skipped.append((path, f"unreadable entry: {e.strerror or e}"))
                continue
            if kind == "dir":
                visit(path)
            elif kind == "file":
                files.append(path)
            else:
                skipped.append((path, kind))

    visit(root)
    return sorted(files), skipped


def _kind(entry: os.DirEntry[str]) -> str:
    """ "dir" or "file" (links followed), else why the entry is passed over."""
    if entry.is_dir():
        return "dir"
    if entry.is_file():
        return "file"
    if entry.is_symlink():
        return "broken symlink"
    return "not a regular file"  # a FIFO would block the decoder forever


def walk(root: Path) -> list[Path]:
    """The files below ``root`` with image extensions (recursive, sorted, no hidden)."""
    return [p for p in scan(root)[0] if is_image_name(p)]


def find_images(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Skip]]:
    """Files named directly (any extension) and the files in named folders, with skips."""
    paths = list(paths)
    out: list[Path] = []
    skipped: list[Skip] = []
    for p in map(Path, paths):
        if p.is_dir():
            found, passed = scan(p)
            out += found
            skipped += passed
        elif p.exists() or p.is_symlink():
            out.append(p)
        else:
            raise HarnessError(f"no such file or folder: {str(p)!r}")
    if not out:
        raise HarnessError(f"no images found in {', '.join(map(str, paths))}")
    return out, skipped


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB; 16-bit and float greyscale are scaled, not clipped."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(im, dtype=np.float32)
        # PNG's 16-bit greyscale spans 0..65535; "F" images are taken as 0..255
        scale = 255 / 65535 if im.mode != "F" else 1.0
        im = Image.fromarray(np.clip(a * scale + 0.5, 0, 255).astype(np.uint8), "L")
    return im if im.mode == "RGB" else im.convert("RGB")


def open_image(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``path`` (header only: Image.open is lazy), refusing over ``max_pixels`` pixels.

    Pillow's own guard is set to the same limit: it warns above it (silenced:
    the header check below refuses those, naming the size) and fails above
    twice it, at opening or for sizes found only while decoding (GIF frames,
    TIFF tiles); that failure is reported as ImageTooLarge too.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as e:  # "Image size (N pixels) exceeds limit of ..."
        claimed = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(claimed[1]):,}" if claimed else f"over {2 * max_pixels:,}"
        raise ImageTooLarge(
            f"its header claims {size} pixels, over --max-pixels ({max_pixels:,}); "
            "raise it to read this file"
        ) from None
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise ImageTooLarge(
            f"{w}x{h} is {w * h:,} pixels, over --max-pixels ({max_pixels:,}); "
            "raise it to read this file"
        )
    return im


def load_rgb(
    path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS, draft_side: int | None = None
) -> Image.Image:
    """Decode ``path``, apply its EXIF orientation and return it as RGB.

    Args:
        path: an image file in any format Pillow or pillow-heif reads.
        max_pixels: larger images are refused (ImageTooLarge) before decoding.
        draft_side: a JPEG is decoded at the smallest of 1/8, 1/4, 1/2 or full
            scale whose short side is still at least this (Pillow's draft mode,
            DCT scaling); other formats ignore it. None: full size.

    >>> from PIL import Image; import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "a.png"); Image.new("L", (3, 2)).save(f)
    >>> load_rgb(f).mode, load_rgb(f).size
    ('RGB', (3, 2))
    """
    if os.stat(path).st_size == 0:  # PIL would only say "cannot identify image file"
        raise ValueError("empty file (0 bytes)")
    with warnings.catch_warnings(), open_image(path, max_pixels) as im:
        # sizes found while decoding (GIF frames, TIFF tiles) over the limit are refused
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if draft_side:
            im.draft("RGB", (draft_side, draft_side))  # both sides >= draft_side
        try:
            im.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise ImageTooLarge(f"over --max-pixels ({max_pixels:,}): {e}") from None
        ImageOps.exif_transpose(im, in_place=True)  # in place: no second copy of a big photo
        return to_rgb(im)


@dataclass(frozen=True)
class Decoder:
    """``load_rgb`` with its settings, as one picklable callable for loader workers."""

    max_pixels: int = MAX_PIXELS
    draft_side: int | None = None  # None: decode JPEGs at full size (--decode exact)

    def __call__(self, path: str | os.PathLike[str]) -> Image.Image:
        return load_rgb(path, self.max_pixels, self.draft_side)

    @property
    def mode(self) -> str:
        """What ``--decode`` amounts to: ``fast`` (JPEG draft mode) or ``exact``."""
        return "exact" if self.draft_side is None else "fast"
