"""Every example in the package's docstrings runs as written (``doctest``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.helpers import ROOT

MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for p in (ROOT / "harness").rglob("*.py")
    if ">>>" in p.read_text(encoding="utf-8")
)


def test_the_package_has_examples() -> None:
    assert "harness.config" in MODULES  # tensorboard_runs' distinct names among them


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
