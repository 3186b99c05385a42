"""Shared fixtures: tiny generated images, random-weight models, ../shared paths."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARNESS_SHARED", ROOT.parent / "shared"))
NIPS = SHARED / "data" / "nips17-dev"
SQUEEZE = SHARED / "weights" / "squeezenet1_1-webnn.pth"
CLASSES_CSV = SHARED / "data" / "imagenet1k-classes.csv"


def need(path: Path) -> Path:
    """Skip the calling test with a reason when a ../shared file is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not beside the checkout)")
    return path


@pytest.fixture(autouse=True)
def _offline_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """An empty torchvision cache, so no test depends on (or fills) the user's.

    The environment is restored after each test: Lightning's DDP launcher leaves
    its variables (LOCAL_RANK, WORLD_SIZE, MASTER_PORT, ...) in ``os.environ``,
    and a later test's subprocess would take itself for a node of that run.
    """
    saved = dict(os.environ)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.getbasetemp() / "torch_home"))
    monkeypatch.delenv("HARNESS_WEIGHTS_DIR", raising=False)
    torch.manual_seed(0)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def tiny_images(tmp_path: Path) -> list[Path]:
    """Six small RGB PNGs of different colours and sizes."""
    files = []
    for i in range(6):
        p = tmp_path / f"img{i}.png"
        Image.new("RGB", (40 + 7 * i, 30 + 5 * i), (40 * i, 255 - 40 * i, 90)).save(p)
        files.append(p)
    return files


@pytest.fixture(scope="session")
def squeezenet_weights() -> Path:
    return need(SQUEEZE)


@pytest.fixture(scope="session")
def nips() -> Path:
    return need(NIPS)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.hub downloads fail at once, as offline, even on a machine that is online."""
    import urllib.error

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled by the no_network fixture")

    monkeypatch.setattr(torch.hub, "urlopen", refuse)


def labels_of(nips: Path) -> dict[str, int]:
    with open(nips / "labels.csv", newline="") as f:
        return {r["file"]: int(r["label"]) for r in csv.DictReader(f)}


@pytest.fixture(scope="session")
def reference(nips: Path, squeezenet_weights: Path) -> dict[str, tuple[list[int], list[float]]]:
    """file -> (top-5 indices, probabilities): PIL -> transforms -> model -> softmax -> topk."""
    model = squeezenet1_1()
    model.load_state_dict(torch.load(squeezenet_weights, weights_only=True))
    model.eval()
    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    out = {}
    with torch.inference_mode():
        for name in sorted(labels_of(nips)):
            x = tf(Image.open(nips / "images" / name).convert("RGB")).unsqueeze(0)
            p, i = model(x).softmax(-1)[0].topk(5)
            out[name] = (i.tolist(), p.tolist())
    return out


COMPARE_LIMIT = 24  # images in the shared comparison


@pytest.fixture(scope="session")
def compared(nips: Path, squeezenet_weights: Path, tmp_path_factory) -> Path:
    """squeezenet1_1 and timm's tf_efficientnet_lite0 (real weights) beside alexnet (none).

    One comparison, shared by the test files that check it (it is the slowest fixture).
    """
    from harness.cli import main

    run = tmp_path_factory.mktemp("compare") / "run"
    args = [
        "compare", "--models", "squeezenet1_1", "alexnet", "timm/tf_efficientnet_lite0",
        "--data", str(nips / "images"), "--labels", str(nips / "labels.csv"),
        "--weights-dir", str(squeezenet_weights.parent), "--limit", str(COMPARE_LIMIT),
        "--batch-size", "8", "--num-workers", "0", "--latency-seconds", "0.3",
        "--accelerator", "cpu", "--output", str(run),
    ]  # fmt: skip
    assert main(args) == 0
    return run
