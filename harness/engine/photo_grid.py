"""Grids of captioned photos from files (likely label errors, near-duplicates): PNG and
TensorBoard.

Drawn with Pillow rather than matplotlib, as the sample grid is: a few milliseconds,
and no matplotlib import in a ``test`` run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

SIDE, PAD, LINE = 224, 6, 15  # photo side, padding, caption line height: pixels
COLS = 4


@dataclass
class Tile:
    """One photo of a grid, with caption lines (text, colour) under it."""

    path: Path
    lines: Sequence[tuple[str, str]]


def fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text`` cut to ``width`` pixels, with an ellipsis where it was cut."""
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…"
    return text


def thumbnail(path: Path) -> Image.Image | str:
    """The photo at most SIDE pixels a side; what went wrong, where it cannot be read."""
    from harness.data.images import load_rgb

    try:
        img = load_rgb(path, draft_side=SIDE)  # a JPEG decodes at a fraction of its size
    except (OSError, ValueError) as e:  # moved or changed since (ImageTooLarge: a ValueError)
        return f"cannot show: {e}"
    img.thumbnail((SIDE, SIDE))
    return img


def grid(tiles: Sequence[Tile], cols: int = COLS) -> Image.Image:
    """The tiles in rows of ``cols``, each photo above its caption."""
    cols = max(1, min(cols, len(tiles)))
    lines = max((len(t.lines) for t in tiles), default=0)
    w, h = SIDE + PAD, SIDE + lines * LINE + 2 * PAD
    out = Image.new("RGB", (cols * w + PAD, ((len(tiles) + cols - 1) // cols) * h), "white")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=12)
    for k, tile in enumerate(tiles):
        x, y = PAD + (k % cols) * w, PAD + (k // cols) * h
        img = thumbnail(tile.path)
        if isinstance(img, str):
            draw.text((x, y + SIDE // 2), fit(draw, img, font, SIDE), fill="red", font=font)
        else:
            out.paste(img, (x + (SIDE - img.width) // 2, y + (SIDE - img.height) // 2))
        for i, (text, colour) in enumerate(tile.lines):
            pos = (x, y + SIDE + 2 + i * LINE)
            draw.text(pos, fit(draw, text, font, SIDE), fill=colour, font=font)
    return out


def add_jpeg(writer: Any, tag: str, image: Any, step: int = 0) -> None:
    """``image`` (HWC uint8 array, or a Pillow image) as a JPEG image summary in a
    TensorBoard ``SummaryWriter`` (quality 90, no chroma subsampling).

    torch's ``add_image`` writes PNG only: for a grid of photos that took 0.36 s to
    encode, and 0.25 s more for TensorBoard to checksum the 2 MB record (its CRC is
    pure Python); as JPEG it is a few hundredths of a second in all. TensorBoard
    shows JPEG image summaries as it shows PNG ones. The summary goes through the
    writer's own file writer, as ``add_image``'s does (there is no public call for
    an encoded image).
    """
    from tensorboard.compat.proto.summary_pb2 import Summary

    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, subsampling=0)
    encoded = Summary.Image(
        height=img.height, width=img.width, colorspace=3, encoded_image_string=buf.getvalue()
    )
    summary = Summary(value=[Summary.Value(tag=tag, image=encoded)])
    writer._get_file_writer().add_summary(summary, step)


def save(image: Image.Image, path: Path, tensorboard_dir: Path | None, tag: str) -> None:
    """``image`` as a PNG (atomically) and, given a folder, as an image in its TensorBoard run."""
    from harness.engine.files import replacing

    with replacing(path) as tmp:
        image.save(tmp, format="PNG")
    if tensorboard_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(tensorboard_dir))
        add_jpeg(writer, tag, image)
        writer.close()
