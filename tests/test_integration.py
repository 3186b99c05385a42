"""End to end on ../shared: real weights, real photos, against a plain reference loop."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import labels_of
from PIL import Image

from harness.cli import main

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]


def nips_args(nips: Path, weights: Path) -> list[str]:
    """The shared squeezenet weights on nips17-dev with its labels (--model is added apart)."""
    images, labels = str(nips / "images"), str(nips / "labels.csv")
    return ["--weights", str(weights), "--data", images, "--labels", labels]


def run_test(tmp: Path, *args: str) -> tuple[dict, list[dict]]:
    """``harness test`` in-process; returns results.json and predictions.csv."""
    out = tmp / "out"
    assert main(["test", "--model", "squeezenet1_1", *args, "--output", str(out), *FAST]) == 0
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return json.loads((out / "results.json").read_text()), rows


def reference_counts(reference: dict, labels: dict[str, int], files: list[str]) -> tuple[int, int]:
    top1 = sum(reference[f][0][0] == labels[f] for f in files)
    top5 = sum(labels[f] in reference[f][0] for f in files)
    return top1, top5


def test_predict_matches_reference_loop(nips, squeezenet_weights, reference, capsys):
    names = sorted(labels_of(nips))[:10]
    files = [str(nips / "images" / n) for n in names]
    w = ["--weights", str(squeezenet_weights)]
    assert main(["predict", *files, "--model", "squeezenet1_1", *w, "--format", "json", *FAST]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [Path(g["file"]).name for g in got] == names
    for g, name in zip(got, names, strict=True):
        ref_idx, ref_p = reference[name]
        assert [t["index"] for t in g["topk"]] == ref_idx
        assert [t["probability"] for t in g["topk"]] == pytest.approx(ref_p, abs=1e-5)
        assert not g["random_weights"]


@pytest.mark.parametrize("batch_size", ["32", "7"])
def test_test_matches_reference_loop(nips, squeezenet_weights, reference, tmp_path, batch_size):
    labels = labels_of(nips)
    res, rows = run_test(tmp_path, *nips_args(nips, squeezenet_weights), "--batch-size", batch_size)
    top1, top5 = reference_counts(reference, labels, list(labels))
    assert (res["n"], res["correct1"], res["correct5"]) == (500, top1, top5)
    assert res["top1"] == top1 / 500 and res["top5"] == top5 / 500
    assert [r["file"] for r in rows] == [f for f in labels]  # CSV order, each once
    for r in rows:  # image by image
        idx, _ = reference[r["file"]]
        assert [int(r[f"pred{k}_index"]) for k in range(1, 6)] == idx
        assert int(r["correct1"]) == (idx[0] == labels[r["file"]])


def test_wnid_folders_give_same_numbers(nips, squeezenet_weights, reference, tmp_path):
    """The ImageNet validation layout DIR/<wnid>/*.png, built from nips17-dev."""
    root = tmp_path / "val"
    with open(nips / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            (root / r["wnid"]).mkdir(parents=True, exist_ok=True)
            os.symlink(nips / "images" / r["file"], root / r["wnid"] / r["file"])
    res, rows = run_test(tmp_path, "--weights", str(squeezenet_weights), "--data", str(root))
    labels = labels_of(nips)
    top1, top5 = reference_counts(reference, labels, list(labels))
    assert res["layout"] == "class subfolders"
    assert (res["n"], res["correct1"], res["correct5"]) == (500, top1, top5)
    assert all(int(r["label"]) == labels[Path(r["file"]).name] for r in rows)


def test_ddp_two_processes_count_each_image_once(nips, squeezenet_weights, tmp_path):
    """2 CPU processes, 101 images, batch 8: 101 is not a multiple of 2 x 8."""
    common = [
        sys.executable,
        "-m",
        "harness",
        "test",
        "--model",
        "squeezenet1_1",
        *nips_args(nips, squeezenet_weights),
        "--limit",
        "101",
        "--batch-size",
        "8",
        *FAST,
    ]
    results = {}
    for devices, extra in (("1", []), ("2", ["--strategy", "ddp"])):
        out = tmp_path / f"d{devices}"
        cmd = [*common, "--devices", devices, *extra, "--output", str(out)]
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[devices] = json.loads((out / "results.json").read_text())
        with open(out / "predictions.csv", newline="") as f:
            results[devices]["files"] = [r["file"] for r in csv.DictReader(f)]
    one, two = results["1"], results["2"]
    assert two["devices"] == 2 and one["devices"] == 1
    assert (two["n"], two["correct1"], two["correct5"]) == (
        one["n"],
        one["correct1"],
        one["correct5"],
    )
    assert two["n"] == 101 and len(set(two["files"])) == 101 and two["files"] == one["files"]
    assert two["top1"] == one["top1"] and two["top5"] == one["top5"]


def test_tensorboard_holds_the_run(nips, squeezenet_weights, tmp_path, monkeypatch):
    """Scalars, hyperparameters and the sample grid, read back with TensorBoard's reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    monkeypatch.chdir(tmp_path)
    args = [
        "test",
        "--model",
        "squeezenet1_1",
        *nips_args(nips, squeezenet_weights),
        "--limit",
        "40",
        *FAST,
    ]
    assert main(args) == 0
    (run,) = (tmp_path / "lightning_logs" / "squeezenet1_1").iterdir()
    res = json.loads((run / "results.json").read_text())
    ea = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    ea.Reload()
    assert ea.Scalars("test/top1")[-1].value == pytest.approx(res["correct1"] / 40, abs=1e-6)
    assert ea.Scalars("test/top5")[-1].value == pytest.approx(res["correct5"] / 40, abs=1e-6)
    (grid,) = ea.Images("test/samples")  # 16 samples: 4 rows of 4, captions above, 224 crops
    assert (grid.width, grid.height) == (4 * (224 + 4), 4 * (224 + 32 + 4))
    pixels = np.asarray(Image.open(io.BytesIO(grid.encoded_image_string)).convert("RGB"))
    assert pixels.shape == (grid.height, grid.width, 3)
    with open(run / "predictions.csv", newline="") as f:
        first = list(csv.DictReader(f))[:16]  # the grid's samples: the first images, in order
    for k, row in enumerate(first):  # a caption has red text exactly where the top-1 is wrong
        y, x = (k // 4) * (224 + 32 + 4), (k % 4) * (224 + 4)
        caption = pixels[y : y + 32, x : x + 224].astype(int)
        red = (caption[..., 0] > 150) & (caption[..., 1] < 100) & (caption[..., 2] < 100)
        assert red.any() == (row["correct1"] == "0"), (k, row["file"])
    assert ea.Scalars("test/images_per_second")[-1].value == pytest.approx(
        res["images_per_second"], rel=1e-6
    )
    content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hp = HParamsPluginData.FromString(content).session_start_info.hparams
    assert hp["model"].string_value == "squeezenet1_1"
    assert hp["weights"].string_value == str(squeezenet_weights)
    assert hp["precision"].string_value == "32-true"
    assert hp["batch_size"].number_value == 32
    assert hp["limit"].number_value == 40  # runs with different --limit are told apart
    assert hp["labels"].string_value == str(nips / "labels.csv")
    experiment = HParamsPluginData.FromString(
        ea.PluginTagToContent("hparams")["_hparams_/experiment"]
    )
    assert {m.name.tag for m in experiment.experiment.metric_infos} == {
        "test/top1",
        "test/top5",
        "test/images_per_second",
    }


def test_bf16_top1_within_one_point_of_fp32(nips, squeezenet_weights, reference, tmp_path):
    """Reduced precision must not cost accuracy: bf16 vs the fp32 reference loop, 500 images."""
    labels = labels_of(nips)
    res, _ = run_test(tmp_path, *nips_args(nips, squeezenet_weights), "--precision", "bf16-mixed")
    top1, top5 = reference_counts(reference, labels, list(labels))
    assert res["precision"] == "bf16-mixed" and res["n"] == 500
    assert abs(res["correct1"] - top1) <= 5  # 1 point of 500 images
    assert abs(res["correct5"] - top5) <= 5
