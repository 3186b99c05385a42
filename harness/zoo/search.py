"""Choosing candidates from ``harness models`` rows: filters, a sort, the Pareto front.

Pure functions over the rows (dicts with the keys of :mod:`harness.zoo.published`),
so that the search answers from the tables and the registries' metadata alone.
The options that ask for them are ``cli.option_groups.search_options``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.zoo.published import speed_key, top1_key

Row = dict[str, Any]

# --sort: what rows are sorted on; --pareto's cost: fewer params/GFLOPs, more images/s
SORTS = ("name", "top1", "top5", "params", "gflops", "input", "speed")
COSTS = ("params", "gflops", "speed")
WORDS = {  # what a filter needs, in the note on the rows left out without it
    "top1": "a published top-1 on that set",
    "top5": "a published top-5",
    "params": "a published parameter count",
    "gflops": "published FLOPs",
    "input": "an input size",
    "speed": "a published speed on that machine",
}


@dataclass(frozen=True)
class Query:
    """What a search asks; None: no such filter."""

    on: str = "imagenet"  # --published-on: the set "top1" means
    speed_on: str = "rtx4090"  # the machine "speed" means
    sort: str | None = None
    max_params: float | None = None  # millions
    max_gflops: float | None = None
    max_input: int | None = None  # pixels, the square side
    min_top1: float | None = None  # a fraction
    pareto: bool = False
    cost: str = "params"
    limit: int | None = None


def input_side(row: Row) -> int | None:
    """The square side of a row's ``input_size`` ("224x224" is 224)."""
    size = row.get("input_size")
    return int(str(size).split("x")[0]) if size else None


def value(row: Row, what: str, q: Query) -> float | None:
    """The figure ``what`` (one of ``SORTS`` but name) of ``row``; None where unknown."""
    if what == "input":
        return input_side(row)
    key = {
        "top1": top1_key(q.on),
        "top5": "published_top5",
        "params": "params_m",
        "gflops": "gflops",
        "speed": speed_key(q.speed_on),
    }[what]
    v = row.get(key)
    return None if v is None else float(v)


def larger_is_better(what: str) -> bool:
    return what in ("top1", "top5", "speed")


def search(rows: Sequence[Row], q: Query) -> tuple[list[Row], list[str]]:
    """The rows ``q`` keeps, in its order; and notes on what it left out and why."""
    notes: list[str] = []
    kept = list(rows)
    limits: list[tuple[str, str, float | None, Callable[[float, float], bool]]] = [
        ("--max-params", "params", q.max_params, lambda v, b: v <= b),
        ("--max-gflops", "gflops", q.max_gflops, lambda v, b: v <= b),
        ("--max-input", "input", q.max_input, lambda v, b: v <= b),
        ("--min-top1", "top1", q.min_top1, lambda v, b: v >= b),
    ]
    for flag, what, bound, ok in limits:
        if bound is None:
            continue
        unknown = [r for r in kept if value(r, what, q) is None]
        if unknown:
            notes.append(f"{flag}: {len(unknown)} models without {WORDS[what]} left out")
        kept = [r for r in kept if (v := value(r, what, q)) is not None and ok(v, bound)]
    if q.pareto:
        kept, dropped = pareto(kept, q)
        if dropped:
            notes.append(f"--pareto: {dropped} models without both figures left out")
    sort = q.sort or ("top1" if q.pareto else None)
    if sort:
        kept = ordered(kept, sort, q)
    return (kept[: q.limit] if q.limit else kept), notes


def ordered(rows: Sequence[Row], what: str, q: Query) -> list[Row]:
    """``rows`` best first on ``what`` (stable; rows without the figure last)."""
    if what == "name":
        from harness.zoo.registry import natural

        return sorted(rows, key=lambda r: natural(r["model"]))
    sign = -1.0 if larger_is_better(what) else 1.0
    known = [r for r in rows if value(r, what, q) is not None]
    unknown = [r for r in rows if value(r, what, q) is None]
    return sorted(known, key=lambda r: sign * (value(r, what, q) or 0.0)) + unknown


def pareto(rows: Sequence[Row], q: Query) -> tuple[list[Row], int]:
    """The rows no other row beats on both top-1 and the cost; and how many lacked a figure.

    Row ``b`` beats ``a`` when it is at least as accurate and at least as cheap,
    and strictly better on one of the two (equal rows all stay).
    """
    sign = -1.0 if larger_is_better(q.cost) else 1.0  # as a cost: lower is better
    by_cost: dict[float, list[tuple[float, Row]]] = {}
    for r in rows:
        acc, cost = value(r, "top1", q), value(r, q.cost, q)
        if acc is not None and cost is not None:
            by_cost.setdefault(sign * cost, []).append((acc, r))
    front: list[Row] = []
    best = float("-inf")  # the best top-1 of the strictly cheaper rows
    for cost in sorted(by_cost):  # a sweep from the cheapest: O(n log n), not all pairs
        top = max(acc for acc, _ in by_cost[cost])
        if top > best:
            front += [r for acc, r in by_cost[cost] if acc == top]
            best = top
    kept = {id(r) for r in front}
    return [r for r in rows if id(r) in kept], len(rows) - sum(map(len, by_cost.values()))
