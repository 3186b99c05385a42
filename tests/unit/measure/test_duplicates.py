"""harness.measure.duplicates: perceptual hashes against a plain-loop DCT, near-duplicates."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.measure import duplicates


def test_dct_matrix_is_the_dct_ii_of_a_plain_loop() -> None:
    c, n = duplicates.dct_matrix(8), 8
    x = np.random.default_rng(0).random((n, n))
    plain = np.zeros((n, n))
    for u in range(n):
        for v in range(n):
            s = sum(
                x[i, j]
                * math.cos(math.pi * (2 * i + 1) * u / (2 * n))
                * math.cos(math.pi * (2 * j + 1) * v / (2 * n))
                for i in range(n)
                for j in range(n)
            )
            au, av = (math.sqrt((1 if k == 0 else 2) / n) for k in (u, v))
            plain[u, v] = au * av * s
    assert c @ x @ c.T == pytest.approx(plain)
    assert c @ c.T == pytest.approx(np.eye(n))


def scene(seed: int) -> Image.Image:
    """A smooth random picture (blobs of colour), 200 x 150."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((200, 150), Image.Resampling.BICUBIC)


def test_a_photo_saved_twice_is_a_near_duplicate_and_another_is_not(tmp_path: Path) -> None:
    scene(0).save(tmp_path / "a.png")
    scene(0).save(tmp_path / "a-again.jpg", quality=60)  # the same photo, re-encoded
    scene(1).save(tmp_path / "b.png")
    Image.open(tmp_path / "a.png").resize((120, 90)).save(tmp_path / "a-small.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    files = ["a.png", "a-again.jpg", "b.png", "a-small.png", "broken.png"]
    pairs, unread = duplicates.near_pairs(files, tmp_path)
    assert {frozenset(p[:2]) for p in pairs} == {
        frozenset(p) for p in [("a.png", "a-again.jpg"), ("a.png", "a-small.png"),
                               ("a-again.jpg", "a-small.png")]
    }  # fmt: skip
    assert [f for f, _ in unread] == ["broken.png"]
    a, b = duplicates.phash(tmp_path / "a.png"), duplicates.phash(tmp_path / "b.png")
    assert duplicates.distance(a, b) == bin(a ^ b).count("1") > duplicates.NEAR
