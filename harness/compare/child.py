"""One model's figures in a process of its own: accuracy, latency, throughput, memory, size.

``python -m harness.compare.child SPEC.json`` is the child that ``compare.run_child``
starts per model; it writes ``models/<stem>.json`` (``Spec.result_path``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import torch

from harness.compare.parity import child_answers
from harness.config import LOGS, Spec, for_variant, variant
from harness.data.decode import decoder
from harness.engine.files import write_atomic
from harness.engine.recovery import unusable
from harness.engine.runtimes import example_batch, runtime
from harness.engine.speedups import amp_dtype, cuda_settings, resolve_precision
from harness.errors import EXIT_USAGE, HarnessError, WeightsUnavailable
from harness.labels.score import WORD_KEYS
from harness.measure import bound, conditions
from harness.measure import speed as m
from harness.measure.stats import SUMMARY
from harness.rows import CompareRow


def measure(spec: Spec) -> CompareRow:
    """Accuracy (real weights only), latency, throughput, memory and size of one model,
    in the runtime its name asks for (``MODEL@RUNTIME[:PRECISION]``), with its answers
    kept for parity (``compare.parity``).
    """
    v = variant(spec.model)
    spec = for_variant(spec, v)
    runtime(spec).check()  # not installed, int8, no bf16: one line before anything loads
    threads = conditions.set_threads(spec.threads)
    _import_libraries(spec, v.model)
    baseline = m.current_rss_mib()  # after the imports: what the model itself adds
    device = _device(spec.accelerator)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    row, loaded = _load(spec, v.model)
    spec = replace(
        spec, progress=False, precision=resolve_precision(spec.precision, spec.accelerator)
    )
    cuda_settings(spec.precision)
    samples = _samples(spec, loaded) if spec.data else None
    if spec.strict and samples is not None and samples.skipped:  # before any pass runs
        raise unusable(*samples.skipped[0])
    calibration = _calibration(spec, loaded, samples, row)
    row.update(_first_answer(spec, loaded, device, calibration))
    module = None
    if spec.run == 1 and samples is not None and samples.labelled and not loaded.random:
        logger = _logger(spec)  # test/top1, test/top5; the parent adds the rest at the end
        acc, precision, module = _accuracy(spec, loaded, logger, samples)
        logger.experiment.close()
        row.update(acc)
        spec = replace(spec, precision=precision)  # from here on, as the accuracy run had it
    example = example_batch(loaded.card.input_size).to(device)
    model = runtime(spec, model_name=loaded.name).prepare(loaded.model.to(device), example)
    speed = _speed(spec, model, loaded, samples, device, threads)
    if "skipped" in row:  # the accuracy run listed the files it passed over
        speed.pop("skipped", None)
    row.update(speed)
    row.update(_memory(baseline, device))
    row.update(_setup(spec, model, loaded, device))
    child_answers(spec, loaded, samples, module)  # after the memory: a torch pass, maybe
    if spec.run > 1:
        row["accuracy_note"] = "measured in the first run only"
    elif row["top1"] is None and not row.get("accuracy_note"):
        row["accuracy_note"] = f"n/a ({_why_unlabelled(samples)})"
    return row


def _calibration(spec: Spec, loaded: Any, samples: Any, row: CompareRow) -> Any:
    """An int8 row's calibration photos (``exported.calibration_for``), and their record in
    the row: in every row of a run that set them aside, in an int8 row's otherwise.
    """
    from harness.engine.exported import calibration_for

    folder, n = spec.calibration_data, spec.calibration
    found = calibration_for(spec, loaded, samples, folder, n, spec.seed)
    record = found.record if found else samples and samples.chosen.get("calibration")
    if record:
        row["calibration"] = record
    return found


def _first_answer(
    spec: Spec, loaded: Any, device: torch.device, calibration: Any = None
) -> CompareRow:
    """The runtime, and the seconds from the built model to its first answer: preparing
    it (an exported runtime: its export or cached file, and compiling it; int8: quantizing
    it on ``calibration``) and one image.

    An exported runtime's session is kept for the runs after (``Exported.prepare``) and
    says how it was made (``exported.Setup``): those fields join the row.
    """
    rt = runtime(spec, model_name=loaded.name, calibration=calibration)
    example = example_batch(loaded.card.input_size).to(device)
    start = time.perf_counter()
    net = rt.prepare(loaded.model.to(device), example)
    with torch.inference_mode(), m.autocast(device, amp_dtype(spec.precision)):
        net(example)
    found: CompareRow = {
        "runtime": rt.name,
        "first_answer_seconds": round(time.perf_counter() - start, 3),
    }
    setup = getattr(net, "setup", None)
    if setup is not None:  # its own first answer, made while it was prepared
        record = {k: v for k, v in setup.record().items() if k not in ("runtime", "precision")}
        found |= cast(CompareRow, record)  # exported.Setup's fields, as CompareRow declares them
        found["size_mib"] = setup.model_file_mib  # the file the runtime loads
    return found


def _why_unlabelled(samples: Any) -> str:
    """No data, no labels, or (class folders of other models, say) folders naming no class."""
    from harness.data.datamodule import UNNAMED_FOLDERS

    if samples is None:
        return "no data"
    return next((n for n in samples.notes if n.startswith(UNNAMED_FOLDERS)), "no labels")


def _import_libraries(spec: Spec, model: str) -> None:
    """Lightning (the accuracy run, TensorBoard), timm for a timm model and an exported
    runtime's package, loaded now.

    So that the baseline memory holds the libraries and ``memory_rise_mib`` is what
    the model and its activations add, whichever library the model comes from.
    """
    import lightning.pytorch  # noqa: F401

    from harness.engine.exported import Exported, need
    from harness.zoo import registry

    registry.library(model).import_library()
    rt = runtime(spec)
    if isinstance(rt, Exported):
        need(rt.package, rt.name)


def _speed(
    spec: Spec,
    model: Any,
    loaded: Any,
    samples: Any,
    device: torch.device,
    threads: int,
) -> CompareRow:
    """Batch-1 latency, model throughput, end-to-end throughput (with data) and the load."""
    amp = amp_dtype(spec.precision)
    size = loaded.card.input_size
    with conditions.Watch() as watch:  # the load before, during and after the model-only timings
        lat, thr = _model_timings(spec, model, size, device, amp)
    row = cast(
        CompareRow, {f"latency_{k}": round(v, 3) for k, v in lat.items() if k.startswith("ms_")}
    )
    row["latency_runs"] = lat["runs"]
    row["throughput_ips"] = round(thr["images_per_s"], 3)
    row |= watch.conditions(threads, conditions.spread(lat["samples_ms"]))
    if samples is not None:
        row.update(_end_to_end(spec, model, loaded, samples, device))
        row.update(bound.of_row(row))
    return row


def _model_timings(
    spec: Spec, model: Any, size: int, device: torch.device, amp: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Batch-1 latency and batch throughput of the model alone, on random input."""
    lat = m.latency(
        model,
        torch.randn(1, 3, size, size),
        min_seconds=spec.latency_seconds,
        device=device,
        amp_dtype=amp,
    )
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
    return lat, thr


