"""Near-duplicate photos by a perceptual hash (pHash): the same shot saved twice, a burst.

The hash is the sign pattern of the lowest 8 x 8 frequencies of the photo's discrete
cosine transform (grey, 32 x 32): re-encoding, resizing and small edits leave it
almost unchanged, while two different photos differ in about half of its 64 bits.
A model's penultimate-layer features are the wrong yardstick here: a classifier is
trained to put different photos of one class close together, which is just what
must not be called a duplicate. The hash needs no model and reads each photo once;
the DCT is a matrix product (no scipy, as for the rest of the harness).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SIZE, LOW = 32, 8  # the photo is shrunk to SIZE x SIZE; the hash keeps LOW x LOW frequencies
NEAR = 6  # at most this many of the 64 bits differ: a near-duplicate
DRAFT = 256  # a JPEG decodes at the smallest scale with both sides at least this


def dct_matrix(n: int = SIZE) -> np.ndarray:
    """The orthonormal DCT-II matrix ``C`` (n x n): the 2-D DCT of ``X`` is ``C @ X @ C.T``."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    c = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    c[0] /= math.sqrt(2)
    return c


def phash(path: Path) -> int:
    """The 64-bit perceptual hash of the photo in ``path``.

    Bit ``k`` says whether the ``k``-th of the low frequencies (row-major, the
    constant term included) lies above their median.
    """
    from PIL import Image

    from harness.data.images import load_rgb

    # a JPEG's draft mode at 1/8 scale would shift the hash by up to 8 bits: 256 keeps it
    img = (
        load_rgb(path, draft_side=DRAFT).convert("L").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    )
    c = dct_matrix()
    low = (c @ np.asarray(img, dtype=np.float64) @ c.T)[:LOW, :LOW].ravel()  # (64,)
    bits = low > np.median(low[1:])  # the constant term would dominate the median
    return int(sum(1 << k for k, b in enumerate(bits) if b))


def distance(a: int, b: int) -> int:
    """How many of the 64 bits differ (Hamming distance)."""
    return bin(a ^ b).count("1")


def near_pairs(
    files: Sequence[str], root: Path, near: int = NEAR
) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]]]:
    """The pairs of ``files`` (relative to ``root``, or absolute) at most ``near`` bits apart.

    Returns:
        ``(a, b, bits)`` per pair, closest first; and ``(file, why)`` of files not read.
    """
    hashes, unread = [], []
    for f in files:
        try:
            hashes.append((f, phash(root / f)))
        except (OSError, ValueError) as e:
            unread.append((f, str(e)))
    names = [f for f, _ in hashes]
    codes = np.array([h for _, h in hashes], dtype=np.uint64)
    bits = np.array([bin(k).count("1") for k in range(256)], dtype=np.uint8)  # per byte value
    pairs = []
    for i in range(len(codes) - 1):  # each photo against the later ones, 8 bytes a hash
        d = bits[(codes[i + 1 :] ^ codes[i]).view(np.uint8).reshape(-1, 8)].sum(axis=1)
        pairs += [(names[i], names[i + 1 + j], int(d[j])) for j in np.flatnonzero(d <= near)]
    return sorted(pairs, key=lambda p: (p[2], p[0], p[1])), unread
