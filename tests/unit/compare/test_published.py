"""harness.compare.published: the figure of published against measured accuracy."""

from __future__ import annotations

import pytest


def test_the_figure_plots_published_against_measured() -> None:
    from harness.compare.published import published_figure

    pairs = [(0.7485, 0.92), (0.7667, 0.92), (0.7747, 0.94)]
    rows = [{"model": f"m{i}", "published_top1": p, "top1": t} for i, (p, t) in enumerate(pairs)]
    ax = published_figure(rows, "heading").axes[0]
    points = [c for xy in ax.collections[0].get_offsets().tolist() for c in xy]
    assert points == pytest.approx([74.85, 92.0, 76.67, 92.0, 77.47, 94.0])
    assert [t.get_text() for t in ax.texts] == ["m0", "m1", "m2"]
    assert ax.get_legend().get_texts()[0].get_text() == "measured = published (out of view)"
