"""What a ``harness test`` run of a torchvision model leaves out of its start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_torchvision_run_does_not_load_timm(tmp_path: Path) -> None:
    """timm is imported for timm models only (matplotlib comes with torchmetrics)."""
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / f"{i}.png"
        )
    probe = (
        "import sys\n"
        "from harness.cli import main\n"
        f"code = main(['test', '--model', 'squeezenet1_1', '--weights', 'none', '--data', "
        f"{str(tmp_path)!r}, '--output', {str(tmp_path / 'run')!r}, '--num-workers', '0', "
        "'--no-progress', '--accelerator', 'cpu'])\n"
        "print(code, sorted({'timm'} & {m.split('.')[0] for m in sys.modules}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "0 []"
    assert (tmp_path / "run" / "results.json").is_file()
