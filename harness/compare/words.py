"""What a comparison adds where the labels are words (folders ``fox/``, ``dog/``).

Each model is scored by its own classes under the same words (``harness.labels``),
so that models of different label spaces (ImageNet-1k beside timm's 22k or 12k) are
compared on the same photos and the same words: their top-1 under the word goes
into the paired tests as any top-1 does. The model used as a classifier of the
labels alone (``top1_among_labels``) gets its interval, its paired tests
(pairwise_among_labels.csv) and its calibration (the chosen label's summed
probability against how often it is right) besides. ``analysis`` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.compare.disagreements import Predictions
from harness.labels.score import ONE_LABEL, scored_by_words
from harness.measure import stats

CALIBRATION_LINE = (
    "Among the labels alone: the summed probability of the label each model chose, "
    "against how often that label is right (ece_among_labels):"
)


def comparable(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two rows' top-1 mean the same: one label space, or both under the same words."""
    return a.get("label_space") == b.get("label_space") or scored_by_words([a, b])


def among(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows scored under words with a measured ``top1_among_labels`` (not one label)."""
    if not scored_by_words(rows):
        return []
    return [r for r in rows if r.get("top1_among_labels") is not None]


def interval_lines(measured: Sequence[Mapping[str, Any]]) -> list[str]:
    """The intervals section's lines on ``top1_among_labels``."""
    if not scored_by_words(measured):
        return []
    lines = ["Among the labels alone (the label of the highest summed probability):", ""]
    for r in measured:
        if r.get("top1_among_labels") is None:
            lines.append(f"- {r['model']}: top-1 among the labels n/a ({ONE_LABEL})")
            continue
        low, high = r["top1_among_labels_ci95"]
        lines.append(
            f"- {r['model']}: top-1 among the labels {100 * r['top1_among_labels']:.1f}% "
            f"({r['correct_among_labels']}/{r['labelled']}), 95% interval "
            f"{100 * low:.1f}-{100 * high:.1f}%"
        )
    return [*lines, ""]


def among_correct(preds: Mapping[str, Predictions]) -> dict[str, dict[str, bool]]:
    """model -> (file -> whether the label of its highest summed probability is right)."""
    return {
        m: {f: p["correct_among_labels"] == "1" for f, p in rows.items() if p["label"] != ""}
        for m, rows in preds.items()
    }


def among_pairs(
    measured: Sequence[Mapping[str, Any]], preds: Mapping[str, Predictions]
) -> list[dict[str, Any]]:
    """The exact McNemar tests on ``top1_among_labels`` (pairwise_among_labels.csv's rows)."""
    models = [r["model"] for r in among(measured)]
    return stats.pairwise(among_correct({m: preds[m] for m in models})) if len(models) > 1 else []


def among_calibration(
    measured: Sequence[Mapping[str, Any]], preds: Mapping[str, Predictions]
) -> dict[str, tuple[list[float], list[bool], float]]:
    """model -> (the chosen label's summed probability, whether it is right, per labelled
    photo; ``ece_among_labels``).
    """
    out = {}
    for r in among(measured):
        labelled = [p for p in preds[r["model"]].values() if p["label"] != ""]
        conf = [float(p["among_prob"]) for p in labelled]
        right = [p["correct_among_labels"] == "1" for p in labelled]
        out[r["model"]] = (conf, right, float(r["ece_among_labels"]))
    return out
