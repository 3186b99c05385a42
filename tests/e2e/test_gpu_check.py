"""benchmarks/gpu_check.sh without a GPU: one clear line; its loops and table on the CPU.

The script itself needs a CUDA machine; here it must refuse in one line, and the
parts that do not need CUDA (the two data-loading loops, the table) are run on
the CPU, so that a GPU session's minutes are not spent finding a typo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from benchmarks import gpu_check, gpu_speed
from harness.zoo import weights
from tests.helpers import ROOT


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here: the check would run")
def test_without_cuda_one_line_and_exit_2() -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHON": sys.executable},  # this interpreter, as CI runs it
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["gpu_check: error: no CUDA GPU is visible here"]
    assert done.stdout == ""


def test_loading_loops_on_cpu(nips: Path, squeezenet_weights: Path, tmp_path: Path) -> None:
    """CPU workers give a plain loop's predictions; decode_jpeg + tensor resizing nearly so."""
    images = tmp_path / "png"
    images.mkdir()
    for f in sorted((nips / "images").glob("*.png"))[:8]:
        shutil.copy(f, images)
    res = gpu_speed.loading(images, squeezenet_weights.parent, tmp_path, "cpu", workers=0)
    assert res["images"] == 8 and res["workers"] == 0
    assert res["cpu_workers"]["images_per_s"] > 0 and res["gpu_decode"]["images_per_s"] > 0
    files = sorted((tmp_path / "jpeg").glob("*.jpg"))
    assert [f.stem for f in files] == sorted(f.stem for f in images.iterdir())
    loaded = weights.load("squeezenet1_1", "DEFAULT", str(squeezenet_weights.parent))
    model, tf, cpu = loaded.model.eval(), loaded.transforms(), torch.device("cpu")
    with torch.inference_mode():
        plain = [int(model(tf(Image.open(f).convert("RGB"))[None]).argmax()) for f in files]
    _, workers = gpu_speed.cpu_workers(model, files, tf, cpu, 0)
    _, decoded = gpu_speed.gpu_decode(model, files, loaded.card.preprocessing, cpu)
    assert workers == plain
    same = sum(a == b for a, b in zip(plain, decoded, strict=True))
    assert same >= 7 and res["top1_agreement"] == same / 8


def test_summary_table_and_failed_steps(tmp_path: Path) -> None:
    ctx = gpu_check.Context(tmp_path, deadline=float("inf"))
    counts = {"n": 500, "correct1": 290, "correct5": 400, "top1": 0.58, "top5": 0.8}
    test_row = {"model": "squeezenet1_1", "cpu": counts, "gpu_fp32": counts | {"correct1": 292},
                "gpu_bf16": counts | {"top1": 0.59}, "ok": False}  # fmt: skip

    def boom(ctx: gpu_check.Context) -> dict:
        raise RuntimeError("CUDA out of memory\nmore lines")

    steps = {
        "test": {"rows": [test_row], "ok": False},
        "throughput": {
            "rows": [{"batch": 1, "eager_ips": 300.0, "compiled_ips": 450.0}],
            "ok": True,
        },  # fmt: skip
        "loading": gpu_check.run_step(ctx, boom),
        "ddp": gpu_check.run_step(gpu_check.Context(tmp_path, deadline=0), boom),
    }
    assert steps["loading"]["error"] == "RuntimeError: CUDA out of memory"
    assert steps["ddp"]["skipped"] == "time budget spent"
    lines = gpu_check.summary({"steps": steps}).splitlines()
    assert lines[1].split() == ["test", "squeezenet1_1", "fp32", "292/500", "(CPU", "290),",
                                "bf16", "top-1", "59.0%", "(CPU", "58.0%)", "NO"]  # fmt: skip
    assert lines[2].split()[-1] == "yes" and "compiled 450.0" in lines[2]
    assert lines[3].split()[-1] == "no" and "CUDA out of memory" in lines[3]
    assert lines[4].startswith("ddp") and "time budget spent" in lines[4]


@pytest.mark.skipif(not shutil.which("nvidia-smi"), reason="nvidia-smi absent")
def test_utilisation_reads_nvidia_smi() -> None:
    with gpu_speed.Utilisation() as u:
        torch.zeros(1)
    assert u.mean is None or 0 <= u.mean <= 100


def test_utilisation_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.devnull)
    with gpu_speed.Utilisation() as u:
        pass
    assert u.mean is None
