"""A fine-tuned model of one's own: a real 10-class Lightning checkpoint and its class list.

The model is the shared squeezenet1_1 with its classifier sliced to 10 ImageNet
classes that occur in nips17-dev; its logits are exactly the full model's
logits of those classes, so a plain loop over the full model is the reference.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

import harness.engine.tensorboard
from harness.cli.main import main

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
HEAD = ("classifier.1.weight", "classifier.1.bias")  # the 1x1 conv: (1000, 512, 1, 1), (1000,)


class FineTuned(L.LightningModule):
    """A LightningModule as one writes it for fine-tuning: the network in ``self.model``."""

    def __init__(self, num_classes: int = 10, data_dir: Path = Path("/data/mine")) -> None:
        super().__init__()
        self.save_hyperparameters()  # a Path among them, as is common
        self.model = squeezenet1_1(num_classes=num_classes)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.model(batch[0]).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.fixture(scope="module")
def ft(nips: Path, squeezenet_weights: Path, tmp_path_factory) -> dict:
    """ft.ckpt (saved by a Lightning Trainer), classes.txt, class-name folders, the reference."""
    tmp = tmp_path_factory.mktemp("finetune")
    with open(nips / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    count = Counter(int(r["label"]) for r in rows)
    chosen = sorted(count, key=lambda i: (-count[i], i))[:10]  # the most frequent classes
    names = {int(r["label"]): r["name"] for r in rows}
    full = squeezenet1_1()
    full.load_state_dict(torch.load(squeezenet_weights, weights_only=True))
    full.eval()
    module = FineTuned()
    sliced = {k: v[chosen] if k in HEAD else v for k, v in full.state_dict().items()}
    module.model.load_state_dict(sliced)
    trainer = L.Trainer(max_steps=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, DataLoader(TensorDataset(torch.zeros(1, 3, 8, 8))))
    trainer.save_checkpoint(tmp / "ft.ckpt")
    (tmp / "classes.txt").write_text("".join(f"{names[i]}\n" for i in chosen))
    files = {}  # file -> position of its class in chosen
    for r in rows:
        if int(r["label"]) in chosen:
            (tmp / "folders" / r["name"]).mkdir(parents=True, exist_ok=True)
            os.symlink(nips / "images" / r["file"], tmp / "folders" / r["name"] / r["file"])
            files[r["file"]] = chosen.index(int(r["label"]))
    return {"dir": tmp, "chosen": chosen, "names": [names[i] for i in chosen],
            "files": files, "ranks": restricted_ranks(full, nips, files, chosen)}  # fmt: skip


def restricted_ranks(full: nn.Module, nips: Path, files: dict, chosen: list[int]) -> dict:
    """The plain loop: file -> the 10 classes (positions in chosen), best first by full logits."""
    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batch-1 loops on a busy 2-core machine: 1 thread is far faster
    try:
        with torch.inference_mode():
            for name in files:
                x = tf(Image.open(nips / "images" / name).convert("RGB")).unsqueeze(0)
                logits = full(x)[0, chosen]  # (10,): the full model's logits of those classes
                out[name] = logits.argsort(descending=True, stable=True).tolist()
    finally:
        torch.set_num_threads(threads)
    return out


def counts(ft: dict, files: dict | None = None) -> tuple[int, int]:
    """Top-1 and top-5 counts of the plain loop over ``files`` (default: all)."""
    files = ft["files"] if files is None else files
    top1 = sum(ft["ranks"][f][0] == y for f, y in files.items())
    top5 = sum(y in ft["ranks"][f][:5] for f, y in files.items())
    return top1, top5


def read_run(out: Path) -> tuple[dict, list[dict]]:
    with open(out / "predictions.csv", newline="") as f:
        return json.loads((out / "results.json").read_text()), list(csv.DictReader(f))


def test_checkpoint_is_lightnings(ft):
    ckpt = torch.load(ft["dir"] / "ft.ckpt", weights_only=False)
    assert {"epoch", "global_step", "state_dict", "hyper_parameters"} <= ckpt.keys()
    assert all(k.startswith("model.") for k in ckpt["state_dict"])
    assert ckpt["state_dict"]["model.classifier.1.weight"].shape == (10, 512, 1, 1)
    assert isinstance(ckpt["hyper_parameters"]["data_dir"], Path)


def test_class_folders_give_the_restricted_full_models_counts(ft, tmp_path, monkeypatch):
    shown = []

    def keep(*args):
        shown.append(captions(*args))
        return shown[-1]

    captions = harness.engine.tensorboard.captions
    monkeypatch.setattr(harness.engine.tensorboard, "captions", keep)
    monkeypatch.chdir(tmp_path)  # the TensorBoard run goes under ./lightning_logs
    d = ft["dir"]
    args = ["test", "--model", "squeezenet1_1", "--weights", str(d / "ft.ckpt"),
            "--classes", str(d / "classes.txt"), "--data", str(d / "folders"), *FAST]  # fmt: skip
    assert main([*args, "--output", str(tmp_path / "out")]) == 0
    res, rows = read_run(tmp_path / "out")
    top1, top5 = counts(ft)
    assert (res["n"], res["labelled"]) == (len(ft["files"]), len(ft["files"])) == (41, 41)
    assert (res["correct1"], res["correct5"]) == (top1, top5)
    assert res["classes"] == str(d / "classes.txt")
    for r in rows:  # image by image, in the class list's names
        f = Path(r["file"]).name
        assert r["label_name"] == ft["names"][ft["files"][f]]
        assert [int(r[f"pred{k}_index"]) for k in range(1, 6)] == ft["ranks"][f][:5]
        assert r["pred1_name"] == ft["names"][ft["ranks"][f][0]]
    titles = [text for text, _ in shown[0]]
    assert titles and all(t.split("\n")[1][len("pred: ") :] in ft["names"] for t in titles)


def test_labels_csv_by_name_and_index(ft, nips, tmp_path):
    """--labels rows naming the class (odd rows) or giving its index in the list (even)."""
    d = ft["dir"]
    some = dict(list(ft["files"].items())[:20])
    lines = ["file,label"] + [
        f"{f},{ft['names'][y] if n % 2 else y}" for n, (f, y) in enumerate(some.items())
    ]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    args = ["test", "--model", "squeezenet1_1", "--weights", str(d / "ft.ckpt"),
            "--classes", str(d / "classes.txt"), "--data", str(nips / "images"),
            "--labels", str(tmp_path / "labels.csv"), *FAST]  # fmt: skip
    assert main([*args, "--output", str(tmp_path / "out")]) == 0
    res, _ = read_run(tmp_path / "out")
    assert (res["n"], res["correct1"], res["correct5"]) == (20, *counts(ft, some))


def test_compare_own_weights_and_classes(ft, tmp_path, monkeypatch):
    """``compare --models squeezenet1_1=ft.ckpt --classes``: one child, real figures."""
    monkeypatch.chdir(ft["dir"])  # NAME=FILE as one types it, relative to the working folder
    run = tmp_path / "run"
    args = ["compare", "--models", "squeezenet1_1=ft.ckpt", "--classes", "classes.txt",
            "--data", "folders", "--latency-seconds", "0.1", "--batch-size", "8",
            *FAST]  # fmt: skip
    assert main([*args, "--output", str(run)]) == 0
    (row,) = json.loads((run / "results.json").read_text())
    assert row["model"] == "squeezenet1_1=ft.ckpt" and row["architecture"] == "squeezenet1_1"
    assert (row["n"], row["correct1"], row["correct5"]) == (41, *counts(ft))
    assert row["classes"] == 10 and row["dataset"] == "own classes (classes.txt)"
    assert row["published_top1"] is None and "published_note" not in row  # other classes
    assert row["params"] == sum(p.numel() for p in squeezenet1_1(num_classes=10).parameters())
    assert (run / "models" / "squeezenet1_1=ft.ckpt.json").is_file()
    assert "| squeezenet1_1=ft.ckpt | " in (run / "report.md").read_text()


def test_predict_names_the_own_classes(ft, nips, capsys):
    d = ft["dir"]
    files = list(ft["files"])[:3]
    args = ["predict", *(str(nips / "images" / f) for f in files), "--model", "squeezenet1_1",
            "--weights", str(d / "ft.ckpt"), "--classes", str(d / "classes.txt"),
            "--format", "json", *FAST]  # fmt: skip
    assert main(args) == 0
    got = json.loads(capsys.readouterr().out)
    for g, f in zip(got, files, strict=True):
        assert [t["index"] for t in g["topk"]] == ft["ranks"][f][:5]
        assert [t["name"] for t in g["topk"]] == [ft["names"][i] for i in ft["ranks"][f][:5]]
