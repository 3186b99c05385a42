"""End to end: photos in folders named by everyday words (fox/, dogs/, bird/), real
squeezenet1_1 weights, against a plain loop whose classes under each word come from
ImageNet's original is_a.txt (not the package's table).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

from harness.cli.main import main
from tests.helpers import need, once
from tests.helpers.wordnet_is_a import WORDNET, under

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
SHARED = WORDNET.parent
WORDS = {"bird": "n01503061", "dogs": "n02084071", "fox": "n02118333"}  # folder -> synset


def imagenet_wnids() -> list[str]:
    with open(SHARED / "imagenet1k-classes.csv", newline="") as f:
        return [r["wnid"] for r in csv.DictReader(f)]


def word_classes() -> dict[str, set[int]]:
    """folder -> the ImageNet-1k class indices under its synset."""
    wnids = imagenet_wnids()
    below = {k: under(s) for k, s in WORDS.items()}
    return {k: {i for i, w in enumerate(wnids) if w in below[k]} for k in WORDS}


@pytest.fixture(scope="session")
def word_folders(nips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fox/, dogs/ and bird/ holding copies of the nips17-dev photos whose class lies under
    that word's synset (by the original is_a.txt).
    """

    def make(folder: Path) -> None:
        sets = {k: under(s) for k, s in WORDS.items()}
        with open(nips / "labels.csv", newline="") as f:
            for r in csv.DictReader(f):
                for word, synsets in sets.items():
                    if r["wnid"] in synsets:
                        (folder / word).mkdir(exist_ok=True)
                        (folder / word / r["file"]).write_bytes(
                            (nips / "images" / r["file"]).read_bytes()
                        )

    need(WORDNET)
    return once(tmp_path_factory, "word_folders", make)


def plain_loop(folder: Path, weights: Path) -> dict[str, tuple[list[int], list[float]]]:
    """file (word/name) -> (the top-5 classes, each word's summed probability)."""
    model = squeezenet1_1()
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    classes = word_classes()
    out = {}
    with torch.inference_mode():
        for word in sorted(WORDS):
            for path in sorted((folder / word).iterdir()):
                p = model(tf(Image.open(path).convert("RGB")).unsqueeze(0)).softmax(-1)[0]
                sums = [float(p[sorted(classes[w])].sum()) for w in sorted(WORDS)]
                out[f"{word}/{path.name}"] = (p.topk(5).indices.tolist(), sums)
    return out


def expected(loop: dict[str, tuple[list[int], list[float]]]) -> tuple[int, int, int]:
    """correct1, correct5 and correct among the labels, counted from the plain loop."""
    classes, words = word_classes(), sorted(WORDS)
    c1 = c5 = among = 0
    for file, (top5, sums) in loop.items():
        word = file.split("/")[0]
        c1 += top5[0] in classes[word]
        c5 += bool(set(top5) & classes[word])
        among += words[max(range(len(sums)), key=sums.__getitem__)] == word
    return c1, c5, among


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_run(out: Path, loop: dict) -> dict:
    res = json.loads((out / "results.json").read_text())
    c1, c5, among = expected(loop)
    n = len(loop)
    assert (res["n"], res["labelled"]) == (n, n) and n >= 25
    assert (res["correct1"], res["correct5"], res["correct_among_labels"]) == (c1, c5, among)
    assert res["top1"] == c1 / n and res["top1_among_labels"] == among / n
    assert res["top1_among_labels_ci95"][0] < among / n <= res["top1_among_labels_ci95"][1]
    classes = word_classes()
    for word, wnid in WORDS.items():
        record = res["label_map"][word]
        assert record["wnid"] == wnid
        assert {c["index"] for c in record["classes"]} == classes[word]
    rows = read_csv(out / "predictions.csv")
    assert sorted(r["file"] for r in rows) == sorted(loop)
    for r in rows:
        top5, _ = loop[r["file"]]
        assert [int(r[f"pred{k}_index"]) for k in range(1, 6)] == top5
        assert r["label"] == r["file"].split("/")[0] and r["label_wnid"] == WORDS[r["label"]]
    confusion = {r["label"]: r for r in read_csv(out / "confusion.csv")}
    assert sum(int(confusion[w][w]) for w in WORDS) == among
    per_label = {r["label"]: r for r in read_csv(out / "per_class.csv")}
    assert sum(int(r["correct1"]) for r in per_label.values()) == c1
    return res


def test_word_folders_scored_as_a_plain_loop(word_folders, squeezenet_weights, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["test", "--model", "squeezenet1_1", "--weights", str(squeezenet_weights)]
    assert main([*args, "--data", str(word_folders), "--output", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    check_run(out, plain_loop(word_folders, squeezenet_weights))
    assert "label     fox -> n02118333 fox: 4 classes (red fox, kit fox, Arctic fox, grey fox)" in (
        printed
    )
    assert printed.count("fox -> n02118333") == 1
    assert (out / "confusion.png").stat().st_size > 0


def test_word_folders_in_two_processes(word_folders, squeezenet_weights, tmp_path):
    """DDP: 2 CPU processes, each image counted once, the same counts as the plain loop."""
    out = tmp_path / "d2"
    cmd = [sys.executable, "-m", "harness", "test", "--model", "squeezenet1_1",
           "--weights", str(squeezenet_weights), "--data", str(word_folders), "--batch-size",
           "4", *FAST, "--devices", "2", "--strategy", "ddp", "--output", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = check_run(out, plain_loop(word_folders, squeezenet_weights))
    assert res["world_size"] == 2
