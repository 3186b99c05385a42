"""Parity: how far a runtime's answers stay from the same model's in torch fp32, image by image.

Pure functions over each image's answer (its top-5 classes, top-1 probability and,
where labelled, whether its top-1 is right), as ``outputs.json`` holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.measure.stats import mcnemar

Answer = tuple[list[int], float, bool | None]  # top-5 classes, top-1 probability, right?
DEFECT = 0.005  # fp32 answers changed on more than this share of images: likely a defect


def parity(reference: Mapping[str, Answer], answers: Mapping[str, Answer]) -> dict[str, Any]:
    """Agreement of ``answers`` with ``reference`` over the images both answered.

    Returns ``parity_n`` (images), ``agree_top1`` (same top-1 class), ``agree_top5``
    (the same set of five classes), ``max_top1_prob_diff`` (the largest absolute
    difference between the two top-1 probabilities) and, over the labelled images,
    ``right_to_wrong``, ``wrong_to_right`` and the exact McNemar ``parity_p``
    (None without labels).

    >>> ref = {"a": ([1, 2, 3, 4, 5], 0.9, True), "b": ([2, 1, 3, 4, 5], 0.6, False)}
    >>> new = {"a": ([1, 2, 3, 4, 5], 0.8, True), "b": ([1, 2, 3, 4, 5], 0.5, True)}
    >>> p = parity(ref, new)
    >>> p["agree_top1"], p["agree_top5"], round(p["max_top1_prob_diff"], 6), p["wrong_to_right"]
    (1, 2, 0.1, 1)
    """
    common = sorted(reference.keys() & answers.keys())
    pairs = [(reference[f], answers[f]) for f in common]
    labelled = [(a[2], b[2]) for a, b in pairs if a[2] is not None and b[2] is not None]
    r2w = sum(a and not b for a, b in labelled)
    w2r = sum(b and not a for a, b in labelled)
    return {
        "parity_n": len(pairs),
        "agree_top1": sum(a[0][:1] == b[0][:1] for a, b in pairs),
        "agree_top5": sum(set(a[0][:5]) == set(b[0][:5]) for a, b in pairs),
        "max_top1_prob_diff": max((abs(a[1] - b[1]) for a, b in pairs), default=None),
        "parity_labelled": len(labelled),
        "right_to_wrong": r2w,
        "wrong_to_right": w2r,
        "parity_p": mcnemar(r2w, w2r) if labelled else None,
    }


def likely_defect(found: Mapping[str, Any], fp32: bool) -> bool:
    """An fp32 runtime whose top-1 differs from torch fp32's on more than ``DEFECT`` of the
    images: an export or preprocessing defect more likely than rounding.
    """
    n = found.get("parity_n") or 0
    return fp32 and n > 0 and (n - found["agree_top1"]) / n > DEFECT
