"""The comparison's figure: top-1 against latency, and peak memory against latency."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.compare.figures import pyplot, save_png

MEASURED = "top-1 measured here, on these images (bar: its 95% interval)"
PUBLISHED = (
    "top-1 published by torchvision or timm for their own weights, on ImageNet (not measured here)"
)


def title(data: str | None, rows: Sequence[dict[str, Any]], env: dict[str, Any]) -> str:
    """What the figure shows: the data set and its size, then the machine."""
    n = max((r.get("n") or 0 for r in rows), default=0)
    what = f"{'/'.join(Path(data).parts[-2:])}: {n} images" if data and n else "no labelled images"
    machine = f"{env['cpu']}, {env['torch_threads']} threads, {env['precision']}"
    return f"{what}\n{machine}" + (f", {env['gpu']}" if env.get("gpu") else "")


def _label(ax: Any, text: str, xy: tuple[float, float], **kw: Any) -> None:
    ax.annotate(text, xy, textcoords="offset points", xytext=(5, 5), **kw)


def _accuracy_panel(ax: Any, done: Sequence[dict[str, Any]]) -> None:
    for r in done:
        x = r["latency_ms_p50"]
        if r.get("top1") is not None:
            ax.scatter(x, 100 * r["top1"], s=60, color="C0")
            if r.get("top1_ci95"):  # yerr: [[below], [above]] the point, in points
                low, high = r["top1_ci95"]
                err = [[100 * (r["top1"] - low)], [100 * (high - r["top1"])]]
                ax.errorbar(x, 100 * r["top1"], yerr=err, color="C0", capsize=4)
            _label(ax, r["model"], (x, 100 * r["top1"]))
        published = r.get("published_top1")
        if published is not None and (r.get("top1") is None or r.get("published_note")):
            ax.scatter(x, 100 * published, s=60, facecolors="none", edgecolors="C1")
            _label(ax, f"{r['model']} (published)", (x, 100 * published), color="C1", fontsize=8)
    ax.scatter([], [], color="C0", label=MEASURED)
    ax.scatter([], [], facecolors="none", edgecolors="C1", label=PUBLISHED)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax.set(xlabel="latency per image, p50 (ms, batch 1)", ylabel="top-1 accuracy (%)")
    ax.set_title("Accuracy vs latency")


def _memory_panel(ax: Any, done: Sequence[dict[str, Any]]) -> None:
    biggest = max(d["params"] for d in done)

    def area(params: float) -> float:
        return 20 + 200 * params / biggest

    for r in done:
        xy = (r["latency_ms_p50"], r["peak_memory_mib"])
        ax.scatter(*xy, s=area(r["params"]), alpha=0.7)
        _label(ax, r["model"], xy)
    for params in (biggest / 10, biggest):  # what a point's size means, in the legend
        label = f"{params / 1e6:.1f} M parameters"
        ax.scatter([], [], s=area(params), color="grey", alpha=0.5, label=label)
    ax.legend(title="point area", fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax.set(xlabel="latency per image, p50 (ms, batch 1)", ylabel="peak memory (MiB)")
    ax.set_title("Memory vs latency")
    ax.set_ylim(bottom=0, top=1.15 * max(r["peak_memory_mib"] for r in done))


def _keep_inside(fig: Any, ax: Any) -> None:
    """Turn the point labels that stick out of their panel back into it."""
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    for text in ax.texts:
        ext = text.get_window_extent(renderer)
        dx, dy = text.get_position()  # the offset from the point, in points
        if ext.x1 > box.x1:
            text.set_horizontalalignment("right")
            dx = -5
        if ext.y1 > box.y1:
            text.set_verticalalignment("top")
            dy = -5
        text.set_position((dx, dy))


def compare_figure(rows: Sequence[dict[str, Any]], heading: str) -> Any:
    """The two panels over the measured rows, as a matplotlib figure."""
    import matplotlib.ticker

    plt = pyplot()
    done = [r for r in rows if r.get("latency_ms_p50")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5), sharex=True)
    _accuracy_panel(left, done)
    _memory_panel(right, done)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.margins(x=0.2, y=0.12)
        ax.grid(True, alpha=0.3)
    fig.suptitle(heading, fontsize=9)
    fig.tight_layout()
    for ax in (left, right):
        _keep_inside(fig, ax)
    return fig


def plot_compare(rows: Sequence[dict[str, Any]], path: Path, heading: str) -> None:
    """Write ``compare_figure`` to ``path`` as a PNG, atomically."""
    fig = compare_figure(rows, heading)
    save_png(fig, path, dpi=120)
    pyplot().close(fig)
