"""Intervals, calibration, paired tests and disagreements on ../shared photos.

The comparison is conftest's shared ``compared`` run: squeezenet1_1 and
timm/tf_efficientnet_lite0 with real weights, alexnet with random ones. Its figures
are checked against separate ``test`` runs of the same weights.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from harness.cli.main import main
from harness.compare import analysis
from tests.helpers import COMPARE_LIMIT, read_csv
from tests.helpers.stats import exact_two_sided, plain_ece, wilson_closed_form

LIMIT = COMPARE_LIMIT
FAST = ["--num-workers", "0", "--accelerator", "cpu", "--batch-size", "8", "--limit", str(LIMIT)]
MODELS = ("squeezenet1_1", "timm/tf_efficientnet_lite0")  # the compared real-weight models


@dataclass
class Run:
    """One ``harness test``: its results.json, predictions.csv, per_class.csv and stdout."""

    out: Path
    results: dict
    predictions: list[dict[str, str]]
    per_class: list[dict[str, str]]
    stdout: str


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory, squeezenet_weights: Path) -> Path:
    """squeezenet1_1's weights with noise on the classifier: some answers change, both ways."""
    state = torch.load(squeezenet_weights, weights_only=True)
    w = state["classifier.1.weight"]
    noise = torch.randn(w.shape, generator=torch.Generator().manual_seed(0))
    state["classifier.1.weight"] = w + 0.5 * w.std() * noise
    path = tmp_path_factory.mktemp("weights") / "perturbed.pth"
    torch.save(state, path)
    return path


def run_test(out: Path, model: str, nips: Path, *weights: str) -> Run:
    data = ["--data", str(nips / "images"), "--labels", str(nips / "labels.csv")]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        args = ["test", "--model", model, *weights, *data, *FAST, "--no-progress"]
        assert main([*args, "--output", str(out)]) == 0
    return Run(
        out,
        json.loads((out / "results.json").read_text()),
        read_csv(out / "predictions.csv"),
        read_csv(out / "per_class.csv"),
        stdout.getvalue(),
    )


@pytest.fixture(scope="module")
def runs(nips: Path, squeezenet_weights: Path, perturbed: Path, tmp_path_factory) -> dict[str, Run]:
    """Separate ``test`` runs: both compared models, and squeezenet with perturbed weights."""
    tmp = tmp_path_factory.mktemp("tests")
    shared = ["--weights-dir", str(squeezenet_weights.parent)]
    found = {m: run_test(tmp / m, m, nips, *shared) for m in MODELS}
    found["perturbed"] = run_test(tmp / "perturbed", MODELS[0], nips, "--weights", str(perturbed))
    return found


def correct1(run: Run) -> dict[str, bool]:
    return {p["file"]: p["correct1"] == "1" for p in run.predictions}


def test_test_reports_wilson_intervals_and_ece(runs):
    for run in runs.values():
        res = run.results
        assert res["labelled"] == LIMIT
        for k in ("1", "5"):
            low, high = wilson_closed_form(res[f"correct{k}"], LIMIT)
            assert res[f"top{k}_ci95"] == pytest.approx([low, high], abs=1e-9)
            assert f"95% CI {100 * low:.1f}-{100 * high:.1f}%" in run.stdout
        conf = [float(p["pred1_prob"]) for p in run.predictions]  # 6 decimals in the CSV
        right = [p["correct1"] == "1" for p in run.predictions]
        assert res["ece"] == pytest.approx(plain_ece(conf, right), abs=1e-5)
        assert f"ECE       {res['ece']:.4f}" in run.stdout


def test_per_class_csv_is_a_hand_count(runs, nips):
    wnids = {r["label"]: r["wnid"] for r in read_csv(nips / "labels.csv")}
    run = runs["squeezenet1_1"]
    expected: dict[str, list[int]] = {}
    for p in run.predictions:
        c = expected.setdefault(p["label"], [0, 0, 0])
        c[0] += 1
        c[1] += p["correct1"] == "1"
        c[2] += p["correct5"] == "1"
    got = {c["index"]: [int(c["n"]), int(c["correct1"]), int(c["correct5"])] for c in run.per_class}
    assert got == expected and sum(n for n, _, _ in got.values()) == LIMIT
    assert all(c["wnid"] == wnids[c["index"]] for c in run.per_class)
    assert [int(c["index"]) for c in run.per_class] == sorted(int(i) for i in expected)


def test_compare_rows_carry_the_test_runs_intervals_and_ece(compared, runs):
    rows = {r["model"]: r for r in json.loads((compared / "results.json").read_text())}
    for m in MODELS:
        res = runs[m].results
        assert rows[m]["correct1"] == res["correct1"] and rows[m]["correct5"] == res["correct5"]
        assert rows[m]["top1_ci95"] == pytest.approx(wilson_closed_form(res["correct1"], LIMIT))
        assert rows[m]["top5_ci95"] == pytest.approx(wilson_closed_form(res["correct5"], LIMIT))
        assert rows[m]["ece"] == pytest.approx(res["ece"], abs=1e-6)
    table = (compared / "report.md").read_text()
    low, high = rows["squeezenet1_1"]["top1_ci95"]
    assert f"| {100 * low:.1f}-{100 * high:.1f}% |" in table


