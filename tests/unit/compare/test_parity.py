"""Compare's parity: which row is whose reference, and the figures from the answers files."""

from __future__ import annotations

from pathlib import Path

from harness.compare.parity import add_parity, references
from harness.config import Spec
from harness.engine import outputs


def test_the_reference_is_the_runs_own_torch_fp32_row(tmp_path: Path) -> None:
    models = ["m", "m@onnxruntime", "m@torch:bf16", "n@openvino", "n@torch:fp32"]
    refs = references(models, Spec("", str(tmp_path)))
    assert refs == {"m@onnxruntime": "m", "m@torch:bf16": "m", "n@openvino": "n@torch:fp32"}
    assert references(models, Spec("", "r", precision="bf16-mixed"))["m@onnxruntime"] is None
    for model, top in (("m", [1, 2, 3, 4, 5]), ("m@onnxruntime", [1, 2, 3, 5, 4])):
        outputs.write(
            Spec(model, str(tmp_path)).test_dir() / outputs.OUTPUTS, {"a": (top, 0.5, True)}
        )
    rows = [{"model": m, "precision": "fp32"} for m in ("m", "m@onnxruntime")]
    add_parity(tmp_path, rows, refs)
    assert rows[1]["agree_top1"] == 1 and rows[1]["parity_reference"] == "m, its row in this run"
    assert "agree_top1" not in rows[0]
