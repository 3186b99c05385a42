"""accuracy_vs_latency.png: every name at its own point, no two names over each other.

The figure's text positions are read back from matplotlib (display units, after
layout) and checked by hand geometry: each name's box is nearer its own point
than any other point of its panel, no two boxes overlap, and a name with no
room is in the panel's legend instead.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from matplotlib.text import Text

from harness.compare.latency_figure import compare_figure

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


ENV_HEADING = "nips17-dev/images: 30 images\nAMD EPYC, 2 threads, 32-true"


def row(model: str, ms: float, mib: float, params: float, top1: float | None, **kw: Any) -> dict:
    return {"model": model, "latency_ms_p50": ms, "peak_memory_mib": mib, "params": params,
            "top1": top1, "n": 30, **kw}  # fmt: skip


# The --repeat medians of a compare of lite0/1/2 (lite2 rightmost: its name, pushed out of
# the panel, was turned back over lite0's point), with alexnet and vgg16 (random weights:
# their published points) close together in the memory panel.
REPEAT_MEDIANS = [
    row("squeezenet1_1", 6.1, 690.0, 1.2e6, 0.633),
    row("timm/tf_efficientnet_lite0", 20.8, 1782.0, 4.7e6, 0.767),
    row("timm/tf_efficientnet_lite1", 23.9, 1801.0, 5.4e6, 0.8),
    row("timm/tf_efficientnet_lite2", 31.5, 1830.0, 6.1e6, 0.8),
    row("alexnet", 19.5, 1790.0, 61e6, None, published_top1=0.56522),
    row("vgg16", 21.4, 1815.0, 138e6, None, published_top1=0.71592),
]
# many models within a few per cent of each other: not all names can sit beside their points
CROWD = [row(f"model_{k}", 10.0 + 0.05 * k, 1000.0 + k, 5e6, 0.7 + 0.001 * k) for k in range(8)]


def panel_points(rows: list[dict], panel: int) -> dict[str, tuple[float, float]]:
    """The names a panel must show and the data position of each one's point."""
    if panel == 1:
        return {r["model"]: (r["latency_ms_p50"], r["peak_memory_mib"]) for r in rows}
    out = {r["model"]: (r["latency_ms_p50"], 100 * r["top1"]) for r in rows if r["top1"]}
    for r in rows:
        if r.get("published_top1") is not None and r["top1"] is None:
            out[f"{r['model']} (published)"] = (r["latency_ms_p50"], 100 * r["published_top1"])
    return out


def distance(box: Any, x: float, y: float) -> float:
    return math.hypot(max(box.x0 - x, 0, x - box.x1), max(box.y0 - y, 0, y - box.y1))


def check(fig: Any, rows: list[dict]) -> list[str]:
    """Assert the rules on both panels; the names that went to a legend."""
    fig.canvas.draw()  # as saved: every text where drawing puts it
    renderer = fig.canvas.get_renderer()
    in_legend = []
    for k, ax in enumerate(fig.axes):
        points = panel_points(rows, k)
        xy = dict(zip(points, ax.transData.transform(list(points.values())), strict=True))
        boxes = {t.get_text(): Text.get_window_extent(t, renderer) for t in ax.texts}
        legend = {t.get_text() for t in ax.get_legend().get_texts()}
        for name in points:
            assert (name in boxes) != (name in legend), f"{name}: named once, beside or in legend"
        for name, box in boxes.items():
            nearest = min(points, key=lambda n: distance(box, *xy[n]))
            assert nearest == name, f"{name!r} is nearer {nearest!r}'s point than its own"
        names = list(boxes)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                assert not boxes[a].overlaps(boxes[b]), f"{a!r} overlaps {b!r}"
        in_legend += [n for n in points if n in legend]
    return in_legend


def test_repeat_medians_named_at_their_own_points() -> None:
    fig = compare_figure(REPEAT_MEDIANS, ENV_HEADING)
    in_legend = check(fig, REPEAT_MEDIANS)
    beside = {t.get_text() for t in fig.axes[0].texts}
    assert {"squeezenet1_1", "alexnet (published)", "vgg16 (published)"} <= beside
    assert len(in_legend) < len(REPEAT_MEDIANS) * 2  # the legend only where names cannot fit


def test_crowded_names_go_to_the_legend() -> None:
    fig = compare_figure(CROWD, ENV_HEADING)
    in_legend = check(fig, CROWD)
    assert in_legend  # eight points within 4%: some names cannot sit beside theirs


@pytest.mark.parametrize("far", [False, True])
def test_a_lone_point_named_beside_it(far: bool) -> None:
    rows = [row("a", 5.0, 500.0, 1e6, 0.5), row("b", 500.0 if far else 5.2, 900.0, 2e6, 0.9)]
    fig = compare_figure(rows, ENV_HEADING)
    assert check(fig, rows) == []


# --- 7. compare's figure ---------------------------------------------------------------------


def test_compare_figure() -> None:
    from harness.compare.latency_figure import MEASURED, PUBLISHED, compare_figure, title

    rows = [  # a long name at the far right and top, where labels used to leave the panel
        {"model": "alexnet", "latency_ms_p50": 20.0, "peak_memory_mib": 1200.0,
         "params": 61e6, "top1": None, "published_top1": 0.56522, "n": 50},
        {"model": "a_rather_long_model_name", "latency_ms_p50": 400.0,
         "peak_memory_mib": 1800.0, "params": 138e6, "top1": 0.7, "n": 50},
        {"model": "squeezenet1_1", "latency_ms_p50": 10.0, "peak_memory_mib": 1000.0,
         "params": 1.2e6, "top1": 0.618, "published_top1": 0.58178, "published_note": "x"},
    ]  # fmt: skip
    env = {"cpu": "AMD EPYC", "torch_threads": 2, "precision": "32-true", "gpu": None}
    heading = title("../shared/data/nips17-dev/images", rows, env)
    assert heading.splitlines()[0] == "nips17-dev/images: 50 images"
    fig = compare_figure(rows, heading)
    left, right = fig.axes
    assert fig._suptitle.get_text() == heading
    assert right.get_ylim()[0] == 0  # memory from zero
    assert {t.get_text() for t in left.get_legend().get_texts()} == {MEASURED, PUBLISHED}
    assert "point area" in right.get_legend().get_title().get_text()
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        "13.8 M parameters",
        "138.0 M parameters",
    ]
    hollow = [  # the published points: no fill
        c for c in left.collections if len(c.get_offsets()) and not any(c.get_facecolor()[:, 3])
    ]
    assert sorted(float(c.get_offsets()[0][1]) for c in hollow) == pytest.approx([56.522, 58.178])
    renderer = fig.canvas.get_renderer()
    for ax in (left, right):
        box = ax.get_window_extent(renderer)
        for text in ax.texts:
            ext = text.get_window_extent(renderer)
            assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and ext.y1 <= box.y1, text.get_text()
