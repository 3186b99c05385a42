"""Shared fixtures: tiny generated images, random-weight models, ../shared paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

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
    """An empty torchvision cache, so no test depends on (or fills) the user's."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.getbasetemp() / "torch_home"))
    monkeypatch.delenv("HARNESS_WEIGHTS_DIR", raising=False)
    torch.manual_seed(0)


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
