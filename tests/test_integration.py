"""End to end on ../shared: real weights, real photos, against a plain reference loop."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import labels_of
from PIL import Image

from harness.cli.main import main

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


def check_rows_against_reference(rows: list[dict], reference: dict, labels: dict[str, int]):
    """Image by image: the same top-5 as the plain loop, and correct1 by its label."""
    for r in rows:
        name = Path(r["file"]).name
        idx, _ = reference[name]
        assert [int(r[f"pred{k}_index"]) for k in range(1, 6)] == idx, name
        assert int(r["label"]) == labels[name]
        assert int(r["correct1"]) == (idx[0] == labels[name])


def test_test_matches_reference_loop(nips, squeezenet_weights, reference, tmp_path):
    """Batch 32 over the labels file (batch 7 over wnid folders: test_timm's 500-image run)."""
    labels = labels_of(nips)
    res, rows = run_test(tmp_path, *nips_args(nips, squeezenet_weights), "--batch-size", "32")
    top1, top5 = reference_counts(reference, labels, list(labels))
    assert (res["n"], res["correct1"], res["correct5"]) == (500, top1, top5)
    assert res["top1"] == top1 / 500 and res["top5"] == top5 / 500
    assert [r["file"] for r in rows] == [f for f in labels]  # CSV order, each once
    check_rows_against_reference(rows, reference, labels)


def test_ddp_two_processes_count_each_image_once(nips, squeezenet_weights, reference, tmp_path):
    """2 CPU processes, 101 images, batch 8: 101 is not a multiple of 2 x 8.

    Against the plain reference loop over the same 101 files (no second harness run).
    """
    out = tmp_path / "d2"
    cmd = [sys.executable, "-m", "harness", "test", "--model", "squeezenet1_1",
           *nips_args(nips, squeezenet_weights), "--limit", "101", "--batch-size", "8", *FAST,
           "--devices", "2", "--strategy", "ddp", "--output", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    two = json.loads((out / "results.json").read_text())
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    labels = labels_of(nips)
    files = list(labels)[:101]  # --limit takes the first rows of labels.csv
    top1, top5 = reference_counts(reference, labels, files)
    assert two["devices"] == 2
    assert (two["n"], two["correct1"], two["correct5"]) == (101, top1, top5)
    assert two["top1"] == top1 / 101 and two["top5"] == top5 / 101
    assert [r["file"] for r in rows] == files  # each once, in the labels file's order
    check_rows_against_reference(rows, reference, labels)
    # threads as each process had them, the same in the summary and in results.json
    per = two["threads"]
    assert two["environment"]["torch_threads"] == per
    assert f"cpu x2, {per} thread{'s' * (per != 1)} per process)" in proc.stdout
    assert grid_files(out, nips / "images", files) == files[:16]  # as one process shows them
    # the note on DDP slower than one process, from the run's own two times
    assert 0 < two["loop_seconds"] < two["seconds"]
    slower = [n for n in two["notes"] if "processes on one CPU took" in n]
    assert bool(slower) == (two["seconds"] >= 2 * two["loop_seconds"])
    assert all(f"note      {n}" in proc.stdout for n in slower)


@pytest.mark.parametrize(
    ("devices", "nodes", "accelerator", "seconds", "loop", "noted"),
    [(2, 1, "cpu", 3.0, 1.5, True), (2, 1, "cpu", 2.9, 1.5, False), (1, 1, "cpu", 9.0, 1.0, False),
     (2, 2, "cpu", 9.0, 1.0, False), (2, 1, "cuda", 9.0, 1.0, False)],
)  # fmt: skip
def test_ddp_slower_note_only_for_processes_sharing_one_cpu(
    devices: int, nodes: int, accelerator: str, seconds: float, loop: float, noted: bool
) -> None:
    """Twice the loop's time or more, several processes, one machine, its CPU: noted."""
    from harness.engine.results import ddp_note

    res = {"devices": devices, "num_nodes": nodes, "accelerator": accelerator,
           "seconds": seconds, "loop_seconds": loop, "n": 10}  # fmt: skip
    assert bool(ddp_note(res)) == noted


def grid_files(run: Path, images: Path, files: list[str]) -> list[str]:
    """Which of ``files`` each tile of the run's sample grid shows: the file whose
    squeezenet preprocessing (un-normalised, by hand) is nearest the tile's pixels."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torchvision.models import SqueezeNet1_1_Weights

    ea = EventAccumulator(str(run), size_guidance={"images": 0})
    ea.Reload()
    (grid,) = ea.Images("test/samples")
    pixels = np.asarray(Image.open(io.BytesIO(grid.encoded_image_string)).convert("RGB"))
    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    mean, std = np.array(tf.mean), np.array(tf.std)
    crops = {}
    for f in files[:32]:
        x = tf(Image.open(images / f).convert("RGB")).permute(1, 2, 0).numpy()
        crops[f] = np.clip((x * std + mean) * 255, 0, 255)
    shown = []
    for k in range(len(files[:16])):
        y, x = (k // 4) * (224 + 32 + 4) + 32, (k % 4) * (224 + 4)
        tile = pixels[y : y + 224, x : x + 224].astype(float)
        shown.append(min(crops, key=lambda f: np.abs(crops[f] - tile).mean()))
    return shown


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
    import yaml

    saved = yaml.safe_load((run / "hparams.yaml").read_text())  # the same, for a script
    assert {k: hp[k].string_value or hp[k].number_value for k in saved} == {
        k: v if isinstance(v, int | float) else str(v) for k, v in saved.items()
    }
    assert saved["model"] == "squeezenet1_1" and saved["limit"] == 40
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
