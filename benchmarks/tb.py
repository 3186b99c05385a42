"""Per-image statistics of pytest-benchmark results, and one TensorBoard run per session.

pytest-benchmark times *calls*; a call here runs ``batch_size`` images, so every
per-image figure is a per-call figure divided by the batch size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import run_name

ROOT = Path(__file__).resolve().parents[1]
LOGDIR_ENV = "HARNESS_BENCH_LOGDIR"
MEMORY = ("peak_memory_mib", "rss_rise_mib", "cuda_max_allocated_mib")


def per_image(bench: Any) -> dict[str, float]:
    """Median, p90, mean and min ms per image, and images/s, of a benchmark's rounds.

    ``bench`` is pytest-benchmark's ``Metadata`` (``benchmark.stats`` in a test,
    an entry of ``config._benchmarksession.benchmarks`` after it): its ``.stats``
    holds seconds per call, ``.stats.data`` the raw rounds.
    """
    stats, batch = bench.stats, bench.extra_info["batch_size"]
    p90 = float(np.percentile(stats.data, 90))  # not among pytest-benchmark's statistics
    return {
        "median_ms_per_image": stats.median * 1e3 / batch,
        "p90_ms_per_image": p90 * 1e3 / batch,
        "mean_ms_per_image": stats.mean * 1e3 / batch,
        "min_ms_per_image": stats.min * 1e3 / batch,
        "images_per_s": batch / stats.median,
    }


def scalars(bench: Any) -> dict[str, float]:
    """``<model>/<mode>-b<batch>/<statistic>`` -> value, for one finished benchmark."""
    info = bench.extra_info
    prefix = f"{info['model']}/{info['mode']}-b{info['batch_size']}"
    values = per_image(bench) | {k: info[k] for k in MEMORY if k in info}
    return {f"{prefix}/{k}": float(v) for k, v in values.items()}


def run_dir(now: float | None = None) -> Path:
    """``$HARNESS_BENCH_LOGDIR`` (default ``lightning_logs/benchmarks``) / ``<stamp>-<pid>``."""
    base = Path(os.environ.get(LOGDIR_ENV) or ROOT / "lightning_logs" / "benchmarks")
    return base / run_name(now)


def write_session(benchmarks: Iterable[Any], environment: dict[str, Any]) -> Path | None:
    """Write every finished benchmark's scalars (step 0) and the environment as text.

    Benchmarks that failed or ran no rounds (``--benchmark-disable``) are left out,
    as pytest-benchmark leaves them out of its JSON. Returns the run folder, or
    None when there was nothing to write.
    """
    done = [b for b in benchmarks if b and not b.has_error and "model" in b.extra_info]
    if not done:
        return None
    from torch.utils.tensorboard import SummaryWriter

    path = run_dir()
    with SummaryWriter(str(path)) as writer:
        for bench in done:
            for tag, value in scalars(bench).items():
                writer.add_scalar(tag, value, global_step=0)
        rows = "\n".join(f"| {k} | {v} |" for k, v in environment.items())
        writer.add_text("environment", f"| key | value |\n|---|---|\n{rows}", global_step=0)
    return path
