"""The images on which the models of a comparison disagree: disagreements.csv, a grid of
them (disagreements.png, also in TensorBoard) and report.md's section.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.compare import figures
from harness.engine.files import to_csv, write_atomic

GRID = 16  # disagreements shown in the grid
Predictions = dict[str, dict[str, str]]  # file -> predictions.csv row


def in_words(preds: Mapping[str, Predictions]) -> bool:
    """Whether every model's predictions are of labels that are words (``pred1_label``)."""
    return all("pred1_label" in next(iter(p.values()), {}) for p in preds.values())


def disagreements(preds: Mapping[str, Predictions]) -> list[dict[str, Any]]:
    """disagreements.csv: the images all models evaluated on which their top-1 differ.

    Where labels are words, the top-1 in the labels' terms (``pred1_label``: the label
    the top-1 class lies under, none included) is compared, and given beside the class.
    """
    models = list(preds)
    first = preds[models[0]]
    words = in_words(preds)
    key = "pred1_label" if words else "pred1_index"
    out = []
    for f, p in first.items():
        if not all(f in preds[m] for m in models):
            continue
        if len({preds[m][f][key] for m in models}) < 2:
            continue
        row: dict[str, Any] = {"file": f, "label": p["label"], "label_name": p["label_name"]}
        for m in models:
            q = preds[m][f]
            ok = int(q["correct1"]) if q["correct1"] != "" else ""
            row |= {f"{m}_top1": q["pred1_name"], f"{m}_prob": q["pred1_prob"], f"{m}_correct1": ok}
            row |= {f"{m}_top1_label": q["pred1_label"]} if words else {}
        out.append(row)
    return out


def disagreements_section(run: Path, preds: Mapping[str, Predictions], root: Path) -> list[str]:
    if len(preds) < 2:
        return []
    rows = disagreements(preds)
    write_atomic(run / "disagreements.csv", to_csv(rows))
    common = set.intersection(*(set(p) for p in preds.values()))
    lines = [
        "## Where do the models disagree?",
        "",
        f"Their top-1 answers differ on {len(rows)} of the {len(common)} images all of them "
        "evaluated (disagreements.csv)"
        + (
            ", in the labels' terms: the label the top-1 class lies under, or none."
            if in_words(preds)
            else "."
        ),
        "",
    ]
    if rows:
        fig = figures.disagreement_grid(rows[:GRID], list(preds), root)
        figures.save(fig, run / "disagreements.png", run / "disagreements", "compare/disagreements")
        lines += [
            f"The first {min(GRID, len(rows))}, with each model's answer and probability "
            "(green: right, red: wrong):",
            "",
            "![disagreements](disagreements.png)",
            "",
        ]
    return lines
