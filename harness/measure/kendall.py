"""Kendall's rank correlation with its exact p-value, without scipy.

Does the order of models on one's own photos agree with their published order?
With a handful of models an asymptotic p-value is meaningless, so p is exact:
the share of all orderings of the measured figures whose tau is at least as far
from 0 as the one observed (two-sided). Without ties that distribution is the
count of permutations by inversions (a small recursion, any n); with ties the
orderings are enumerated (up to ``MAX_ENUMERATED`` models).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_ENUMERATED = 8  # 8! = 40,320 orderings: instant; 10! would take minutes
EPS = 1e-9  # taus equal up to rounding count as equal


@dataclass(frozen=True)
class Kendall:
    """tau-b, its exact two-sided p (None where ties make enumeration too long), and n."""

    tau: float
    p: float | None
    n: int


def pairs(x: Sequence[float], y: Sequence[float]) -> tuple[int, int, int, int]:
    """(concordant, discordant, pairs tied in x, pairs tied in y) over all pairs i < j."""
    c = d = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        tx += dx == 0
        ty += dy == 0
        if dx * dy > 0:
            c += 1
        elif dx * dy < 0:
            d += 1
    return c, d, tx, ty


def tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b: (C - D) / sqrt((n0 - tied x) (n0 - tied y)); 0 where one side is constant.

    >>> tau_b([1, 2, 3, 4], [1, 2, 4, 3])
    0.6666666666666666
    """
    c, d, tx, ty = pairs(x, y)
    n0 = len(x) * (len(x) - 1) // 2
    denominator = math.sqrt((n0 - tx) * (n0 - ty))
    return (c - d) / denominator if denominator else 0.0


def inversions_counts(n: int) -> list[int]:
    """How many permutations of n items have k inversions, for k = 0 .. n(n-1)/2.

    Item m (m = 1 .. n) placed into an ordering of m - 1 adds 0 .. m - 1 inversions.

    >>> inversions_counts(4)
    [1, 3, 5, 6, 5, 3, 1]
    """
    counts = [1]
    for m in range(2, n + 1):
        new = [0] * (len(counts) + m - 1)
        for k, ways in enumerate(counts):
            for added in range(m):
                new[k + added] += ways
        counts = new
    return counts


def kendall(x: Sequence[float], y: Sequence[float]) -> Kendall:
    """tau-b of ``x`` against ``y`` with its exact two-sided p-value.

    >>> k = kendall([1, 2, 3, 4], [1, 2, 4, 3])
    >>> round(k.tau, 2), round(k.p, 4)
    (0.67, 0.3333)
    """
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("kendall needs two sequences of the same length, at least 2")
    n, tau = len(x), tau_b(x, y)
    if len(set(x)) == n and len(set(y)) == n:  # no ties: tau = 1 - 4 inversions / (n (n-1))
        n0 = n * (n - 1) // 2
        counts = inversions_counts(n)
        far = sum(w for k, w in enumerate(counts) if abs(1 - 2 * k / n0) >= abs(tau) - EPS)
        return Kendall(tau, far / math.factorial(n), n)
    if n > MAX_ENUMERATED:
        return Kendall(tau, None, n)
    orderings = list(itertools.permutations(y))
    far = sum(abs(tau_b(x, o)) >= abs(tau) - EPS for o in orderings)
    return Kendall(tau, far / len(orderings), n)
