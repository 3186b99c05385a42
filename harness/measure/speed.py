"""Speed, memory and size of a classifier: plain functions, no Lightning.

Times are wall-clock (``time.perf_counter``), read only after ``torch.cuda.synchronize``
on CUDA, since kernels run asynchronously there. Memory peaks come from the OS
(``ru_maxrss``), a high-water mark for the whole life of the process: a fair
per-model figure needs one fresh process per model, which is how ``compare`` runs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

MIB = 2**20
MAX_RUNS = 200  # cap on runs added to reach min_seconds (requested runs always happen)
Device = torch.device | str | None
Model = Callable[[torch.Tensor], Any]  # an nn.Module, or what a runtime prepared of one


def model_device(model: Model, device: Device = None) -> torch.device:
    """``device`` if given, else where the model's first parameter (or buffer) lives.

    A runner that is no ``nn.Module`` (an exported model, say) runs on the CPU
    unless ``device`` says otherwise.
    """
    if device is not None:
        return torch.device(device)
    if not isinstance(model, nn.Module):
        return torch.device("cpu")
    first = next(chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``; nothing for full precision (None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


def timed_runs(
    step: Callable[[], Any],
    device: torch.device,
    warmup: int,
    min_runs: int,
    min_seconds: float,
    max_runs: int = MAX_RUNS,
) -> list[float]:
    """Seconds taken by each call of ``step``, after ``warmup`` untimed calls.

    Runs until both ``min_runs`` calls and ``min_seconds`` of timing are done, but
    stops adding calls for ``min_seconds`` once ``max_runs`` is reached.
    """
    for _ in range(warmup):
        step()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or (
        len(times) < max_runs and time.perf_counter() - start < min_seconds
    ):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def latency(
    model: Model,
    example: torch.Tensor,
    warmup: int = 5,
    runs: int | None = None,
    min_seconds: float = 2.0,
    device: Device = None,
    amp_dtype: torch.dtype | None = None,
    max_runs: int = MAX_RUNS,
) -> dict[str, Any]:
    """Per-image latency at batch size 1, in ``inference_mode``.

    Percentiles use ``numpy.percentile`` (linear interpolation), the same values as
    ``statistics.quantiles(..., method="inclusive")``.

    Args:
        model: the model, already on ``device`` and in eval mode.
        example: one image, ``(C, H, W)`` or ``(1, C, H, W)``; moved to ``device``.
        warmup: untimed calls first (lazy initialisation, allocator, autotuning).
        runs: at least this many timed calls (default 10).
        min_seconds: keep timing until this much time has passed (up to ``max_runs``).
        device: where to run; defaults to the model's device.
        amp_dtype: run under ``torch.autocast`` with this dtype (e.g. ``torch.bfloat16``).

    Returns:
        ``runs``, ``ms_p50``, ``ms_p90``, ``ms_p99``, ``ms_mean``, ``ms_min`` and the
        raw ``samples_ms``.
    """
    dev = model_device(model, device)
    x = (example if example.dim() == 4 else example.unsqueeze(0)).to(dev)
    if x.shape[0] != 1:
        raise ValueError(f"latency needs one image, got a batch of {x.shape[0]}")
    with torch.inference_mode(), autocast(dev, amp_dtype):
        secs = timed_runs(lambda: model(x), dev, warmup, runs or 10, min_seconds, max_runs)
    ms = [s * 1e3 for s in secs]
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    return {
        "runs": len(ms),
        "ms_p50": p50,
        "ms_p90": p90,
        "ms_p99": p99,
        "ms_mean": statistics.fmean(ms),
        "ms_min": min(ms),
        "samples_ms": ms,
    }


def throughput_model(
    model: Model,
    batch_size: int,
    image_size: int | Sequence[int],
    warmup: int = 3,
    runs: int | None = None,
    min_seconds: float = 2.0,
    device: Device = None,
    amp_dtype: torch.dtype | None = None,
    max_runs: int = MAX_RUNS,
) -> dict[str, Any]:
    """Images per second through the model alone, on a random batch.

    ``image_size`` is the weights' crop size (``Card.input_size``), an int or
    ``(H, W)``. At least ``runs`` (default 5) timed batches and ``min_seconds``.
    Returns ``batch_size``, ``runs``, ``images``, ``seconds``, ``images_per_s``.
    """
    dev = model_device(model, device)
    h, w = _hw(image_size)
    x = torch.randn(batch_size, 3, h, w, device=dev)
    with torch.inference_mode(), autocast(dev, amp_dtype):
        secs = timed_runs(lambda: model(x), dev, warmup, runs or 5, min_seconds, max_runs)
    images, total = batch_size * len(secs), sum(secs)
    return {
        "batch_size": batch_size,
        "runs": len(secs),
        "images": images,
        "seconds": total,
        "images_per_s": images / total,
    }


def throughput_end_to_end(
    model: Model,
    files: Sequence[Path],
    transform: Callable,
    batch_size: int = 32,
    num_workers: int = 0,
    device: Device = None,
    amp_dtype: torch.dtype | None = None,
    warmup: int = 1,
    decode: Callable[[Path], Any] | None = None,
    channels_last: bool = True,
) -> dict[str, Any]:
    """Images per second for read + ``decode`` + ``transform`` + model over ``files``.

    The transform is split as ``harness test`` splits it (``harness.data.transforms``),
    and the batch given to the model in channels-last or, if not ``channels_last``, NCHW.

    The clock starts before the loader's iterator is made (so worker start-up
    counts, as it would for a user) and stops after the last output is ready (the
    workers are stopped after it).
    ``warmup`` untimed model calls on a full batch of the first image come before
    it (a GPU autotunes for each new shape: the timed batches must not pay for it).
    ``decode`` defaults to ``harness.data.images.load_rgb`` (full size).
    Returns ``images`` (decoded and run), ``skipped`` (unreadable) and ``skipped_files``
    (each ``(path, reason)``), ``seconds``, ``images_per_s``, ``batch_size``, ``num_workers``,
    and the pass's steady rate, ``steady_images_per_s``: the images of the batches from
    the first after every worker has delivered one (the ``max(num_workers, 1)``-th on)
    over the time from its arrival to the end. Start-up and filling the loader's pipeline
    aside, it is what the cores' bound (``harness.measure.bound``) bounds; None when the
    pass has no such batch.
    """
    # harness.data.datamodule brings lightning (large, slow to import): only load it here
    from harness.data.datamodule import ImageFolderDataModule, Samples
    from harness.data.images import load_rgb

    dev = model_device(model, device)
    dm = ImageFolderDataModule(  # the loading of ``harness test``, batches as it has them
        Samples.unlabelled(files), transform, batch_size, num_workers, decode or load_rgb,
        channels_last, pin_memory=dev.type == "cuda",
    )  # fmt: skip
    dataset = dm.dataset
    loader = dm.test_dataloader()
    images, skipped = 0, []
    with torch.inference_mode(), autocast(dev, amp_dtype):
        first = dataset[0][0] if len(dataset) else None
        if first is not None:  # an unreadable first file only costs the warm-up
            full = first.expand(min(batch_size, len(dataset)), *first.shape).contiguous()
            for _ in range(warmup):
                model(dm.on_device(full, dev))
        _sync(dev)
        start = time.perf_counter()
        filled = max(num_workers, 1)  # the batch at which every worker has delivered one
        steady_start, steady_from = None, 0  # its arrival, and the images before it
        batches = iter(loader)
        for index in range(len(loader)):  # not to the end: that shuts the workers down
            batch = next(batches)
            if index == filled:
                steady_start, steady_from = time.perf_counter(), images
            skipped += [(files[i], why) for i, why in batch["skipped"]]
            if batch["image"].shape[0]:
                model(dm.on_device(batch["image"], dev))
                images += batch["image"].shape[0]
        _sync(dev)
        end = time.perf_counter()
        seconds = end - start
        del batches  # the workers stop now, after the clock
    steady = None
    if steady_start is not None and end > steady_start and images > steady_from:
        steady = (images - steady_from) / (end - steady_start)
    return {
        "images": images,
        "skipped": len(skipped),
        "skipped_files": skipped,
        "seconds": seconds,
        "images_per_s": images / seconds if seconds > 0 else 0.0,
        "steady_images_per_s": steady,
        "batch_size": batch_size,
        "num_workers": num_workers,
    }


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (never goes down)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (MIB if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux


def current_rss_mib() -> float:
    """This process's resident set size now, in MiB (``nan`` where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])  # fields: size resident shared ...
        return pages * os.sysconf("SC_PAGE_SIZE") / MIB
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return float("nan")
    return float(psutil.Process().memory_info().rss) / MIB