def test_discordant_counts_match_separate_test_runs(compared, runs):
    (pair,) = read_csv(compared / "pairwise.csv")
    a, b = correct1(runs[MODELS[0]]), correct1(runs[MODELS[1]])
    a_only = sum(a[f] and not b[f] for f in a)
    b_only = sum(b[f] and not a[f] for f in a)
    assert (pair["model_a"], pair["model_b"]) == MODELS
    assert (int(pair["n"]), int(pair["a_only"]), int(pair["b_only"])) == (LIMIT, a_only, b_only)
    assert float(pair["p_value"]) == pytest.approx(exact_two_sided(a_only, b_only), rel=1e-9)
    assert b_only > 0  # lite0 gets some right that squeezenet misses: the test can fail


def test_disagreements_match_separate_test_runs(compared, runs):
    a, b = (runs[m].predictions for m in MODELS)
    differ = [p["file"] for p, q in zip(a, b, strict=True) if p["pred1_index"] != q["pred1_index"]]
    got = read_csv(compared / "disagreements.csv")
    assert [d["file"] for d in got] == differ and differ
    first = {p["file"]: p for p in a}[differ[0]]
    assert got[0]["label_name"] == first["label_name"]
    assert got[0]["squeezenet1_1_top1"] == first["pred1_name"]
    # separate processes, batched differently: the same probability to float32's precision
    assert float(got[0]["squeezenet1_1_prob"]) == pytest.approx(
        float(first["pred1_prob"]), abs=2e-6
    )


def test_figures_in_run_dir_and_tensorboard(compared):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    names = [*(analysis.reliability_png(m) for m in MODELS), "disagreements.png"]
    for png in [*names, "accuracy_vs_latency.png"]:
        assert (compared / png).read_bytes().startswith(b"\x89PNG")
    tags = [*((m, "compare/reliability") for m in MODELS)]
    for sub, tag in [*tags, ("disagreements", "compare/disagreements")]:
        ea = EventAccumulator(str(compared / sub), size_guidance={"images": 0})
        ea.Reload()
        assert len(ea.Images(tag)) == 1
    report = (compared / "report.md").read_text()
    for heading in ("How precise", "Which differences are real", "Can the models' confidence",
                    "Where do the models disagree", "Worst classes"):  # fmt: skip
        assert f"## {heading}" in report
    assert all(f"]({png})" in report for png in names)
    assert not (compared / analysis.reliability_png("alexnet")).exists()  # random weights


def test_two_weightings_of_one_architecture(runs, tmp_path):
    """Real against perturbed squeezenet weights: both kinds of discordant image occur."""
    run = tmp_path / "run"
    rows = []
    for name, key in (("real", "squeezenet1_1"), ("perturbed", "perturbed")):
        (run / "models" / name).mkdir(parents=True)
        for f in ("predictions.csv", "per_class.csv"):
            shutil.copy(runs[key].out / f, run / "models" / name / f)
        rows.append({**runs[key].results, "model": name, "error": None})
    md = "\n".join(analysis.analyse(run, rows, None))
    a, b = correct1(runs["squeezenet1_1"]), correct1(runs["perturbed"])
    a_only, b_only = sum(a[f] and not b[f] for f in a), sum(b[f] and not a[f] for f in a)
    assert a_only > 0 and b_only > 0
    (pair,) = read_csv(run / "pairwise.csv")
    assert (int(pair["a_only"]), int(pair["b_only"])) == (a_only, b_only)
    p = exact_two_sided(a_only, b_only)
    assert f"{a_only} vs {b_only} discordant, p = {p:.2g}" in md


def test_test_lists_likely_label_errors_and_top1_without_them(runs):
    """test's label_issues.csv (one model's confident learning) and its hand-counted top-1."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = runs["squeezenet1_1"]
    issues = read_csv(run.out / "label_issues.csv")
    assert run.results["label_issues"] == len(issues) > 0
    for r in issues:  # one model: a class of its top-5 other than the label
        p = next(q for q in run.predictions if q["file"] == r["file"])
        assert r["suggested"] in {p[f"pred{k}_index"] for k in range(1, 6)} - {p["label"]}
        assert r["label_quality"] == p["label_prob"]
    kept = [p for p in run.predictions if p["file"] not in {r["file"] for r in issues}]
    right = sum(p["pred1_index"] == p["label"] for p in kept)
    res = run.results
    assert (res["correct1_label_issues_aside"], res["labelled_label_issues_aside"]) == (
        right,
        len(kept),
    )
    assert res["top1_label_issues_aside"] == right / len(kept)
    assert f"top-1 without them {100 * right / len(kept):.2f}% ({right}/{len(kept)})" in run.stdout
    ea = EventAccumulator(str(run.out), size_guidance={"images": 0})
    ea.Reload()
    assert len(ea.Images("test/label_issues")) == 1
