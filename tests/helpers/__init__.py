"""Test helpers: ../shared paths, a skip when they are absent, work made once per session,
the shared comparison's command line and checks against the plain reference loop.

Tests import these (``from tests.helpers import NIPS, need``); ``conftest.py`` holds
fixtures and hooks only.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the checkout
SHARED = Path(os.environ.get("HARNESS_SHARED", ROOT.parent / "shared"))
NIPS = SHARED / "data" / "nips17-dev"
SQUEEZE = SHARED / "weights" / "squeezenet1_1-webnn.pth"
CLASSES_CSV = SHARED / "data" / "imagenet1k-classes.csv"
COMPARE_LIMIT = 24  # images in the shared comparison (conftest's ``compared``)


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header, as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def need(path: Path) -> Path:
    """Skip the calling test with a reason when a ../shared file is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not beside the checkout)")
    return path


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


def compare_args(
    nips: Path, weights: Path, out: Path, models: list[str], limit: int, num_workers: int = 0
) -> list[str]:
    """``harness compare`` of ``models`` on the first ``limit`` nips17-dev photos, shared
    weights, quick settings (the shared comparison and the timings' --repeat run).
    """
    return [
        "compare", "--models", *models,
        "--data", str(nips / "images"), "--labels", str(nips / "labels.csv"),
        "--weights-dir", str(weights.parent), "--limit", str(limit), "--batch-size", "8",
        "--num-workers", str(num_workers), "--accelerator", "cpu", "--output", str(out),
    ]  # fmt: skip


def nips_args(nips: Path, weights: Path) -> list[str]:
    """The shared squeezenet weights on nips17-dev with its labels (--model is added apart)."""
    images, labels = str(nips / "images"), str(nips / "labels.csv")
    return ["--weights", str(weights), "--data", images, "--labels", labels]


def reference_counts(reference: dict, labels: dict[str, int], files: list[str]) -> tuple[int, int]:
    """Top-1 and top-5 hits of the plain reference loop (conftest's ``reference``) on ``files``."""
    top1 = sum(reference[f][0][0] == labels[f] for f in files)
    top5 = sum(labels[f] in reference[f][0] for f in files)
    return top1, top5


def check_rows_against_reference(rows: list[dict], reference: dict, labels: dict[str, int]):
    """Image by image: the same top-5 as the plain loop, and correct1 by its label."""
    for r in rows:
        name = Path(r["file"]).name
        idx, _ = reference[name]
        assert [int(r[f"pred{k}_index"]) for k in range(1, 6)] == idx, name
        assert int(r["label"]) == labels[name]
        assert int(r["correct1"]) == (idx[0] == labels[name])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refused command said on stderr: nothing on stdout, no traceback."""
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    [line] = err.strip().splitlines()
    return line


def write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` as a CSV file with a header, its folder made (stub predictions.csv files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def check_declared(row: dict, kind: type, accuracy: bool = True) -> None:
    """``row`` holds only keys that ``kind`` (``harness.rows``) declares, and all it marks
    ALWAYS (``accuracy=False``: of a compare row without measured accuracy).
    """
    from harness import rows

    assert set(row) - set(rows.columns(kind)) == set(), "undeclared keys"
    assert rows.always(kind, accuracy) - set(row) == set(), "declared ALWAYS, missing"
