"""What a new user met (issue 11): data-only stdout, runs that record how they were made,
clear errors about inputs and weight files, compare's units and plot, and small defects."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import importlib.metadata
import io
import json
import os
import pty
import random
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import ROOT
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

import harness
from harness.cli.main import main
from harness.data.datamodule import ImageDataset, find_samples
from harness.errors import HarnessError

FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]
CATS = SqueezeNet1_1_Weights.DEFAULT.meta["categories"]

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    [line] = err.strip().splitlines()
    return line


def class_folders(root: Path) -> Path:
    """Three class folders (class indices 0, 1, 2) of four tiny images each."""
    for c in range(3):
        for i in range(4):
            path = root / str(c) / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (12 + i, 10 + c), (60 * c, 50 * i, 90)).save(path)
    return root


# --- 1. stdout carries data only ------------------------------------------------------------


def at_a_terminal(args: list[str], cwd: Path) -> tuple[bytes, bytes]:
    """``harness ARGS`` with stdout piped and stderr a 100-column terminal: (stdout, terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    terminal: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed its end
                return
            if not chunk:
                return
            terminal.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    assert proc.returncode == 0, b"".join(terminal).decode(errors="replace")
    return out, b"".join(terminal)


def test_progress_bar_goes_to_a_terminal_on_stderr(tiny_images: list[Path], tmp_path: Path) -> None:
    """stdout piped into a file, stderr a terminal: the bar, a skipped file's line and a note
    show there, the JSON stays whole."""
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    args = ["predict", str(tiny_images[0]), str(empty), *FAST[:4], "--num-workers", "0",
            "--topk", "2000", "--format", "json"]  # fmt: skip
    out, terminal = at_a_terminal(args, tmp_path)
    [result] = json.loads(out)  # nothing but the JSON
    assert result["file"] == str(tiny_images[0]) and len(result["topk"]) == 1000
    assert b"Predicting" in terminal  # Lightning's bar, on the terminal
    assert f"harness: skipped {empty}: ".encode() in terminal
    assert b"harness: note: --topk 2000: squeezenet1_1 has 1000 classes, all shown" in terminal


def test_models_shows_progress_at_a_terminal(tmp_path: Path) -> None:
    """Counting timm's parameters takes 0.1-0.2 s a model: a long list shows how far it is."""
    from harness.zoo import registry

    patterns = ["resnet*", "vgg*", "efficientnet*"]  # torchvision's: quick to list
    n = len(registry.match(patterns))
    out, terminal = at_a_terminal(["models", *patterns, "--format", "json"], tmp_path)
    assert n > 20 and len(json.loads(out)) == n  # stdout holds the JSON only
    assert b"models:   0%| " in terminal and f"| 0/{n} [".encode() in terminal


# --- 2. --output holds the whole run; 3. a run records how it was made ------------------------


@dataclass
class Sampled:
    """``test --sample 5 --output DIR``, run once from an empty working folder."""

    data: Path
    work: Path
    out: Path
    results: dict
    stdout: str
    window: tuple[float, float]  # the run started and ended in it


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Sampled:
    root = tmp_path_factory.mktemp("sampled")
    data, work, out = class_folders(root / "val"), root / "work", root / "out"
    work.mkdir()
    args = ["test", *FAST, "--data", str(data), "--sample", "5", "--output", str(out)]
    before, stdout = time.time(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.chdir(work)
        assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    return Sampled(data, work, out, results, stdout.getvalue(), (before, time.time()))


def test_output_dir_holds_the_whole_run(sampled: Sampled) -> None:
    out = sampled.out
    assert list(sampled.work.iterdir()) == []  # no lightning_logs/ beside
    assert (out / "predictions.csv").is_file() and list(out.glob("events.out.tfevents.*"))
    assert sampled.results["run_dir"] == str(out)
    assert sampled.stdout.splitlines()[-1].split()[:2] == ["run", str(out)]


def test_sample_is_seeded_and_spans_the_classes(sampled: Sampled) -> None:
    res, data = sampled.results, sampled.data
    files = sorted(str(p.relative_to(data)) for p in data.rglob("*.png"))
    expected = [files[i] for i in sorted(random.Random(0).sample(range(12), 5))]
    with open(sampled.out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == expected
    assert len({r["label"] for r in rows}) > 1  # --limit 5 would take classes 0 and 1 only
    assert (res["limit"], res["sample"], res["seed"]) == (None, 5, 0)
    assert res["selection"] == "a random 5 of 12, seed 0 (--sample)"
    assert "5 evaluated (a random 5 of 12, seed 0 (--sample))" in sampled.stdout
    again = find_samples(data, CATS, sample=5, seed=0)
    other = find_samples(data, CATS, sample=5, seed=1)
    assert [str(p.relative_to(data)) for p in again.files] == expected
    assert other.files != again.files


def test_results_record_the_machine_versions_and_start(sampled: Sampled) -> None:
    res, (before, after) = sampled.results, sampled.window
    env = res["environment"]
    for lib in ("torch", "torchvision", "lightning", "torchmetrics", "timm"):
        assert env[lib].startswith(importlib.metadata.version(lib))  # torch adds +cu130
    assert env["harness"] == harness.__version__ == importlib.metadata.version("harness")
    assert env["torch_threads"] == torch.get_num_threads() and env["cpu_cores"] == os.cpu_count()
    assert env["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
        assert env["cpu"] == model
    except (OSError, StopIteration):
        pass
    started = time.mktime(time.strptime(res["started"], "%Y-%m-%d %H:%M:%S %Z"))
    assert int(before) - 1 <= started <= after + 1
    assert res["labels"] is None and "versions" not in res


def test_limit_and_sample_exclude_each_other_and_help_says_what_limit_does(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["test", *FAST, "--data", ".", "--limit", "3", "--sample", "3"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["test", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "only the first N images" in text and "the first classes only" in text
    assert "a random sample of N images" in text and "seed of --sample (default: 0)" in text


# --- 4. a labels file naming one image twice -----------------------------------------------


def test_labels_file_naming_an_image_twice(tiny_images: list[Path], tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nimg0.png,1\nimg1.png,2\n./img0.png,3\n")
    with pytest.raises(HarnessError) as e:
        find_samples(tmp_path, CATS, labels=labels)
    assert "img0.png" in str(e.value) and "lines 2 and 4" in str(e.value)


# --- 5. weight-file errors in the harness's words ------------------------------------------


WHOLE_MODEL = (
    "refusing to load {}: it is a pickled whole model (torchvision.models.squeezenet.SqueezeNet), "
    "not a state_dict; save model.state_dict() with torch.save and pass that file"
)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("whole model", WHOLE_MODEL),
        ("text", "cannot load {}: not a PyTorch checkpoint (neither a zip archive nor a pickle)"),
        ("empty", "cannot load {}: the file is empty (0 bytes)"),
    ],
)
def test_weights_file_errors(
    content: str, said: str, tiny_images: list[Path], tmp_path: Path, capsys
) -> None:
    path = tmp_path / "w.pth"
    if content == "whole model":
        torch.save(squeezenet1_1(), path)
    else:
        path.write_text("hello\n" if content == "text" else "")
    args = ["predict", str(tiny_images[0]), *FAST[:2], "--weights", str(path), "--no-progress"]
    assert main(args) == 2
    line = one_line(capsys)
    assert line == "harness: error: " + said.format(path)
    assert "\x1b" not in line and "weights_only" not in line


# --- 6. inputs are checked before any model loads -----------------------------------------


@pytest.mark.parametrize("missing", ["data folder", "labels file"])
def test_inputs_are_checked_before_the_model_loads(
    missing: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the inputs were checked")

    monkeypatch.setattr("harness.zoo.weights.load", no_load)
    monkeypatch.setattr("harness.compare.parent.run_child", no_load)
    absent = tmp_path / "absent"
    data = ["--data", str(absent)] if missing == "data folder" else ["--data", str(tmp_path)]
    data += ["--labels", str(absent)] if missing == "labels file" else []
    expected = f"harness: error: {missing.replace(' folder', ' path')} '{absent}' does not exist"
    assert main(["test", "--model", "resnet101", *data]) == 2
    assert one_line(capsys) == expected
    assert main(["compare", "--models", "resnet101", *data]) == 2
    assert one_line(capsys) == expected


# --- 7. compare's figure ---------------------------------------------------------------------


def test_compare_figure() -> None:
    from harness.compare.latency_figure import MEASURED, PUBLISHED, compare_figure, title

    rows = [  # a long name at the far right and top, where labels used to leave the panel
        {"model": "alexnet", "latency_ms_p50": 20.0, "peak_memory_mib": 1200.0,
         "params": 61e6, "top1": None, "published_top1": 0.56522, "n": 50},
        {"model": "a_rather_long_model_name", "latency_ms_p50": 400.0,
         "peak_memory_mib": 1800.0, "params": 138e6, "top1": 0.7, "n": 50},
        {"model": "squeezenet1_1", "latency_ms_p50": 10.0, "peak_memory_mib": 1000.0,
         "params": 1.2e6, "top1": 0.618, "published_top1": 0.58178, "published_note": "x"},
    ]  # fmt: skip
    env = {"cpu": "AMD EPYC", "torch_threads": 2, "precision": "32-true", "gpu": None}
    heading = title("../shared/data/nips17-dev/images", rows, env)
    assert heading.splitlines()[0] == "nips17-dev/images: 50 images"
    fig = compare_figure(rows, heading)
    left, right = fig.axes
    assert fig._suptitle.get_text() == heading
    assert right.get_ylim()[0] == 0  # memory from zero
    assert {t.get_text() for t in left.get_legend().get_texts()} == {MEASURED, PUBLISHED}
    assert "point area" in right.get_legend().get_title().get_text()
    assert [t.get_text() for t in right.get_legend().get_texts()] == [
        "13.8 M parameters",
        "138.0 M parameters",
    ]
    hollow = [  # the published points: no fill
        c for c in left.collections if len(c.get_offsets()) and not any(c.get_facecolor()[:, 3])
    ]
    assert sorted(float(c.get_offsets()[0][1]) for c in hollow) == pytest.approx([56.522, 58.178])
    renderer = fig.canvas.get_renderer()
    for ax in (left, right):
        box = ax.get_window_extent(renderer)
        for text in ax.texts:
            ext = text.get_window_extent(renderer)
            assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and ext.y1 <= box.y1, text.get_text()


# --- 8. small ones -------------------------------------------------------------------------


def test_unknown_strategy_is_one_line(tiny_images: list[Path], capsys) -> None:
    assert main(["predict", str(tiny_images[0]), *FAST, "--strategy", "bogus"]) == 2
    line = one_line(capsys)
    assert line.startswith("harness: error: --strategy bogus: not a Lightning strategy")
    assert "ddp" in line


def test_accelerator_named_as_typed(monkeypatch) -> None:
    from harness.engine.speedups import check_accelerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "gpu"):
        with pytest.raises(HarnessError, match=f"^--accelerator {name}: no CUDA GPU"):
            check_accelerator(name)


def test_fp16_on_cpu_says_what_runs_instead(tiny_images: list[Path], capsys, recwarn) -> None:
    from harness.engine.speedups import bf16_native, resolve_precision

    assert resolve_precision("16-mixed", "cpu") == "bf16-mixed"
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("harness: warning: --precision 16-mixed: CPUs have no fp16 autocast")
    assert "running bf16-mixed" in line and ("emulated" in line) != bf16_native("cpu")
    args = ["predict", str(tiny_images[0]), *FAST, "--accelerator", "cpu"]
    assert main([*args, "--precision", "16-mixed", "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert "site-packages" not in err and err.count("precision") == 1
    assert not [w for w in recwarn if "precision" in str(w.message)]  # Lightning stays quiet


def test_option_error_shows_one_usage_line(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["predict", "x.png"])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "usage: harness predict --model MODEL [options] IMAGE [IMAGE ...]  "
        "(harness predict --help: all options)",
        "harness: error: the following arguments are required: --model",
    ]


@pytest.mark.parametrize("cores", [2, 16])
def test_help_gives_the_true_num_workers_default(cores: int, monkeypatch, capsys) -> None:
    from harness.engine.runs import RunConfig

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    used = RunConfig().workers()
    assert used == min(8, cores)
    assert f"(default: one per CPU core, at most 8: {used} here)" in text


def test_empty_file_is_skipped_as_empty(tmp_path: Path) -> None:
    empty = tmp_path / "zero.png"
    empty.write_bytes(b"")
    image, _, _, reason = ImageDataset([empty], [0], lambda im: im)[0]
    assert image is None and "empty file (0 bytes)" in reason


def test_interrupted_compare_names_its_partial_report(tmp_path: Path, monkeypatch, capsys) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.compare.parent.run_child", interrupted)
    out = tmp_path / "run"
    assert main(["compare", "--models", "alexnet", "--output", str(out)]) == 130
    assert f"partial report in {out}/report.md" in capsys.readouterr().err
    assert "not run (interrupted)" in (out / "report.md").read_text()


@pytest.mark.parametrize("weights", ["none", "FILE", "DEFAULT", "IMAGENET1K_V1"])
def test_classes_takes_what_predict_takes(weights: str, tmp_path: Path, capsys) -> None:
    if weights == "FILE":
        weights = str(tmp_path / "sq.pth")
        torch.save(squeezenet1_1().state_dict(), weights)
    args = ["classes", "--model", "squeezenet1_1", "--weights", weights, "--format", "json"]
    assert main([*args, "--weights-dir", str(tmp_path)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in listed["classes"]] == CATS
    missing = str(tmp_path / "absent.pth")
    assert main(["classes", "--model", "squeezenet1_1", "--weights", missing]) == 2
    assert one_line(capsys) == f"harness: error: weights file {missing!r} does not exist"
