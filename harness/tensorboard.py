"""TensorBoard extras for a run: the HPARAMS entry and a grid of labelled samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

from harness.module import ClassifierModule
from harness.weights import Loaded

HPARAMS = (
    "model",
    "weights",
    "data",
    "labels",
    "limit",
    "sample",
    "seed",
    "precision",
    "accelerator",
    "devices",
    "batch_size",
)
METRICS = ("test/top1", "test/top5")


def log_hparams(
    logger: TensorBoardLogger, params: dict[str, Any], metrics: Sequence[str] = METRICS
) -> None:
    """Write the hparams session so that TensorBoard's HPARAMS tab compares runs.

    Only the metric *names* go here; TensorBoard reads their values from the
    scalars of the same tags that Lightning logged during the run.
    """
    clean = {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in params.items()}
    exp, ssi, sei = hparams(clean, dict.fromkeys(metrics, 0.0))
    writer = logger.experiment._get_file_writer()
    for summary in (exp, ssi, sei):
        writer.add_summary(summary)
    logger.experiment.flush()


def sample_figure(module: ClassifierModule, loaded: Loaded) -> Any:
    """A matplotlib grid of the first images with true and predicted class names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tf = loaded.transforms()
    mean = torch.tensor(getattr(tf, "mean", [0.0, 0.0, 0.0])).view(3, 1, 1)
    std = torch.tensor(getattr(tf, "std", [1.0, 1.0, 1.0])).view(3, 1, 1)
    cols = 4
    rows = (len(module.samples) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    cats = module.categories
    for ax, (img, label, pred) in zip(axes.flat, module.samples, strict=False):
        ax.imshow((img * std + mean).clamp(0, 1).permute(1, 2, 0).numpy())  # CHW -> HWC
        truth = cats[label] if label >= 0 else "?"
        ok = label < 0 or label == pred
        ax.set_title(
            f"true: {truth}\npred: {cats[pred]}", fontsize=8, color="black" if ok else "red"
        )
    fig.tight_layout()
    return fig


def log_run(
    logger: TensorBoardLogger, results: dict[str, Any], module: ClassifierModule, loaded: Loaded
) -> None:
    """Hyperparameters with metrics, and the labelled sample grid, for one test run."""
    log_hparams(logger, {k: results[k] for k in HPARAMS})
    if module.samples:
        logger.experiment.add_figure("test/samples", sample_figure(module, loaded), global_step=0)
    logger.experiment.flush()
