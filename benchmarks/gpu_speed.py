"""The in-process GPU measurements of ``gpu_check``: model throughput and data loading.

What a GPU needs is set first (``harness.engine.speedups.cuda_settings``: cuDNN autotuning,
TF32 only for mixed precision), inputs come from pinned memory, and every timed
loop is preceded by a full-batch warm-up, so that autotuning and lazy
initialisation are not timed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from harness.data.datamodule import ImageFolderDataModule, Samples, collate
from harness.data.images import walk
from harness.engine.speedups import cuda_settings, prepare
from harness.measure import speed
from harness.zoo import weights

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
COMPILED = (1, 16, 256)  # each batch size compiles anew (about a minute each): a few only
LOADER_BATCH = 64
AMP = torch.bfloat16


def machine() -> dict[str, Any]:
    p = torch.cuda.get_device_properties(0)
    return {
        "gpu": p.name,
        "gpus": torch.cuda.device_count(),
        "memory_gib": round(p.total_memory / 2**30, 1),
        "capability": f"{p.major}.{p.minor}",
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }


def throughput(deadline: float) -> dict[str, Any]:
    """resnet50 images/s at each batch size, eager and compiled (bf16 autocast, channels-last)."""
    cuda_settings("bf16-mixed")
    model = prepare(weights.load("resnet50", "none").model).cuda()
    rows: list[dict[str, Any]] = [{"batch": b, "eager_ips": _ips(model, b)} for b in BATCHES]
    for row in rows:
        if row["batch"] not in COMPILED:
            continue
        if time.monotonic() > deadline:
            row["compiled"] = "skipped: time budget spent"
            continue
        torch._dynamo.reset()  # a fresh compilation for this batch size
        compiled = torch.compile(model)
        x = torch.randn(row["batch"], 3, 224, 224, device="cuda")
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cuda", dtype=AMP):
            compiled(x)
        torch.cuda.synchronize()
        row["compile_seconds"] = round(time.perf_counter() - start, 1)
        row["compiled_ips"] = _ips(compiled, row["batch"])
    return {"model": "resnet50", "precision": "bf16-mixed", "rows": rows, "ok": True}


def _ips(model: Any, batch: int) -> float:
    r = speed.throughput_model(
        model, batch, 224, warmup=3, runs=10, min_seconds=1.0, device="cuda", amp_dtype=AMP
    )
    return round(r["images_per_s"], 1)


class Utilisation:
    """Mean GPU utilisation (%) over a ``with`` block, from ``nvidia-smi`` every 100 ms."""

    def __enter__(self) -> Utilisation:
        self.mean: float | None = None
        self.proc = None
        if shutil.which("nvidia-smi"):
            index = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0]
            query = ["--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            cmd = ["nvidia-smi", *query, "-i", index, "-lms", "100"]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        out, _ = self.proc.communicate()
        values = [float(v) for v in out.split() if v.strip().isdigit()]
        self.mean = round(statistics.fmean(values), 1) if values else None


def jpeg_copies(images: Path, folder: Path) -> list[Path]:
    """nips17-dev's PNGs as JPEGs (quality 90): decode_jpeg reads JPEG only."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in walk(images):
        out.append(folder / f"{f.stem}.jpg")
        if not out[-1].is_file():
            Image.open(f).convert("RGB").save(out[-1], quality=90)
    return out


def _amp(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on the GPU; none on a CPU (where the tests run these loops)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=AMP)
    return contextlib.nullcontext()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_workers(
    model: Any, files: list[Path], tf: Any, device: torch.device, workers: int
) -> tuple[float, list[int]]:
    """The harness's own loading (``ImageFolderDataModule``): PIL decoding, resizing and
    cropping in DataLoader workers, uint8 batches (pinned on a GPU machine) normalised
    after their transfer to ``device``; images/s, top-1.
    """
    dm = ImageFolderDataModule(Samples.unlabelled(files), tf, LOADER_BATCH, workers)

    preds: list[torch.Tensor] = []
    with torch.inference_mode(), _amp(device):
        model(dm.on_device(collate([dm.dataset[0]] * LOADER_BATCH)["image"], device))  # warm-up
        _sync(device)
        start = time.perf_counter()
        for batch in dm.test_dataloader():
            preds.append(model(dm.on_device(batch["image"], device)).argmax(1))
        _sync(device)
    return len(files) / (time.perf_counter() - start), torch.cat(preds).tolist()


