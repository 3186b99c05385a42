"""Speed targets, measured side by side in one run: ``python benchmarks/targets.py``.

a. ``harness test`` with its defaults (fp32) vs. the naive loop (one image at a
   time, PIL, the weights' transforms, fp32 eager): resnet50, random weights,
   256 nips17-dev photos, batch 32. Target >= 1.0.
b. ``harness test`` vs. the model alone at the same settings (channels-last,
   batch 32, random input already in memory), fp32 and ``--precision auto``.
   Target >= 0.95: decoding hidden behind the model.
c. Start-up and finishing: a ``harness test`` run (squeezenet1_1, real weights)
   in fresh interpreters, its time outside the evaluation phase by phase
   (interpreter, imports, model building, TensorBoard, sample figure, other; see
   ``benchmarks/startup.py``); the fastest of ``--runs``. Target <= 3 s.
d. resnet50's achieved GFLOP/s at fp32 and bf16 against this machine's measured
   matrix-product peak for each dtype (reported, no target).

Each group is timed alternately (A B C A B C ...) and the best of each is kept,
so that load from other processes hits all alike. Benchmarks, not tests:
nothing fails because a machine is slow. Writes a JSON file if asked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.loggers import TensorBoardLogger

from harness.config import RunConfig
from harness.data.datamodule import find_samples
from harness.data.images import load_rgb
from harness.engine.runs import test
from harness.engine.speedups import amp_dtype, bf16_native, prepare, resolve_precision
from harness.measure import bound, conditions, speed
from harness.zoo import weights

SHARED = Path(os.environ.get("HARNESS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
NIPS = SHARED / "data" / "nips17-dev"
ROOT = str(Path(__file__).resolve().parents[1])


SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def machine() -> dict[str, Any]:
    """The CPU the figures belong to: its name, cores, the speed-relevant flags, torch's ISA."""
    from harness.engine.files import environment

    env = environment("32-true")
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags"))
    except (OSError, StopIteration):
        flags = []
    return {
        "name": env["cpu"],
        "cores": env["cpu_cores"],
        "flags": [f for f in SPEED_FLAGS if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def best_of(runs: int, *fns):
    """Run the functions in turn ``runs`` times; each one's highest images/s."""
    best = [0.0] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], fn())
    return best


def harness_test(name: str, wts: str, limit: int, cfg: RunConfig) -> float:
    loaded = weights.load(name, wts, str(SHARED / "weights"))
    with tempfile.TemporaryDirectory() as tmp:
        logger = TensorBoardLogger(tmp, name="targets")
        data, labels = str(NIPS / "images"), str(NIPS / "labels.csv")
        samples = find_samples(data, loaded.categories, loaded.card.wnids, labels, limit)
        res = test(
            loaded,
            samples,
            cfg,
            data,
            labels,
            output=tmp,
            logger=logger,
            log_extras=False,
        )
    assert res is not None
    return float(res["images_per_second"])


def naive_loop(name: str, limit: int, threads: int | None = None) -> float:
    """One image at a time: PIL, the weights' transforms, fp32 eager, NCHW.

    In a fresh interpreter, as a user's own script runs: the harness's process-wide
    settings (``malloc.reuse_freed_memory``) must not speed it up.
    """
    code = f"import sys; sys.path.insert(0, {ROOT!r}); import benchmarks.targets as t"
    if threads:  # as the parent's --threads
        code += f"; t.torch.set_num_threads({threads})"
    code += f"; print(t.naive_images_per_s({name!r}, {limit}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the naive loop failed: {done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def naive_images_per_s(name: str, limit: int) -> float:
    """The naive loop itself (run by ``naive_loop`` in a fresh interpreter)."""
    from harness.data.malloc import reuse_freed_memory

    loaded = weights.load(name, "none")
    files = sorted((NIPS / "images").glob("*.png"))[:limit]
    tf, net = loaded.transforms(), loaded.model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for f in files:
            net(tf(load_rgb(f)).unsqueeze(0)).softmax(-1).topk(5)
    assert reuse_freed_memory.cache_info().currsize == 0, "the harness's malloc settings were on"
    return len(files) / (time.perf_counter() - start)


def decoding_images_per_s(name: str, limit: int) -> float:
    """Images/s of one loader worker's own work on ``limit`` photos (``bound.decode_rate``)."""
    files = sorted((NIPS / "images").glob("*.png"))[:limit]
    return bound.decode_rate(files, weights.load(name, "none").transforms())["images_per_s"]


