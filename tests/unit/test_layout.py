"""The package's layers: imports run one way, from the command line down to the leaves;
and the tests' own layout: tests/unit mirrors the package, tests import tests.helpers.

Every import is read with ``ast`` from the source, those inside functions and
under ``TYPE_CHECKING`` included, so nothing hides a dependency by importing late.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT as CHECKOUT

PACKAGE = CHECKOUT / "harness"

# Top to bottom: a module may import its own layer and the layers below it, never above.
LAYERS = (
    "cli",
    "compare",
    "engine",
    "measure",
    "data",
    "labels",
    "zoo",
    "config",
    "rows",
    "errors",
)
TOP = {"__main__": "cli"}  # modules at the package's root that belong to a layer above
ROOT = "errors"  # the package itself (``harness/__init__``: its version) is a leaf


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = next(iter(known)).partition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.partition(".")[0] == top}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if base.partition(".")[0] != top:
                continue
            for a in node.names:  # `from harness.zoo import registry` imports a module
                sub = f"{base}.{a.name}"
                out.add(sub if sub in known else base)
    return {m for m in out if m != name}


def graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at ``root`` -> the package's modules it imports."""
    found = modules(root)
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def layer(module: str) -> str:
    """The layer of a dotted module name: its subpackage, or the leaf it is."""
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT
    return TOP.get(parts[1], parts[1])


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import that runs from a layer to one above it, or into no known layer."""
    bad = []
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            a, b = layer(src), layer(dst)
            if a not in LAYERS or b not in LAYERS or LAYERS.index(b) < LAYERS.index(a):
                bad.append(f"{src} ({a}) imports {dst} ({b})")
    return bad


def circle(edges: dict[str, set[str]]) -> list[str]:
    """One import circle as its modules in order (the first repeated at the end), or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str]:
        state[m] = 1
        path.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return []

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return []


def test_no_import_circle() -> None:
    assert circle(graph(PACKAGE)) == []


def test_imports_run_down_the_layers() -> None:
    assert upward(graph(PACKAGE)) == []


def test_every_module_lies_in_a_layer() -> None:
    edges = graph(PACKAGE)
    assert len(edges) > 30  # the walk found the package
    assert [m for m in edges if layer(m) not in LAYERS] == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "harness"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "text",
    [
        "from harness.cli import main\n",
        "def f():\n    from harness.cli.main import main\n",
        "import harness.cli.main\n",
        "from harness import cli\n",
        "from ..cli import main\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harness.cli.main import x\n",
    ],
)
def test_a_planted_upward_import_is_found(tmp_path: Path, text: str) -> None:
    root = _package(
        tmp_path,
        {"__init__.py": "", "cli/__init__.py": "", "cli/main.py": "", "zoo/__init__.py": ""},
    )
    (root / "zoo/registry.py").write_text(text)
    assert any(
        s.startswith("harness.zoo.registry (zoo) imports harness.cli") for s in upward(graph(root))
    )
    (root / "zoo/registry.py").write_text("from harness.config import X\nfrom . import weights\n")
    (root / "zoo/weights.py").write_text("")
    (root / "config.py").write_text("")
    assert upward(graph(root)) == []


def test_a_planted_circle_is_found(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "config.py": "def f():\n    from harness.data import images\n",
            "data/__init__.py": "",
            "data/images.py": "from harness.data.decode import x\n",
            "data/decode.py": "import harness.config\n",
        },
    )
    found = circle(graph(root))
    assert found[0] == found[-1] and set(found) == {
        "harness.config",
        "harness.data.images",
        "harness.data.decode",
    }
    (root / "config.py").write_text("")
    assert circle(graph(root)) == []


# --- the tests' own layout: tests/unit mirrors the package, helpers come from tests.helpers ---

TESTS = CHECKOUT / "tests"
WHOLE = {"test_layout.py", "test_docs.py", "test_doctests.py"}  # the package whole, docs/


def test_unit_tests_mirror_the_package() -> None:
    """tests/unit/SUB/test_MODULE.py tests harness/SUB/MODULE.py."""
    astray = []
    for path in sorted((TESTS / "unit").rglob("test_*.py")):
        sub = path.parent.relative_to(TESTS / "unit")
        module = path.name.removeprefix("test_")
        if not (PACKAGE / sub / module).is_file() and not (sub == Path(".") and path.name in WHOLE):
            astray.append(str(path.relative_to(TESTS)))
    assert astray == []


def test_tests_import_helpers_not_conftest_or_each_other() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                last = name.split(".")[-1]
                if last == "conftest" or last.startswith("test_"):
                    found.append(f"{path.relative_to(TESTS)}: {name}")
    assert found == []