def _end_to_end(
    spec: Spec, model: Any, loaded: Any, samples: Any, device: torch.device
) -> CompareRow:
    """Images per second from files to predictions (an exported runtime's session for
    sharing the cores with the loader's workers: ``Session.for_sharing``), with the
    decoding used, the loader's workers, and one worker's own decode rate on the first
    ``bound.DECODE_PHOTOS`` of the pass's photos (read again from the page cache, as the
    pass had them).

    The files it passed over are the row's ``skipped`` where no accuracy run listed them;
    with ``--strict`` the first of them fails the row instead.
    """
    tf = loaded.transforms()
    dec = decoder(spec, tf)
    sharing = getattr(model, "for_sharing", None) if spec.workers() else None
    runner = sharing() if sharing else model  # an exported runtime's, for sharing the cores
    e2e = m.throughput_end_to_end(
        runner,
        samples.files,
        tf,
        spec.batch_size,
        spec.workers(),
        device=device,
        amp_dtype=amp_dtype(spec.precision),
        decode=dec,
        channels_last=spec.channels_last,
    )
    if spec.strict and e2e["skipped_files"]:  # those passed over before decoding: measure's
        raise unusable(*e2e["skipped_files"][0])
    passed = [*samples.skipped, *e2e["skipped_files"]]  # before decoding, and at it
    rate = bound.decode_rate(samples.files, tf, dec, bound.DECODE_PHOTOS)
    row: CompareRow = {
        "throughput_e2e_ips": round(e2e["images_per_s"], 3),
        "throughput_e2e_steady_ips": _rounded(e2e["steady_images_per_s"]),
        "decode": dec.mode,
        "loader_workers": e2e["num_workers"],
        "decode_ips": round(rate["images_per_s"], 3),
        "skipped": [{"file": str(path), "reason": why} for path, why in passed],
    }
    if sharing and model.sharing_options:
        row["e2e_session_options"] = model.sharing_options
    return row


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _memory(baseline: float, device: torch.device) -> CompareRow:
    """Peak resident memory, what the model added to it, and the GPU's peaks on CUDA."""
    peak = m.peak_rss_mib()
    row: CompareRow = {
        "peak_memory_mib": round(peak, 1),
        "memory_rise_mib": round(peak - baseline, 1),
        "baseline_memory_mib": round(baseline, 1),
    }
    if device.type == "cuda":
        row["gpu_max_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / m.MIB, 1)
        row["gpu_max_reserved_mib"] = round(torch.cuda.max_memory_reserved(device) / m.MIB, 1)
    return row


def _setup(spec: Spec, model: Any, loaded: Any, device: torch.device) -> CompareRow:
    """Size (parameters, FLOPs) and how the model was run: device, precision, classes."""
    size = loaded.card.input_size
    return {
        "params": m.count_params(loaded.model),
        "flops": m.flops_per_image(loaded.model.cpu(), size),
        "image_size": size,
        "device": str(device),
        "precision": spec.precision,
        "batch_size": spec.batch_size,
        "dataset": loaded.card.dataset,
        "classes": len(loaded.categories),
        "label_space": loaded.card.label_space,
        "preprocessing": loaded.card.preprocessing,
        "error": None,
    }


def _device(accelerator: str) -> Any:
    from harness.engine.speedups import check_accelerator

    return torch.device(check_accelerator(accelerator))


def _load(spec: Spec, model: str) -> tuple[CompareRow, Any]:
    """Real weights where they can be had; random ones (accuracy n/a) where not.

    ``model`` is ``spec.model`` less its runtime; ``NAME=FILE`` models load FILE, with
    ``spec.classes`` when given.
    """
    from harness.compare.published import row_figures
    from harness.zoo import classlist, registry, weights

    name, own, file = model.partition("=")
    default = registry.card(name)
    note = None
    if own:
        classes = classlist.read(spec.classes) if spec.classes else None
        loaded = weights.load(name, file, None, classes, spec.weights_key)
    else:
        try:
            loaded = weights.load(name, "DEFAULT", spec.weights_dir)
        except WeightsUnavailable:
            loaded, note = weights.load(name, "none"), "n/a (weights unavailable offline)"
    source = Path(loaded.source)
    custom = source.is_file()
    row: CompareRow = {
        "model": spec.model,
        "architecture": name,
        "top1": None,
        "top5": None,
        **row_figures(default, loaded.card, custom),
        "weights": loaded.source,
        "random_weights": loaded.random,
        "accuracy_note": note,
        "size_mib": round(m.weight_file_mib(source), 3) if custom else default.file_mb,
    }
    return row, loaded


def _samples(spec: Spec, loaded: Any) -> Any:
    from harness.data.datamodule import find_samples

    assert spec.data is not None
    return find_samples(
        spec.data,
        loaded.categories,
        loaded.card.wnids,
        spec.labels,
        spec.limit,
        spec.sample,
        spec.seed,
        spec.ignore,
        spec.lenient,
        spec.label_map,
        spec.calibration if spec.set_aside else None,
        outputs=(spec.run_dir, LOGS),  # the comparison's own folder, if inside the data
    )


def _logger(spec: Spec) -> Any:
    from lightning.pytorch.loggers import TensorBoardLogger

    where = spec.tensorboard_dir()
    return TensorBoardLogger(where.parent, name=where.name, version="", default_hp_metric=False)


def _accuracy(spec: Spec, loaded: Any, logger: Any, samples: Any) -> tuple[CompareRow, str, Any]:
    """The accuracy fields of the row, the precision the run resolved, and its module.

    On the images the child found already (``samples``): the folder is not listed twice.
    """
    from harness.engine import runs

    found = runs.evaluate(
        loaded,
        samples,
        spec,
        str(spec.data),
        spec.labels,
        str(spec.test_dir()),
        logger=logger,
        log_extras=False,
    )
    assert found is not None  # one process
    res, module = found
    keys = ("top1", "top5", "n", "labelled", "correct1", "correct5", "accuracy_note", "skipped")
    words = [k for k in WORD_KEYS if k in res]  # where labels are words
    by_key: Mapping[str, Any] = res  # read by the keys above
    acc = {k: by_key[k] for k in (*keys, *SUMMARY, *words)}
    return cast(CompareRow, acc), res["precision"], module  # keys both rows declare alike


def main(spec_file: str) -> int:
    """Measure the model of ``spec_file``, write its row; a HarnessError: one line, status 2."""
    spec = Spec.from_json(Path(spec_file).read_text())
    try:
        row = measure(spec)
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    write_atomic(spec.result_path(), json.dumps(row, indent=2))
    return 0


def run_main() -> None:
    """The child process's entry: unbuffered output, the row written, a quick exit."""
    from harness.engine.shutdown import exit_now

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    exit_now(main(sys.argv[1]))


if __name__ == "__main__":
    run_main()
