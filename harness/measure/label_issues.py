"""Likely label errors, by confident learning over one or several models' probabilities.

Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 2021), in the few lines it takes here rather
than through cleanlab, which would pull scipy and scikit-learn into every run:

1. Each photo's class probabilities are averaged over the models (an ensemble;
   one model for ``test``).
2. Each class ``j`` gets a threshold ``t_j``: the mean probability of ``j`` over
   the photos labelled ``j`` (how sure the models are of that class when the label
   is right, on the whole). A class that no photo is labelled with takes the mean
   of the photos' probabilities of their own labels.
3. A photo's confident class is the one class whose probability reaches its
   threshold or, where several do, the most probable class; a photo whose confident
   class is not its label is a likely label error (an off-diagonal entry of the
   confident joint: cleanlab's ``find_label_issues(filter_by="confident_learning")``).
4. The errors are ranked by label quality, the mean probability the models give
   the label (cleanlab's "self-confidence"): lowest first.

predictions.csv keeps each model's top five and the label's probability: the other
classes count as 0 (each at most the fifth probability, and a class must reach its
threshold to be confident). Where labels are words (``fox``, ``dog``), the classes of
confident learning are the labels themselves: each photo's probability of each label
(the sum of its classes', predictions.csv's ``prob_<label>`` columns), so that models of
different label spaces speak of the same labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.labels.score import PROB_PREFIX

Row = Mapping[str, Any]  # a predictions.csv row: read back (text) or as written (numbers)
Key = int | str  # a class index, or a label where labels are words
TOPK = 5
COLUMNS = (
    "rank",
    "file",
    "label",
    "label_name",
    "suggested",
    "suggested_name",
    "agreement",
    "suggested_prob",
    "label_quality",
)


@dataclass
class Photo:
    """One labelled photo as the models saw it, probabilities averaged over them."""

    file: str
    label: Key
    probs: dict[Key, float]  # class (or label) -> mean probability (top-5s and the label)
    top1: list[Key]  # each model's top-1 (the label of the highest summed probability)


def words(row: Row) -> bool:
    """Whether a predictions.csv row is of labels that are words (it has ``among_label``)."""
    return "among_label" in row


def known_probs(row: Row) -> dict[Key, float]:
    """class -> probability, as one predictions.csv row holds them: top five and the label;
    where labels are words, label -> its summed probability, for every label.
    """
    if words(row):
        n = len(PROB_PREFIX)
        return {k[n:]: float(v) for k, v in row.items() if k.startswith(PROB_PREFIX)}
    probs: dict[Key, float] = {
        int(row[f"pred{k}_index"]): float(row[f"pred{k}_prob"])
        for k in range(1, TOPK + 1)
        if row.get(f"pred{k}_index", "") != ""
    }
    probs[int(row["label"])] = float(row["label_prob"])
    return probs


def photos(views: Sequence[Mapping[str, Row]]) -> list[Photo]:
    """The labelled photos every model evaluated, their probabilities averaged.

    Args:
        views: per model, file -> predictions.csv row.
    """
    first, out = views[0], []
    for f, row in first.items():
        rows = [v[f] for v in views if f in v and v[f].get("label_prob", "") != ""]
        if row["label"] == "" or len(rows) < len(views):
            continue
        probs: dict[Key, float] = {}
        for r in rows:
            for c, p in known_probs(r).items():
                probs[c] = probs.get(c, 0.0) + p / len(rows)
        out.append(Photo(f, label_of(row), probs, [top1(r) for r in rows]))
    return out


def label_of(row: Row) -> Key:
    return str(row["label"]) if words(row) else int(row["label"])


def top1(row: Row) -> Key:
    return str(row["among_label"]) if words(row) else int(row["pred1_index"])


def thresholds(found: Sequence[Photo]) -> tuple[dict[Key, float], float]:
    """Per class, the mean probability of that class over the photos labelled with it;
    and the mean over all photos of their label's probability (for the other classes).
    """
    sums: dict[Key, list[float]] = {}
    for p in found:
        sums.setdefault(p.label, []).append(p.probs[p.label])
    overall = sum(p.probs[p.label] for p in found) / len(found) if found else 0.0
    return {c: sum(v) / len(v) for c, v in sums.items()}, overall


def confident_class(photo: Photo, t: Mapping[Key, float], default: float) -> Key | None:
    """The class the photo confidently belongs to; None where no class reaches its threshold.

    As cleanlab's ``compute_confident_joint``: the one class that reaches its threshold
    (within 1e-6), or, where several do, the most probable class of all.
    """
    above = [c for c, p in photo.probs.items() if p >= t.get(c, default) - 1e-6]
    if len(above) > 1:
        above = list(photo.probs)
    return max(sorted(above), key=photo.probs.__getitem__) if above else None  # ties: first


def find(found: Sequence[Photo]) -> list[tuple[Photo, Key]]:
    """The likely label errors with their confident class, lowest label quality first."""
    t, default = thresholds(found)
    issues = []
    for p in found:
        c = confident_class(p, t, default)
        if c is not None and c != p.label:
            issues.append((p, c))
    issues.sort(key=lambda pc: (pc[0].probs[pc[0].label], pc[0].file))
    return issues


def issue_rows(
    issues: Sequence[tuple[Photo, Key]], names: Mapping[Key, str]
) -> list[dict[str, Any]]:
    """label_issues.csv: file, the given label, the class the models agree on, how much."""
    return [
        {
            "rank": k,
            "file": p.file,
            "label": p.label,
            "label_name": names.get(p.label, ""),
            "suggested": c,
            "suggested_name": names.get(c, ""),
            "agreement": f"{sum(t == c for t in p.top1) / len(p.top1):.3f}",
            "suggested_prob": f"{p.probs[c]:.6f}",
            "label_quality": f"{p.probs[p.label]:.6f}",
        }
        for k, (p, c) in enumerate(issues, start=1)
    ]


def class_names(views: Sequence[Mapping[str, Row]]) -> dict[Key, str]:
    """class -> name, from the label and top-k names of the rows (a label is its own name)."""
    names: dict[Key, str] = {}
    for v in views:
        for r in v.values():
            if words(r):
                names |= {k: k for k in known_probs(r) if isinstance(k, str)}
            elif r["label"] != "":
                names[int(r["label"])] = str(r["label_name"])
            for k in range(1, TOPK + 1):
                if r.get(f"pred{k}_index", "") != "":
                    names[int(r[f"pred{k}_index"])] = str(r[f"pred{k}_name"])
    return names


def set_aside(view: Mapping[str, Row], files: set[str]) -> tuple[int, int]:
    """(right at top-1, labelled) over one model's photos, those in ``files`` left out."""
    kept = [r for f, r in view.items() if r["correct1"] != "" and f not in files]
    return sum(int(r["correct1"]) for r in kept), len(kept)


def label_issues(views: Sequence[Mapping[str, Row]]) -> list[dict[str, Any]]:
    """label_issues.csv's rows for the models' predictions (``views``: file -> row each)."""
    return issue_rows(find(photos(views)), class_names(views))
