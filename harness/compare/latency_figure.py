"""The comparison's figure: top-1 against latency, and peak memory against latency."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.compare.callouts import Point, place
from harness.compare.figures import pyplot, save_png
from harness.rows import CompareRow

MEASURED = "top-1 measured here, on these images (bar: its 95% interval)"
PUBLISHED = (
    "top-1 published by torchvision or timm for their own weights, on ImageNet (not measured here)"
)


def title(data: str | None, rows: Sequence[CompareRow], env: dict[str, Any]) -> str:
    """What the figure shows: the data set and its size, then the machine."""
    n = max((r.get("n") or 0 for r in rows), default=0)
    what = f"{'/'.join(Path(data).parts[-2:])}: {n} images" if data and n else "no labelled images"
    machine = f"{env['cpu']}, {env['torch_threads']} threads, {env['precision']}"
    return f"{what}\n{machine}" + (f", {env['gpu']}" if env.get("gpu") else "")


LEGEND = {"fontsize": 8, "loc": "upper center", "bbox_to_anchor": (0.5, -0.14)}
MARKERS = "s^Dvp*hX"  # a named point that has no room for its name, in the legend


def _accuracy_panel(ax: Any, done: Sequence[CompareRow]) -> list[Point]:
    points = []
    for r in done:
        x, top1, ci = r["latency_ms_p50"], r.get("top1"), r.get("top1_ci95")
        if top1 is not None:
            ax.scatter(x, 100 * top1, s=60, color="C0")
            if ci:  # yerr: [[below], [above]] the point, in points
                low, high = ci
                err = [[100 * (top1 - low)], [100 * (high - top1)]]
                ax.errorbar(x, 100 * top1, yerr=err, color="C0", capsize=4)
            points.append(Point(r["model"], (x, 100 * top1)))
        published = r.get("published_top1")
        if published is not None and (top1 is None or r.get("published_note")):
            ax.scatter(x, 100 * published, s=60, facecolors="none", edgecolors="C1")
            style = {"color": "C1", "fontsize": 8}
            points.append(Point(f"{r['model']} (published)", (x, 100 * published), style=style))
    ax.scatter([], [], color="C0", label=MEASURED)
    ax.scatter([], [], facecolors="none", edgecolors="C1", label=PUBLISHED)
    ax.legend(**LEGEND)
    ax.set(xlabel="latency per image, p50 (ms, batch 1)", ylabel="top-1 accuracy (%)")
    ax.set_title("Accuracy vs latency")
    return points


def _memory_panel(ax: Any, done: Sequence[CompareRow]) -> list[Point]:
    biggest = max(d["params"] for d in done)

    def area(params: float) -> float:
        return 20 + 200 * params / biggest

    points = []
    for r in done:
        xy = (r["latency_ms_p50"], r["peak_memory_mib"])
        ax.scatter(*xy, s=area(r["params"]), alpha=0.7)
        points.append(Point(r["model"], xy, area=area(r["params"])))
    for params in (biggest / 10, biggest):  # what a point's size means, in the legend
        label = f"{params / 1e6:.1f} M parameters"
        ax.scatter([], [], s=area(params), color="grey", alpha=0.5, label=label)
    ax.legend(title="point area", **LEGEND)
    ax.set(xlabel="latency per image, p50 (ms, batch 1)", ylabel="peak memory (MiB)")
    ax.set_title("Memory vs latency")
    ax.set_ylim(bottom=0, top=1.15 * max(r["peak_memory_mib"] for r in done))
    return points


def _to_legend(ax: Any, left: list[Point]) -> None:
    """The points ``left`` without room for their names, each marked and named in the legend."""
    legend = ax.get_legend()
    handles, labels = list(legend.legend_handles), [t.get_text() for t in legend.texts]
    for p, marker in zip(left, MARKERS, strict=False):
        handles.append(
            ax.scatter(*p.xy, s=40, marker=marker, facecolors="none", edgecolors="black", zorder=3)
        )
        labels.append(p.name)
    title = legend.get_title().get_text() or None
    ncol = 1 if max(map(len, labels)) > 40 else 2
    ax.legend(handles, labels, title=title, ncol=ncol, **LEGEND)


def _name_points(fig: Any, named: dict[Any, list[Point]]) -> None:
    """Names beside their points (``callouts.place``); those with no room go to the legend.

    A longer legend changes the layout, so the names are placed again after it, with
    the points already in the legend left out.
    """
    listed: dict[Any, list[Point]] = {ax: [] for ax in named}
    for _ in range(3):  # the layout settles in one or two rounds
        left = {ax: place(fig, ax, points, listed[ax]) for ax, points in named.items()}
        if not any(left.values()):
            return
        for ax in named:
            for text in list(ax.texts):
                text.remove()
            _to_legend(ax, left[ax])
            listed[ax] += left[ax]
        fig.tight_layout()
    for ax, points in named.items():  # the layout as it is now: any still left, to the legend
        late = place(fig, ax, points, listed[ax])
        if late:
            _to_legend(ax, late)


def compare_figure(rows: Sequence[CompareRow], heading: str) -> Any:
    """The two panels over the measured rows, as a matplotlib figure."""
    import matplotlib.ticker

    plt = pyplot()
    done = [r for r in rows if r.get("latency_ms_p50")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5), sharex=True)
    named = {left: _accuracy_panel(left, done), right: _memory_panel(right, done)}
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.margins(x=0.3, y=0.12)  # room for names beside the outer points
        ax.grid(True, alpha=0.3)
    fig.suptitle(heading, fontsize=9)
    fig.tight_layout()
    _name_points(fig, named)
    return fig


def plot_compare(rows: Sequence[CompareRow], path: Path, heading: str) -> None:
    """Write ``compare_figure`` to ``path`` as a PNG, atomically."""
    fig = compare_figure(rows, heading)
    save_png(fig, path, dpi=120)
    pyplot().close(fig)
