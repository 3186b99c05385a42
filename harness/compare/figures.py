"""Figures of a comparison: reliability diagrams and the grid of disagreements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.measure.stats import N_BINS


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display needed): the one set-up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: int) -> None:
    """Write ``fig`` to ``path`` as a PNG, atomically (``files.replacing``)."""
    from harness.engine.files import replacing

    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")


def save(fig: Any, path: Path, tensorboard_dir: Path, tag: str) -> None:
    """Write ``fig`` as a PNG (atomically) and as an image in a TensorBoard run, then close it."""
    from torch.utils.tensorboard import SummaryWriter

    save_png(fig, path, dpi=110)
    writer = SummaryWriter(str(tensorboard_dir))
    writer.add_figure(tag, fig, global_step=0)  # closes the figure
    writer.close()


def reliability(
    model: str,
    bins: Sequence[dict[str, Any]],
    ece: float,
    what: str = "top-1 probability the model gave",
) -> Any:
    """Accuracy against stated confidence (``what``: the probability binned), one bar per
    bin; the diagonal is perfect calibration.
    """
    from matplotlib.patches import Patch

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 6.3))
    width = 1 / N_BINS
    for b in bins:
        acc, conf = b["accuracy"], b["confidence"]
        ax.bar(b["low"], acc, width=width, align="edge", color="C0", edgecolor="white")
        ax.bar(  # the gap between what the model said and what happened
            b["low"],
            abs(conf - acc),
            bottom=min(conf, acc),
            width=width,
            align="edge",
            facecolor="none",
            edgecolor="C3",
            hatch="///",
        )
        ax.annotate(
            str(b["n"]),
            (b["low"] + width / 2, max(acc, conf)),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=7,
        )
    (diagonal,) = ax.plot([0, 1], [0, 1], "k--", linewidth=1)
    handles = [
        diagonal,
        Patch(color="C0", label="share right in the bin"),
        Patch(facecolor="none", edgecolor="C3", hatch="///"),
    ]
    labels = ["perfectly calibrated", "share right in the bin", "gap to its mean probability"]
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.08),
        xlabel=f"{what} (15 bins; number = images)",
        ylabel="share of those images it got right",
        title=f"{model}: ECE {ece:.3f} over {sum(b['n'] for b in bins)} images",
    )
    fig.tight_layout()
    return fig


def disagreement_grid(items: Sequence[dict[str, Any]], models: Sequence[str], root: Path) -> Any:
    """Photos on which the models' top-1 differ, each captioned with every model's answer.

    ``items`` are disagreements.csv rows; a model's line is green where it is right,
    red where it is wrong, black where the label is unknown. Where labels are words it
    ends with the label the answer lies under (``= fox``, ``= no label``).
    """
    from harness.data.images import load_rgb

    plt = pyplot()
    cols = min(4, len(items))
    rows = (len(items) + cols - 1) // cols
    image, text = 3.0, 0.16 * (len(models) + 3)  # inches: a photo, its caption and title
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.4 * cols, (image + text) * rows),
        squeeze=False,
        gridspec_kw={"hspace": text / image, "wspace": 0.1},
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, item in zip(axes.flat, items, strict=False):
        path = Path(item["file"]) if Path(item["file"]).is_absolute() else root / item["file"]
        try:
            img = load_rgb(path, draft_side=224)  # a JPEG decodes at a fraction of its size
            img.thumbnail((224, 224))
            ax.imshow(img)
        except (OSError, ValueError) as e:  # moved or changed since (ImageTooLarge: a ValueError)
            ax.text(0.5, 0.5, f"cannot show:\n{e}", ha="center", fontsize=7, wrap=True)
        ax.set_title(f"{Path(item['file']).name}\ntrue: {item['label_name'] or '?'}", fontsize=8)
        for k, m in enumerate(models):
            ax.text(
                0,
                -0.03 - 0.16 * k / image,
                f"{m}: {item[f'{m}_top1']} ({100 * float(item[f'{m}_prob']):.0f}%)"
                + (
                    f" = {item[f'{m}_top1_label'] or 'no label'}"
                    if f"{m}_top1_label" in item
                    else ""
                ),
                transform=ax.transAxes,
                fontsize=7,
                va="top",
                color={1: "green", 0: "red"}.get(item[f"{m}_correct1"], "black"),
            )
    fig.subplots_adjust(
        left=0.02,
        right=0.98,
        top=1 - 0.5 / (rows * (image + text)),
        bottom=text / (rows * (image + text)),
    )
    return fig
