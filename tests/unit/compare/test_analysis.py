"""harness.compare.analysis: a stub comparison's intervals, pairs and per-class counts,
p-values in words."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image

from harness.cli.main import main
from harness.compare import analysis
from harness.compare.parent import Spec
from harness.measure import stats
from tests.helpers import write_csv

B = "timm/b=ft/x.ckpt"  # a second model with a slash, given as NAME=FILE


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
