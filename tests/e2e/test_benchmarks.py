"""The benchmark suite end to end: JSON, TensorBoard scalars, autosave and compare.

Runs ``pytest benchmarks/`` in a subprocess with squeezenet1_1 and few rounds; the
numbers are not judged (a slow machine never fails a test), only that the JSON,
the TensorBoard run and the comparison agree and carry what they should.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT

QUICK = ["--models", "squeezenet1_1", "--bench-batch", "2", "--bench-rounds", "3"]
QUICK += ["--bench-warmup", "1", "--threads", "1", "-q", "-p", "no:cacheprovider"]
EXTRA_KEYS = {
    "peak_memory_mib",
    "rss_rise_mib",
    "params",
    "flops_per_image",
    "batch_size",
    "precision",
    "device",
    "device_name",
    "torch_threads",
    "torch_version",
    "torchvision_version",
    "harness_version",
    "mode",
    "images_per_call",
    "median_ms_per_image",
    "p90_ms_per_image",
    "threads",
    "load_before",
    "load_after",
    "runnable_before",
    "runnable_after",
    "runnable_during",
    "spread",
    "noisy",
}


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # test_models.py only: test_decode.py's 12-MP photos take minutes
    cmd = [sys.executable, "-m", "pytest", "benchmarks/test_models.py", *QUICK, *args]
    # not an xdist worker, though started by one: pytest-benchmark would switch itself off
    own = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    proc = subprocess.run(cmd, cwd=ROOT, env={**own, **(env or {})}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """One quick session, autosaved: its JSON and its folder (tb/, store/)."""
    tmp = tmp_path_factory.mktemp("bench")
    proc = bench(
        f"--benchmark-json={tmp / 'b.json'}",
        "--benchmark-autosave",
        f"--benchmark-storage={tmp / 'store'}",
        env={"HARNESS_BENCH_LOGDIR": str(tmp / "tb")},
    )
    (tmp / "stdout.txt").write_text(proc.stdout)
    return json.loads((tmp / "b.json").read_text()), tmp


def tb_run(folder: Path) -> Path:
    runs = list((folder / "tb").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def test_names_and_extra_info(run: tuple[dict, Path]) -> None:
    data, _ = run
    names = sorted(b["name"] for b in data["benchmarks"])
    assert names == sorted(
        f"test_latency[squeezenet1_1-b{b}-{m}]" for b in (1, 2) for m in ("model", "end_to_end")
    )
    for b in data["benchmarks"]:
        info = b["extra_info"]
        assert info.keys() >= EXTRA_KEYS, EXTRA_KEYS - info.keys()
        assert info["params"] == 1_235_496  # squeezenet1_1, torchvision's num_params
        assert info["flops_per_image"] == pytest.approx(2 * 0.349e9, rel=0.01)  # 2 x _ops
        assert info["batch_size"] == info["images_per_call"] == b["params"]["batch"]
        assert b["stats"]["rounds"] == len(b["stats"]["data"]) == 3


def test_threads_load_spread_noisy(run: tuple[dict, Path]) -> None:
    """--threads 1 is used and recorded; spread = p90/p50 of the 3 rounds, by hand."""
    data, folder = run
    printed = (folder / "stdout.txt").read_text()
    for b in data["benchmarks"]:
        info, (_, mid, hi) = b["extra_info"], sorted(b["stats"]["data"])
        assert info["threads"] == info["torch_threads"] == 1
        assert info["spread"] == pytest.approx((mid + 0.8 * (hi - mid)) / mid, abs=1e-3)
        assert info["noisy"] == bool(info["noisy_reasons"])
        assert (f"noisy: {b['name']}: " in printed) == info["noisy"]


def test_tensorboard_matches_json(run: tuple[dict, Path]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data, folder = run
    acc = EventAccumulator(str(tb_run(folder)))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for b in data["benchmarks"]:
        info, stats = b["extra_info"], b["stats"]
        prefix = f"squeezenet1_1/{info['mode']}-b{info['batch_size']}"
        ms = sorted(t * 1e3 / info["batch_size"] for t in stats["data"])  # ms per image
        expected = {
            "median_ms_per_image": stats["median"] * 1e3 / info["batch_size"],
            "p90_ms_per_image": ms[1] + 0.8 * (ms[2] - ms[1]),  # 90th of 3: linear, by hand
            "images_per_s": info["batch_size"] / stats["median"],
            "peak_memory_mib": info["peak_memory_mib"],
        }
        assert expected["median_ms_per_image"] == pytest.approx(ms[1])
        for name, value in expected.items():
            assert f"{prefix}/{name}" in tags
            (event,) = acc.Scalars(f"{prefix}/{name}")
            assert np.float32(event.value) == pytest.approx(np.float32(value), rel=1e-6), name


def test_autosave_then_compare(run: tuple[dict, Path], tmp_path: Path) -> None:
    """Also without ../shared: generated images stand in for nips17-dev."""
    _, folder = run
    (saved,) = (folder / "store").rglob("0001_*.json")
    env = {"HARNESS_SHARED": str(tmp_path / "absent"), "HARNESS_BENCH_LOGDIR": str(tmp_path / "tb")}
    proc = bench("--benchmark-compare", f"--benchmark-storage={folder / 'store'}", env=env)
    out = proc.stdout + proc.stderr
    assert f"Comparing against benchmarks from: {saved.parent.name}/{saved.name}" in out
    assert "(NOW)" in out and "(0001_" in out, out[-3000:]
    assert tb_run(tmp_path).is_dir()
