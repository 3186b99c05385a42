"""Running a classifier over images with Lightning's Trainer: ``predict`` and ``test``."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from harness.config import LOGS, RunConfig, run_name
from harness.data import decode
from harness.data.datamodule import ImageFolderDataModule, Samples
from harness.engine import recovery
from harness.engine.classifier import ClassifierModule, build_module
from harness.engine.distributed import num_nodes, per_node, strategy
from harness.engine.files import environment
from harness.engine.progress import progress_bar
from harness.engine.results import (
    discard_failed,
    earlier_note,
    earlier_run,
    replace_earlier,
    summarise,
    write,
)
from harness.engine.runtimes import trainer_precision
from harness.engine.speedups import check_accelerator, cuda_settings, resolve_precision
from harness.errors import HarnessError
from harness.measure.conditions import set_threads
from harness.zoo.weights import Loaded


def quiet_lightning() -> None:
    """Keep Lightning's start-up chatter ("GPU available: ...", tips) off the terminal."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for text in (
        "predict returned None",
        ".*LeafSpec",
        ".*does not have many workers",
        ".*was called before the ``update`` method",  # nothing labelled: nothing to count
        ".*when logging on epoch level in distributed",  # torchmetrics syncs its own states
    ):
        warnings.filterwarnings("ignore", message=text)


def trainer(cfg: RunConfig, logger: Any = False) -> L.Trainer:
    """A Trainer for inference, after checking that the asked-for device exists.

    ``cfg.precision`` is taken as resolved (``speedups.resolve_precision``).
    """
    devices = per_node(cfg.devices, check_accelerator(cfg.accelerator))
    nodes = num_nodes(cfg.num_nodes, devices)
    quiet_lightning()
    cuda_settings(trainer_precision(cfg))
    bar = progress_bar(cfg.progress)
    return L.Trainer(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=nodes,
        strategy=strategy(cfg.strategy, devices * nodes, cfg.dist_timeout),
        precision=trainer_precision(cfg),  # type: ignore[arg-type]
        logger=logger,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=bar is not None,
        callbacks=[bar] if bar else None,
        use_distributed_sampler=False,
        inference_mode=True,
    )


def run(
    stage: str, loaded: Loaded, samples: Samples, cfg: RunConfig, logger: Any = False, topk: int = 5
) -> tuple[ClassifierModule, L.Trainer, float, RunConfig]:
    """``Trainer.test`` or ``.predict`` over ``samples``: the module, trainer, seconds taken
    and the config in effect (precision resolved, batch size as last tried; ``cfg`` is not
    changed). ``recovery`` says what happens on out of memory, unusable files and Ctrl+C.
    """
    if cfg.strict and samples.skipped:
        raise recovery.unusable(*samples.skipped[0])
    set_threads(cfg.threads)
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, cfg.accelerator))
    transform = loaded.transforms()
    decoder = decode.decoder(cfg, transform)
    if cfg.decode != decoder.mode:  # fast asked, but what size the transforms need is unknown
        samples.notes.append(
            f"--decode fast: the size {type(transform).__name__} needs is unknown; decoded exactly"
        )

    def attempt(cfg: RunConfig) -> tuple[ClassifierModule, L.Trainer, float]:
        dm = ImageFolderDataModule(
            samples, transform, cfg.batch_size, cfg.workers(), decoder, cfg.channels_last
        )
        words = samples.label_set
        module = build_module(
            cfg, loaded, topk, None if words is None else [w.classes for w in words]
        )
        t = trainer(cfg, logger)
        n = len(samples.files)
        if t.world_size > n:  # Lightning's sampler gives each process at least one image
            raise HarnessError(
                f"{n} image{'s' * (n != 1)} for {t.world_size} processes: each process needs"
                " at least one (ask for fewer with --devices or --num-nodes)"
            )
        start = time.perf_counter()
        with recovery.failures(t, cfg, samples):
            if stage == "test":
                t.test(module, datamodule=dm, verbose=False)
            else:
                t.predict(module, datamodule=dm, return_predictions=False)
        return module, t, time.perf_counter() - start

    (module, t, seconds), cfg = recovery.retrying(attempt, cfg)
    return module, t, seconds, cfg


