"""The exported runtimes' checks: what cannot run here is refused in one line, at once.

The export itself, its cache and the sessions take seconds: tests/e2e/test_runtimes.py.
"""

from __future__ import annotations

import pytest

from harness.engine.exported import OnnxRuntime, OpenVino
from harness.errors import HarnessError


def test_unsupported_bf16_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import openvino

    with pytest.raises(HarnessError, match="runs no bf16 here"):
        OnnxRuntime("bf16").check()
    with pytest.raises(HarnessError, match="int8 is not available yet"):
        OpenVino("int8").check()
    monkeypatch.setattr(openvino.Core, "get_property", lambda self, dev, key: ["FP32", "INT8"])
    with pytest.raises(HarnessError, match="this CPU has no bf16 for OpenVINO"):
        OpenVino("bf16").check()
