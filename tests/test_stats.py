"""harness.measure.stats and harness.compare.analysis against published values and hand counts."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from harness.cli.main import main
from harness.compare import analysis
from harness.compare.parent import Spec
from harness.measure import stats

B = "timm/b=ft/x.ckpt"  # a second model with a slash, given as NAME=FILE
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


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),  # Newcombe (1998), Stat Med 17:857, Table I, method 3
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718), (29, 29, 0.8830, 1.0)],
)  # fmt: skip
def test_wilson_matches_published_values(k, n, low, high):
    got = stats.wilson(k, n)
    assert got == pytest.approx([low, high], abs=5e-5)
    assert got == pytest.approx(wilson_closed_form(k, n), abs=1e-12)


def test_wilson_of_nothing_is_none():
    assert stats.wilson(0, 0) is None


@pytest.mark.parametrize(("x", "y"), [(3, 1), (1, 3), (10, 2), (0, 5), (6, 6), (0, 0), (40, 0)])
def test_mcnemar_is_the_exact_binomial_test(x, y):
    assert stats.mcnemar(x, y) == pytest.approx(exact_two_sided(x, y), rel=1e-12)


def test_mcnemar_matches_published_example():
    # Fagerland, Lydersen, Laake (2013), BMC Med Res Methodol 13:91: b = 1, c = 7 -> 0.070
    assert round(stats.mcnemar(1, 7), 3) == 0.070


def test_ece_equals_torchmetrics_and_a_plain_loop():
    from torchmetrics.classification import MulticlassCalibrationError

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 10, generator=g) * 2.5  # (images, classes)
    probs = logits.softmax(-1)
    guess = torch.randint(0, 10, (300,), generator=g)
    # right about half the time, so that the bins differ
    target = torch.where(torch.rand(300, generator=g) < 0.5, probs.argmax(-1), guess)
    conf = probs.max(-1).values.tolist()
    right = (probs.argmax(-1) == target).tolist()
    got = stats.ece(conf, right)
    metric = MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")
    assert got == pytest.approx(float(metric(probs, target)), abs=1e-6)
    assert got == pytest.approx(plain_ece(conf, right), abs=1e-6)
    bins = stats.reliability_bins(conf, right)  # the diagram shows the same bins
    assert sum(b["n"] for b in bins) == 300
    weighted = sum(b["n"] / 300 * abs(b["accuracy"] - b["confidence"]) for b in bins)
    assert weighted == pytest.approx(got, abs=1e-6)


def test_ece_of_nothing_is_none_and_certainty_has_its_own_bin():
    assert stats.ece([], []) is None
    assert stats.ece([1.0, 1.0], [True, False]) == pytest.approx(0.5)
    assert [b["low"] for b in stats.reliability_bins([1.0, 0.99], [True, True])] == [
        pytest.approx(14 / 15),
        1.0,
    ]


def test_per_class_and_pairwise_are_hand_counts():
    rows = [  # (sample, label, top-5, probs)
        (0, 3, [3, 1, 2, 0, 4], [0.9] * 5),
        (1, 3, [1, 3, 2, 0, 4], [0.5] * 5),
        (2, 3, [1, 2, 0, 4, 5], [0.5] * 5),
        (3, 0, [0, 1, 2, 3, 4], [0.7] * 5),
    ]
    got = stats.per_class(rows, [f"c{i}" for i in range(6)], [f"n{i}" for i in range(6)])
    assert got == [
        {"index": 0, "wnid": "n0", "name": "c0", "n": 1, "correct1": 1, "correct5": 1},
        {"index": 3, "wnid": "n3", "name": "c3", "n": 3, "correct1": 1, "correct5": 2},
    ]
    correct = {"a": {"x": True, "y": True, "z": False}, "b": {"x": False, "y": True, "w": True}}
    assert stats.pairwise(correct) == [
        {"model_a": "a", "model_b": "b", "n": 2, "a_only": 1, "b_only": 0, "p_value": 1.0}
    ]


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def stub_run(tmp_path: Path) -> tuple[Path, list[dict]]:
    """Two models' predictions.csv on 10 tiny images: a alone right on 3, B alone on 1."""
    data = tmp_path / "data"
    data.mkdir()
    right = {"a": [1, 1, 1, 1, 1, 1, 1, 0, 0, 0], B: [1, 1, 1, 1, 0, 0, 0, 1, 0, 0]}
    rows = []
    for m, marks in right.items():
        preds = []
        for i, ok in enumerate(marks):
            Image.new("RGB", (20, 20), (25 * i, 0, 0)).save(data / f"{i}.png")
            guess = 7 if ok else (5 if m == "a" else 6)
            preds.append(
                {"file": f"{i}.png", "label": 7, "label_name": "seven", "pred1_index": guess,
                 "pred1_name": f"class {guess}", "pred1_prob": f"{0.5 + 0.04 * i:.6f}",
                 "correct1": ok}
            )  # fmt: skip
        where = tmp_path / "run" / "models" / Spec(m, "").slug()  # as compare's child writes
        write_csv(where / "predictions.csv", preds)
        per_class = [{"index": 7, "wnid": "n7", "name": "seven", "n": 10, "correct1": sum(marks),
                      "correct5": 10}]  # fmt: skip
        write_csv(where / "per_class.csv", per_class)
        k = sum(marks)
        rows.append(
            {"model": m, "error": None, "top1": k / 10, "top5": 1.0, "labelled": 10,
             "correct1": k, "correct5": 10, "top1_ci95": stats.wilson(k, 10),
             "top5_ci95": stats.wilson(10, 10), "ece": 0.1}
        )  # fmt: skip
    rows.append({"model": "c", "error": None, "top1": None})  # random weights: left out
    return tmp_path, rows


