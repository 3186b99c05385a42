"""harness.zoo.published: timm's published tables in the package, equal to the shared CSV files."""

from __future__ import annotations

import hashlib

from harness.zoo import published
from tests.helpers.timm_results import RESULTS, csv_rows, percent, shared

# --- the tables in the package ----------------------------------------------------------------


@shared
def test_tables_record_source_commit_and_each_files_digest() -> None:
    meta = published.tables().meta
    assert (meta["repository"], meta["commit"]) == ("huggingface/pytorch-image-models", "aa4b5850")
    for name, digest in meta["files"].items():
        assert hashlib.sha256((RESULTS / name).read_bytes()).hexdigest() == digest, name
    assert len(meta["files"]) == 11  # six accuracy tables, five speed tables


@shared
def test_every_accuracy_row_equals_the_csv_files() -> None:
    """Each set's top-1/top-5 of each (weight, size), read back as fractions."""
    files = {"imagenet": "results-imagenet.csv", "v2": "results-imagenetv2-matched-frequency.csv",
             "real": "results-imagenet-real.csv", "sketch": "results-sketch.csv",
             "r": "results-imagenet-r.csv", "a": "results-imagenet-a.csv"}  # fmt: skip
    rows = {k: {(r["model"], int(r["img_size"])): r for r in csv_rows(f)} for k, f in files.items()}
    assert len(rows["imagenet"]) == 1556 and len(published.tables().accuracy) == 1266
    for weight, sized in published.tables().accuracy.items():
        for r in sized:
            key = (weight, r["img_size"])
            assert r["param_count"] == percent(rows["imagenet"][key]["param_count"])
            for on in files:
                want = rows[on].get(key)
                assert r[f"{on}_top1"] == (percent(want["top1"]) if want else None), (key, on)
