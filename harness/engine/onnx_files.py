"""A model's ONNX file: exported once with ``torch.onnx.export``, then reused from the cache.

The file lies under ``$HARNESS_CACHE`` (default ``~/.cache/harness``), in ``onnx/``,
named after the model and a digest of what makes it: the architecture (its name and
its module structure), the weights (a SHA-256 of the loaded tensors' bytes, so a
changed weights file, another tag or other random weights is another file), the
input size, the file's precision and the exporter's versions (torch, onnx,
onnxscript). A ``.json`` beside it says the same in words. Writes are atomic: a
run killed halfway leaves no file that a later run would take for whole.

The exporter is torch's default, the ``torch.export``-based one (``dynamo=True``,
which needs onnxscript), with a dynamic batch axis; both runtimes read its file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.config import INSTALL_DEPLOY
from harness.engine.files import replacing, to_json
from harness.errors import HarnessError

CACHE_ENV = "HARNESS_CACHE"
EXPORTER = ("torch", "onnx", "onnxscript")  # whose versions make another file
INPUT, OUTPUT = "images", "logits"  # the file's input (B, 3, H, W) and output (B, classes)


@dataclass(frozen=True)
class OnnxFile:
    """An exported file: where it is, whether the cache had it, and the export's seconds."""

    path: Path
    cached: bool
    seconds: float

    @property
    def mib(self) -> float:
        return self.path.stat().st_size / 2**20


def cache_dir() -> Path:
    """``$HARNESS_CACHE``, else ``~/.cache/harness``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "harness")


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of every state-dict entry's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name} {t.dtype} {tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def cache_key(model: nn.Module, name: str, input_size: int, precision: str) -> dict[str, Any]:
    """What makes the file: the same key, the same file."""
    return {
        "architecture": name,
        "structure": hashlib.sha256(repr(model).encode()).hexdigest()[:16],
        "weights_sha256": weights_digest(model),
        "input_size": input_size,
        "precision": precision,
        **{f"{p}_version": _version(p) for p in EXPORTER},
    }


def cached_path(key: dict[str, Any]) -> Path:
    """``<cache>/onnx/<architecture>-<digest of the key>.onnx``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    stem = re.sub(r"[^\w.+-]+", "_", key["architecture"])
    return cache_dir() / "onnx" / f"{stem}-{key['precision']}-{digest}.onnx"


def onnx_file(model: nn.Module, name: str, example: torch.Tensor) -> OnnxFile:
    """The fp32 ONNX file of ``model`` (named ``name``) for images like ``example``.

    From the cache when it holds one for this key, else exported now and cached.
    """
    key = cache_key(model, name, int(example.shape[-1]), "fp32")
    path = cached_path(key)
    if path.is_file():
        return OnnxFile(path, True, 0.0)
    start = time.perf_counter()
    with replacing(path) as tmp:
        export(model, example, tmp, name)
    seconds = time.perf_counter() - start
    with replacing(path.with_suffix(".json")) as tmp:
        tmp.write_text(to_json(key | {"export_seconds": round(seconds, 3)}))
    return OnnxFile(path, False, seconds)


def export(model: nn.Module, example: torch.Tensor, path: Path, name: str) -> None:
    """Write ``model`` as ONNX to ``path``, its batch axis dynamic, weights inside the file.

    The example batch has two images: ``torch.export`` would take a batch of one for a
    constant. A model the exporter cannot take is a HarnessError naming why, in one line.
    """
    for package in ("onnx", "onnxscript"):
        try:
            __import__(package)
        except ImportError:
            raise HarnessError(
                f"exporting {name} to ONNX needs {package}, which is not installed: "
                f"{INSTALL_DEPLOY}"
            ) from None
    x = example[:1].expand(2, *example.shape[1:]).contiguous().float()
    batch = torch.export.Dim("batch", min=1)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model.eval().float(),
                (x,),
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes=({0: batch},),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
            assert program is not None  # dynamo=True always gives the program
            program.save(str(path), external_data=False)
    except HarnessError:
        raise
    except Exception as e:
        raise HarnessError(
            f"{name} could not be exported to ONNX ({type(e).__name__}: {first_line(e)})"
        ) from None


def first_line(e: BaseException) -> str:
    """An exception's first line, at most 300 characters: what a one-line error quotes."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