def gpu_decode(
    model: Any, files: list[Path], prep: dict[str, Any], device: torch.device
) -> tuple[float, list[int]]:
    """Bytes read on the CPU; decoded, resized, cropped and normalised on ``device``.

    ``prep`` is the weights' ``Card.preprocessing`` (resize, crop, interpolation,
    mean, std), so the steps are those of the CPU path, on tensors.
    """
    from torchvision.io import ImageReadMode, decode_jpeg, read_file
    from torchvision.transforms.v2 import functional as F

    mean = torch.tensor(prep["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(prep["std"], device=device).view(1, 3, 1, 1)
    mode = getattr(F.InterpolationMode, prep["interpolation"].upper())

    def batch_of(chunk: list[Path]) -> torch.Tensor:
        with warnings.catch_warnings():  # decode_jpeg is deprecated for TorchCodec in 0.29
            warnings.simplefilter("ignore")
            data = [read_file(str(f)) for f in chunk]
            imgs = decode_jpeg(data, ImageReadMode.RGB, device=device)
        small = [F.resize(i, [prep["resize"]], mode, antialias=True) for i in imgs]
        crops = [F.center_crop(i, prep["input_size"]) for i in small]
        return (torch.stack(crops).float() / 255 - mean) / std  # (B, 3, H, W)

    chunks = [files[i : i + LOADER_BATCH] for i in range(0, len(files), LOADER_BATCH)]
    preds = []
    with torch.inference_mode(), _amp(device):
        model(batch_of(chunks[0]))  # warm-up: decoder, kernels, a full batch
        _sync(device)
        start = time.perf_counter()
        for chunk in chunks:
            preds.append(model(batch_of(chunk)).argmax(1))
        _sync(device)
    return len(files) / (time.perf_counter() - start), torch.cat(preds).tolist()


def loading(
    images: Path, weights_dir: Path, out: Path, device: str = "cuda", workers: int | None = None
) -> dict[str, Any]:
    """squeezenet1_1 end to end, CPU workers vs GPU decoding: images/s, utilisation, agreement.

    ``workers`` defaults to one per core, up to 8 (as the harness's).
    """
    dev = torch.device(device)
    cuda_settings("bf16-mixed")
    loaded = weights.load("squeezenet1_1", "DEFAULT", str(weights_dir))
    model = prepare(loaded.model).to(dev)
    files = jpeg_copies(images, out / "jpeg")
    nw = min(8, os.cpu_count() or 1) if workers is None else workers
    result: dict[str, Any] = {"model": "squeezenet1_1", "images": len(files), "workers": nw}
    runs = {
        "cpu_workers": lambda: cpu_workers(model, files, loaded.transforms(), dev, nw),
        "gpu_decode": lambda: gpu_decode(model, files, loaded.card.preprocessing, dev),
    }
    preds = {}
    for name, run in runs.items():
        with Utilisation() as u:
            ips, preds[name] = run()
        result[name] = {"images_per_s": round(ips, 1), "gpu_utilisation_pct": u.mean}
    same = sum(a == b for a, b in zip(preds["cpu_workers"], preds["gpu_decode"], strict=True))
    result.update(top1_agreement=round(same / len(files), 4), ok=True)
    return result


def describe(name: str, step: dict[str, Any]) -> list[tuple[str, str]]:
    """Lines of gpu_check's table for the throughput and loading steps."""
    if name == "throughput":
        return [(f"resnet50 b{r['batch']}", _ips_line(r)) for r in step["rows"]]
    lines = []
    for key in ("cpu_workers", "gpu_decode"):
        r = step[key]
        busy = f"GPU {r['gpu_utilisation_pct']}% busy"
        lines.append((f"loading, {key.replace('_', ' ')}", f"{r['images_per_s']} img/s, {busy}"))
    return [*lines, ("loading, same top-1", f"{100 * step['top1_agreement']:.1f}%")]


def _ips_line(row: dict[str, Any]) -> str:
    compiled = row.get("compiled_ips") or row.get("compiled")
    return f"eager {row['eager_ips']} img/s" + (f", compiled {compiled}" if compiled else "")
