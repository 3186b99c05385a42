"""How many photos would settle it: McNemar power and interval width against sample size.

Two questions a small evaluation leaves open, answered at the rates observed:

- Two models that cannot be told apart: among N photos, a photo is discordant in
  favour of A with probability ``a_only / n`` and of B with ``b_only / n``. The
  number of discordant photos D is then Binomial(N, (a_only + b_only) / n) and,
  given D, A's share Binomial(D, a_only / (a_only + b_only)). The exact McNemar
  test (``stats.mcnemar``) rejects at 5% for the D-splits in its rejection region;
  the power at N is the probability of that region, summed over D, exactly (in
  floating point, from log-binomial terms). The answer is the smallest N with 80%
  power, found by bisection.
- One model's accuracy: the smallest N at which the 95% Wilson interval
  (``stats.wilson``) at the observed accuracy is no wider than +-2 points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np

from harness.measure.stats import wilson

ALPHA, POWER, HALF_WIDTH = 0.05, 0.80, 0.02
MOST = 1_000_000  # photos: beyond this the answer is "more than a million"


_LOG_FACTORIALS = np.zeros(1)  # log k! for k = 0, 1, ...: grown as needed


def _log_factorials(n: int) -> np.ndarray:
    """``log k!`` for k = 0 .. at least n."""
    global _LOG_FACTORIALS
    if len(_LOG_FACTORIALS) <= n:
        size = max(1 << 16, 1 << (n + 1).bit_length())
        _LOG_FACTORIALS = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, size)))])
    return _LOG_FACTORIALS


def _log_pmf(n: int, p: float) -> np.ndarray:
    """log P(K = k) for K ~ Binomial(n, p), k = 0 .. n (0 < p < 1)."""
    lf = _log_factorials(n)
    k = np.arange(n + 1)
    return lf[n] - lf[k] - lf[n - k] + k * math.log(p) + (n - k) * math.log1p(-p)


@cache
def critical(d: int, alpha: float = ALPHA) -> int:
    """The largest k whose split k : d - k the exact McNemar test calls significant
    (two-sided p below ``alpha``); -1 when none is.
    """
    if d == 0:
        return -1
    tail = np.cumsum(np.exp(_log_pmf(d, 0.5)))  # P(K <= k) under "no difference"
    return int(np.searchsorted(2 * tail, alpha, side="left")) - 1


def _reject(d: int, q: float) -> float:
    """P(the exact test rejects | d discordant photos, a share q of them in A's favour)."""
    k = critical(d)
    if k < 0 or q in (0.0, 1.0):  # a share of 0 or 1: every split is d : 0
        return float(k >= 0)
    pmf = np.exp(_log_pmf(d, q))
    return float(pmf[: k + 1].sum() + pmf[d - k :].sum())


def mcnemar_power(n: int, a_rate: float, b_rate: float) -> float:
    """The power of the exact McNemar test at 5% on ``n`` photos at these discordance rates."""
    rate, q = a_rate + b_rate, a_rate / (a_rate + b_rate)
    if rate >= 1:
        return _reject(n, q)
    sd = math.sqrt(n * rate * (1 - rate))
    lo, hi = max(0, int(n * rate - 9 * sd) - 1), min(n, int(n * rate + 9 * sd) + 2)
    weights = np.exp(_log_pmf(n, rate)[lo : hi + 1])  # P(D = d), d = lo .. hi
    return float(sum(w * _reject(d, q) for d, w in zip(range(lo, hi + 1), weights, strict=True)))


def smallest(ok: Callable[[int], bool], most: int = MOST) -> int | None:
    """The smallest n in 1 .. ``most`` with ``ok(n)`` (taken as monotone); None if none."""
    lo, hi = 1, 1
    while not ok(hi):
        if hi >= most:
            return None
        lo, hi = hi + 1, min(2 * hi, most)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return lo


def photos_to_tell_apart(a_only: int, b_only: int, n: int) -> int | None:
    """Photos for 80% power at the observed rates ``a_only / n``, ``b_only / n``.

    None when no number would do: the models never disagree, or disagree evenly; or
    when it would take more than ``MOST``.

    >>> photos_to_tell_apart(17, 25, 500)
    2680
    """
    if a_only == b_only:
        return None
    return smallest(lambda m: mcnemar_power(m, a_only / n, b_only / n) >= POWER)


def photos_for_interval(correct: int, n: int, half_width: float = HALF_WIDTH) -> int:
    """Photos for a 95% Wilson interval no wider than +-``half_width`` at accuracy correct/n.

    >>> photos_for_interval(453, 500)
    821
    """
    p = correct / n

    def narrow(m: int) -> bool:
        low, high = wilson(round(p * m), m) or (0.0, 1.0)
        return (high - low) / 2 <= half_width

    found = smallest(narrow)
    assert found is not None  # the width falls below any bound by a million photos
    return found
