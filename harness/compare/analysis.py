"""What a comparison says beyond its table, in files and in words.

Run by the ``compare`` parent at the end, over the ``models/<model>/predictions.csv``
and ``per_class.csv`` that each model's ``test`` wrote: confidence intervals,
paired tests (pairwise.csv), calibration (reliability_<model>.png), the images
on which the models disagree (disagreements.csv, disagreements.png) and each
model's worst classes. Every figure also goes to TensorBoard.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.compare import figures, words
from harness.compare.disagreements import Predictions, disagreements_section
from harness.compare.parity import parity_section
from harness.compare.published import published_section
from harness.config import tensorboard_runs
from harness.engine.files import to_csv, write_atomic
from harness.labels.score import scored_by_words
from harness.measure import stats

WORST = 5  # worst classes listed per model


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def slug(model: str) -> str:
    """The model's path in a compare run (compare.Spec.slug): ``timm/ARCH`` makes a subfolder."""
    from harness.config import Spec

    return Spec(model, "").slug()


def model_dir(run: Path, model: str) -> Path:
    """Where a compare child's ``test`` wrote its predictions.csv and per_class.csv."""
    from harness.config import Spec

    return Spec(model, str(run)).test_dir()


def predictions(run: Path, model: str) -> Predictions:
    return {p["file"]: p for p in read_rows(model_dir(run, model) / "predictions.csv")}


def analyse(run: Path, rows: Sequence[dict[str, Any]], data: str | None) -> list[str]:
    """Write the files and figures of the models with measured accuracy; return report sections.

    Those models are the ones with real weights and labelled images.
    """
    measured = [
        r
        for r in rows
        if not r.get("error")
        and r.get("top1") is not None
        and (model_dir(run, r["model"]) / "predictions.csv").is_file()
    ]
    if not measured:
        return parity_section(rows)
    preds = {r["model"]: predictions(run, r["model"]) for r in measured}
    row = {r["model"]: r for r in measured}
    every = stats.pairwise(top1_correct(preds))
    pairs = [p for p in every if words.comparable(row[p["model_a"]], row[p["model_b"]])]
    root, tb = Path(data or "."), tensorboard_runs([r["model"] for r in rows])
    return [
        *intervals_section(measured),
        *words.interval_lines(measured),
        *pairwise_section(run, pairs, [p for p in every if p not in pairs]),
        *among_pairwise_lines(run, words.among_pairs(measured, preds)),
        *parity_section(rows),
        *calibration_section(run, measured, preds, tb),
        *disagreements_section(run, preds, root),
        *worst_classes_section(run, measured),
        *published_section(run, measured),
        *trust_sections(run, measured, preds, pairs, root),
    ]


def top1_correct(preds: Mapping[str, Predictions]) -> dict[str, dict[str, bool]]:
    """model -> (file -> whether its top-1 is right), over its labelled images."""
    return {
        m: {f: p["correct1"] == "1" for f, p in rows.items() if p["correct1"] != ""}
        for m, rows in preds.items()
    }


def trust_sections(
    run: Path,
    measured: Sequence[dict[str, Any]],
    preds: Mapping[str, Predictions],
    pairs: Sequence[dict[str, Any]],
    root: Path,
) -> list[str]:
    """Likely label errors (from the models of the largest label space), near-duplicates,
    and the photos a firmer answer would need (``harness.engine.trust``).
    """
    from harness.engine import trust

    spaces: dict[Any, list[str]] = {}
    for r in measured:  # labels that are words: every model speaks of the same labels
        key = "words" if scored_by_words(measured) else r.get("label_space")
        spaces.setdefault(key, []).append(r["model"])
    models = max(spaces.values(), key=len)
    files = sorted(set().union(*(set(p) for p in preds.values())))
    return [
        *trust.labels_section(run, {m: preds[m] for m in models}, root),
        *trust.duplicates_section(run, files, root),
        *trust.sample_size_section(run, measured, pairs),
    ]


def intervals_section(measured: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "## How precise are these accuracies?",
        "",
        "Each accuracy is a count over a sample of images; the 95% interval (Wilson score) is "
        "the range of true accuracies that could plausibly give that count. "
        f"On {measured[0]['labelled']} images, one image is "
        f"{100 / measured[0]['labelled']:.1f} points of accuracy.",
        "",
    ]
    for r in measured:
        parts = [
            f"top-{k} {100 * r[f'top{k}']:.1f}% ({r[f'correct{k}']}/{r['labelled']}), "
            f"95% interval {100 * r[f'top{k}_ci95'][0]:.1f}-{100 * r[f'top{k}_ci95'][1]:.1f}%"
            for k in (1, 5)
        ]
        lines.append(f"- {r['model']}: " + "; ".join(parts))
    return [*lines, ""]


def pairwise_section(
    run: Path, pairs: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]]
) -> list[str]:
    """pairwise.csv and its sentences; pairs of different label spaces (``other``) are not
    ranked.
    """
    apart = [
        f"- {p['model_a']} and {p['model_b']} predict different classes: not compared."
        for p in other
    ]
    if not pairs:
        return ["## Which differences are real?", "", *apart, ""] if apart else []
    write_atomic(run / "pairwise.csv", to_csv(pairs))
    lines = [
        "## Which differences are real?",
        "",
        "For each pair of models, over the images both evaluated, only the discordant images "
        "(one model right at top-1, the other wrong) tell them apart. The exact McNemar test "
        "gives p: how often a split at least this uneven would happen if the two models were "
        "equally accurate. Below 0.05 the difference is called significant at 5% "
        "(pairwise.csv).",
        "",
        *(f"- {pair_sentence(p)}" for p in pairs),
        *apart,
        "",
    ]
    if len(pairs) > 1:
        lines += [
            f"These are {len(pairs)} tests, not adjusted for each other: among pairs that do not "
            "really differ, about one in twenty would still come out significant by chance.",
            "",
        ]
    return lines


