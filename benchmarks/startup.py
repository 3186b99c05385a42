"""Where a ``harness test`` run spends its time outside the evaluation, phase by phase.

Run in a fresh interpreter (``benchmarks/targets.py`` does), so that imports are
cold for Python (the OS's file cache may be warm)::

    python benchmarks/startup.py MODEL WEIGHTS DATA LABELS LIMIT [THREADS]

prints one JSON object of seconds: ``imports`` (torch, torchvision, timm,
Lightning and the harness: what ``harness test`` loads), ``model_building``
(architecture and weights), ``evaluation`` (``Trainer.test``: the images/s
figure's own time), ``tensorboard`` (the HPARAMS entry), ``sample_figure`` (the
labelled grid: drawing, the JPEG in the event file), ``other`` (the
folder scan, Trainer set-up, predictions.csv and results.json) and ``total``.
Nothing here but the clock is imported before ``imports`` starts.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import json  # noqa: E402 - after the clock: light, and part of Python's own start-up
import sys  # noqa: E402
import tempfile  # noqa: E402
from typing import Any  # noqa: E402


def timed(spent: dict[str, float], key: str, fn: Any) -> Any:
    """``fn`` wrapped so that its time adds to ``spent[key]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - t

    return wrapper


def phases(model: str, wts: str, data: str, labels: str, limit: int, threads: int | None) -> dict:
    spent: dict[str, float] = {}
    t = time.perf_counter()
    from harness import weights  # noqa: F401 - as `harness test`
    from harness.engine import runs, tensorboard

    spent["imports"] = time.perf_counter() - t
    t = time.perf_counter()
    loaded = weights.load(model, wts)
    spent["model_building"] = time.perf_counter() - t
    # log_run = log_hparams (the HPARAMS entry) + the sample figure
    tensorboard.log_hparams = timed(spent, "tensorboard", tensorboard.log_hparams)
    tensorboard.log_run = timed(spent, "log_run", tensorboard.log_run)
    cfg = runs.RunConfig(accelerator="cpu", progress=False, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        logger = runs.TensorBoardLogger(tmp, name="startup", default_hp_metric=False)
        res = runs.test(loaded, data, cfg, labels, limit, output=tmp, logger=logger)
    assert res is not None
    spent["evaluation"] = res["seconds"]
    spent["sample_figure"] = spent.pop("log_run") - spent.get("tensorboard", 0.0)
    spent["total"] = time.perf_counter() - START
    spent["other"] = spent["total"] - sum(v for k, v in spent.items() if k != "total")
    return {k: round(v, 3) for k, v in spent.items()} | {"images": res["n"]}


if __name__ == "__main__":
    model, wts, data, labels, limit, *rest = sys.argv[1:]
    threads = int(rest[0]) if rest else None
    print(json.dumps(phases(model, wts, data, labels, int(limit), threads)))
    from harness.engine.shutdown import exit_now

    exit_now(0)  # as ``python -m harness`` ends