@contextlib.contextmanager
def track_memory(device: Device = None) -> Iterator[dict[str, float]]:
    """Memory used by the ``with`` block; the yielded dict is filled on exit.

    ``rss_rise_mib`` is the process's peak RSS minus its RSS on entry. The peak
    spans the whole process, so a block that stays below an earlier peak shows a
    rise smaller than its use: measure in a fresh process. On CUDA it adds
    ``cuda_max_allocated_mib`` and ``cuda_max_reserved_mib`` for the block.

    >>> with track_memory() as mem:
    ...     _ = bytearray(10 * MIB)
    >>> sorted(mem)
    ['baseline_rss_mib', 'peak_rss_mib', 'rss_rise_mib']
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    stats: dict[str, float] = {}
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    base = current_rss_mib()
    yield stats
    _sync(dev)
    peak = peak_rss_mib()
    stats.update(baseline_rss_mib=base, peak_rss_mib=peak, rss_rise_mib=peak - base)
    if dev.type == "cuda":
        stats["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(dev) / MIB
        stats["cuda_max_reserved_mib"] = torch.cuda.max_memory_reserved(dev) / MIB


def count_params(model: nn.Module) -> int:
    """Number of parameters, shared ones once, buffers not (as torchvision's ``num_params``)."""
    return sum(p.numel() for p in model.parameters())


def flops_per_image(model: nn.Module, image_size: int | Sequence[int], channels: int = 3) -> int:
    """FLOPs of one forward pass on one image, by ``torch.utils.flop_counter``.

    These are FLOPs: a multiply-accumulate counts 2 (``Linear(i, o)``: ``2*i*o``);
    only matrix products and convolutions are counted (not bias, norm, activation).
    torchvision's ``meta["_ops"]``, labelled GFLOPS, counts multiply-accumulates:
    this value / 1e9 is 2.000 x ``_ops`` for the torchvision classifiers (resnet50:
    8.178 vs 4.089), up to the rounding of ``_ops`` to 3 decimals.

    The pass runs on the meta device (no memory, no compute, the model untouched):
    there attention takes its math path, which is counted, whereas the fused CPU
    kernels (``nn.MultiheadAttention``'s fast path, CPU flash attention) are not:
    on CPU, vit_b_16 would show 22.5 GFLOPs instead of 35.1.

    >>> flops_per_image(nn.Sequential(nn.Flatten(), nn.Linear(12, 5)), (2, 2))
    120
    """
    h, w = _hw(image_size)
    fake = {
        name: torch.empty_like(t, device="meta")
        for name, t in chain(model.named_parameters(), model.named_buffers())
    }
    x = torch.empty(1, channels, h, w, device="meta")
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        torch.func.functional_call(model, fake, (x,))
    return int(counter.get_total_flops())


def weight_file_mib(path: str | os.PathLike[str]) -> float:
    """Size of a weights file in MiB (torchvision's ``_file_size`` is in MiB too)."""
    return os.path.getsize(path) / MIB
