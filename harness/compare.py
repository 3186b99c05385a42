"""Compare architectures: accuracy, speed, memory and size, one subprocess per model.

A fresh process per model keeps memory figures clean (the OS's peak resident
size only ever grows) and turns a crash or an out-of-memory kill into one
error row instead of the end of the run. ``python -m harness.compare SPEC``
is the child; ``compare()`` the parent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness import HarnessError
from harness.config import Spec
from harness.report import write_atomic
from harness.stats import SUMMARY

NOT_RUN = "not run"


def entries(models: list[str]) -> list[str]:
    """Model names for ``--models``: names, shell patterns and NAME=FILE, once each.

    NAME=FILE is the architecture NAME with the weights in FILE (one's own).
    """
    from harness import registry

    found: list[str] = []
    for m in models:
        name, own, file = m.partition("=")
        if own and not Path(file).is_file():
            raise HarnessError(f"weights file {file!r} (in {m}) does not exist")
        hits = [m] if own and registry.check(name) else registry.match([m])
        found += [h for h in hits if h not in found]
    return found


def run_child(spec: Spec, timeout: float | None = None) -> dict[str, Any]:
    """Measure one model in a fresh interpreter; any failure becomes an error row."""
    models = Path(spec.run_dir) / "models"
    models.mkdir(parents=True, exist_ok=True)
    spec_file = write_atomic(models / f"{spec.stem()}.spec.json", spec.to_json())
    log = models / f"{spec.stem()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)  # timm/ARCH names make a subfolder
    out = spec.result_path()
    out.unlink(missing_ok=True)
    with open(log, "w") as f:
        # -P: a file in the working folder named like a stdlib module (grp.py, say)
        # must not shadow it in the child
        safe = ["-P"] if sys.version_info >= (3, 11) else []
        cmd = [sys.executable, *safe, "-m", "harness.compare", str(spec_file)]
        try:
            code = subprocess.run(
                cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            return {"model": spec.model, "error": f"timed out after {timeout:.0f} s"}
    if code == 0 and out.is_file():
        return dict(json.loads(out.read_text()))
    if code < 0:
        why = f"killed by signal {-code}" + (" (out of memory?)" if code == -9 else "")
    else:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {code}"
    return {"model": spec.model, "error": why, "log": str(log)}


def _measured(spec: Spec, tag: str, timeout: float | None) -> dict[str, Any]:
    """One child's row, with progress on stderr."""
    print(f"{tag} {spec.model} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    row = run_child(spec, timeout)
    status = row.get("error") or ("done, noisy" if row.get("noisy") else "done")
    seconds = time.perf_counter() - start
    print(f"{tag} {spec.model}: {status} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    return row


def compare(
    models: list[str], spec: Spec, timeout: float | None = None, repeat: int = 1
) -> list[dict[str, Any]]:
    """Measure each model in turn; results files are rewritten after every model.

    With ``repeat`` K > 1 the models are measured round-robin K times (A B C A B
    C ...), so that a burst of load hits every model rather than one, and each
    row holds the median of its runs (``timing.combine``). A model that fails
    its first run is not run again. An interruption leaves the finished models'
    rows and marks the rest not run.
    """
    from harness.report import environment, write_compare
    from harness.timing import combine

    env = environment(spec.precision)  # the machine, and when the comparison started
    env["torch_threads"] = spec.threads or env["torch_threads"]  # the children's
    rows = [{"model": m, "error": NOT_RUN} for m in models]
    runs: list[list[dict[str, Any]]] = [[] for _ in models]
    try:
        for run in range(1, repeat + 1):
            for i, m in enumerate(models):
                if run > 1 and runs[i][0].get("error"):
                    continue
                tag = f"[{i + 1}/{len(models)}]" + (f" run {run}/{repeat}" if repeat > 1 else "")
                runs[i].append(_measured(replace(spec, model=m, run=run), tag, timeout))
                rows[i] = combine(runs[i])
                write_compare(Path(spec.run_dir), rows, spec, env, final=False)
    except KeyboardInterrupt:
        for r in rows:
            if r.get("error") == NOT_RUN:
                r["error"] = f"{NOT_RUN} (interrupted)"
        write_compare(Path(spec.run_dir), rows, spec, env, final=True)
        raise
    write_compare(Path(spec.run_dir), rows, spec, env, final=True)
    return rows


# ---- the child: everything below runs inside the per-model subprocess ----


def measure(spec: Spec) -> dict[str, Any]:
    """Accuracy (real weights only), latency, throughput, memory and size of one model."""
    import torch

    from harness import measure as m
    from harness import timing
    from harness.fast import amp_dtype, cuda_settings, prepare, resolve_precision

    threads = timing.set_threads(spec.threads)
    baseline = m.current_rss_mib()  # after the imports: what the model itself adds
    device = _device(spec.accelerator)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    row, loaded = _load(spec)
    cfg = replace(spec, progress=False)  # a Spec is a RunConfig
    samples = _samples(spec, loaded) if spec.data else None
    logger = _logger(spec)
    if spec.run == 1 and samples is not None and samples.labelled and not loaded.random:
        acc, precision = _accuracy(spec, loaded, cfg, logger)  # resolved there, once
        row.update(acc)
    else:
        precision = resolve_precision(spec.precision, spec.accelerator)
        cuda_settings(precision)
    cfg = replace(cfg, precision=precision)
    model = prepare(loaded.model.to(device), spec.channels_last, spec.compile)
    amp = amp_dtype(precision)
    size = loaded.card.input_size
    before = timing.load_now()
    lat = m.latency(
        model,
        torch.randn(1, 3, size, size),
        min_seconds=spec.latency_seconds,
        device=device,
        amp_dtype=amp,
    )
    row.update({f"latency_{k}": round(v, 3) for k, v in lat.items() if k.startswith("ms_")})
    row["latency_runs"] = lat["runs"]
    thr = m.throughput_model(
        model,
        spec.batch_size,
        size,
        warmup=1,
        runs=2,
        min_seconds=1.0,
        device=device,
        amp_dtype=amp,
    )
    row["throughput_ips"] = round(thr["images_per_s"], 3)
    if samples is not None:
        tf = loaded.transforms()
        dec = cfg.decoder(tf)
        e2e = m.throughput_end_to_end(
            model,
            samples.files,
            tf,
            spec.batch_size,
            cfg.workers(),
            device=device,
            amp_dtype=amp,
            decode=dec,
        )
        row.update(throughput_e2e_ips=round(e2e["images_per_s"], 3), decode=dec.mode)
    row.update(
        timing.conditions(threads, before, timing.load_now(), timing.spread(lat["samples_ms"]))
    )
    peak = m.peak_rss_mib()
    row.update(
        peak_memory_mib=round(peak, 1),
        memory_rise_mib=round(peak - baseline, 1),
        baseline_memory_mib=round(baseline, 1),
    )
    if device.type == "cuda":
        row["gpu_max_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / m.MIB, 1)
        row["gpu_max_reserved_mib"] = round(torch.cuda.max_memory_reserved(device) / m.MIB, 1)
    row.update(
        params=m.count_params(model),
        flops=m.flops_per_image(loaded.model.cpu(), size),
        image_size=size,
        device=str(device),
        precision=cfg.precision,
        batch_size=spec.batch_size,
        dataset=loaded.card.dataset,
        classes=len(loaded.categories),
        label_space=loaded.card.label_space,
        preprocessing=loaded.card.preprocessing,
        error=None,
    )
    if spec.run > 1:
        row["accuracy_note"] = "measured in the first run only"
    elif row["top1"] is None and not row.get("accuracy_note"):
        row["accuracy_note"] = "n/a (no labels)" if samples is not None else "n/a (no data)"
    _log_tensorboard(logger, row, spec.run)
    return row


def _device(accelerator: str) -> Any:
    import torch

    from harness.fast import check_accelerator

    return torch.device(check_accelerator(accelerator))


def _load(spec: Spec) -> tuple[dict[str, Any], Any]:
    """Real weights where they can be had; random ones (accuracy n/a) where not.

    ``NAME=FILE`` models load FILE, with ``spec.classes`` when given.
    """
    from harness import classlist, registry, weights
    from harness import measure as m

    name, own, file = spec.model.partition("=")
    default = registry.card(name)
    note = None
    if own:
        classes = classlist.read(spec.classes) if spec.classes else None
        loaded = weights.load(name, file, None, classes, spec.weights_key)
    else:
        try:
            loaded = weights.load(name, "DEFAULT", spec.weights_dir)
        except weights.WeightsUnavailable:
            loaded, note = weights.load(name, "none"), "n/a (weights unavailable offline)"
    published = loaded.card.published_top1 is not None  # None for classes of one's own
    source = Path(loaded.source)
    custom = source.is_file()
    row: dict[str, Any] = {
        "model": spec.model,
        "architecture": name,
        "top1": None,
        "top5": None,
        "published_top1": loaded.card.published_top1,
        "published_top5": loaded.card.published_top5,
        "published_weights": f"{default.library} {default.weights}" if published else None,
        "weights": loaded.source,
        "random_weights": loaded.random,
        "accuracy_note": note,
        "size_mib": round(m.weight_file_mib(source), 3) if custom else default.file_mb,
    }
    if custom and published and default.library == "torchvision":  # for its own weights
        row["published_note"] = f"published figures are for torchvision's {default.weights}"
    return row, loaded


def _samples(spec: Spec, loaded: Any) -> Any:
    from harness.data import find_samples

    assert spec.data is not None
    return find_samples(
        spec.data,
        loaded.categories,
        loaded.card.wnids,
        spec.labels,
        spec.limit,
        spec.sample,
        spec.seed,
    )


def _logger(spec: Spec) -> Any:
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(spec.run_dir, name=spec.slug(), version="", default_hp_metric=False)


def _accuracy(spec: Spec, loaded: Any, cfg: Any, logger: Any) -> tuple[dict[str, Any], str]:
    """The accuracy fields of the row, and the precision the run resolved."""
    from harness import evaluate

    out = Path(spec.run_dir) / "models" / spec.slug()
    res = evaluate.test(
        loaded,
        str(spec.data),
        cfg,
        spec.labels,
        spec.limit,
        str(out),
        logger=logger,
        log_extras=False,
        sample=spec.sample,
        seed=spec.seed,
    )
    assert res is not None
    keys = ("top1", "top5", "n", "labelled", "correct1", "correct5", "accuracy_note", "skipped")
    return {k: res[k] for k in (*keys, *SUMMARY)}, res["precision"]


TB_METRICS = {
    "latency_ms_p50": "compare/latency_ms_p50",
    "latency_ms_p90": "compare/latency_ms_p90",
    "throughput_ips": "compare/throughput_ips",
    "throughput_e2e_ips": "compare/throughput_e2e_ips",
    "peak_memory_mib": "compare/peak_memory_mib",
    "params": "compare/params",
    "flops": "compare/flops",
}


def _log_tensorboard(logger: Any, row: dict[str, Any], run: int = 1) -> None:
    """One TensorBoard run per model: measurements (step: the run, from 0), hyperparameters."""
    from harness.tensorboard import log_hparams

    values = {tag: row[key] for key, tag in TB_METRICS.items() if row.get(key) is not None}
    if run == 1:  # the scalars at step 0 and the HPARAMS entry naming them, with accuracy
        values |= {f"test/{k}": row[k] for k in ("top1", "top5") if row.get(k) is not None}
        params = {k: row.get(k) for k in ("model", "weights", "precision", "device", "batch_size")}
        log_hparams(logger, params, values)
    else:
        logger.log_metrics(values, step=run - 1)
    logger.experiment.close()


def child_main(spec_file: str) -> int:
    spec = Spec.from_json(Path(spec_file).read_text())
    try:
        row = measure(spec)
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 2
    write_atomic(spec.result_path(), json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    from harness.shutdown import exit_now

    exit_now(child_main(sys.argv[1]))
