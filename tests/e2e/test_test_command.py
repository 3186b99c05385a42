"""``harness test`` on the shared photos with real weights, against plain reference loops."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config
from torch import nn

from harness.cli.main import main
from tests.helpers import (
    NIPS,
    SHARED,
    check_rows_against_reference,
    labels_of,
    need,
    nips_args,
    reference_counts,
)

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]


def run_test(tmp: Path, *args: str) -> tuple[dict, list[dict]]:
    """``harness test`` in-process; returns results.json and predictions.csv."""
    out = tmp / "out"
    assert main(["test", "--model", "squeezenet1_1", *args, "--output", str(out), *FAST]) == 0
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return json.loads((out / "results.json").read_text()), rows


def test_test_matches_reference_loop(nips, squeezenet_weights, reference, tmp_path):
    """Batch 32 over the labels file (batch 7 over wnid folders: the lite0 run below)."""
    labels = labels_of(nips)
    res, rows = run_test(tmp_path, *nips_args(nips, squeezenet_weights), "--batch-size", "32")
    top1, top5 = reference_counts(reference, labels, list(labels))
    assert (res["n"], res["correct1"], res["correct5"]) == (500, top1, top5)
    assert res["top1"] == top1 / 500 and res["top5"] == top5 / 500
    assert [r["file"] for r in rows] == [f for f in labels]  # CSV order, each once
    check_rows_against_reference(rows, reference, labels)


def test_bf16_top1_within_one_point_of_fp32(nips, squeezenet_weights, reference, tmp_path):
    """Reduced precision must not cost accuracy: bf16 vs the fp32 reference loop, 500 images."""
    labels = labels_of(nips)
    res, _ = run_test(tmp_path, *nips_args(nips, squeezenet_weights), "--precision", "bf16-mixed")
    top1, top5 = reference_counts(reference, labels, list(labels))
    assert res["precision"] == "bf16-mixed" and res["n"] == 500
    assert abs(res["correct1"] - top1) <= 5  # 1 point of 500 images
    assert abs(res["correct5"] - top5) <= 5


LITE0 = SHARED / "weights" / "tf_efficientnet_lite0.pth"
FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
# --- exact numbers ------------------------------------------------------------------------


def plain_loop(files: list[Path]) -> dict[str, list[int]]:
    """file -> top-5: PIL -> timm's transform -> model -> topk, one image at a time."""
    model: nn.Module = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(torch.load(need(LITE0), weights_only=True), strict=True)
    model.eval()
    tf = create_transform(**resolve_data_config(model=model), is_training=False)
    out = {}
    with torch.inference_mode():
        for f in files:
            x = tf(Image.open(f).convert("RGB")).unsqueeze(0)
            out[f.name] = model(x)[0].topk(5).indices.tolist()
    return out


def wnid_folders(root: Path) -> Path:
    """The ImageNet validation layout DIR/<wnid>/*.png, as links to the nips17-dev photos."""
    with open(need(NIPS) / "labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            (root / r["wnid"]).mkdir(parents=True, exist_ok=True)
            (root / r["wnid"] / r["file"]).symlink_to(NIPS / "images" / r["file"])
    return root


def test_lite0_on_all_of_nips17_equals_a_plain_loop(tmp_path: Path) -> None:
    """All 500 photos in wnid folders (labels from the folder names), batches of 7
    (500 = 71 x 7 + 3: a short last batch), image by image as the plain loop.
    """
    labels = labels_of(need(NIPS))
    out = tmp_path / "out"
    args = ["test", "--model", "timm/tf_efficientnet_lite0", "--weights", str(need(LITE0))]
    args += ["--data", str(wnid_folders(tmp_path / "val")), "--batch-size", "7"]
    assert main([*args, "--output", str(out), *FAST]) == 0
    res = json.loads((out / "results.json").read_text())
    with open(out / "predictions.csv", newline="") as f:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(f)}
    assert sorted(rows) == sorted(labels)  # each image once
    ref = plain_loop([NIPS / "images" / name for name in labels])
    for name, top5 in ref.items():
        assert [int(rows[name][f"pred{k}_index"]) for k in range(1, 6)] == top5, name
        assert int(rows[name]["label"]) == labels[name]  # the folder's wnid, as the model's index
        assert int(rows[name]["correct1"]) == (top5[0] == labels[name])
    top1 = sum(ref[f][0] == y for f, y in labels.items())
    top5 = sum(y in ref[f] for f, y in labels.items())
    assert (res["n"], res["correct1"], res["correct5"]) == (500, top1, top5) == (500, 453, 493)
    assert res["top1"] == top1 / 500 and res["top5"] == top5 / 500
    assert (res["layout"], res["batch_size"]) == ("class subfolders", 7)
    assert res["preprocessing"]["library"] == "timm"
    assert res["preprocessing"]["interpolation"] == "bicubic"
