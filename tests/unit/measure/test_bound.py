"""harness.measure.bound: the cores' bound against hand-worked figures, the decode rate
against a plain loop over the same files, timed side by side."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights
from torchvision.transforms import functional as F

from harness.data.images import load_rgb
from harness.measure import bound


@pytest.mark.parametrize(
    ("cores", "threads", "workers", "expected"),
    [
        # 2 cores: 2/60 + 1/250 = 0.037333 core-seconds per image -> 2 / 0.037333 images/s
        (2, 2, 2, 2 / (2 / 60 + 1 / 250)),
        (2, 4, 2, 2 / (2 / 60 + 1 / 250)),  # more threads than cores keep only the cores busy
        (2, 1, 2, 60.0),  # 1/60 + 1/250 of 2 core-seconds: 96.8 images/s, over the model's 60
        (8, 2, 2, 60.0),  # spare cores: decoding runs beside the model
        (8, 2, 1, 60.0),  # one worker still decodes 250 images/s
        (2, 2, 0, 1 / (1 / 60 + 1 / 250)),  # no workers: decoding and the model take turns
        (16, 8, 0, 1 / (1 / 60 + 1 / 250)),  # ... whatever the cores
    ],
)
def test_core_bound_by_hand(cores: int, threads: int, workers: int, expected: float) -> None:
    assert bound.core_bound(60.0, 250.0, threads, workers, cores) == pytest.approx(expected)


def test_of_row_is_made_of_the_rows_own_figures() -> None:
    row = {"throughput_ips": 683.0, "decode_ips": 150.0, "threads": 2, "loader_workers": 2,
           "cores": 2, "throughput_e2e_ips": 170.0, "throughput_e2e_steady_ips": 193.0}  # fmt: skip
    by_hand = round(min(683.0, 2 * 150.0, 2 / (2 / 683.0 + 1 / 150.0)), 3)
    # the steady rate against the bound, a rate against a rate (start-up aside)
    assert bound.of_row(row) == {"core_bound_ips": by_hand, "e2e_of_bound": 193.0 / by_hand}
    assert bound.of_row(row | {"decode_ips": 0.0}) == {}  # no photo decoded: no bound
    no_steady = row | {"throughput_e2e_steady_ips": None}  # too few batches
    assert bound.of_row(no_steady) == {"core_bound_ips": by_hand, "e2e_of_bound": None}


def photos(folder: Path, n: int, side: int = 320) -> list[Path]:
    """``n`` PNGs of random pixels (costly to decode, as photos are)."""
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        files.append(folder / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (side, side + 40, 3), np.uint8)).save(files[-1])
    return files


def plain_loop(files: list[Path]) -> float:
    """Images/s of read, decode, resize, crop to uint8 pixels, by hand on one thread."""
    t = SqueezeNet1_1_Weights.DEFAULT.transforms()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    for f in files:
        img = F.resize(load_rgb(f), t.resize_size, interpolation=t.interpolation, antialias=True)
        np.array(F.center_crop(img, t.crop_size), dtype=np.uint8)
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    return len(files) / seconds


def test_decode_rate_against_a_plain_loop(tmp_path: Path) -> None:
    files = photos(tmp_path, 12)
    transform = SqueezeNet1_1_Weights.DEFAULT.transforms()
    ours, plain = [], []
    for _ in range(3):  # alternately: load from other processes hits both alike
        ours.append(bound.decode_rate(files, transform)["images_per_s"])
        plain.append(plain_loop(files))
    assert 0.67 < max(ours) / max(plain) < 1.5  # the same work per photo, side by side


def test_decode_rate_counts_readable_photos_on_one_thread(tmp_path: Path) -> None:
    files = photos(tmp_path, 3, side=24)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    seen: list[int] = []

    def transform(img: Image.Image) -> Image.Image:  # no known shape: applied whole
        seen.append(torch.get_num_threads())
        return img

    threads = torch.get_num_threads()
    got = bound.decode_rate([files[0], bad, *files[1:]], transform, limit=3)
    assert got["images"] == 2 and seen == [1, 1]  # the first 3: one unreadable
    assert got["images_per_s"] == 2 / got["seconds"]
    assert torch.get_num_threads() == threads
