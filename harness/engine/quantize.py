"""Static int8 quantization of an exported model: one ONNX file in, its QDQ int8 file out.

ONNX Runtime's ``quantize_static`` does the work: QuantizeLinear/DequantizeLinear
pairs (QDQ, which OpenVINO reads too), int8 weights per output channel, uint8
activations with ranges from the calibration images (MinMax). Only the image
path is quantized: arithmetic on tensor shapes (the padding sums of an exporter
that traces ``same`` padding) keeps its float values, which quantizing would
round into wrong pad widths. docs/int8.md gives the settings tried, with figures.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from harness.errors import HarnessError

SHAPE_OPS = ("Shape", "Size")  # their outputs describe a tensor, not its values


class _Batches(CalibrationDataReader):
    """The calibration batches as ``quantize_static`` reads them, counting the images."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self.input_name, self.batches, self.images = input_name, iter(batches), 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        if batch is None:
            return None
        self.images += len(batch)
        return {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}


def image_input(graph: onnx.GraphProto) -> str:
    """The name of the graph's one real input (older exports also list weights as inputs)."""
    weights = {t.name for t in graph.initializer}
    names = [i.name for i in graph.input if i.name not in weights]
    if len(names) != 1:
        raise HarnessError(f"int8: expected a model with one input, found {len(names)}")
    return names[0]


def shape_arithmetic(graph: onnx.GraphProto) -> list[str]:
    """The nodes off the image path: those fed only by constants and by ``SHAPE_OPS``.

    ONNX lists nodes in topological order, so one pass follows the path forward.
    """
    on_path, off = {image_input(graph)}, []
    for node in graph.node:
        if node.op_type not in SHAPE_OPS and on_path.intersection(node.input):
            on_path.update(node.output)
        else:
            off.append(node.name)
    return off


def quantize(fp32_onnx: Path, batches: Iterable[np.ndarray], out: Path) -> Path:
    """Write ``out``, the int8 (QDQ) model of ``fp32_onnx`` calibrated on ``batches``.

    Args:
        fp32_onnx: an fp32 ONNX model with one image input (N, C, H, W).
        batches: preprocessed float32 image batches, as the model gets them.
        out: where the quantized model goes; written whole or not at all.

    Returns:
        ``out``.
    """
    graph = onnx.load(str(fp32_onnx), load_external_data=False).graph
    them = iter(batches)
    first = next(them, None)
    if first is None or not len(first):
        raise HarnessError("int8: no calibration image to calibrate on")
    reader = _Batches(image_input(graph), itertools.chain([first], them))
    partial = out.with_name(f".{out.name}.partial")
    try:
        quantize_static(
            str(fp32_onnx),
            str(partial),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,  # signed ones fail in OpenVINO's bf16 mode
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=shape_arithmetic(graph),
        )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out
