"""Speed targets, measured side by side in one run: ``python benchmarks/targets.py``.

a. ``harness test`` end to end vs. a hand-written loop doing the same work with
   the same settings (the harness's own cost).
b. resnet50 on the fast path, end to end, vs. the naive loop (one image at a
   time, PIL, the weights' transforms, fp32 eager).
c. resnet50's achieved GFLOP/s at fp32 and bf16 against this machine's measured
   matrix-product peak for each dtype.

Start-up and finishing: a ``harness test`` run (squeezenet1_1, real weights) in
fresh interpreters, its time outside the evaluation phase by phase (interpreter,
imports, model building, TensorBoard, sample figure, other; see
``benchmarks/startup.py``); the fastest of ``--runs``.

Each pair is timed alternately (A B A B ...) and the best of each is kept, so
that load from other processes hits both alike. Writes a JSON file if asked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from harness import measure, timing, weights
from harness.data import ImageDataset, collate, find_samples
from harness.evaluate import RunConfig, test
from harness.fast import bf16_native, prepare
from harness.images import load_rgb

SHARED = Path(os.environ.get("HARNESS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
NIPS = SHARED / "data" / "nips17-dev"


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
        res = test(
            loaded,
            str(NIPS / "images"),
            cfg,
            str(NIPS / "labels.csv"),
            limit,
            output=tmp,
            logger=logger,
            log_extras=False,
        )
    assert res is not None
    return float(res["images_per_second"])


def hand_loop(name: str, wts: str, limit: int, cfg: RunConfig) -> float:
    """The same work as ``harness test`` without Lightning: loader, model, top-5, counts."""
    loaded = weights.load(name, wts, str(SHARED / "weights"))
    s = find_samples(
        NIPS / "images", loaded.categories, loaded.card.wnids, NIPS / "labels.csv", limit
    )
    net = prepare(loaded.model, cfg.channels_last)
    loader = DataLoader(
        ImageDataset(s.files, s.labels, loaded.transforms()),
        cfg.batch_size,
        num_workers=cfg.workers(),
        collate_fn=collate,
    )
    correct = n = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in loader:
            x = batch["image"].contiguous(memory_format=torch.channels_last)
            top5 = net(x).softmax(-1).topk(5).indices
            correct += int((top5[:, 0] == batch["label"]).sum())
            n += len(x)
    return n / (time.perf_counter() - start)


def naive_loop(name: str, limit: int) -> float:
    """One image at a time: PIL, the weights' transforms, fp32 eager, NCHW."""
    loaded = weights.load(name, "none")
    files = sorted((NIPS / "images").glob("*.png"))[:limit]
    tf, net = loaded.transforms(), loaded.model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for f in files:
            net(tf(load_rgb(f)).unsqueeze(0)).softmax(-1).topk(5)
    return len(files) / (time.perf_counter() - start)


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
    for name, (fn, flops) in paths.items():
        fn()
        best, start = 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds / len(paths):
            t = time.perf_counter()
            fn()
            best = max(best, flops / (time.perf_counter() - t) / 1e9)
        out[name] = best
    out["peak"] = max(out.values())
    return out


def model_gflops(name: str, batch: int, amp: torch.dtype | None) -> float:
    loaded = weights.load(name, "none")
    net = prepare(loaded.model, channels_last=True)
    flops = measure.flops_per_image(loaded.model, 224)
    r = measure.throughput_model(net, batch, 224, warmup=1, runs=2, min_seconds=1.0, amp_dtype=amp)
    return flops * r["images_per_s"] / 1e9


SQUEEZE = str(SHARED / "weights" / "squeezenet1_1-webnn.pth")
PHASES = ("interpreter", "imports", "model_building", "tensorboard", "sample_figure", "other")


def startup_finishing(limit: int, runs: int, threads: int | None) -> dict[str, Any]:
    """Seconds of a ``harness test`` run outside its evaluation, by phase: the best of ``runs``.

    Each run is a fresh interpreter (``benchmarks/startup.py``); ``interpreter`` is
    its wall time less what it measured itself (process start, Python's start-up).
    """
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
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


def print_startup(s: dict[str, Any]) -> None:
    parts = ", ".join(f"{k.replace('_', ' ')} {s[k]:.2f}" for k in PHASES)
    print(
        f"start-up + finishing (harness test, squeezenet1_1, {s['images']} images): "
        f"{s['startup_finishing']:.2f} s outside the evaluation (target <= 3 s): {parts}; "
        f"evaluation {s['evaluation']:.2f} s, wall {s['wall']:.2f} s"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit-a", type=int, default=500, help="images for target a (default 500)")
    p.add_argument("--limit-b", type=int, default=200, help="images for target b (default 200)")
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
        "load_before": timing.load_now(),
    }
    out["startup"] = startup_finishing(args.limit_startup, args.runs, args.threads)
    if not args.startup_only:
        speed_targets(args, cfg, out)
    out["load_after"] = timing.load_now()
    print(json.dumps(out, indent=2))
    print_startup(out["startup"])
    if not args.startup_only:
        print_targets(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def speed_targets(args: argparse.Namespace, cfg: RunConfig, out: dict[str, Any]) -> None:
    """Targets a, b and c into ``out``."""
    h, loop = best_of(
        args.runs,
        lambda: harness_test("squeezenet1_1", SQUEEZE, args.limit_a, cfg),
        lambda: hand_loop("squeezenet1_1", SQUEEZE, args.limit_a, cfg),
    )
    out["a"] = {"harness_ips": h, "hand_loop_ips": loop, "ratio": h / loop, "target": 0.9}
    fast_cfg = RunConfig(accelerator="cpu", progress=False, precision="auto", threads=args.threads)
    f, naive = best_of(
        args.runs,
        lambda: harness_test("resnet50", "none", args.limit_b, fast_cfg),
        lambda: naive_loop("resnet50", args.limit_b),
    )
    out["b"] = {
        "fast_ips": f,
        "naive_ips": naive,
        "ratio": f / naive,
        "target": 2.5,
        "fast_precision": "bf16-mixed" if bf16_native("cpu") else "32-true",
    }
    c = {}
    for label, dtype, amp, batch in (
        ("fp32", torch.float32, None, 16),
        ("bf16", torch.bfloat16, torch.bfloat16, 2),
    ):
        peak, achieved = matmul_peak(dtype), model_gflops("resnet50", batch, amp)
        c[label] = {
            "matmul_gflops": peak,
            "matmul_peak_gflops": peak["peak"],
            "resnet50_gflops": achieved,
            "fraction": achieved / peak["peak"],
            "batch": batch,
        }
    out["c"] = c


def print_targets(out: dict[str, Any]) -> None:
    c = out["c"]
    print(f"a. harness test / hand loop: {out['a']['ratio']:.3f} (target >= 0.9)")
    print(f"b. resnet50 fast path / naive loop: {out['b']['ratio']:.2f}x (target >= 2.5)")
    for k, v in c.items():
        print(
            f"c. resnet50 {k}: {v['resnet50_gflops']:.1f} GFLOP/s of a "
            f"{v['matmul_peak_gflops']:.1f} GFLOP/s matrix-product peak "
            f"({100 * v['fraction']:.0f}%; {v['matmul_gflops']})"
        )


if __name__ == "__main__":
    raise SystemExit(main())