def test_analysis_of_a_stub_comparison(stub_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, rows = stub_run
    run = root / "run"
    md = "\n".join(analysis.analyse(run, rows, str(root / "data")))
    with open(run / "pairwise.csv", newline="") as f:
        (pair,) = list(csv.DictReader(f))
    assert (pair["model_a"], pair["model_b"], pair["n"], pair["a_only"], pair["b_only"]) == (
        "a", B, "10", "3", "1",
    )  # fmt: skip
    assert float(pair["p_value"]) == pytest.approx(10 / 16)
    assert f"images a and {B} cannot be told apart: 3 vs 1 discordant, p = 0.62." in md
    # R: prop.test(7, 10, correct = FALSE)$conf.int is 0.3967781 0.8922087
    assert "- a: top-1 70.0% (7/10), 95% interval 39.7-89.2%" in md
    with open(run / "disagreements.csv", newline="") as f:
        dis = list(csv.DictReader(f))
    assert [d["file"] for d in dis] == ["4.png", "5.png", "6.png", "7.png", "8.png", "9.png"]
    assert dis[0]["a_top1"] == "class 7" and dis[0][f"{B}_top1"] == "class 6"
    assert dis[0]["a_correct1"] == "1" and dis[0][f"{B}_correct1"] == "0"
    assert "differ on 6 of the 10 images" in md
    assert "- a: seven (7/10)" in md and f"- {B}: seven (5/10)" in md
    # a: mean probability 0.68 against 70% right
    assert "- a: ECE 0.100; mean top-1 probability 68.0% against 70.0% right: underconfident" in md
    for png in ("reliability_a.png", "reliability_timm_b=ft_x.ckpt.png", "disagreements.png"):
        assert (run / png).read_bytes().startswith(b"\x89PNG")
    assert not (run / "reliability_c.png").exists()
    tags = [("a", "compare/reliability"), ("timm/b=ft_x.ckpt", "compare/reliability")]
    for sub, tag in [*tags, ("disagreements", "compare/disagreements")]:
        ea = EventAccumulator(str(run / sub), size_guidance={"images": 0})
        ea.Reload()
        assert len(ea.Images(tag)) == 1


def test_models_of_different_label_spaces_are_not_ranked(stub_run):
    root, rows = stub_run
    rows[0]["label_space"], rows[1]["label_space"] = "imagenet-1k", "imagenet-12k"
    md = "\n".join(analysis.analyse(root / "run", rows, str(root / "data")))
    assert f"- a and {B} predict different classes: not compared." in md
    assert "cannot be told apart" not in md and not (root / "run" / "pairwise.csv").exists()


def test_random_weights_have_no_interval_but_per_class_counts(tmp_path):
    """Class-folder layout of tiny images; random weights: accuracy, intervals, ECE n/a."""
    for wnid in ("n01440764", "n01443537"):
        (tmp_path / "data" / wnid).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (60 * i, 90, 0)).save(tmp_path / "data" / wnid / f"{i}.png")
    out = tmp_path / "out"
    args = ["test", "--model", "mobilenet_v3_small", "--weights", "none", "--data",
            str(tmp_path / "data"), "--output", str(out), "--num-workers", "0", "--no-progress",
            "--accelerator", "cpu"]  # fmt: skip
    assert main(args) == 0
    import json

    res = json.loads((out / "results.json").read_text())
    assert res["top1"] is None
    assert res["top1_ci95"] is None and res["top5_ci95"] is None and res["ece"] is None
    with open(out / "predictions.csv", newline="") as f:
        preds = list(csv.DictReader(f))
    with open(out / "per_class.csv", newline="") as f:
        per_class = list(csv.DictReader(f))
    assert [(c["index"], c["wnid"], c["name"], c["n"]) for c in per_class] == [
        ("0", "n01440764", "tench", "2"),
        ("1", "n01443537", "goldfish", "2"),
    ]
    for c in per_class:
        mine = [p for p in preds if p["label"] == c["index"]]
        assert int(c["correct1"]) == sum(p["correct1"] == "1" for p in mine)
        assert int(c["correct5"]) == sum(p["correct5"] == "1" for p in mine)


def test_p_values_in_words_never_round_onto_the_threshold():
    assert [analysis.p_text(p) for p in (0.625, 0.0496, 0.0504, 0.00098, 1.0)] == [
        "0.62", "0.0496", "0.0504", "0.00098", "1",
    ]  # fmt: skip
