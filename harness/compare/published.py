"""Published against measured in a comparison: the rows' published figures, rank test, plot.

A compare row carries the published figures of the library's default weights
(:func:`row_figures`). Where at least three measured models have a published
ImageNet top-1, report.md says whether the order on the user's photos agrees
with ImageNet's (Kendall's tau with its exact p) and ``published_vs_measured.png``
plots one against the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from harness.compare import figures
from harness.measure.kendall import Kendall, kendall
from harness.rows import CompareRow, known

PNG = "published_vs_measured.png"
MIN_MODELS = 3


def row_figures(default: Any, card: Any, custom: bool) -> CompareRow:
    """A compare row's published figures (the ``published_*`` keys of :mod:`harness.zoo.published`).

    ``default`` is the library's card of the architecture, ``card`` the one of
    the weights measured, ``custom`` whether they came from a file of one's
    own. Other classes than the library's: no published figure applies. A
    torchvision file with its classes keeps them, marked as being for
    torchvision's weights (``published_note``): torchvision's figures are for its
    own training runs, timm's for the very checkpoints it ports (the official ones).
    """
    from harness.zoo import registry

    every = {k: v for k, v in registry.figures(default).items() if k.startswith("published_")}
    if card.categories != default.categories:
        return cast(CompareRow, dict.fromkeys([*every, "published_weights"]))
    found = every.get("published_top1") is not None
    every["published_weights"] = f"{default.library} {default.weights}" if found else None
    if custom and found and default.library == "torchvision":  # a file: maybe other weights
        every["published_note"] = f"published figures are for torchvision's {default.weights}"
    return cast(CompareRow, every)  # the library's keys, as CompareRow declares them


def comparable(measured: Sequence[CompareRow]) -> list[CompareRow]:
    """The measured rows with a published ImageNet top-1 for the very weights measured."""
    return [
        r
        for r in measured
        if r.get("published_top1") is not None
        and r.get("top1") is not None
        and not r.get("published_note")
    ]


def agreement(k: Kendall, photos: int) -> str:
    """The rank test in words, e.g. "on these 500 photos the ranking agrees with ImageNet's"."""
    verb = "agrees with" if k.tau > 0 else "reverses" if k.tau < 0 else "is unrelated to"
    p = "p not computed (ties among more than 8 models)" if k.p is None else f"p = {k.p:.2f}"
    return f"on these {photos} photos the ranking {verb} ImageNet's: tau = {k.tau:.2f}, {p}"


def published_section(run: Path, measured: Sequence[CompareRow]) -> list[str]:
    """report.md's section (and the figure) where at least three models can be ranked both ways."""
    rows = comparable(measured)
    if len(rows) < MIN_MODELS:
        return []
    k = kendall([known(r["published_top1"]) for r in rows], [known(r["top1"]) for r in rows])
    photos = int(rows[0].get("labelled") or 0)
    words = agreement(k, photos)
    fig = published_figure(rows, words)
    figures.save(fig, run / PNG, run / "published", "compare/published_vs_measured")
    lines = [
        "## Published against measured",
        "",
        f"{words[0].upper()}{words[1:]} (Kendall's tau-b over "
        f"{k.n} models; p is exact and two-sided: the share of all orderings of the measured "
        "figures that agree or disagree at least this much). With "
        f"{k.n} models even a perfect agreement has p = {2 / math.factorial(k.n):.2g} at best: "
        "a large p says the order could be chance, not that it differs.",
        "",
        "| model | published ImageNet top-1 | published ImageNet-V2 top-1 | top-1 here |",
        "|---|---|---|---|",
        *(
            f"| {r['model']} | {_pct(r['published_top1'])} | "
            f"{_pct(r.get('published_v2_top1'))} | {_pct(r['top1'])} |"
            for r in rows
        ),
        "",
        *_left_out(measured, rows),
        "Published figures are the library's, on ImageNet's validation set (50,000 photos) and "
        "ImageNet-V2 (10,000 newer ones): other photos, another selection, other labels "
        "than these; see docs/published.md.",
        "",
        f"![published against measured top-1]({PNG})",
        "",
    ]
    return lines


def _left_out(measured: Sequence[CompareRow], rows: Sequence[CompareRow]) -> list[str]:
    """The measured models not ranked, and why, as a line of report.md."""
    other, none = "its published figures are for other weights", "no published ImageNet top-1"
    why = [
        f"{r['model']} ({other if r.get('published_note') else none})"
        for r in measured
        if r not in rows
    ]
    return [f"Not ranked: {', '.join(why)}.", ""] if why else []


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def published_figure(rows: Sequence[CompareRow], heading: str) -> Any:
    """Measured top-1 (y) against published ImageNet top-1 (x), one point per model."""
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    xs = [100 * known(r["published_top1"]) for r in rows]
    ys = [100 * known(r["top1"]) for r in rows]
    ax.scatter(xs, ys, s=60, color="C0")
    for i, (r, x, y) in enumerate(zip(rows, xs, ys, strict=True)):  # labels above, below in turn
        below = i % 2
        ax.annotate(r["model"], (x, y), textcoords="offset points", xytext=(6, -12 if below else 6),
                    fontsize=8)  # fmt: skip
    pad_x, pad_y = max(1.0, (max(xs) - min(xs)) / 3), max(1.0, (max(ys) - min(ys)) / 3)
    (x0, x1), (y0, y1) = (min(xs) - pad_x, max(xs) + 2 * pad_x), (min(ys) - pad_y, max(ys) + pad_y)
    seen = "" if max(x0, y0) <= min(x1, y1) else " (out of view)"
    ax.axline((50, 50), slope=1, color="grey", linestyle="--", linewidth=1,
              label=f"measured = published{seen}")  # fmt: skip
    ax.set(xlim=(x0, x1), ylim=(y0, y1))  # room for the labels on the right
    ax.set(xlabel="published top-1 on ImageNet validation (%)", ylabel="top-1 measured here (%)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(heading, fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
