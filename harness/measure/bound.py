"""The cores' bound: the most images/s a run can reach when decoding and the model share
the cores, from the model alone and one loader worker's own decode rate.

A compare row with an end-to-end throughput reports the bound beside it
(``decode_ips``, ``core_bound_ips``, ``e2e_of_bound``: ``of_row``);
``benchmarks/targets.py`` reports it for target b.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from harness.rows import CompareRow

DECODE_PHOTOS = 32  # photos of the run's own that a compare row's decode rate is timed on


def core_bound(
    model_ips: float, decode_ips: float, threads: int, workers: int, cores: int
) -> float:
    """The most images/s a run can reach when decoding and the model share the cores
    (taking the model alone to keep its threads busy throughout).

    Per image the model takes ``threads / model_ips`` core-seconds (it keeps its threads
    busy) and decoding ``1 / decode_ips``; the cores give ``cores`` core-seconds a second,
    the workers decode at most ``workers * decode_ips`` images/s, and nothing beats the
    model alone. On 2 cores with 2 threads, decoding's share is taken from the model.
    With no workers, decoding and the model take turns in one process. ``cores``: those
    the process may run on (``conditions.cores``).

    >>> round(core_bound(60.0, 250.0, threads=2, workers=2, cores=2), 3)  # 2 / (2/60 + 1/250)
    53.571
    >>> core_bound(60.0, 20.0, threads=2, workers=2, cores=16)  # the workers' 2 x 20
    40.0
    """
    if not workers:
        return 1 / (1 / model_ips + 1 / decode_ips)
    shared = cores / (min(threads, cores) / model_ips + 1 / decode_ips)
    return min(model_ips, workers * decode_ips, shared)


def decode_rate(
    files: Sequence[Path],
    transform: Callable,
    decode: Callable[[Path], Any] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Images/s of one loader worker's own work on ``files`` (the first ``limit``): read,
    decode, resize, crop (to uint8 pixels where the transform splits, else the whole
    transform), the data module's dataset item by item, on one thread as a worker has it.

    ``decode`` is the run's (``harness.data.decode.decoder``), by default
    ``harness.data.images.load_rgb``. Returns ``images`` (readable ones), ``seconds``
    and ``images_per_s``.
    """
    from harness.data.datamodule import ImageFolderDataModule, Samples
    from harness.data.images import load_rgb

    chosen = list(files)[:limit] if limit else list(files)
    dm = ImageFolderDataModule(Samples.unlabelled(chosen), transform, decode=decode or load_rgb)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a DataLoader worker's torch runs on one thread
    try:
        start = time.perf_counter()
        images = sum(dm.dataset[i][0] is not None for i in range(len(chosen)))
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return {
        "images": images,
        "seconds": seconds,
        "images_per_s": images / seconds if seconds > 0 else 0.0,
    }


def of_row(row: Mapping[str, Any]) -> CompareRow:
    """``core_bound_ips`` and ``e2e_of_bound`` of a row, from its own figures:
    ``throughput_ips``, ``decode_ips``, ``threads``, ``loader_workers``, ``cores`` and
    ``throughput_e2e_steady_ips``. The bound is a rate the pipeline keeps once full, so
    the share is of the end-to-end pass's steady rate (``speed.throughput_end_to_end``),
    not of its whole time with start-up; it is of the row's (rounded) figures, unrounded.
    None of them where no photo could be decoded (``decode_ips`` 0); no share where the
    pass had no steady part.

    >>> row = {"throughput_ips": 60.0, "decode_ips": 250.0, "threads": 2,
    ...        "loader_workers": 2, "cores": 2, "throughput_e2e_steady_ips": 50.0}
    >>> of_row(row)  # 50 / 53.571
    {'core_bound_ips': 53.571, 'e2e_of_bound': 0.9333408000597339}
    """
    if not row["decode_ips"]:
        return {}
    figures = (row["throughput_ips"], row["decode_ips"], row["threads"], row["loader_workers"])
    bound = round(core_bound(*figures, row["cores"]), 3)
    steady = row.get("throughput_e2e_steady_ips")
    return {"core_bound_ips": bound, "e2e_of_bound": None if steady is None else steady / bound}
