"""Fixtures and hooks only (helpers live in tests/helpers): tiny generated images, ../shared
files (skipped when absent), the plain reference loop and the shared comparison, each made
once per session.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Waiting OpenMP threads sleep instead of spinning. Two workers (make test), or a test
# beside its subprocesses, each with all cores' threads: spinning threads take the cores
# from the ones with work (figures: docs/speed.md, "Threads and OpenMP").
# Set before torch loads its OpenMP runtime; subprocesses inherit it. Speed only.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from PIL import Image  # noqa: E402

from tests.helpers import COMPARE_LIMIT, NIPS, SQUEEZE, compare_args, labels_of, need, once

# torch is imported by the fixtures, not here: pytest-xdist's controller process, which
# runs no test, then starts without it (seconds of every `make check` and `make test`)


@pytest.fixture(scope="session")
def _torch_threads() -> int:
    """The process's own torch threads, read before any test changed them."""
    import torch

    return torch.get_num_threads()


@pytest.fixture(autouse=True)
def _offline_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _torch_threads: int
):
    """An empty torchvision cache and export cache ($HARNESS_CACHE, one per session), so
    no test depends on (or fills) the user's.

    The environment is restored after each test: Lightning's DDP launcher leaves
    its variables (LOCAL_RANK, WORLD_SIZE, MASTER_PORT, ...) in ``os.environ``,
    and a later test's subprocess would take itself for a node of that run. So are
    torch's threads (an in-process run with ``--threads 1`` sets them for the process)
    and Pillow's pixel limit (``open_image`` sets it to ``--max-pixels``: a test of a
    small limit made a later test's plain ``Image.open`` fail).
    """
    import torch

    saved = dict(os.environ)
    max_pixels = Image.MAX_IMAGE_PIXELS
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.getbasetemp() / "torch_home"))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "harness_cache"))
    monkeypatch.delenv("HARNESS_WEIGHTS_DIR", raising=False)
    torch.manual_seed(0)
    yield
    os.environ.clear()
    os.environ.update(saved)
    torch.set_num_threads(_torch_threads)
    Image.MAX_IMAGE_PIXELS = max_pixels


@pytest.fixture
def tiny_images(tmp_path: Path) -> list[Path]:
    """Six small RGB PNGs of different colours and sizes."""
    files = []
    for i in range(6):
        p = tmp_path / f"img{i}.png"
        Image.new("RGB", (40 + 7 * i, 30 + 5 * i), (40 * i, 255 - 40 * i, 90)).save(p)
        files.append(p)
    return files


@pytest.fixture
def jpegs(tmp_path: Path) -> Path:
    """Four small JPEGs, p0.jpg to p3.jpg, in ``tmp_path``."""
    for i in range(4):
        Image.new("RGB", (16, 12), (50 * i, 90, 20)).save(tmp_path / f"p{i}.jpg")
    return tmp_path


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

    import torch

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled by the no_network fixture")

    monkeypatch.setattr(torch.hub, "urlopen", refuse)


@pytest.fixture(scope="session")
def reference(
    nips: Path, squeezenet_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[list[int], list[float]]]:
    """file -> (top-5 indices, probabilities): PIL -> transforms -> model -> softmax -> topk."""

    import torch
    from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

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


@pytest.fixture(scope="session")
def planted(nips: Path, squeezenet_weights: Path, tmp_path_factory) -> dict:
    """The four real-weight models on 56 photos with planted label errors and a duplicate
    (tests/helpers/planted.py): ``run`` (the comparison), ``truth``, ``given`` (the
    labels.csv rows), ``original`` (the photo saved again). Shared across files and workers.
    """
    from tests.helpers import planted as plant

    folder = once(tmp_path_factory, "planted", lambda f: plant.make(f, nips, squeezenet_weights))
    return {"run": folder / "run", **json.loads((folder / "truth.json").read_text())}
