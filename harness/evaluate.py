"""Running a classifier over images with Lightning: ``predict`` and ``test``."""

from __future__ import annotations

import gc
import logging
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from harness import HarnessError, stats
from harness.config import LOGS, RunConfig, run_name
from harness.data import ImageFolderDataModule, Samples, UnusableImage, find_samples
from harness.fast import check_accelerator, cuda_settings, resolve_precision
from harness.module import ClassifierModule
from harness.nodes import failure, num_nodes, per_node, strategy
from harness.progress import progress_bar
from harness.report import environment, to_csv, to_json, write_atomic
from harness.timing import set_threads
from harness.weights import RANDOM_NOTE, Loaded


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

    ``cfg.precision`` is taken as resolved (``fast.resolve_precision``).
    """
    devices = per_node(cfg.devices, check_accelerator(cfg.accelerator))
    nodes = num_nodes(cfg.num_nodes, devices)
    quiet_lightning()
    cuda_settings(cfg.precision)
    bar = progress_bar(cfg.progress)
    return L.Trainer(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=nodes,
        strategy=strategy(cfg.strategy, devices * nodes, cfg.dist_timeout),
        precision=cfg.precision,  # type: ignore[arg-type]
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
    and the config in effect (precision resolved, batch size as last tried; ``cfg`` is not changed).

    Out of GPU memory, it halves the batch size and tries again (and says so);
    an interruption becomes KeyboardInterrupt; under ``cfg.strict`` an unusable
    image ends the run with its name.
    """
    if cfg.strict and samples.skipped:
        raise unusable(*samples.skipped[0])
    set_threads(cfg.threads)
    cfg = replace(cfg, precision=resolve_precision(cfg.precision, cfg.accelerator))
    transform = loaded.transforms()
    decoder = cfg.decoder(transform)
    if cfg.decode != decoder.mode:  # fast asked, but what size the transforms need is unknown
        samples.notes.append(
            f"--decode fast: the size {type(transform).__name__} needs is unknown; decoded exactly"
        )
    while True:
        dm = ImageFolderDataModule(samples, transform, cfg.batch_size, cfg.workers(), decoder)
        module = cfg.module(loaded, topk)
        t = trainer(cfg, logger)
        start = time.perf_counter()
        try:
            if stage == "test":
                t.test(module, datamodule=dm, verbose=False)
            else:
                t.predict(module, datamodule=dm, return_predictions=False)
            return module, t, time.perf_counter() - start, cfg
        except torch.OutOfMemoryError:
            if cfg.batch_size == 1:
                raise HarnessError("out of memory even at batch size 1") from None
            cfg = replace(cfg, batch_size=cfg.batch_size // 2)
            print(
                f"harness: warning: out of memory; trying again with --batch-size {cfg.batch_size}",
                file=sys.stderr,
            )
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except UnusableImage as e:
            raise unusable(samples.files[e.index], e.reason) from None
        except SystemExit:  # Lightning exits on Ctrl+C after shutting down cleanly
            if t.interrupted:
                raise KeyboardInterrupt from None
            raise
        except Exception as e:  # a node that died or hung: one line, not a library's traceback
            lost = failure(e, cfg.dist_timeout) if t.world_size > 1 else None
            if lost is None:
                raise
            raise lost from e


def unusable(path: Path, reason: str) -> HarnessError:
    return HarnessError(f"unusable file {str(path)!r}: {reason} (--strict)")


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
    data: str,
    cfg: RunConfig,
    labels: str | None = None,
    limit: int | None = None,
    output: str | None = None,
    logger: TensorBoardLogger | None = None,
    log_extras: bool = True,
    *,
    sample: int | None = None,
    seed: int = 0,
    ignore: tuple[str, ...] = (),
) -> dict[str, Any] | None:
    """Evaluate on a folder; write results.json and predictions.csv; return the results.

    The run is logged to ``logger`` (default: a new run in ``output``, else under
    lightning_logs/); ``log_extras`` adds its hyperparameters and a grid of
    labelled samples. ``limit``, ``sample``, ``seed`` and ``ignore`` choose the
    images (``data.find_samples``). Returns None on the non-zero ranks of a
    multi-process run (rank 0 reports).
    """
    env = environment(cfg.precision)  # the machine, and when the run started
    samples = find_samples(
        data, loaded.categories, loaded.card.wnids, labels, limit, sample, seed, ignore
    )
    logger = logger or new_logger(loaded.name, output)
    module, t, seconds, cfg = run("test", loaded, samples, cfg, logger)
    if not t.is_global_zero:
        return None
    metrics = {k: float(v) for k, v in t.callback_metrics.items()}
    run_dir = Path(output or logger.log_dir)
    results = summarise(loaded, samples, module, metrics, cfg, t, seconds, data, labels)
    results |= {"started": env["date"], "environment": {**env, "precision": cfg.precision}}
    results["run_dir"] = str(run_dir)
    write_atomic(run_dir / "predictions.csv", to_csv(prediction_rows(module, samples)))
    if results["labelled"]:
        labelled = [r for r in module.rows if r[1] >= 0]
        per_class = stats.per_class(labelled, module.categories, loaded.card.wnids)
        write_atomic(run_dir / "per_class.csv", to_csv(per_class))
    write_atomic(run_dir / "results.json", to_json(results))
    if log_extras:
        from harness.tensorboard import log_run

        log_run(logger, results, module, loaded)
    return results


