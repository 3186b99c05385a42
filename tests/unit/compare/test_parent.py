"""harness.compare.parent: the child's environment."""

from __future__ import annotations

import pytest

from harness.compare.parent import child_environ
from harness.config import Spec


@pytest.mark.parametrize(
    ("model", "passive"),
    [("squeezenet1_1", False), ("squeezenet1_1@onnxruntime", True),
     ("timm/tf_efficientnet_lite0@openvino:int8", True), ("resnet18@compile", False)],
)  # fmt: skip
def test_exported_runtimes_get_passive_openmp(monkeypatch, model: str, passive: bool) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("HARNESS_SOMETHING", "kept")
    env = child_environ(Spec(model, "run"))
    assert env.get("OMP_WAIT_POLICY") == ("PASSIVE" if passive else None)
    assert env["HARNESS_SOMETHING"] == "kept"


def test_a_policy_the_user_set_is_kept(monkeypatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert child_environ(Spec("resnet18@openvino", "run"))["OMP_WAIT_POLICY"] == "ACTIVE"
