"""What a command loads when it starts: ``--help`` without torch, ``models`` and ``classes``
without Lightning, timm only for timm models, the published tables only where needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # "instant" is checked by what is imported, not by a clock: the timeout only ends a hang
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_help_is_instant_and_torch_free() -> None:
    done = run_python("-m", "harness", "--help")
    assert done.returncode == 0
    for command in ("models", "classes", "predict", "test"):
        assert command in done.stdout
    probe = "import sys; from harness.cli.main import build_parser; build_parser(); "
    probe += "print('torch' in sys.modules, 'lightning' in sys.modules)"
    done = run_python("-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def loaded_by(argvs: list[list[str]], modules: set[str], cwd: Path = ROOT) -> list[str]:
    """Each command line run in turn in one fresh interpreter: which of ``modules`` it left
    loaded (``sys.modules``), one line a command: ``<argv[0]> <exit status> [names]``."""
    probe = (
        "import contextlib, io, sys\n"
        "from harness.cli.main import main\n"
        f"for argv in {argvs!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            code = main(argv)\n"
        "        except SystemExit as e:\n"
        "            code = e.code\n"
        f"    print(argv[0], code, sorted({modules!r} & {{m.split('.')[0] for m in sys.modules}}))\n"  # noqa: E501
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def test_models_classes_help_do_not_import_lightning() -> None:
    argvs = [["models", "squeezenet1_1", "timm/tf_efficientnet_lite0"],
             ["classes", "--model", "squeezenet1_1"], ["--help"]]  # fmt: skip
    lightning = {"lightning", "pytorch_lightning", "torchmetrics"}
    assert loaded_by(argvs, lightning) == ["models 0 []", "classes 0 []", "--help 0 []"]


def test_a_search_of_timm_loads_neither_torch_nor_timm() -> None:
    """``models 'timm/*'`` answers from the shipped listing and tables (when it is the
    installed timm's: tests/unit/zoo/test_timm_models.py): no torch, timm or torchvision."""
    from harness.zoo import timm_models

    if timm_models.shipped() is None:
        pytest.skip("the shipped listing is not the installed timm's: timm is read live")
    argv = ["models", "timm/*", "--max-params", "6", "--sort", "top1", "--limit", "10"]
    assert loaded_by([argv], {"torch", "timm", "torchvision"}) == ["models 0 []"]


def test_torchvision_run_does_not_load_timm(tmp_path: Path) -> None:
    """timm is imported for timm models only (start-up; matplotlib comes with torchmetrics)."""
    rng = np.random.default_rng(0)
    for i in range(4):
        pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    argv = ["test", "--model", "squeezenet1_1", "--weights", "none", "--data", str(tmp_path),
            "--output", str(tmp_path / "run"), "--num-workers", "0", "--no-progress",
            "--accelerator", "cpu"]  # fmt: skip
    assert loaded_by([argv], {"timm"}, tmp_path) == ["test 0 []"]
    assert (tmp_path / "run" / "results.json").is_file()


def test_tables_are_read_only_by_what_needs_them() -> None:
    """Listing torchvision's models, a timm card (as predict and test use): no tables read."""
    code = (
        "from harness.zoo import published, registry\n"
        "from harness.cli.main import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['models', 'resnet*'])\n"
        "registry.card('timm/tf_efficientnet_lite0')\n"
        "before = published.tables.cache_info().currsize\n"
        "registry.figures(registry.card('timm/tf_efficientnet_lite0'))\n"
        "print(before, published.tables.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1"]


def test_kendall_without_scipy() -> None:
    modules = "harness.measure.kendall, harness.compare.published"
    code = f"import sys, {modules}; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
