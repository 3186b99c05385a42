"""The GPU path checked in one run, under 10 minutes on one CUDA machine.

Run ``bash benchmarks/gpu_check.sh [--out DIR] [--budget SECONDS]`` from the
repository root, with ``../shared`` beside the checkout (or ``$HARNESS_SHARED``).
It writes ``DIR/gpu_check.json`` after every step and prints a short table:

1. ``test``: squeezenet1_1 and timm/tf_efficientnet_lite0 (real weights) on all of
   nips17-dev, on the CPU (fp32) and on the GPU in fp32 and bf16. GPU fp32 counts
   must be within 1 image of the CPU's (TF32 is off for 32-true), bf16 top-1/top-5
   within 1 point.
2. ``compare``: squeezenet1_1, timm/tf_efficientnet_lite0 and resnet50 on the GPU,
   with its peak GPU memory (allocated, reserved).
3. ``throughput``: resnet50 alone (random weights, channels-last, bf16 autocast)
   at batch 1, 2, 4, ..., 256, eager and ``torch.compile``d (``benchmarks/gpu_speed.py``).
4. ``loading``: does data loading keep the GPU busy? squeezenet1_1 end to end on
   JPEG copies of nips17-dev: CPU workers (PIL, the weights' transforms) against
   GPU decoding (``torchvision.io.decode_jpeg(device="cuda")``), images/s, mean
   GPU utilisation (``nvidia-smi``), and how often the two predict the same class.
5. ``ddp``: ``test --devices auto --strategy ddp`` on every visible GPU: the same
   counts as one GPU.

Exit status: 0 when every check holds, 1 when one does not, 2 without CUDA or data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks import gpu_speed
from harness.config import stamp
from harness.engine.files import table, to_json, write_atomic

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARNESS_SHARED", ROOT.parent / "shared")).resolve()
NIPS = SHARED / "data" / "nips17-dev"
TEST_MODELS = ("squeezenet1_1", "timm/tf_efficientnet_lite0")
COMPARE_MODELS = ("squeezenet1_1", "timm/tf_efficientnet_lite0", "resnet50")
KEEP = (  # of each compare row
    "model",
    "error",
    "top1",
    "latency_ms_p50",
    "throughput_ips",
    "throughput_e2e_ips",
    "gpu_max_allocated_mib",
    "gpu_max_reserved_mib",
    "peak_memory_mib",
    "noisy",
)
COUNTS = ("n", "correct1", "correct5", "top1", "top5", "images_per_second", "devices")


@dataclass
class Context:
    out: Path
    deadline: float  # time.monotonic() after which the remaining steps are skipped
    one_gpu: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> fp32 counts


def harness(ctx: Context, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m harness ARGS`` in the run folder (its lightning_logs/ go there)."""
    env = {**os.environ, "HARNESS_WEIGHTS_DIR": str(SHARED / "weights")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "harness", *args]
    run = subprocess.run
    return run(cmd, cwd=ctx.out, env=env, capture_output=True, text=True, timeout=timeout)


def run_test(ctx: Context, model: str, where: str, precision: str, *extra: str) -> dict[str, Any]:
    out = ctx.out / "test" / f"{model.replace('/', '_')}-{where}-{precision}"
    data = ["--data", str(NIPS / "images"), "--labels", str(NIPS / "labels.csv")]
    args = ["test", "--model", model, *data, "--accelerator", where, "--precision", precision]
    done = harness(ctx, *args, "--batch-size", "64", "--no-progress", "--output", str(out), *extra)
    if done.returncode:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no message"])[-1])
    res = json.loads((out / "results.json").read_text())
    return {k: res[k] for k in COUNTS}


def check_test(ctx: Context) -> dict[str, Any]:
    """CPU fp32, GPU fp32 and GPU bf16 counts per model, and whether they agree."""
    rows = []
    for model in TEST_MODELS:
        cpu, fp32, bf16 = (
            run_test(ctx, model, where, p)
            for where, p in (("cpu", "32-true"), ("gpu", "32-true"), ("gpu", "bf16-mixed"))
        )
        ctx.one_gpu[model] = fp32
        exact = all(abs(fp32[k] - cpu[k]) <= 1 for k in ("correct1", "correct5"))
        close = all(abs(bf16[k] - cpu[k]) <= 0.01 for k in ("top1", "top5"))
        row: dict[str, Any] = {"model": model, "cpu": cpu, "gpu_fp32": fp32, "gpu_bf16": bf16}
        row.update(fp32_within_1_image=exact, bf16_within_1_point=close, ok=exact and close)
        rows.append(row)
    return {"rows": rows, "ok": all(r["ok"] for r in rows)}


