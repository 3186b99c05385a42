"""The exported runtimes' sessions: the cached export, its invalidation, one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from harness.config import RunConfig, for_variant, variant
from harness.engine import onnx_files
from harness.engine.exported import OnnxRuntime, OpenVino, Session
from harness.engine.runtimes import example_batch, runtime
from harness.errors import HarnessError
from harness.zoo import weights


@pytest.fixture
def cache() -> Path:
    """The session's export cache (conftest's): each export costs seconds."""
    return Path(os.environ[onnx_files.CACHE_ENV])


def squeezenet(path: Path) -> torch.nn.Module:
    return weights.load("squeezenet1_1", str(path)).model


def test_the_export_is_cached_and_a_changed_weights_file_exports_again(
    cache: Path, squeezenet_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports: list[Path] = []
    real = onnx_files.export
    monkeypatch.setattr(
        onnx_files, "export", lambda *a: (exports.append(a[2]), real(*a))[1]
    )  # counts the exports
    rt = OnnxRuntime("fp32", threads=1, model_name="squeezenet1_1")
    first = rt.prepare(squeezenet(squeezenet_weights), example_batch(224)).setup
    path = Path(first.onnx_file)
    mtime = path.stat().st_mtime_ns
    again = rt.prepare(squeezenet(squeezenet_weights), example_batch(224)).setup  # a new model
    assert again.export_cached and again.onnx_file == first.onnx_file
    assert path.stat().st_mtime_ns == mtime and len(exports) <= 1  # 0: an earlier test made it
    key = json.loads(path.with_suffix(".json").read_text())
    assert key["input_size"] == 224 and key["precision"] == "fp32" and key["torch_version"]
    changed = tmp_path / "squeezenet1_1-changed.pth"
    state = torch.load(squeezenet_weights, weights_only=True)
    state["classifier.1.bias"][0] += 1.0
    torch.save(state, changed)
    other = rt.prepare(squeezenet(changed), example_batch(224)).setup
    assert not other.export_cached and other.onnx_file != first.onnx_file
    assert exports[-1] != path and Path(other.onnx_file).is_file()
    assert [p.name for p in path.parent.glob(".*.tmp")] == []  # atomic: no temporary left


def test_a_model_the_exporter_cannot_take_is_one_line(cache: Path) -> None:
    class DataDependent(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[: int(x.sum().item() > 0) + 1].flatten(1)  # the batch size from the data

    with pytest.raises(HarnessError, match=r"^odd could not be exported to ONNX \(") as e:
        OnnxRuntime("fp32", 1, "odd").prepare(DataDependent(), example_batch(8))
    assert "\n" not in str(e.value)


def test_a_session_is_what_the_module_calls(cache: Path, squeezenet_weights: Path) -> None:
    from harness.engine.classifier import build_module

    loaded = weights.load("squeezenet1_1", str(squeezenet_weights))
    cfg = for_variant(RunConfig(threads=1), variant("squeezenet1_1@onnxruntime"))
    module = build_module(cfg, loaded)
    assert isinstance(module.net, Session) and module.net is runtime(
        cfg, model_name="squeezenet1_1"
    ).prepare(loaded.model, example_batch(224))  # noqa: E501
    x = torch.randn(3, 3, 224, 224)
    with torch.inference_mode():
        torch.testing.assert_close(module(x), loaded.model(x), atol=1e-4, rtol=1e-4)


def test_unsupported_bf16_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import openvino

    with pytest.raises(HarnessError, match="runs no bf16 here"):
        OnnxRuntime("bf16").check()
    with pytest.raises(HarnessError, match="int8 is not available yet"):
        OpenVino("int8").check()
    monkeypatch.setattr(openvino.Core, "get_property", lambda self, dev, key: ["FP32", "INT8"])
    with pytest.raises(HarnessError, match="this CPU has no bf16 for OpenVINO"):
        OpenVino("bf16").check()