def summarise(
    loaded: Loaded,
    samples: Samples,
    module: ClassifierModule,
    metrics: dict[str, float],
    cfg: RunConfig,
    t: L.Trainer,
    seconds: float,
    data: str,
    labels: str | None,
) -> dict[str, Any]:
    """The results.json of a ``test`` run."""
    n = len(module.rows)
    labelled = [r for r in module.rows if r[1] >= 0]
    correct1 = sum(r[1] in r[2][:1] for r in labelled)
    correct5 = sum(r[1] in r[2][:5] for r in labelled)
    note = None
    skipped = skipped_files(samples, module)
    if loaded.random:
        note = RANDOM_NOTE
    elif not labelled:
        note = "no labelled images"
    return {
        "model": loaded.name,
        "weights": loaded.source,
        "random_weights": loaded.random,
        "preprocessing": loaded.card.preprocessing,
        "classes": loaded.classes_file,  # --classes; None: the weights' own
        "data": str(data),
        "labels": None if labels is None else str(labels),
        "layout": samples.layout,
        **samples.chosen,
        "n": n,
        "labelled": len(labelled),
        "correct1": correct1,
        "correct5": correct5,
        "top1": None if note else check_metric(metrics, "test/top1", correct1, len(labelled)),
        "top5": None if note else check_metric(metrics, "test/top5", correct5, len(labelled)),
        **(stats.summary(labelled) if not note else dict.fromkeys(stats.SUMMARY)),
        "accuracy_note": note
        or f"micro average over the {len(labelled)} labelled images evaluated"
        + (f" ({len(skipped)} unusable files skipped, not counted)" if skipped else ""),
        "skipped": skipped,
        "notes": samples.notes,
        "precision": cfg.precision,
        "accelerator": t.accelerator.__class__.__name__.replace("Accelerator", "").lower(),
        "devices": t.world_size,
        "world_size": t.world_size,
        "num_nodes": t.num_nodes,
        "devices_per_node": t.num_devices,
        "batch_size": cfg.batch_size,
        "threads": torch.get_num_threads(),
        **decoding(cfg, loaded),
        "seconds": round(seconds, 4),
        "images_per_second": round(n / seconds, 3) if seconds > 0 else None,
    }


def decoding(cfg: RunConfig, loaded: Loaded) -> dict[str, Any]:
    """How the files were decoded, for results: ``decode``, ``draft_side``, ``max_pixels``."""
    dec = cfg.decoder(loaded.transforms())
    return {"decode": dec.mode, "draft_side": dec.draft_side, "max_pixels": dec.max_pixels}


def skipped_files(samples: Samples, module: ClassifierModule) -> list[dict[str, str]]:
    """Every file passed over (before or at decoding) with its reason, by name."""
    found = samples.skipped + [(samples.files[i], why) for i, why in module.skipped]
    return [{"file": str(f), "reason": why} for f, why in sorted(found)]


def check_metric(metrics: dict[str, float], key: str, correct: int, n: int) -> float:
    """The exact fraction ``correct / n``, once torchmetrics' logged value agrees with it.

    The two are counted separately (metric states vs. per-image rows gathered
    from all processes); a disagreement means images were lost or doubled.
    """
    exact = correct / n
    if key not in metrics or abs(metrics[key] - exact) > 1e-6:
        raise RuntimeError(f"{key}: torchmetrics says {metrics.get(key)}, rows say {correct}/{n}")
    return exact


def prediction_rows(module: ClassifierModule, samples: Samples) -> list[dict[str, Any]]:
    """One predictions.csv row per evaluated image."""
    cats = module.categories
    rows = []
    for i, y, idx, prob in module.rows:
        row: dict[str, Any] = {
            "file": str(samples.files[i].relative_to(samples.root))
            if samples.files[i].is_relative_to(samples.root)
            else str(samples.files[i]),
            "label": y if y >= 0 else "",
            "label_name": cats[y] if y >= 0 else "",
        }
        for k, (c, p) in enumerate(zip(idx, prob, strict=True), start=1):
            row |= {f"pred{k}_index": c, f"pred{k}_name": cats[c], f"pred{k}_prob": f"{p:.6f}"}
        row["correct1"] = int(y in idx[:1]) if y >= 0 else ""
        row["correct5"] = int(y in idx[:5]) if y >= 0 else ""
        rows.append(row)
    return rows
