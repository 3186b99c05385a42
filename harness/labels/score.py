"""Scoring against labels that stand for several classes (words): pure functions over
the module's rows, shared by ``test``'s results and its files.

- right at top-1 (top-5) when the top-1 class (any of the top 5) lies under the label;
- right among the labels (``top1_among_labels``) when the label's probability, the
  sum of its classes' probabilities, is the highest of the labels': the model used
  as a classifier of the labels alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.labels.resolve import Label

# what a results.json has where labels are words, beside the usual accuracy fields
WORD_KEYS = (
    "correct_among_labels",
    "top1_among_labels",
    "top1_among_labels_ci95",
    "ece_among_labels",
    "among_labels_note",
    "label_map",
)
ONE_LABEL = "one label only: among one label every answer is right (100% by definition)"
PROB_PREFIX = "prob_"  # predictions.csv's column of each label's probability: prob_fox
Row = tuple[int, int, list[int], list[float]]  # sample, label, top-k classes, their probs


def scored_by_words(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every results row was scored under labels that are words (has a ``label_map``)."""
    return bool(rows) and all("label_map" in r for r in rows)


@dataclass(frozen=True)
class Scored:
    """One labelled image, scored under its label."""

    sample: int
    label: int
    right1: bool
    right5: bool
    among: int  # the label with the highest summed probability
    among_prob: float  # that probability
    top1_prob: float  # the top-1 class's probability

    @property
    def right_among(self) -> bool:
        return self.among == self.label


def best_label(probs: Sequence[float]) -> int:
    """The label of the highest probability; a tie goes to the first (as ``argmax``).

    >>> best_label([0.2, 0.5, 0.5])
    1
    """
    return max(range(len(probs)), key=lambda k: (probs[k], -k))


def score(
    rows: Sequence[Row], label_probs: Sequence[tuple[int, list[float]]], labels: Sequence[Label]
) -> list[Scored]:
    """The labelled rows, scored; ``label_probs`` is (sample, P(label) per label)."""
    probs = dict(label_probs)
    out = []
    for i, y, top, top_prob in rows:
        if y < 0:
            continue
        under = set(labels[y].classes)
        p = probs[i]
        best = best_label(p)
        right5 = bool(under & set(top[:5]))
        out.append(Scored(i, y, top[0] in under, right5, best, p[best], top_prob[0]))
    return out


def confusion(scored: Sequence[Scored], n: int) -> list[list[int]]:
    """Counts ``[true][predicted]`` among the ``n`` labels."""
    m = [[0] * n for _ in range(n)]
    for s in scored:
        m[s.label][s.among] += 1
    return m


def confusion_rows(
    matrix: Sequence[Sequence[int]], labels: Sequence[Label]
) -> list[dict[str, Any]]:
    """confusion.csv: one row per true label, a column per predicted label."""
    return [
        {"label": a.name, **{b.name: matrix[i][j] for j, b in enumerate(labels)}}
        for i, a in enumerate(labels)
    ]


def per_label(scored: Sequence[Scored], labels: Sequence[Label]) -> list[dict[str, Any]]:
    """per_class.csv where labels are words: one row per label with images."""
    rows = []
    for k, lab in enumerate(labels):
        mine = [s for s in scored if s.label == k]
        if not mine:
            continue
        rows.append(
            {
                "label": lab.name,
                "wnid": lab.wnid,
                "name": lab.name,
                "words": lab.words,
                "classes": len(lab.classes),
                "n": len(mine),
                "correct1": sum(s.right1 for s in mine),
                "correct5": sum(s.right5 for s in mine),
                "correct_among_labels": sum(s.right_among for s in mine),
            }
        )
    return rows