def check_compare(ctx: Context) -> dict[str, Any]:
    out = ctx.out / "compare"
    data = ["--data", str(NIPS / "images"), "--labels", str(NIPS / "labels.csv")]
    args = ["compare", "--models", *COMPARE_MODELS, *data, "--accelerator", "gpu"]
    done = harness(ctx, *args, "--batch-size", "64", "--output", str(out), timeout=400)
    found = out / "results.json"
    rows = [{k: r.get(k) for k in KEEP} for r in json.loads(found.read_text())]
    ok = done.returncode == 0 and all(r["gpu_max_allocated_mib"] for r in rows)
    return {"rows": rows, "ok": ok, "report": str(out / "report.md")}


def check_ddp(ctx: Context) -> dict[str, Any]:
    model = TEST_MODELS[0]
    one = ctx.one_gpu.get(model) or run_test(ctx, model, "gpu", "32-true")
    ddp = run_test(ctx, model, "gpu", "32-true", "--devices", "auto", "--strategy", "ddp")
    same = all(ddp[k] == one[k] for k in ("n", "correct1", "correct5"))
    gpus = torch.cuda.device_count()
    return {"gpus": gpus, "one_gpu": one, "ddp": ddp, "ok": same and ddp["devices"] == gpus}


STEPS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "test": check_test,
    "compare": check_compare,
    "throughput": lambda ctx: gpu_speed.throughput(ctx.deadline),
    "loading": lambda ctx: gpu_speed.loading(NIPS / "images", SHARED / "weights", ctx.out),
    "ddp": check_ddp,
}


def summary(report: dict[str, Any]) -> str:
    """The short table: one line per check (figures in gpu_check.json)."""
    lines = []
    for name, step in report["steps"].items():
        if "error" in step or "skipped" in step:
            lines.append((name, step.get("error") or step["skipped"], "no"))
            continue
        for what, figure, ok in describe(name, step):
            lines.append((what, figure, "yes" if ok else "NO"))
    return table(lines, ("check", "measured", "ok"))


def describe(name: str, step: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Lines of the table for one step: what, the figures, whether it holds."""
    if name == "test":
        return [(f"test {r['model']}", _test_line(r), r["ok"]) for r in step["rows"]]
    if name == "compare":
        return [
            (f"compare {r['model']}", r["error"] or _compare_line(r), step["ok"])
            for r in step["rows"]
        ]
    if name == "ddp":
        one, ddp = step["one_gpu"], step["ddp"]
        figure = f"{ddp['correct1']}/{ddp['n']} (one GPU {one['correct1']}/{one['n']})"
        return [(f"ddp x{step['gpus']}", figure, step["ok"])]
    return [(what, figure, step["ok"]) for what, figure in gpu_speed.describe(name, step)]


def _test_line(r: dict[str, Any]) -> str:
    cpu, fp32, bf16 = r["cpu"], r["gpu_fp32"], r["gpu_bf16"]
    return (
        f"fp32 {fp32['correct1']}/{fp32['n']} (CPU {cpu['correct1']}), "
        f"bf16 top-1 {100 * bf16['top1']:.1f}% (CPU {100 * cpu['top1']:.1f}%)"
    )


def _compare_line(r: dict[str, Any]) -> str:
    gpu = f"GPU {r['gpu_max_allocated_mib']}/{r['gpu_max_reserved_mib']} MiB"
    return f"p50 {r['latency_ms_p50']} ms, {r['throughput_ips']} img/s, {gpu}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="run folder (default: lightning_logs/gpu_check/<date-time>)")
    p.add_argument("--budget", type=float, default=540, help="seconds before steps are skipped")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: error: no CUDA GPU is visible here", file=sys.stderr)
        return 2
    if not NIPS.is_dir():
        print(f"gpu_check: error: {NIPS} is absent (set HARNESS_SHARED)", file=sys.stderr)
        return 2
    out = Path(args.out or ROOT / "lightning_logs" / "gpu_check" / stamp()).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out, time.monotonic() + args.budget)
    report: dict[str, Any] = {"machine": gpu_speed.machine(), "steps": {}}
    for name, step in STEPS.items():
        report["steps"][name] = run_step(ctx, step)
        write_atomic(out / "gpu_check.json", to_json(report))
        print(f"gpu_check: {name} done", file=sys.stderr, flush=True)
    print(summary(report))
    print(f"gpu_check: {out / 'gpu_check.json'}", file=sys.stderr)
    return 0 if all(s.get("ok") for s in report["steps"].values()) else 1


def run_step(ctx: Context, step: Callable[[Context], dict[str, Any]]) -> dict[str, Any]:
    """One step's figures, its error as one line, or 'skipped' once the budget is spent."""
    if time.monotonic() > ctx.deadline:
        return {"skipped": "time budget spent", "ok": False}
    start = time.perf_counter()
    try:
        res = step(ctx)
    except Exception as e:  # one failing step must not lose the others' figures
        res = {"error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}", "ok": False}
    return res | {"seconds": round(time.perf_counter() - start, 1)}


if __name__ == "__main__":
    raise SystemExit(main())
