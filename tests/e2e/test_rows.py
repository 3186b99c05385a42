"""Real runs hold the rows harness/rows.py declares: no key undeclared, no ALWAYS key
missing, and compare's results.csv in the declared column order.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness import rows
from harness.cli.main import main
from tests.helpers import check_declared

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]


def run_test(args: list[str], out: Path) -> dict:
    """``harness test ARGS --output OUT``'s results.json."""
    assert main(["test", *FAST, *args, "--output", str(out)]) == 0
    return json.loads((out / "results.json").read_text())


def test_a_real_test_run_holds_the_declared_keys(nips, squeezenet_weights, tmp_path) -> None:
    """Real weights and labels (likely label errors looked for)."""
    data = ["--data", str(nips / "images"), "--labels", str(nips / "labels.csv")]
    weights = ["--weights-dir", str(squeezenet_weights.parent)]
    res = run_test(["--model", "squeezenet1_1", *weights, *data, "--limit", "12"], tmp_path)
    check_declared(res, rows.TestResult)
    assert res["top1"] is not None and "label_issues" in res


def test_random_weights_and_word_labels_hold_the_declared_keys(tmp_path) -> None:
    """Accuracy n/a; labels that are words (``label_map``, the among-labels keys)."""
    from PIL import Image

    for word in ("dog", "cat"):
        (tmp_path / "d" / word).mkdir(parents=True)
        Image.new("RGB", (16, 16), (9, 9, 9)).save(tmp_path / "d" / word / "a.png")
    args = ["--model", "squeezenet1_1", "--weights", "none", "--data", str(tmp_path / "d")]
    res = run_test(args, tmp_path / "out")
    check_declared(res, rows.TestResult)
    assert res["top1"] is None and "label_map" in res and "top1_among_labels" in res


def test_compare_rows_hold_the_declared_keys(compared: Path) -> None:
    """The shared comparison: two models with accuracy, one with random weights (none)."""
    found = json.loads((compared / "results.json").read_text())
    for r in found:
        check_declared(r, rows.CompareRow, accuracy=r["top1"] is not None)
    assert [r["top1"] is None for r in found] == [False, True, False]
    with open(compared / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    present = {k for r in found for k in r}
    assert header == [k for k in rows.columns(rows.CompareRow) if k in present]


def test_an_error_row_holds_the_declared_keys(tmp_path) -> None:
    """A model that fails before it loads: its row is model, error and log (results.csv:
    and the number of files skipped, 0).
    """
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    args = ["compare", "--models", f"squeezenet1_1={bad}", "--accelerator", "cpu",
            "--latency-seconds", "0.1", "--output", str(tmp_path / "r")]  # fmt: skip
    assert main(args) == 1
    (row,) = json.loads((tmp_path / "r" / "results.json").read_text())
    assert row["error"] and set(row) - set(rows.columns(rows.CompareRow)) == set()
    with open(tmp_path / "r" / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == [k for k in rows.columns(rows.CompareRow) if k in {*row, "skipped"}]
