"""The fast inference path: precision that pays off here, memory format, compilation.

bf16 is only fast where the hardware multiplies in bf16 (AMX or AVX512-BF16 on
x86 CPUs, Ampere or newer GPUs). Elsewhere torch emulates it, and a "faster"
bf16 run can be many times slower than fp32 (an AVX2-only CPU, say), so
``auto`` picks it only where it pays.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from harness.config import AMP, RUNTIME_PRECISIONS
from harness.data.malloc import reuse_freed_memory
from harness.errors import HarnessError


def bf16_native(device_type: str) -> bool:
    """Whether ``device_type`` ("cpu" or "cuda") multiplies bf16 in hardware."""
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def check_accelerator(accelerator: str) -> str:
    """The device type ``accelerator`` gives here; a GPU asked for but absent is an error."""
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise HarnessError(
            f"--accelerator {accelerator}: no CUDA GPU is visible here "
            "(torch.cuda.is_available() is False); use --accelerator cpu or auto"
        )
    return device_type(accelerator)


def check_strategy(strategy: str) -> str:
    """``strategy`` when Lightning knows it by that name, else a HarnessError listing some."""
    from lightning.pytorch.strategies import StrategyRegistry

    known = StrategyRegistry.available_strategies()
    if strategy == "auto" or strategy in known:
        return strategy
    some = ", ".join(["auto", *(s for s in known if "_find_unused" not in s)])
    raise HarnessError(f"--strategy {strategy}: not a Lightning strategy; choose from {some}")


def device_type(accelerator: str) -> str:
    """ "cuda" when ``accelerator`` would run on a GPU here, else "cpu"."""
    return "cuda" if accelerator != "cpu" and torch.cuda.is_available() else "cpu"


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto`` -> bf16-mixed where bf16 is native, else 32-true; others unchanged,
    but for 16-mixed on a CPU, which has no fp16 autocast: bf16-mixed instead.

    Each substitution, and an explicit bf16 request on hardware that only
    emulates it, gets one warning line (callers resolve once per run). An exported
    runtime's precision (fp32, bf16, int8) is its own to check: it stays as it is.
    """
    if precision in RUNTIME_PRECISIONS:
        return precision
    dev = device_type(accelerator)
    if precision == "auto":
        return "bf16-mixed" if bf16_native(dev) else "32-true"
    notes = []
    if precision == "16-mixed" and dev == "cpu":  # as Lightning would, but in one clear line
        precision = "bf16-mixed"
        notes.append("--precision 16-mixed: CPUs have no fp16 autocast; running bf16-mixed")
    if precision.startswith("bf16") and not bf16_native(dev):
        notes.append(
            f"this {dev.upper()} has no native bf16 (no AMX/AVX512-BF16 on CPUs): "
            "bf16 is emulated and likely much slower than 32-true"
        )
    if notes:
        print(f"harness: warning: {'; '.join(notes)}", file=sys.stderr)
    return precision


def amp_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved ``precision``; None for full precision."""
    return getattr(torch, AMP[precision]) if precision in AMP else None


def cuda_settings(precision: str) -> None:
    """What a GPU run needs, set once before it: cuDNN autotuning, and TF32 only where allowed.

    ``cudnn.benchmark`` times the convolution algorithms for each new input shape
    and keeps the fastest (the harness's shapes are fixed per run). TF32 rounds
    fp32 products to 10-bit mantissas on Ampere and newer GPUs; PyTorch allows
    it for convolutions by default, so ``32-true`` turns it off to be exact fp32
    (its counts then match the CPU's); the mixed precisions leave it on.
    No-op without CUDA.
    """
    if not torch.cuda.is_available():
        return
    torch.backends.cudnn.benchmark = True
    set_tf32(precision != "32-true")


def set_tf32(on: bool) -> None:
    """TF32 for cuDNN (convolutions) and cuBLAS (matrix products) on or off.

    PyTorch 2.9 and later refuse a mix of its new ``fp32_precision`` settings and
    the legacy ``allow_tf32`` switches: the new ones are used where they exist, on
    cuDNN's convolutions and RNNs too, which stop following ``cudnn`` once anything
    sets them on their own (``torch.export`` does, restoring ``allow_tf32``).
    """
    b = torch.backends
    if hasattr(b.cudnn, "fp32_precision"):
        mode = "tf32" if on else "ieee"
        b.cudnn.fp32_precision = mode
        for leaf in ("conv", "rnn"):
            getattr(b.cudnn, leaf).fp32_precision = mode
        b.cuda.matmul.fp32_precision = mode
    else:
        b.cudnn.allow_tf32 = on
        b.cuda.matmul.allow_tf32 = on


def prepare(model: nn.Module, channels_last: bool = True, compile: bool = False) -> nn.Module:
    """The model in eval mode, in channels-last memory format and compiled if asked,
    with freed memory kept for the next batch (``reuse_freed_memory``).

    Channels-last (NHWC) lets oneDNN and cuDNN pick their fastest convolutions
    without converting layouts at every layer.
    """
    reuse_freed_memory()
    model = model.eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)  # type: ignore[assignment]
    return model
