"""Static int8 quantization of an exported model: one ONNX file in, its QDQ int8 file out.

ONNX Runtime's ``quantize_static`` does the work: QuantizeLinear/DequantizeLinear
pairs (QDQ, which OpenVINO reads too), int8 weights per output channel, uint8
activations with ranges from the calibration images (MinMax). Only the image
path is quantized: arithmetic on tensor shapes (the padding sums of an exporter
that traces ``same`` padding) keeps its float values, which quantizing would
round into wrong pad widths. docs/int8.md gives the settings tried, with figures.
:func:`int8_file` keeps the quantized file in the cache, beside the fp32 export.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from harness.data.calibration import Batches
from harness.engine.files import replacing, to_json
from harness.engine.onnx_files import OnnxFile
from harness.errors import HarnessError

# what ``quantize`` does, in the cache key: another recipe is another file
RECIPE = "QDQ, int8 weights per channel, uint8 activations, MinMax, shape arithmetic in float"
SHAPE_OPS = ("Shape", "Size")  # their outputs describe a tensor, not its values


@contextmanager
def _no_preprocess_advice() -> Iterator[None]:
    """Without quantize_static's advice to pre-process first (measured: it changed nothing),
    which it logs on the root logger.
    """

    def advice(record: logging.LogRecord) -> bool:
        return "pre-process" not in record.getMessage()

    logging.getLogger().addFilter(advice)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(advice)


class Reader(CalibrationDataReader):
    """The calibration images as ``quantize_static`` reads them: one at a time, since its
    calibration session holds every tensor of a batch at once (the memory it takes:
    docs/studies.md), and MinMax's ranges come out the same either way.
    """

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self.input_name = input_name
        self.images = (image[None] for batch in batches for image in batch)  # (1, C, H, W)

    def get_next(self) -> dict[str, np.ndarray] | None:
        image = next(self.images, None)
        if image is None:
            return None
        return {self.input_name: np.ascontiguousarray(image, dtype=np.float32)}


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
    reader = Reader(image_input(graph), itertools.chain([first], them))
    with _no_preprocess_advice(), replacing(out) as partial:
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
    return out


def int8_file(fp32: OnnxFile, calibration: Batches) -> OnnxFile:
    """The int8 file of the fp32 export ``fp32``, calibrated on ``calibration``.

    From the cache when it holds one (beside ``fp32``, keyed by that file, the
    calibration's digest, the recipe and ONNX Runtime's version), else quantized now;
    a ``.json`` beside it holds the key and the calibration's record. The seconds are
    the export's and the quantization's.
    """
    key = {
        "fp32_file": fp32.path.name,
        "calibration_sha256": calibration.digest,
        "recipe": RECIPE,
        "onnxruntime_version": onnxruntime.__version__,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = fp32.path.with_name(f"{fp32.path.stem.replace('-fp32-', '-')}-int8-{digest}.onnx")
    about = path.with_suffix(".json")
    if path.is_file() and about.is_file():
        made = json.loads(about.read_text())
        calibration.record["unreadable"] = made["calibration"].get("unreadable", [])
        return OnnxFile(path, True, fp32.seconds)
    start = time.perf_counter()
    quantize(fp32.path, calibration.make(), path)
    seconds = time.perf_counter() - start
    with replacing(about) as tmp:
        made = key | {"quantize_seconds": round(seconds, 3), "calibration": calibration.record}
        tmp.write_text(to_json(made))
    return OnnxFile(path, False, fp32.seconds + seconds)
