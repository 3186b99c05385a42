"""Shared fixtures: tiny generated images, random-weight models, ../shared paths."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

# Waiting OpenMP threads sleep instead of spinning. Two workers (make test), or a test
# beside its subprocesses, each with all cores' threads: spinning threads take the cores
# from the ones with work (figures: docs/speed.md, "Threads and OpenMP").
# Set before torch loads its OpenMP runtime; subprocesses inherit it. Speed only.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
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
    """An empty torchvision cache and export cache ($HARNESS_CACHE, one per session), so
    no test depends on (or fills) the user's.

    The environment is restored after each test: Lightning's DDP launcher leaves
    its variables (LOCAL_RANK, WORLD_SIZE, MASTER_PORT, ...) in ``os.environ``,
    and a later test's subprocess would take itself for a node of that run.
    """
    saved = dict(os.environ)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.getbasetemp() / "torch_home"))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "harness_cache"))
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


def once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """``make(folder)`` once per test session, also under pytest-xdist (``make test``):
    the first worker makes it, another waits for it and reads the same folder.
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    folder = base / f"once-{name}"
    with FileLock(f"{folder}.lock"):
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".done").touch()
    return folder


@pytest.fixture(scope="session")
def reference(
    nips: Path, squeezenet_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[list[int], list[float]]]:
    """file -> (top-5 indices, probabilities): PIL -> transforms -> model -> softmax -> topk."""

    def make(folder: Path) -> None:
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
        (folder / "reference.json").write_text(json.dumps(out))  # floats round-trip exactly

    folder = once(tmp_path_factory, "reference", make)
    return {k: (i, p) for k, (i, p) in json.loads((folder / "reference.json").read_text()).items()}


COMPARE_LIMIT = 24  # images in the shared comparison


def compare_args(nips: Path, weights: Path, out: Path, models: list[str], limit: int) -> list[str]:
    """``harness compare`` of ``models`` on the first ``limit`` nips17-dev photos, shared
    weights, quick settings (the shared comparison below and test_timing's --repeat run).
    """
    return [
        "compare", "--models", *models,
        "--data", str(nips / "images"), "--labels", str(nips / "labels.csv"),
        "--weights-dir", str(weights.parent), "--limit", str(limit),
        "--batch-size", "8", "--num-workers", "0", "--accelerator", "cpu", "--output", str(out),
    ]  # fmt: skip


@pytest.fixture(scope="session")
def compared(nips: Path, squeezenet_weights: Path, tmp_path_factory) -> Path:
    """squeezenet1_1 and timm's tf_efficientnet_lite0 (real weights) beside alexnet (none).

    One comparison, shared by the test files that check it (it is the slowest fixture),
    also across pytest-xdist workers.
    """
    from harness.cli.main import main

    def make(folder: Path) -> None:
        import contextlib
        import io

        models = ["squeezenet1_1", "alexnet", "timm/tf_efficientnet_lite0"]
        args = compare_args(nips, squeezenet_weights, folder / "run", models, COMPARE_LIMIT)
        console = io.StringIO()
        with contextlib.redirect_stdout(console):
            assert main([*args, "--latency-seconds", "0.3"]) == 0
        (folder / "console.txt").write_text(console.getvalue())  # what the user saw

    return once(tmp_path_factory, "compared", make) / "run"
