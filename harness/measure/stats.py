"""Statistics for small samples: intervals, paired tests, calibration, per-class counts.

Pure functions over plain lists, so that ``test`` (module rows) and ``compare``
(predictions.csv files) share them. Calibration comes from torchmetrics; the
Wilson interval and the exact binomial test are a few lines each, written here
so that the harness does not depend on scipy (torchmetrics imports scipy.signal
whenever scipy is installed, a large part of every run's start-up).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from statistics import NormalDist
from typing import Any

from harness.rows import Intervals, columns

N_BINS = 15  # ECE bins: torchmetrics' default, and the usual choice in the literature
LEVEL = 0.95
Z = NormalDist().inv_cdf(0.5 + LEVEL / 2)  # 1.96: the two-sided LEVEL point of N(0, 1)
SUMMARY = columns(Intervals)  # what ``summary`` adds to a run's results


def wilson(correct: int, n: int) -> list[float] | None:
    """The 95% Wilson score interval ``[low, high]`` of ``correct / n``; None when n is 0.

    Unlike the textbook ``p +- 1.96 sqrt(p(1-p)/n)``, it stays inside [0, 1] and
    keeps its coverage on a few dozen images and at accuracies near 0 or 1.

    >>> [round(x, 4) for x in wilson(81, 263)]  # Newcombe (1998), Table I
    [0.2553, 0.3662]
    """
    if n == 0:
        return None
    p, d = correct / n, 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / d
    half = Z / d * math.sqrt(p * (1 - p) / n + (Z / (2 * n)) ** 2)
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact ends: no 3e-17 for 0
    return [low, 1.0 if correct == n else min(1.0, centre + half)]


def mcnemar(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value: a binomial test on the discordant pairs.

    Under "no difference", each image that only one model gets right is equally
    likely to favour either; p is twice the smaller tail of Binomial(n, 1/2),
    counted exactly in integers, capped at 1 (1.0 when there are none).

    >>> mcnemar(3, 1)
    0.625
    """
    n, k = a_only + b_only, min(a_only, b_only)
    ways, tail = 1, 1  # C(n, 0); the running sum C(n, 0) + ... + C(n, i)
    for i in range(1, k + 1):
        ways = ways * (n - i + 1) // i
        tail += ways
    return min(1.0, 2 * tail / 2**n)


def ece(confidence: Sequence[float], correct: Sequence[bool]) -> float | None:
    """Expected calibration error of the top-1 probability (15 equal bins, L1).

    The same figure as torchmetrics' ``MulticlassCalibrationError(n_bins=15,
    norm="l1")`` on the full probabilities: that metric reduces them to the top-1
    probability and whether the top-1 class is right, which is what is given here.
    None when there is nothing to measure.
    """
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    if not confidence:
        return None
    conf = torch.tensor(confidence, dtype=torch.float32)
    right = torch.tensor([int(c) for c in correct])
    return float(binary_calibration_error(conf, right, n_bins=N_BINS, norm="l1"))


def reliability_bins(confidence: Sequence[float], correct: Sequence[bool]) -> list[dict[str, Any]]:
    """The non-empty bins of a reliability diagram: edges, images, mean confidence, accuracy.

    Binned as torchmetrics bins for ``ece``: ``[k/15, (k+1)/15)``, and 1.0 on its own.
    """
    import torch

    edges = torch.linspace(0, 1, N_BINS + 1)
    conf = torch.tensor(confidence, dtype=torch.float32)
    which = (torch.bucketize(conf, edges, right=True) - 1).tolist()
    bins = []
    for k in sorted(set(which)):
        members = [i for i, w in enumerate(which) if w == k]
        bins.append(
            {
                "low": float(edges[k]),
                "high": float(edges[min(k + 1, N_BINS)]),
                "n": len(members),
                "confidence": sum(confidence[i] for i in members) / len(members),
                "accuracy": sum(bool(correct[i]) for i in members) / len(members),
            }
        )
    return bins


def summary(labelled: Sequence[tuple[int, int, list[int], list[float]]]) -> Intervals:
    """``top1_ci95``, ``top5_ci95`` and ``ece`` of module rows (sample, label, top-k, probs)."""
    n = len(labelled)
    correct1 = [r[1] in r[2][:1] for r in labelled]
    return {
        "top1_ci95": wilson(sum(correct1), n),
        "top5_ci95": wilson(sum(r[1] in r[2][:5] for r in labelled), n),
        "ece": ece([r[3][0] for r in labelled], correct1),
    }


def per_class(
    labelled: Iterable[tuple[int, int, list[int], list[float]]],
    categories: Sequence[str],
    wnids: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One row per class present in the labels: index, wnid, name, n, correct1, correct5."""
    counts: dict[int, list[int]] = {}
    for _, y, top, _ in labelled:
        c = counts.setdefault(y, [0, 0, 0])
        c[0] += 1
        c[1] += y in top[:1]
        c[2] += y in top[:5]
    return [
        {
            "index": y,
            "wnid": wnids[y] if wnids else "",
            "name": categories[y],
            "n": n,
            "correct1": c1,
            "correct5": c5,
        }
        for y, (n, c1, c5) in sorted(counts.items())
    ]


def pairwise(correct: Mapping[str, Mapping[str, bool]]) -> list[dict[str, Any]]:
    """Exact McNemar tests between every two models, over the images both evaluated.

    Args:
        correct: model -> (image -> whether its top-1 is right), in report order.

    Returns:
        Rows ``model_a, model_b, n, a_only, b_only, p_value``.
    """
    rows = []
    for a, b in combinations(correct, 2):
        common = correct[a].keys() & correct[b].keys()
        a_only = sum(correct[a][f] and not correct[b][f] for f in common)
        b_only = sum(correct[b][f] and not correct[a][f] for f in common)
        rows.append(
            {
                "model_a": a,
                "model_b": b,
                "n": len(common),
                "a_only": a_only,
                "b_only": b_only,
                "p_value": mcnemar(a_only, b_only),
            }
        )
    return rows
