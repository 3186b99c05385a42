"""TensorBoard extras for a run: the HPARAMS entry and a grid of labelled samples."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image, ImageDraw, ImageFont

from harness.data.transforms import split
from harness.engine import photo_grid
from harness.engine.classifier import ClassifierModule
from harness.rows import TestResult
from harness.zoo.weights import Loaded

HPARAMS = (
    "model",
    "weights",
    "data",
    "labels",
    "limit",
    "sample",
    "seed",
    "runtime",
    "precision",
    "accelerator",
    "devices",
    "batch_size",
)
COLS, CAPTION, PAD = 4, 32, 4  # grid columns; caption height and padding, pixels


def log_hparams(
    logger: TensorBoardLogger, params: dict[str, Any], metrics: dict[str, float]
) -> None:
    """The hparams session of a run, so that TensorBoard's HPARAMS tab compares runs.

    Lightning's ``log_hyperparams`` writes ``metrics`` as scalars at step 0 (a
    metric Lightning logged already gets the same value again) and names them in
    the session; non-scalar parameters become text.
    """
    clean = {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in params.items()}
    logger.log_hyperparams(clean, {k: float(v) for k, v in metrics.items()}, step=0)
    # hparams.yaml too: the Trainer wrote it, empty, when the run ended (save() keeps it)
    save_hparams_to_yaml(os.path.join(logger.log_dir, logger.NAME_HPARAMS_FILE), logger.hparams)


def captions(
    module: ClassifierModule, label_map: dict[str, Any] | None = None
) -> list[tuple[str, bool]]:
    """Each sample's caption, ``true: NAME\\npred: NAME``, and whether it is right.

    An unlabelled image (label -1) reads ``true: ?`` and counts as right (black).
    Where labels are words (``label_map``, results.json's), the true name is the
    user's label, right when the predicted class lies under it.
    """
    cats = module.categories
    words = list((label_map or {}).items())
    out = []
    for _, label, pred in module.samples:
        if label < 0:
            truth, ok = "?", True
        elif words:
            truth, ok = words[label][0], pred in {c["index"] for c in words[label][1]["classes"]}
        else:
            truth, ok = cats[label], label == pred
        out.append((f"true: {truth}\npred: {cats[pred]}", ok))
    return out


def sample_grid(
    module: ClassifierModule, loaded: Loaded, label_map: dict[str, Any] | None = None
) -> np.ndarray:
    """The first images, un-normalised, each under its caption (red when wrong): HWC uint8.

    Drawn with Pillow rather than matplotlib: the same grid in a few milliseconds
    instead of about a second and a half of matplotlib's import and layout.
    """
    parts = split(loaded.transforms())  # the mean and std, torchvision's or timm's
    mean = torch.tensor(parts.mean if parts else (0.0, 0.0, 0.0)).view(3, 1, 1)
    std = torch.tensor(parts.std if parts else (1.0, 1.0, 1.0)).view(3, 1, 1)
    imgs = [(img * std + mean).clamp(0, 1).mul(255).byte() for img, _, _ in module.samples]
    h = max(i.shape[1] for i in imgs)
    w = max(i.shape[2] for i in imgs)
    rows = (len(imgs) + COLS - 1) // COLS
    grid = Image.new("RGB", (COLS * (w + PAD), rows * (h + CAPTION + PAD)), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=12)
    for k, (img, (text, ok)) in enumerate(zip(imgs, captions(module, label_map), strict=True)):
        x, y = (k % COLS) * (w + PAD), (k // COLS) * (h + CAPTION + PAD)
        lines = [photo_grid.fit(draw, line, font, w) for line in text.split("\n")]
        draw.multiline_text((x, y), "\n".join(lines), fill="black" if ok else "red", font=font)
        grid.paste(Image.fromarray(img.permute(1, 2, 0).numpy()), (x, y + CAPTION))
    return np.asarray(grid)


def log_run(
    logger: TensorBoardLogger, results: TestResult, module: ClassifierModule, loaded: Loaded
) -> None:
    """Hyperparameters with metrics, and the labelled sample grid, for one test run.

    The metrics are top-1/top-5 where there are labels, and images per second always.
    """
    by_key: Mapping[str, Any] = results  # read by the names in ``shown`` and HPARAMS
    shown = ("top1", "top5", "top1_among_labels", "images_per_second")
    metrics = {f"test/{k}": by_key[k] for k in shown if by_key.get(k) is not None}
    log_hparams(logger, {k: by_key[k] for k in HPARAMS}, metrics)
    if module.samples:
        add_jpeg(logger, "test/samples", sample_grid(module, loaded, results.get("label_map")))
    if results.get("label_issues"):  # the grid that results.write drew
        with Image.open(os.path.join(results["run_dir"], "label_issues.png")) as grid:
            add_jpeg(logger, "test/label_issues", np.asarray(grid.convert("RGB")))
    # closed, not only flushed: the Trainer closed the writer when the test ended, and
    # writing again opened a new one (a thread and a file) that nothing else would close
    logger.experiment.close()


def add_jpeg(logger: TensorBoardLogger, tag: str, image: np.ndarray, step: int = 0) -> None:
    """``image`` (HWC uint8) as a JPEG image summary in the run (``photo_grid.add_jpeg``)."""
    photo_grid.add_jpeg(logger.experiment, tag, image, step)
