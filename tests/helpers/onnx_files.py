"""ONNX helpers for the int8 tests: an fp32 export, and sessions that read tensors of a file.

The export is torch's own (``torch.onnx.export``, TorchScript tracer, batch axis
dynamic), independent of the harness's export code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

INPUT = "input"


def export(model: nn.Module, side: int, path: Path) -> Path:
    """``model`` as an fp32 ONNX file for (N, 3, side, side) images."""
    torch.onnx.export(
        model.eval(),
        (torch.zeros(1, 3, side, side),),
        str(path),
        input_names=[INPUT],
        output_names=["logits"],
        dynamic_axes={INPUT: {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    return path


def session(path: Path, names: list[str] | None = None) -> ort.InferenceSession:
    """ONNX Runtime's own session of the file, with its tensors ``names`` as outputs too."""
    model = onnx.load(str(path))
    for name in names or []:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings on initializers the graph does not use
    return ort.InferenceSession(model.SerializeToString(), options, ["CPUExecutionProvider"])


def run(path: Path, images: np.ndarray, names: list[str] | None = None) -> list[np.ndarray]:
    """The file's outputs (or its tensors ``names``) for ``images``, by ONNX Runtime itself."""
    return session(path, names).run(names, {INPUT: images})
