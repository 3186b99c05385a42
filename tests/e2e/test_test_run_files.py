"""What a ``test`` run leaves: --output holds the whole run, which records how it was made."""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import io
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights

import harness
from harness.cli.main import main
from harness.data.datamodule import find_samples

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]
CATS = SqueezeNet1_1_Weights.DEFAULT.meta["categories"]


def class_folders(root: Path) -> Path:
    """Three class folders (class indices 0, 1, 2) of four tiny images each."""
    for c in range(3):
        for i in range(4):
            path = root / str(c) / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (12 + i, 10 + c), (60 * c, 50 * i, 90)).save(path)
    return root


# --- 2. --output holds the whole run; 3. a run records how it was made ------------------------


@dataclass
class Sampled:
    """``test --sample 5 --output DIR``, run once from an empty working folder."""

    data: Path
    work: Path
    out: Path
    results: dict
    stdout: str
    window: tuple[float, float]  # the run started and ended in it


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Sampled:
    root = tmp_path_factory.mktemp("sampled")
    data, work, out = class_folders(root / "val"), root / "work", root / "out"
    work.mkdir()
    args = ["test", *FAST, "--data", str(data), "--sample", "5", "--output", str(out)]
    before, stdout = time.time(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.chdir(work)
        assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    return Sampled(data, work, out, results, stdout.getvalue(), (before, time.time()))


def test_output_dir_holds_the_whole_run(sampled: Sampled) -> None:
    out = sampled.out
    assert list(sampled.work.iterdir()) == []  # no lightning_logs/ beside
    assert (out / "predictions.csv").is_file() and list(out.glob("events.out.tfevents.*"))
    assert sampled.results["run_dir"] == str(out)
    assert sampled.stdout.splitlines()[-1].split()[:2] == ["run", str(out)]


def test_sample_is_seeded_and_spans_the_classes(sampled: Sampled) -> None:
    res, data = sampled.results, sampled.data
    files = sorted(str(p.relative_to(data)) for p in data.rglob("*.png"))
    expected = [files[i] for i in sorted(random.Random(0).sample(range(12), 5))]
    with open(sampled.out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == expected
    assert len({r["label"] for r in rows}) > 1  # --limit 5 would take classes 0 and 1 only
    assert (res["limit"], res["sample"], res["seed"]) == (None, 5, 0)
    assert res["selection"] == "a random 5 of 12, seed 0 (--sample)"
    assert "5 evaluated (a random 5 of 12, seed 0 (--sample))" in sampled.stdout
    again = find_samples(data, CATS, sample=5, seed=0)
    other = find_samples(data, CATS, sample=5, seed=1)
    assert [str(p.relative_to(data)) for p in again.files] == expected
    assert other.files != again.files


def test_results_record_the_machine_versions_and_start(sampled: Sampled) -> None:
    res, (before, after) = sampled.results, sampled.window
    env = res["environment"]
    for lib in ("torch", "torchvision", "lightning", "torchmetrics", "timm"):
        assert env[lib].startswith(importlib.metadata.version(lib))  # torch adds +cu130
    assert env["harness"] == harness.__version__ == importlib.metadata.version("harness")
    assert env["torch_threads"] == torch.get_num_threads() and env["cpu_cores"] == os.cpu_count()
    assert env["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
        assert env["cpu"] == model
    except (OSError, StopIteration):
        pass
    started = time.mktime(time.strptime(res["started"], "%Y-%m-%d %H:%M:%S %Z"))
    assert int(before) - 1 <= started <= after + 1
    assert res["labels"] is None and "versions" not in res