def matmul_peak(dtype: torch.dtype, n: int = 1024, seconds: float = 2.0) -> dict[str, float]:
    """Best GFLOP/s of a matrix product in ``dtype``, through each of torch's CPU paths.

    ``matmul``: an n x n product (2 n^3 FLOPs; BLAS for fp32). ``conv1x1``: the same
    product as a 1x1 convolution in channels-last (oneDNN, which is what the
    models' convolutions use; for bf16 on a CPU without native bf16 it is far
    faster than torch's bf16 matmul fallback). The peak is the better of the two.
    """
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    # (8, n, 16, 16) x (n, n, 1, 1): 8*16*16 = 2048 rows of an (n x n) product
    x = torch.randn(8, n, 16, 16, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = torch.randn(n, n, 1, 1, dtype=dtype).contiguous(memory_format=torch.channels_last)
    paths = {
        "matmul": (lambda: a @ b, 2 * n**3),
        "conv1x1": (lambda: torch.nn.functional.conv2d(x, w), 2 * 2048 * n * n),
    }
    out = {}
    for name, (fn, flops) in paths.items():  # the harness's one timing loop
        times = speed.timed_runs(fn, torch.device("cpu"), 1, 3, seconds / len(paths))
        out[name] = flops / min(times) / 1e9
    out["peak"] = max(out.values())
    return out


def model_gflops(name: str, batch: int, amp: torch.dtype | None) -> float:
    loaded = weights.load(name, "none")
    net = prepare(loaded.model, channels_last=True)
    flops = speed.flops_per_image(loaded.model, 224)
    r = speed.throughput_model(net, batch, 224, warmup=1, runs=2, min_seconds=1.0, amp_dtype=amp)
    return flops * r["images_per_s"] / 1e9


SQUEEZE = str(SHARED / "weights" / "squeezenet1_1-webnn.pth")
PHASES = ("interpreter", "imports", "model_building", "tensorboard", "sample_figure", "other")


def startup_finishing(limit: int, runs: int, threads: int | None) -> dict[str, Any]:
    """Seconds of a ``harness test`` run outside its evaluation, by phase: the best of ``runs``.

    Each run is a fresh interpreter (``benchmarks/startup.py``); ``interpreter`` is
    its wall time less what it measured itself (process start, Python's start-up).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    script = str(Path(__file__).with_name("startup.py"))
    args = ["squeezenet1_1", SQUEEZE, str(NIPS / "images"), str(NIPS / "labels.csv"), str(limit)]
    cmd = [sys.executable, script, *args, *([str(threads)] if threads else [])]
    best: dict[str, Any] = {}
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - start
        phases = json.loads(done.stdout.splitlines()[-1])
        phases.update(interpreter=round(wall - phases["total"], 3), wall=round(wall, 3))
        phases["startup_finishing"] = round(wall - phases["evaluation"], 3)
        if not best or phases["startup_finishing"] < best["startup_finishing"]:
            best = phases
    return best | {"target_s": 3.0, "model": "squeezenet1_1"}


def print_startup(s: dict[str, Any], prefix: str = "") -> None:
    parts = ", ".join(f"{k.replace('_', ' ')} {s[k]:.2f}" for k in PHASES)
    print(
        f"{prefix}start-up + finishing (harness test, squeezenet1_1, {s['images']} images): "
        f"{s['startup_finishing']:.2f} s outside the evaluation (target <= 3 s): {parts}; "
        f"evaluation {s['evaluation']:.2f} s, wall {s['wall']:.2f} s"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet50", help="model of a and b (default resnet50)")
    p.add_argument("--limit", type=int, default=256, help="images for a and b (default 256)")
    p.add_argument("--batch-size", type=int, default=32, help="batch of a and b (default 32)")
    p.add_argument("--limit-startup", type=int, default=64, help="images, start-up (default 64)")
    p.add_argument("--runs", type=int, default=2, help="alternating runs per pair (default 2)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.add_argument("--startup-only", action="store_true", help="measure start-up only")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    if not NIPS.is_dir():
        print(f"targets: {NIPS} is absent", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = RunConfig(accelerator="cpu", progress=False, threads=args.threads)
    out: dict = {
        "threads": torch.get_num_threads(),
        "workers": cfg.workers(),
        "bf16_native": bf16_native("cpu"),
        "torch": torch.__version__,
        "cpu": machine(),
        "load_before": conditions.load_now(),
    }
    out["startup"] = startup_finishing(args.limit_startup, args.runs, args.threads)
    if not args.startup_only:
        speed_targets(args, cfg, out)
    out["load_after"] = conditions.load_now()
    print(json.dumps(out, indent=2))
    if args.startup_only:
        print_startup(out["startup"], prefix="c. ")
    else:
        print_targets(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def model_alone(name: str, batch: int, precision: str) -> float:
    """Images/s of the model alone: channels-last, ``batch`` random images in memory."""
    loaded = weights.load(name, "none")
    net = prepare(loaded.model, channels_last=True)
    amp = amp_dtype(precision)
    size = loaded.card.input_size
    r = speed.throughput_model(net, batch, size, warmup=1, runs=3, min_seconds=1.0, amp_dtype=amp)
    return float(r["images_per_s"])


def speed_targets(args: argparse.Namespace, cfg: RunConfig, out: dict[str, Any]) -> None:
    """Targets a, b and d into ``out``."""
    name, limit, batch = args.model, args.limit, args.batch_size
    fp32 = replace(cfg, batch_size=batch)
    auto = replace(fp32, precision=resolve_precision("auto", "cpu"))
    h32, naive, m32, hauto, mauto, dec = best_of(
        args.runs,
        lambda: harness_test(name, "none", limit, fp32),
        lambda: naive_loop(name, limit, args.threads),
        lambda: model_alone(name, batch, fp32.precision),
        lambda: harness_test(name, "none", limit, auto),
        lambda: model_alone(name, batch, auto.precision),
        lambda: decoding_images_per_s(name, limit),
    )
    threads, workers = torch.get_num_threads(), cfg.workers()
    out["setup"] = {"model": name, "images": limit, "batch_size": batch, "auto": auto.precision}
    out["a"] = {"harness_ips": h32, "naive_ips": naive, "ratio": h32 / naive, "target": 1.0}
    out["b"] = {
        k: {
            "harness_ips": h,
            "model_ips": m,
            "ratio": h / m,
            "cores_bound": bound.core_bound(m, dec, threads, workers, conditions.cores()) / m,
        }
        for k, h, m in (("fp32", h32, m32), ("auto", hauto, mauto))
    } | {
        "target": 0.95,
        "auto_precision": auto.precision,
        "decoding_ms_per_image": 1000 / dec,
        "cores": conditions.cores(),
    }
    d = {}
    for label, dtype, amp, b in (
        ("fp32", torch.float32, None, 16),
        ("bf16", torch.bfloat16, torch.bfloat16, 16 if bf16_native("cpu") else 2),
    ):
        peak, achieved = matmul_peak(dtype), model_gflops("resnet50", b, amp)
        d[label] = {
            "matmul_gflops": peak,
            "matmul_peak_gflops": peak["peak"],
            "resnet50_gflops": achieved,
            "fraction": achieved / peak["peak"],
            "batch": b,
        }
    out["d"] = d


def print_targets(out: dict[str, Any]) -> None:
    a, b, d, s = out["a"], out["b"], out["d"], out["setup"]
    what = f"{s['model']}, {s['images']} images, batch {s['batch_size']}"
    print(
        f"a. harness test (defaults, fp32) / naive loop ({what}): {a['harness_ips']:.1f} / "
        f"{a['naive_ips']:.1f} images/s = {a['ratio']:.2f} (target >= 1.0)"
    )
    for k in ("fp32", "auto"):
        label = k if k == "fp32" else f"auto = {b['auto_precision']}"
        print(
            f"b. harness test / model alone, {label}: {b[k]['harness_ips']:.1f} / "
            f"{b[k]['model_ips']:.1f} images/s = {b[k]['ratio']:.2f} (target >= 0.95; "
            f"{b['cores']} cores' bound with {b['decoding_ms_per_image']:.1f} ms of decoding "
            f"per image: {b[k]['cores_bound']:.2f})"
        )
    print_startup(out["startup"], prefix="c. ")
    for k, v in d.items():
        print(
            f"d. resnet50 {k} (batch {v['batch']}): {v['resnet50_gflops']:.1f} GFLOP/s of a "
            f"{v['matmul_peak_gflops']:.1f} GFLOP/s matrix-product peak "
            f"({100 * v['fraction']:.0f}%; "
            + ", ".join(f"{p} {g:.1f}" for p, g in v["matmul_gflops"].items())
            + ")"
        )


if __name__ == "__main__":
    raise SystemExit(main())
