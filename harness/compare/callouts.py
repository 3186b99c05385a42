"""Names beside the points of a scatter panel: each at its own point, none over another.

A name goes on the first spot around its point, ring by ring, where its box
stays inside the panel, overlaps no other name's box and no other point's
marker, and lies nearer its own point than any other point (so that a reader
cannot take it for another's). From the second ring on, a thin leader line
joins it to its point. A name that fits nowhere is left for the legend
(``place`` returns it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# (x, y) direction of the offset, and the alignment that keeps the box on that side
DIRECTIONS = (
    (1, 1, "left", "bottom"),
    (1, -1, "left", "top"),
    (-1, 1, "right", "bottom"),
    (-1, -1, "right", "top"),
    (1, 0, "left", "center"),
    (-1, 0, "right", "center"),
    (0, 1, "center", "bottom"),
    (0, -1, "center", "top"),
)
RINGS = (0, 10, 22, 40, 60)  # points beyond the marker's edge; past the first: a leader line


@dataclass
class Point:
    """A marker to name: its data position, marker area (points squared) and text style."""

    name: str
    xy: tuple[float, float]
    area: float = 60.0
    style: dict[str, Any] = field(default_factory=lambda: {"fontsize": 8})


def gap(box: Any, x: float, y: float) -> float:
    """Display distance from (x, y) to the rectangle ``box`` (0 inside it)."""
    dx = max(box.x0 - x, 0.0, x - box.x1)
    dy = max(box.y0 - y, 0.0, y - box.y1)
    return math.hypot(dx, dy)


def text_box(text: Any, renderer: Any) -> Any:
    """The display box of an annotation's text alone (without its leader line)."""
    from matplotlib.text import Text

    text.update_positions(renderer)  # where its offset from the point puts it
    return Text.get_window_extent(text, renderer)


def _fits(
    box: Any, own: int, centres: Any, radii: Sequence[float], taken: list, panel: Any
) -> bool:
    """Inside the panel, over no name taken, and nearer its own point than any other's marker."""
    inside = panel.x0 <= box.x0 and box.x1 <= panel.x1 and panel.y0 <= box.y0 and box.y1 <= panel.y1
    if not inside or any(box.overlaps(t) for t in taken):
        return False
    gaps = [gap(box, x, y) for x, y in centres]
    others = [(g, r) for k, (g, r) in enumerate(zip(gaps, radii, strict=True)) if k != own]
    return all(gaps[own] < g - r for g, r in others)


def _try(ax: Any, renderer: Any, p: Point, radius: float, ring: float, direction: tuple) -> Any:
    dx, dy, ha, va = direction
    r = radius + 2 + ring
    norm = math.hypot(dx, dy)
    leader = {"arrowstyle": "-", "color": "0.5", "lw": 0.6, "shrinkA": 0, "shrinkB": radius}
    return ax.annotate(
        p.name,
        p.xy,
        textcoords="offset points",
        xytext=(r * dx / norm, r * dy / norm),
        ha=ha,
        va=va,
        arrowprops=leader if ring else None,
        **p.style,
    )


def place(fig: Any, ax: Any, points: Sequence[Point], skip: Sequence[Point] = ()) -> list[Point]:
    """Annotate ``points`` on ``ax`` (its layout final); return those that fit nowhere.

    The points in ``skip`` (named elsewhere) get no name but keep others' names away.
    """
    renderer = fig.canvas.get_renderer()
    panel = ax.get_window_extent(renderer)
    centres = ax.transData.transform([p.xy for p in points])
    to_px = fig.dpi / 72
    radii = [math.sqrt(p.area) / 2 * to_px for p in points]  # marker radius, display units
    taken: list[Any] = []
    left: list[Point] = []
    for k, p in enumerate(points):
        if p in skip:
            continue
        for ring in RINGS:
            found = None
            for direction in DIRECTIONS:
                text = _try(ax, renderer, p, radii[k] / to_px, ring, direction)
                box = text_box(text, renderer)
                if _fits(box, k, centres, radii, taken, panel):
                    found = box
                    break
                text.remove()
            if found is not None:
                taken.append(found)
                break
        else:
            left.append(p)
    return left