def pair_sentence(p: Mapping[str, Any]) -> str:
    """One pairwise.csv row in words."""
    a, b, n, x, y, pv = (p[k] for k in ("model_a", "model_b", "n", "a_only", "b_only", "p_value"))
    if pv < 0.05:
        (win, w), (lose, v) = sorted([(a, x), (b, y)], key=lambda t: -t[1])
        return (
            f"{win} is better than {lose} on these {n} images: {w} vs {v} discordant, "
            f"p = {p_text(pv)} (significant at 5%)."
        )
    return (
        f"on these {n} images {a} and {b} cannot be told apart: {x} vs {y} discordant, "
        f"p = {p_text(pv)}."
    )


def p_text(p: float) -> str:
    """Two significant digits, three near 0.05 (0.0496 must not read as 0.05)."""
    return f"{p:.3g}" if 0.045 <= p < 0.055 else f"{p:.2g}"


def among_pairwise_lines(run: Path, pairs: Sequence[dict[str, Any]]) -> list[str]:
    """pairwise_among_labels.csv, where labels are words, and its sentences."""
    if not pairs:
        return []
    write_atomic(run / "pairwise_among_labels.csv", to_csv(pairs))
    return [
        "Among the labels alone (pairwise_among_labels.csv), the same test on the label of "
        "the highest summed probability:",
        "",
        *(f"- {pair_sentence(p)}" for p in pairs),
        "",
    ]


def calibration_section(
    run: Path,
    measured: Sequence[dict[str, Any]],
    preds: Mapping[str, Predictions],
    tensorboard: Mapping[str, str],
) -> list[str]:
    """ECE and a reliability diagram per model, each also in the model's TensorBoard run;
    where labels are words, those of the chosen label's summed probability too.
    """
    lines = [
        "## Can the models' confidence be trusted?",
        "",
        "ECE (expected calibration error) is the average gap, weighted by images, between the "
        "top-1 probability a model gives and how often it is right at that probability "
        "(15 bins): 0 is perfect, 0.10 means 10 points off on average. Each reliability "
        "diagram shows the bins: bars on the diagonal are a confidence that can be taken at "
        "its word, bars below it overconfidence, above it underconfidence.",
        "",
    ]
    for r in measured:
        m = r["model"]
        labelled = [p for p in preds[m].values() if p["correct1"] != ""]
        conf = [float(p["pred1_prob"]) for p in labelled]
        right = [p["correct1"] == "1" for p in labelled]
        lines += reliability_lines(run, m, (conf, right, r["ece"]), run / tensorboard[m])
    among = words.among_calibration(measured, preds)
    if among:
        lines += ["", words.CALIBRATION_LINE, ""]
    for m, found in among.items():
        lines += reliability_lines(run, m, found, run / tensorboard[m], among=True)
    return [*lines, ""]


def reliability_lines(
    run: Path,
    model: str,
    found: tuple[list[float], list[bool], float],
    tensorboard: Path,
    among: bool = False,
) -> list[str]:
    """One model's reliability diagram (png and TensorBoard) and its sentence, of the
    top-1 probability or (``among``) of the chosen label's summed probability.
    """
    conf, right, ece = found
    what = "the chosen label's summed probability" if among else "top-1 probability the model gave"
    fig = figures.reliability(model, stats.reliability_bins(conf, right), ece, what)
    png = reliability_png(model, among)
    tag = "compare/reliability" + ("_among_labels" if among else "")
    figures.save(fig, run / png, tensorboard, tag)
    mean, acc = sum(conf) / len(conf), sum(right) / len(right)
    said = (
        "among the labels; mean probability of the chosen label"
        if among
        else ("; mean top-1 probability")
    )
    return [
        f"- {model}: ECE {ece:.3f}{' ' * among}{said} {100 * mean:.1f}% against "
        f"{100 * acc:.1f}% right: {tendency(mean, acc)} on average.",
        "",
        f"  ![reliability diagram of {model}{' among the labels' * among}]({png})",
    ]


def reliability_png(model: str, among: bool = False) -> str:
    """reliability_<model>.png (``among``: reliability_among_labels_<model>.png), in the run
    directory itself even for ``timm/ARCH`` names.
    """
    return f"reliability_{'among_labels_' * among}{slug(model).replace('/', '_')}.png"


def tendency(confidence: float, accuracy: float) -> str:
    if confidence == accuracy:
        return "calibrated"
    return "overconfident" if confidence > accuracy else "underconfident"


def worst_classes_section(run: Path, measured: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "## Worst classes",
        "",
        f"Up to {WORST} classes with the lowest top-1 per model (right/images; all classes in "
        "models/<model>/per_class.csv). With one or two images of a class these are "
        "examples of mistakes, not estimates of a class's accuracy.",
        "",
    ]
    for r in measured:
        path = model_dir(run, r["model"]) / "per_class.csv"
        classes = read_rows(path) if path.is_file() else []
        missed = [c for c in classes if int(c["correct1"]) < int(c["n"])]
        missed.sort(key=lambda c: (int(c["correct1"]) / int(c["n"]), -int(c["n"])))
        worst = ", ".join(f"{c['name']} ({c['correct1']}/{c['n']})" for c in missed[:WORST])
        lines.append(f"- {r['model']}: {worst or 'no class missed'}")
    return [*lines, ""]
