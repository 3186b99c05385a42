"""Per-image latency of each ``--models`` model, at batch 1 and ``--bench-batch``.

``model`` times the forward pass on a random batch already in place;
``end_to_end`` times read + decode + preprocess (the weights' own transforms)
+ forward pass over real image files. pytest-benchmark's table is per call
(``batch`` images); ``extra_info`` and TensorBoard hold the per-image figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from itertools import cycle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from benchmarks import tb
from benchmarks.conftest import conditions
from harness.data.images import load_rgb
from harness.measure import speed

if TYPE_CHECKING:
    from benchmarks.conftest import Bench, Settings


def forward(bench: Bench, settings: Settings) -> Callable[[torch.Tensor], torch.Tensor]:
    """One timed forward pass: inference mode, autocast if asked, synchronised on CUDA."""
    dev, dtype = bench.device, bench.amp_dtype  # as the model's runtime runs it
    fmt = torch.channels_last if bench.cfg.channels_last else torch.contiguous_format

    def run(x: torch.Tensor) -> torch.Tensor:
        amp = torch.autocast(dev.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            out = bench.model(x.to(dev, non_blocking=True).contiguous(memory_format=fmt))
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return out

    return run


def workload(
    mode: str, bench: Bench, settings: Settings, batch: int, files: list[Path]
) -> tuple[Callable[..., Any], Callable[[], tuple[tuple, dict]]]:
    """The timed function and its untimed ``setup`` (which gives its arguments)."""
    run = forward(bench, settings)
    if mode == "model":
        x = torch.randn(batch, 3, bench.crop, bench.crop, device=bench.device)
        return run, lambda: ((x,), {})
    names = cycle(files)  # each round reads the next ``batch`` files

    def end_to_end(paths: list[Path]) -> torch.Tensor:
        return run(torch.stack([bench.transform(load_rgb(p)) for p in paths]))

    return end_to_end, lambda: (([next(names) for _ in range(batch)],), {})


def test_latency(
    benchmark: Any,
    bench_model: Bench,
    batch: int,
    mode: str,
    settings: Settings,
    bench_environment: dict[str, Any],
    image_files: list[Path],
) -> None:
    benchmark.group = f"{bench_model.name}-b{batch} (per call: {batch} image{'s' * (batch > 1)})"
    target, setup = workload(mode, bench_model, settings, batch, image_files)
    with conditions(benchmark), speed.track_memory(settings.device) as mem:
        out = benchmark.pedantic(
            target, setup=setup, rounds=settings.rounds, warmup_rounds=settings.warmup
        )
    assert out.shape[0] == batch
    benchmark.extra_info.update(
        bench_environment,
        model=bench_model.name,
        runtime=bench_model.cfg.runtime,
        runtime_precision=bench_model.cfg.precision,
        weights=bench_model.weights,
        mode=mode,
        batch_size=batch,
        images_per_call=batch,
        image_size=bench_model.crop,
        images=str(image_files[0].parent) if mode == "end_to_end" else "random tensor",
        params=bench_model.params,
        flops_per_image=bench_model.flops,
        peak_memory_mib=speed.peak_rss_mib(),  # whole process so far: see rss_rise_mib
        # the RSS rise around this benchmark alone (a lower bound, for the reason above)
        **{k: v for k, v in mem.items() if k != "peak_rss_mib"},
    )
    if benchmark.stats:  # None under --benchmark-disable
        benchmark.extra_info.update(tb.per_image(benchmark.stats))
