"""The four real-weight models compared on a folder with planted defects (conftest's
``planted``, shared by the label-error tests and the published-figures tests): 56 photos of
nips17-dev, of which 20 that every model gets right have their labels swapped in pairs, and
one is saved again as a JPEG.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

from PIL import Image

from tests.helpers import read_csv

LITES = [f"timm/tf_efficientnet_lite{i}" for i in (2, 1, 0)]  # `models ... --sort top1` order
MODELS = ["squeezenet1_1", *LITES]
# Photos all four models get right at top-1 (from an earlier run; a test checks it still
# holds), swapped in pairs: each takes the other's label.
SWAPPED = [
    "000b7d55b6184b08.png", "00312c7e7196baf4.png", "01244097ca8ffdfa.png",
    "014f0024918a7b6f.png", "01fa4be27dd11b5d.png", "024f73e53c3c1f1d.png",
    "04546cc5e537d7cd.png", "04cb9de291399d15.png", "0546b47c13f154d3.png",
    "05f7c084329ff0c6.png", "064e1cc405062c85.png", "06a0e36c443746b5.png",
    "080bec22a6b1d37d.png", "08fbf75e60a6efb7.png", "0aebe24fc257286e.png",
    "0be391239ccba0f2.png", "0ceee9a38409e30c.png", "0d85e0103989c850.png",
    "0e83f990a04ed67d.png", "0ed355357757528d.png",
]  # fmt: skip
# more photos of classes above: distinct photos of one class, which are no duplicates
SAME_CLASS = ["4d008626b4b68665.png", "3f8bf287f20333eb.png", "b0e0e06e647b478f.png"]
PHOTOS = 52  # the first of labels.csv, besides SAME_CLASS
COPY = "copy.jpg"  # one of them saved again as a JPEG
FIELDS = ["file", "label", "wnid", "name"]


def make(folder: Path, nips: Path, weights: Path) -> None:
    """The folder, its labels.csv (planted), truth.json, and the comparison in ``run/``.

    The timm models are named as ``harness models ... --names`` names them: the search's
    answer goes straight into compare, as the README shows.
    """
    from harness.cli.main import main

    rows = read_csv(nips / "labels.csv")
    chosen = rows[:PHOTOS] + [r for r in rows if r["file"] in SAME_CLASS]
    truth = {r["file"]: r for r in chosen}
    assert set(SWAPPED) <= truth.keys()
    images = folder / "images"
    images.mkdir()
    for f in truth:
        shutil.copy(nips / "images" / f, images / f)
    original = next(f for f in truth if f not in SWAPPED)
    Image.open(images / original).convert("RGB").save(images / COPY, quality=85)
    given = {f: dict(r) for f, r in truth.items()}
    given[COPY] = {**truth[original], "file": COPY}
    for a, b in zip(SWAPPED[::2], SWAPPED[1::2], strict=True):
        assert truth[a]["label"] != truth[b]["label"]
        for k in ("label", "wnid", "name"):
            given[a][k], given[b][k] = truth[b][k], truth[a][k]
    with open(folder / "labels.csv", "w", newline="") as out:
        w = csv.DictWriter(out, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(given.values())
    names = io.StringIO()
    with contextlib.redirect_stdout(names):
        search = ["models", "timm/tf_efficientnet_lite*", "--max-params", "6.5", "--sort", "top1"]
        assert main([*search, "--names"]) == 0
    models = ["squeezenet1_1", *names.getvalue().split()]
    assert models == MODELS, models
    args = ["compare", "--models", *models, "--data", str(images), "--labels",
            str(folder / "labels.csv"), "--weights-dir", str(weights.parent),
            "--batch-size", "16", "--num-workers", "0", "--accelerator", "cpu",
            "--latency-seconds", "0.3", "--output", str(folder / "run")]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0
    (folder / "truth.json").write_text(
        json.dumps({"truth": truth, "given": given, "original": original})
    )
