"""harness/rows.py: the declared row keys, their order and ALWAYS marks, against the places
that make keys from names (published figures, an exported session, timings, parity).
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from harness import rows
from harness.engine.exported import Setup
from harness.engine.files import to_csv
from harness.measure import conditions
from harness.measure.parity import parity
from harness.zoo import published

DECLARED = set(rows.columns(rows.CompareRow))


def test_columns_are_the_declared_order_bases_first() -> None:
    cols = rows.columns(rows.CompareRow)
    assert cols[:4] == ("model", "architecture", "top1", "top5")
    counts = cols.index("n")  # the accuracy keys together, after the runtime's
    assert cols[counts : counts + 8] == (
        "n", "labelled", "correct1", "correct5", "skipped", "top1_ci95", "top5_ci95", "ece",
    )  # fmt: skip
    assert cols.index("compile_seconds") < counts < cols.index("latency_ms_p50")
    assert cols.index("error") < cols.index("repeat") < cols.index("parity_n")
    assert len(cols) == len(set(cols))


def test_always_marks_and_accuracy() -> None:
    measured = rows.always(rows.CompareRow)
    assert {"model", "top1", "latency_ms_p50", "error", "n", "ece"} <= measured
    assert not {"log", "published_note", "parity_n", "gpu_max_allocated_mib"} & measured
    without = rows.always(rows.CompareRow, accuracy=False)
    assert measured - without == {"n", "labelled", "correct1", "correct5", "skipped",
                                  "top1_ci95", "top5_ci95", "ece"}  # fmt: skip
    test = rows.always(rows.TestResult)
    assert {"model", "limit", "n", "top1_ci95", "run_dir", "environment"} <= test
    assert not {"label_issues", "label_map", "top1_among_labels"} & test


def test_known() -> None:
    assert rows.known(0.0) == 0.0
    with pytest.raises(ValueError):
        rows.known(None)


def test_to_csv_follows_the_declared_order_and_keeps_others() -> None:
    got = to_csv([{"error": "x", "model": "a"}, {"model": "b", "zz": 1, "top1": 0.5}],
                 rows.columns(rows.CompareRow))  # fmt: skip
    assert got.splitlines() == ["model,top1,error,zz", "a,,x,", "b,0.5,,1"]


def test_published_keys_are_declared() -> None:
    """Both libraries' published figures, as zoo.published names them."""
    made = set(published.torchvision_figures({}))
    made |= set(published.timm_figures("tf_efficientnet_lite0.in1k", 224, True))
    made |= set(published.timm_figures("no_such_model.x", 224, True))  # published_missing
    row_keys = {k for k in made if k.startswith("published_")}
    assert "published_missing" in row_keys and "published_ips_rtx4090" in row_keys
    assert row_keys - DECLARED == set()
    assert {top for top in map(published.top1_key, published.SETS)} <= DECLARED
    assert {"published_weights", "published_note"} <= DECLARED


def test_exported_setup_and_timings_are_declared() -> None:
    assert {f.name for f in fields(Setup)} - DECLARED == set()
    assert set(conditions.TIMED) | {f"{k}_range" for k in conditions.TIMED} <= DECLARED
    before = {"load": 0.1, "runnable": 0}
    assert set(conditions.conditions(2, before, before, 1.1)) <= DECLARED
    found = parity({"a": ([1, 2, 3, 4, 5], 0.9, True)}, {"a": ([2, 1, 3, 4, 5], 0.8, False)})
    assert set(found) <= DECLARED


def test_combine_of_repeated_runs_keeps_to_declared_keys() -> None:
    base = {k: 1.0 for k in conditions.TIMED} | {"model": "m", "error": None, "threads": 2,
            "cores": 2, "load_before": 0.1, "load_after": 0.1, "runnable_before": 0,
            "runnable_after": 0, "runnable_during": 0.0, "spread": 1.1, "noisy": False,
            "noisy_reasons": [], "loader_workers": 2}  # fmt: skip
    row = conditions.combine([dict(base), dict(base) | {"latency_ms_p50": 3.0}])
    assert set(conditions.DERIVED) <= set(row) <= DECLARED
    assert row["latency_ms_p50_range"] == [1.0, 3.0]


def test_the_calibration_record_is_declared(tmp_path) -> None:
    from harness.data.selection import calibration_record

    made = calibration_record([tmp_path / "a.png"], tmp_path, seed=3)
    assert list(made) == list(rows.columns(rows.CalibrationRecord))
    assert made["files"] == ["a.png"] and "calibration" in DECLARED
