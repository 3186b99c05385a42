"""Independent computations of the statistics the harness reports, from their formulas."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the 97.5% point of the standard normal


def wilson_closed_form(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval from its formula (Wilson 1927)."""
    p, d = k / n, 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / d
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return centre - half, centre + half


def plain_ece(conf: list[float], right: list[bool], bins: int = 15) -> float:
    """Bin by confidence (1.0 alone in a last bin, as torchmetrics); weighted |accuracy - conf|."""
    total = 0.0
    for b in range(bins + 1):
        members = [i for i, c in enumerate(conf) if min(int(c * bins), bins) == b]
        if members:
            acc = sum(right[i] for i in members) / len(members)
            mean = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean)
    return total


def exact_two_sided(x: int, y: int) -> float:
    """Exact McNemar p by hand: twice the smaller binomial tail, capped at 1."""
    n, k = x + y, min(x, y)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
