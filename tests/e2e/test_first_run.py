"""A newcomer's first commands, typed as printed, in a copy of the checkout with photos in data/,
and ``python -m harness`` from the folder above the checkout.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

import harness
from harness.cli.main import main
from tests.helpers import NIPS, ROOT, SHARED, SQUEEZE, labels_of, need

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


PHOTOS = 6  # nips17-dev photos copied into data/, with their rows of labels.csv
DEMO = {  # the demo at its cheapest: one model, two images
    "DEMO_MODELS": "squeezenet1_1",
    "DEMO_LIMIT": "2",
    "DEMO_ARGS": "--batch-size 2 --num-workers 0 --latency-seconds 0.1",
}


def copy_checkout(dest: Path) -> Path:
    """The repository's files (tracked, and new ones git does not ignore), as a fresh clone has."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def env_of(checkout: Path) -> dict[str, str]:
    """No weights folder from the environment: the commands must work as printed.

    PYTHONPATH names the copy so that compare's children (started with -P) run its code.
    """
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_WEIGHTS_DIR"}
    for k in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):  # under `make test`, a nested make would
        env.pop(k, None)  # print "make[2]: Entering directory ..." among the commands
    return {**env, "PYTHONPATH": str(checkout)}


def sh(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``command`` as a user would paste it into a shell; stdout and stderr piped."""
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env_of(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout with six labelled nips17-dev photos in data/."""
    nips = need(NIPS)
    root = copy_checkout(tmp_path_factory.mktemp("clone"))
    with open(nips / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:PHOTOS]
    with open(root / "data" / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for r in rows:
        shutil.copy(nips / "images" / r["file"], root / "data" / r["file"])
    return root


@pytest.fixture(scope="module")
def demo(checkout: Path) -> list[str]:
    """``make demo`` (one model, four images); returns the commands it prints at the end."""
    if shutil.which("make") is None:
        pytest.skip("make is absent")
    need(SHARED / "weights")
    venv = Path(sys.prefix)
    overrides = [f"{k}={v}" for k, v in DEMO.items()]
    cmd = ["make", "--no-print-directory", "-o", f"{venv}/.installed", "demo"]
    cmd += [f"VENV={venv}", f"SHARED={SHARED}"]
    proc = subprocess.run(
        [*cmd, *overrides],
        cwd=checkout,
        env=env_of(checkout),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tail = proc.stdout.split("Three things to try next:\n", 1)[1].splitlines()
    commands = [line.strip() for line in tail if line.strip() and not line.strip().startswith("#")]
    assert len(commands) == 3, proc.stdout[-3000:]
    return commands


def test_no_command_prints_an_overview(checkout: Path) -> None:
    proc = sh(f"{shlex.quote(sys.executable)} -m harness", checkout, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    for command in ("models", "classes", "predict", "test", "compare"):
        assert f"python -m harness {command} " in proc.stdout  # an example of each
    assert "lightning_logs/" in proc.stdout and "--output" in proc.stdout  # where results go


def test_demo_ends_with_three_commands(demo: list[str]) -> None:
    predict, test, board = demo
    assert " -m harness predict " in predict and " -m harness test " in test
    assert board.split()[0].endswith("tensorboard") and "--logdir" in board


def run_printed(
    command: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """A printed ``PY -m harness ...`` command, run in this process (cheaper than a new one)
    once its interpreter is checked to be the one ``make`` set up: exit status, stdout, stderr.
    """
    python, *args = shlex.split(command)
    assert python == str(Path(sys.prefix) / "bin" / "python") and os.access(python, os.X_OK)
    assert args[:2] == ["-m", "harness"]
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(args[2:])
    out, err = capsys.readouterr()
    return code, out, err


def test_printed_predict_works(demo: list[str], checkout: Path, monkeypatch, capsys) -> None:
    code, out, err = run_printed(demo[0] + " --format json", checkout, monkeypatch, capsys)
    assert code == 0, err
    [result] = json.loads(out)  # stdout holds the JSON and nothing else
    assert len(result["topk"]) == 5 and not result["random_weights"]


def plain_top5(files: list[Path]) -> list[list[int]]:
    """The shared squeezenet weights over ``files``: PIL, transforms, model, top-5, one by one."""
    model = squeezenet1_1()
    model.load_state_dict(torch.load(need(SQUEEZE), weights_only=True))
    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    with torch.inference_mode():
        return [
            model.eval()(tf(Image.open(f).convert("RGB")).unsqueeze(0))[0].topk(5).indices.tolist()
            for f in files
        ]


def test_printed_test_uses_data_and_its_labels(
    demo: list[str], checkout: Path, monkeypatch, capsys
) -> None:
    """The headline command, no --data: data/, data/labels.csv, said so; stdout: the summary."""
    code, out, err = run_printed(demo[1], checkout, monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "\r" not in out and "%|" not in out + err  # no progress bar, on stdout or off a tty
    assert [line.split()[0] for line in lines] == [
        "model", "data", "images", "top-1", "top-5", "ECE", "labels", "time", "note", "note",
        "run",
    ]  # fmt: skip
    assert f"no --data given: {checkout / 'data'}, the default data folder" in lines[8]
    assert "labels from data/labels.csv" in lines[9]
    run = checkout / lines[-1].split()[1]
    res = json.loads((run / "results.json").read_text())
    assert (res["data"], res["labels"], res["n"]) == ("data", "data/labels.csv", PHOTOS)
    labels = labels_of(checkout / "data")
    top5s = plain_top5([checkout / "data" / f for f in labels])
    top1 = sum(t[0] == y for t, y in zip(top5s, labels.values(), strict=True))
    top5 = sum(y in t for t, y in zip(top5s, labels.values(), strict=True))
    assert (res["correct1"], res["correct5"]) == (top1, top5)
    assert list(run.glob("events.out.tfevents.*"))


def test_printed_tensorboard_command_finds_the_run(demo: list[str], checkout: Path) -> None:
    proc = sh(demo[2] + " --inspect", checkout, timeout=120)  # --inspect: read, do not serve
    assert proc.returncode == 0, proc.stderr
    assert "timing/latency_ms_p50" in proc.stdout + proc.stderr


def test_empty_data_folder_says_what_to_put_there(tmp_path: Path) -> None:
    root = copy_checkout(tmp_path)
    assert [p.name for p in (root / "data").iterdir()] == ["README.md"]
    proc = sh(f"{shlex.quote(sys.executable)} -m harness test --model squeezenet1_1", root)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("harness: error: no --data given and data/ holds no images")
    assert "put your images in data/" in line and "--data DIR" in line


def python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """This interpreter (the checkout's venv) run as a user would: no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_WEIGHTS_DIR")}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


# --- python -m harness from the folder that holds the clone ------------------------------------


def test_python_m_harness_from_the_folder_above_the_checkout(tmp_path: Path) -> None:
    """``git clone`` names the checkout ``harness``; ``cd ..`` and run its venv's python there.

    That folder, seen from above, is a namespace package named ``harness``: it must not
    hide the package inside it (the checkout itself stands in for the clone).
    """
    (tmp_path / "harness").symlink_to(ROOT, target_is_directory=True)
    done = python("-m", "harness", "models", "squeezenet1_1", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [r["model"] for r in json.loads(done.stdout)] == ["squeezenet1_1"]
    done = python("-c", "import harness; print(harness.__version__)", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"{harness.__version__}\n"), done.stderr


def test_readme_first_predict_example_works_as_printed() -> None:
    """Offline, from the checkout, with nothing set beforehand (no HARNESS_WEIGHTS_DIR)."""
    need(SHARED / "weights")
    text = (ROOT / "README.md").read_text()
    joined = text.replace("\\\n", " ")  # continuation lines as the shell joins them
    line = next(ln for ln in joined.splitlines() if ln.startswith("python -m harness predict"))
    words = shlex.split(line.split("#")[0])
    assert words[:3] == ["python", "-m", "harness"]
    done = python(*words[1:], cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "probability" in done.stdout and "RANDOM" not in done.stdout
