"""The confusion matrix among a run's labels, where labels are words: a PNG and a
TensorBoard image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.engine.files import replacing


def figure(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> Any:
    """True label down, the label chosen among the labels across, counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * n, 1.0 + 0.6 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("chosen among the labels (highest summed probability)")
    ax.set_ylabel("true label")
    top = max((max(r) for r in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, c in enumerate(row):
            ax.text(j, i, str(c), ha="center", va="center", color="white" if c > top / 2 else "k")
    fig.tight_layout()
    return fig


def save(labels: Sequence[str], matrix: Sequence[Sequence[int]], run_dir: Path) -> None:
    """confusion.png (atomically) and the ``test/confusion`` image of the run's TensorBoard."""
    from torch.utils.tensorboard import SummaryWriter

    fig = figure(labels, matrix)
    with replacing(run_dir / "confusion.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    writer = SummaryWriter(str(run_dir))
    writer.add_figure("test/confusion", fig, global_step=0)  # closes the figure
    writer.close()
