"""The exported runtimes' checks: what cannot run here is refused in one line, at once.

The export itself, its cache and the sessions take seconds: tests/e2e/test_runtimes.py.
"""

from __future__ import annotations

import sys

import pytest

from harness.engine.exported import OnnxRuntime, OpenVino
from harness.errors import HarnessError


def test_unsupported_bf16_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import openvino

    with pytest.raises(HarnessError, match="runs no bf16 here"):
        OnnxRuntime("bf16").check()
    monkeypatch.setattr(openvino.Core, "get_property", lambda self, dev, key: ["FP32", "INT8"])
    with pytest.raises(HarnessError, match="this CPU has no bf16 for OpenVINO"):
        OpenVino("bf16").check()


def test_int8_needs_onnxruntime_in_either_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    OpenVino("int8").check()  # both installed here
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises
    with pytest.raises(HarnessError, match="^the openvino:int8 runtime needs onnxruntime, "):
        OpenVino("int8").check()


def test_int8_without_calibration_photos_is_one_line() -> None:
    from torch import nn

    from harness.engine.runtimes import example_batch

    with pytest.raises(HarnessError, match="^onnxruntime:int8: int8 needs photos to calibrate"):
        OnnxRuntime("int8", 1, "tiny").prepare(nn.Conv2d(3, 2, 1), example_batch(4))


def test_one_openvino_core_serves_the_whole_process() -> None:
    """OpenVINO's advice (one Core per application); the Core also outlives the models."""
    pytest.importorskip("openvino", reason="the deploy extra's openvino")
    from harness.engine.exported import openvino_core

    assert openvino_core() is openvino_core()
