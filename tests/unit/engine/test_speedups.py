"""harness.engine.speedups: the accelerator named as typed, precision on the CPU, CUDA settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.cli.main import main
from harness.errors import HarnessError

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]


def test_accelerator_named_as_typed(monkeypatch) -> None:
    from harness.engine.speedups import check_accelerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "gpu"):
        with pytest.raises(HarnessError, match=f"^--accelerator {name}: no CUDA GPU"):
            check_accelerator(name)


def test_fp16_on_cpu_says_what_runs_instead(tiny_images: list[Path], capsys, recwarn) -> None:
    from harness.engine.speedups import bf16_native, resolve_precision

    assert resolve_precision("16-mixed", "cpu") == "bf16-mixed"
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("harness: warning: --precision 16-mixed: CPUs have no fp16 autocast")
    assert "running bf16-mixed" in line and ("emulated" in line) != bf16_native("cpu")
    args = ["predict", str(tiny_images[0]), *FAST, "--accelerator", "cpu"]
    assert main([*args, "--precision", "16-mixed", "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert "site-packages" not in err and err.count("precision") == 1
    assert not [w for w in recwarn if "precision" in str(w.message)]  # Lightning stays quiet


@pytest.mark.parametrize(("precision", "mode"), [("32-true", "ieee"), ("bf16-mixed", "tf32")])
def test_cuda_settings(precision: str, mode: str, monkeypatch) -> None:
    """cuDNN autotuning on; TF32 off for exact fp32 only (settings restored afterwards)."""
    from harness.engine.speedups import cuda_settings

    b = torch.backends
    if not hasattr(b.cudnn, "fp32_precision"):
        pytest.skip("PyTorch before 2.9: legacy TF32 switches")
    saved = (b.cudnn.benchmark, b.cudnn.fp32_precision, b.cuda.matmul.fp32_precision)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    try:
        b.cudnn.benchmark, b.cudnn.fp32_precision = False, "none"
        cuda_settings(precision)
        assert b.cudnn.benchmark is True
        assert b.cudnn.conv.fp32_precision == b.cuda.matmul.fp32_precision == mode
    finally:
        b.cudnn.benchmark, b.cudnn.fp32_precision, b.cuda.matmul.fp32_precision = saved