def predict(
    loaded: Loaded, samples: Samples, cfg: RunConfig, topk: int = 5
) -> ClassifierModule | None:
    """Top-k of every file; ``module.rows`` and ``module.skipped`` hold the outcome.

    Returns None on the non-zero ranks of a multi-process run (rank 0 reports).
    """
    module, t, _, _ = run("predict", loaded, samples, cfg, topk=topk)
    return module if t.is_global_zero else None


def new_logger(name: str, output: str | None = None) -> TensorBoardLogger:
    """A TensorBoard run of its own: in ``output`` itself, or in a new folder
    lightning_logs/<name>/<date-time-pid> (date, time and process id never collide).
    """
    if output:
        return TensorBoardLogger(output, name="", version="", default_hp_metric=False)
    return TensorBoardLogger(LOGS, name=name, default_hp_metric=False, version=run_name())


def test(
    loaded: Loaded,
    samples: Samples,
    cfg: RunConfig,
    data: str,
    labels: str | None = None,
    output: str | None = None,
    logger: TensorBoardLogger | None = None,
    log_extras: bool = True,
) -> dict[str, Any] | None:
    """Evaluate on ``samples``; write results.json and predictions.csv; return the results
    (``evaluate``'s, without the module).
    """
    found = evaluate(loaded, samples, cfg, data, labels, output, logger, log_extras)
    return None if found is None else found[0]


def evaluate(
    loaded: Loaded,
    samples: Samples,
    cfg: RunConfig,
    data: str,
    labels: str | None = None,
    output: str | None = None,
    logger: TensorBoardLogger | None = None,
    log_extras: bool = True,
) -> tuple[dict[str, Any], ClassifierModule] | None:
    """Evaluate on ``samples``; write results.json and predictions.csv; return the results
    and the module (its ``rows`` at full precision).

    ``samples`` are the images chosen from ``data`` (and its ``labels`` file)
    by ``datamodule.find_samples``: the one place that lists, labels and
    chooses them. The run is logged to ``logger`` (default: a new run in
    ``output``, else under lightning_logs/); ``log_extras`` adds its
    hyperparameters and a grid of labelled samples. Returns None on the
    non-zero ranks of a multi-process run (rank 0 reports).
    """
    env = environment(cfg.precision)  # the machine, and when the run started
    made = logger is None  # the run's own logger: its files are this run's to replace or remove
    earlier = earlier_run(output) if made else []  # --output given again
    if earlier:
        samples.notes.append(earlier_note(output, earlier))
    logger = logger or new_logger(loaded.name, output)
    run_dir = Path(output or logger.log_dir)
    try:
        module, t, seconds, cfg = run("test", loaded, samples, cfg, logger)
        if not t.is_global_zero:
            return None
        metrics = {k: float(v) for k, v in t.callback_metrics.items()}
        results = summarise(loaded, samples, module, metrics, cfg, t, seconds, data, labels)
        # threads as the run had them: a DDP process gets cores / processes (Lightning's)
        env |= {"precision": cfg.precision, "torch_threads": results["threads"]}
        results |= {"started": env["date"], "environment": env}
        results["run_dir"] = str(run_dir)
        write(run_dir, results, module, samples, loaded)
    except BaseException:  # no empty run for TensorBoard to show
        if made and getattr(rank_zero_only, "rank", 0) == 0:  # the process that logs
            discard_failed(run_dir, earlier, made_for_it=not output)
        raise
    replace_earlier(earlier, results)
    if log_extras:
        from harness.engine.tensorboard import log_run

        log_run(logger, results, module, loaded)
    return results, module
