"""benchmarks/targets.py's bound for target b, against hand-worked figures."""

from __future__ import annotations

import pytest

from benchmarks.targets import core_bound


@pytest.mark.parametrize(
    ("cores", "threads", "workers", "expected"),
    [
        # 2 cores: 2/60 + 1/250 = 0.037333 core-seconds per image -> 2 / 0.037333 images/s
        (2, 2, 2, 2 / (2 / 60 + 1 / 250)),
        (2, 4, 2, 2 / (2 / 60 + 1 / 250)),  # more threads than cores keep only the cores busy
        (8, 2, 2, 60.0),  # spare cores: decoding runs beside the model
        (8, 2, 1, 60.0),  # one worker still decodes 250 images/s
        (2, 2, 0, 1 / (1 / 60 + 1 / 250)),  # no workers: decoding and the model take turns
    ],
)
def test_core_bound(monkeypatch, cores: int, threads: int, workers: int, expected: float) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert core_bound(60.0, 250.0, threads, workers) == pytest.approx(expected, rel=1e-12)


def test_core_bound_slow_decoding_is_the_workers_limit(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    # 2 workers at 20 images/s each cannot feed a 60 images/s model, whatever the cores
    assert core_bound(60.0, 20.0, 2, 2) == pytest.approx(40.0)
