"""A compare's TensorBoard runs: each model's figures and hyperparameters, as in report.md.

Written by the parent once the rows are final, so that the HPARAMS tab shows the
figures the report gives: under ``--repeat`` the medians of the runs (a child's
scalars would be its own run's, and TensorBoard shows a metric's last value).

TensorBoard's HPARAMS table ticks the first five metrics, sorted by tag, and the
first five hyperparameters: the tags and the order below put accuracy first
(``test/`` sorts before ``timing/`` and ``usage/``), and the data before the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config import Spec

METRICS = {  # row key: TensorBoard tag
    "top1": "test/top1",
    "top1_among_labels": "test/top1_among_labels",  # where labels are words
    "top5": "test/top5",
    "latency_ms_p50": "timing/latency_ms_p50",
    "latency_ms_p90": "timing/latency_ms_p90",
    "throughput_ips": "timing/throughput_ips",
    "throughput_e2e_ips": "timing/throughput_e2e_ips",
    "peak_memory_mib": "usage/peak_memory_mib",
    "params": "usage/params",
    "flops": "usage/flops",
}


def hyperparameters(row: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """What a model's run was made of: the model, the images, then how it ran."""
    params = {
        "model": row["model"],
        "data": spec.data,
        "labels": spec.labels,
        "limit": spec.limit,
        "sample": spec.sample,
        "seed": spec.seed,
        "weights": row.get("weights"),
        "runtime": row.get("runtime", "torch"),
        "precision": row.get("precision"),
        "device": row.get("device"),
        "batch_size": row.get("batch_size"),
        "threads": row.get("threads"),
        "repeat": row.get("repeat", 1),
    }
    return {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in params.items()}


def write_runs(run: Path, rows: Sequence[dict[str, Any]], spec: Spec) -> None:
    """Each measured row's metrics (step 0) and HPARAMS session, in its TensorBoard run."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    from harness.config import tensorboard_runs

    names = tensorboard_runs([r["model"] for r in rows])
    done = [r for r in rows if not r.get("error")]
    # every run names every metric any has, in METRICS order: TensorBoard takes the
    # table's columns from one run's list, whichever it reads first
    listed = {tag: 0.0 for k, tag in METRICS.items() if any(r.get(k) is not None for r in done)}
    for row in done:
        metrics = {tag: float(row[k]) for k, tag in METRICS.items() if row.get(k) is not None}
        writer = SummaryWriter(str(run / names[row["model"]]))
        for summary in hparams(hyperparameters(row, spec), listed):
            writer._get_file_writer().add_summary(summary)  # as add_hparams does
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, global_step=0)
        writer.close()
