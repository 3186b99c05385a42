"""Likely label errors, near-duplicates and photos needed, on real nips17-dev photos.

One comparison of the four real-weight models (squeezenet1_1, tf_efficientnet_lite0/1/2)
on a folder made for it (conftest's ``planted``, tests/helpers/planted.py): 56 photos, of
which 20 that every model gets right have their labels swapped in pairs, and one is saved
again as a JPEG.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from harness.measure import sample_size
from tests.helpers import read_csv
from tests.helpers.planted import COPY, MODELS, SWAPPED


def predictions(run: Path, model: str) -> dict[str, dict[str, str]]:
    return {r["file"]: r for r in read_csv(run / "models" / model / "predictions.csv")}


def test_the_planted_photos_are_ones_every_model_gets_right(planted) -> None:
    for m in MODELS:
        preds = predictions(planted["run"], m)
        for f in SWAPPED:
            assert int(preds[f]["pred1_index"]) == int(planted["truth"][f]["label"]), (m, f)
            assert preds[f]["correct1"] == "0"  # against the swapped label


def test_at_least_15_of_the_20_swapped_labels_are_in_the_top_30(planted) -> None:
    issues = read_csv(planted["run"] / "label_issues.csv")
    top = [r["file"] for r in issues[:30]]
    assert len(set(top) & set(SWAPPED)) >= 15
    for r in issues:
        if r["file"] in SWAPPED:  # the label the models agree on is the true one
            assert int(r["suggested"]) == int(planted["truth"][r["file"]]["label"])
    assert [int(r["rank"]) for r in issues] == list(range(1, len(issues) + 1))
    quality = [float(r["label_quality"]) for r in issues]
    assert quality == sorted(quality)


def test_label_quality_is_the_models_mean_probability_of_the_label(planted) -> None:
    views = [predictions(planted["run"], m) for m in MODELS]
    for r in read_csv(planted["run"] / "label_issues.csv"):
        f = r["file"]
        mean = sum(float(v[f]["label_prob"]) for v in views) / len(views)
        assert float(r["label_quality"]) == pytest.approx(mean, abs=2e-6)
        agree = sum(int(v[f]["pred1_index"]) == int(r["suggested"]) for v in views)
        assert float(r["agreement"]) == pytest.approx(agree / len(views), abs=1e-3)


def test_accuracy_with_the_issues_set_aside_is_a_hand_count(planted) -> None:
    report = (planted["run"] / "report.md").read_text()
    issues = {r["file"] for r in read_csv(planted["run"] / "label_issues.csv")}
    assert f"finds {len(issues)} of the {len(planted['given'])} labelled photos" in report
    for m in MODELS:
        preds = predictions(planted["run"], m)
        right = sum(1 for r in preds.values() if r["pred1_index"] == r["label"])
        kept = [r for f, r in preds.items() if f not in issues]
        kept_right = sum(1 for r in kept if r["pred1_index"] == r["label"])
        line = (
            f"- {m}: {100 * right / len(preds):.1f}% ({right}/{len(preds)}) as labelled; "
            f"{100 * kept_right / len(kept):.1f}% ({kept_right}/{len(kept)}) without them"
        )
        assert line in report


def test_the_photo_saved_again_is_the_only_near_duplicate(planted) -> None:
    pairs = read_csv(planted["run"] / "near_duplicates.csv")
    assert [{p["file_a"], p["file_b"]} for p in pairs] == [{planted["original"], COPY}]
    report = (planted["run"] / "report.md").read_text()
    assert "1 pair of the 56 photos is near-duplicate" in report
    assert (planted["run"] / "near_duplicates.png").is_file()


def test_photos_needed_are_the_power_and_interval_figures(planted) -> None:
    run = planted["run"]
    needed = {(r["what"], r["model"]): r for r in read_csv(run / "sample_size.csv")}
    for p in read_csv(run / "pairwise.csv"):
        key = ("tell apart", f"{p['model_a']} vs {p['model_b']}")
        if float(p["p_value"]) < 0.05:
            assert key not in needed
            continue
        need = sample_size.photos_to_tell_apart(int(p["a_only"]), int(p["b_only"]), int(p["n"]))
        assert needed[key]["need"] == ("" if need is None else str(need))
    for m in MODELS:
        preds = predictions(run, m)
        right = sum(r["correct1"] == "1" for r in preds.values())
        assert needed[("interval", m)]["need"] == str(
            sample_size.photos_for_interval(right, len(preds))
        )
    report = (run / "report.md").read_text()
    assert "## How many photos would you need?" in report
    assert re.search(r"about [\d,]+ photos for its top-1 of", report)


def test_the_label_issue_grid_is_in_the_png_and_tensorboard(planted) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = planted["run"]
    with Image.open(run / "label_issues.png") as png:
        assert png.width > 0
    ea = EventAccumulator(str(run / "label_issues"), size_guidance={"images": 0})
    ea.Reload()
    assert ea.Tags()["images"] == ["compare/labels"]
    assert "![likely label errors](label_issues.png)" in (run / "report.md").read_text()
