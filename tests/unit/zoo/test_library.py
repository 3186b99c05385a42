"""The model-library seam: one function decides torchvision or timm, both behind one interface."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from harness.zoo import registry, timm_models, torchvision_models
from harness.zoo.library import TIMM_PREFIX, Library, library_name
from tests.helpers import ROOT

PACKAGE = ROOT / "harness"


def protocol_methods() -> list[str]:
    return [n for n, v in vars(Library).items() if inspect.isfunction(v) and not n.startswith("_")]


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        ("resnet50", torchvision_models.TORCHVISION),
        ("timm/resnet18", timm_models.TIMM),
        ("timm/tf_efficientnet_lite0.in1k", timm_models.TIMM),
        ("timm/eff*", timm_models.TIMM),
        ("resnet*", torchvision_models.TORCHVISION),
    ],
)
def test_library_of_a_name(name: str, backend: Library) -> None:
    assert registry.library(name) is backend
    assert library_name(name) == backend.name


@pytest.mark.parametrize("backend", [torchvision_models.TORCHVISION, timm_models.TIMM])
def test_each_backend_has_every_method_with_the_protocols_parameters(backend: Library) -> None:
    assert len(protocol_methods()) >= 10
    for method in protocol_methods():
        want = list(inspect.signature(getattr(Library, method)).parameters)[1:]
        assert list(inspect.signature(getattr(backend, method)).parameters) == want, method


def test_the_cards_library_is_the_backends() -> None:
    for name in ("resnet18", "timm/tf_efficientnet_lite0"):
        lib = registry.library(name)
        c = lib.card(name)
        assert c.library == lib.name
        assert lib.arch(c.name) == name.removeprefix(TIMM_PREFIX).split(".")[0]


def test_timm_tag_as_weights_or_in_the_name_alike() -> None:
    lib = timm_models.TIMM
    assert lib.tagged("timm/tf_efficientnet_lite0", "in1k") == (
        "timm/tf_efficientnet_lite0.in1k",
        "DEFAULT",
    )
    assert torchvision_models.TORCHVISION.tagged("resnet50", "IMAGENET1K_V1") == (
        "resnet50",
        "IMAGENET1K_V1",
    )


def _prefix_tests(path: Path) -> list[int]:
    """Lines of ``path`` that test a name for the timm prefix by hand."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "removeprefix")
            and any(isinstance(a, ast.Constant) and a.value == TIMM_PREFIX for a in node.args)
        ):
            found.append(node.lineno)
        if isinstance(node, ast.Name) and node.id in ("TIMM_PREFIX", "PREFIX", "is_timm"):
            found.append(node.lineno)
        if isinstance(node, ast.Attribute) and node.attr in ("TIMM_PREFIX", "PREFIX", "is_timm"):
            found.append(node.lineno)
    return found


def test_timm_or_torchvision_is_decided_in_the_zoo_alone() -> None:
    """Outside the library module and the two backends, no code looks at the prefix."""
    allowed = {"library.py", "timm_models.py", "torchvision_models.py"}
    hand = {
        str(p.relative_to(PACKAGE)): lines
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name not in allowed and (lines := _prefix_tests(p))
    }
    assert hand == {}
