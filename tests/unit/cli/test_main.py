"""harness.cli.main: the predict command's output formats, one-line errors and usage lines,
--help's defaults, inputs checked before any model loads.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.models import ResNet101_Weights, SqueezeNet1_1_Weights, squeezenet1_1

from harness.cli.main import main
from tests.helpers import CLASSES_CSV, need, one_line

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]
CATS = SqueezeNet1_1_Weights.DEFAULT.meta["categories"]


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_predict_json(tiny_images: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", *map(str, tiny_images), *FAST, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    results = json.loads(out)  # nothing else on stdout
    assert [r["file"] for r in results] == [str(p) for p in tiny_images]
    for r in results:
        assert r["random_weights"] is True
        assert r["model"] == "squeezenet1_1"
        assert len(r["topk"]) == 5
        probs = [t["probability"] for t in r["topk"]]
        assert probs == sorted(probs, reverse=True)
        assert all(0 <= p <= 1 for p in probs) and sum(probs) <= 1 + 1e-6
        assert len({t["index"] for t in r["topk"]}) == 5
        for t in r["topk"]:
            assert t["name"] == CATS[t["index"]]
    assert "random weights" in err


def test_predict_topk_and_folder(
    tiny_images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tiny_images[0].parent
    assert main(["predict", str(folder), *FAST, "--format", "json", "--topk", "2"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert sorted(r["file"] for r in results) == sorted(str(p) for p in tiny_images)
    assert all(len(r["topk"]) == 2 for r in results)


def test_predict_csv(tiny_images: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    files = tiny_images[:3]
    assert main(["predict", *map(str, files), *FAST, "--format", "csv", "--batch-size", "2"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3 * 5
    assert [(r["file"], int(r["rank"])) for r in rows] == [
        (str(f), k) for f in files for k in range(1, 6)
    ]
    for r in rows:
        assert r["name"] == CATS[int(r["index"])]
        assert 0 <= float(r["probability"]) <= 1
        assert r["model"] == "squeezenet1_1"


def test_predict_table(tiny_images: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    files = tiny_images[:2]
    assert main(["predict", *map(str, files), *FAST]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert len(blocks) == 2
    for f, block in zip(files, blocks, strict=True):
        title, header, *ranks = block.splitlines()
        assert title.startswith(str(f)) and "RANDOM WEIGHTS" in title
        assert header.split() == ["rank", "index", "class", "probability"]
        assert [int(line.split()[0]) for line in ranks] == [1, 2, 3, 4, 5]
        for line in ranks:
            rank, index, *name, prob = line.split()
            assert " ".join(name) == CATS[int(index)]
            assert 0 <= float(prob) <= 1


def test_predict_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_text("just some text\n")
    good = tmp_path / "ok.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(good)
    assert main(["predict", str(bad), str(good), *FAST, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert [r["file"] for r in json.loads(out)] == [str(good)]
    skipped = [line for line in err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and str(bad) in skipped[0]
    # --strict: the unusable file is an error, in one line
    assert main(["predict", str(bad), str(good), *FAST, "--strict"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "--strict" in err


def test_predict_only_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_text("just some text\n")
    assert main(["predict", str(bad), *FAST, "--format", "json"]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)  # a failure: the error document, as for any failed --format json
    assert doc["exit_status"] == 1 and "the only image could not be read" in doc["error"]
    assert "skipped" in err and str(bad) in err
    assert err.splitlines()[-1] == f"harness: error: {doc['error']}"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ([], "the following arguments are required: --model"),  # a usage error
        (["--model", "resnet5", "--weights", "none"], "unknown model 'resnet5'"),
        (["--model", "squeezenet1_1", "--weights", "nowhere.pth"], "nowhere.pth"),
    ],
)
def test_json_output_is_json_even_on_errors(
    tiny_images: list[Path], extra: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --format json a script reading stdout gets JSON whatever happens; stderr says why."""
    args = ["predict", str(tiny_images[0]), *extra, "--format", "json"]
    with contextlib.suppress(SystemExit):  # a usage error exits from argparse
        assert main(args) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["exit_status"] == 2 and error in doc["error"]
    assert f"harness: error: {doc['error']}" in err.splitlines()


@pytest.mark.parametrize("spelling", [["--format=json"], ["--form", "json"], ["--form=json"]])
def test_a_usage_error_is_json_however_json_is_asked_for(
    tiny_images: list[Path], spelling: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse takes ``--format=json`` and abbreviations as ``--format json``; so does the
    JSON error document of a command line argparse refused."""
    args = ["predict", str(tiny_images[0]), "--model", "squeezenet1_1", *spelling, "--topk", "0"]
    with pytest.raises(SystemExit):
        main(args)
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["exit_status"] == 2 and "argument --topk" in doc["error"]
    assert f"harness: error: {doc['error']}" in err.splitlines()


def test_no_json_document_where_json_is_not_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["predict", "--format"], ["predict", "--format", "csv", "--topk", "0"]):
        with pytest.raises(SystemExit):
            main(args)
        assert capsys.readouterr().out == ""


def test_unknown_model(tiny_images: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["predict", str(tiny_images[0]), "--model", "resnet5", "--weights", "none"]
    assert main(args) == 2
    [line] = error_lines(capsys)
    assert "did you mean" in line and "resnet50" in line


def test_missing_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(tmp_path / "absent.png"), *FAST]) == 2
    [line] = error_lines(capsys)
    assert "absent.png" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_without_cuda(tiny_images: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(tiny_images[0]), *FAST, "--accelerator", "gpu"]) == 2
    out, err = capsys.readouterr()
    [line] = err.strip().splitlines()
    assert "GPU" in line and "--accelerator cpu" in line
    assert out == ""


@pytest.mark.usefixtures("no_network")
def test_default_weights_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "x.jpg"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(image)
    cache = Path(os.environ["TORCH_HOME"], "hub", "checkpoints")
    expected = cache / ResNet101_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    assert main(["predict", str(image), "--model", "resnet101", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    [line] = err.strip().splitlines()
    assert line.startswith("harness: error:")
    assert str(expected) in line
    assert out == ""


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["predict", "x.png", "--model", "resnet18", "--batch-size", "0"])
    assert e.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_fewer_images_than_processes_is_one_json_error(tiny_images: list[Path], capsys) -> None:
    """Lightning's sampler would fail an assertion in one process and leave the other
    to report lost contact (two error documents on stdout); now one line, before any
    process starts."""
    args = ["predict", str(tiny_images[0]), *FAST, "--accelerator", "cpu", "--format", "json"]
    assert main([*args, "--devices", "2", "--strategy", "ddp"]) == 2
    out, err = capsys.readouterr()
    why = "1 image for 2 processes: each process needs at least one"
    assert json.loads(out)["error"].startswith(why) and err.startswith(f"harness: error: {why}")


def test_json_error_document_from_rank_zero_only(tmp_path: Path, capsys, monkeypatch) -> None:
    """Every process of a multi-process run that fails says why on stderr; only rank 0
    writes the JSON document, so that stdout holds one."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    args = ["predict", str(tmp_path / "absent.jpg"), *FAST, "--format", "json"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_status"] == 2 and err.startswith("harness: error: ")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert main(args) == 2
    out, err2 = capsys.readouterr()
    assert out == "" and err2 == err


def test_output_given_again_replaces_the_earlier_run(tmp_path: Path, capsys) -> None:
    """A labelled run, then an unlabelled one into the same --output: nothing of the first
    is left beside the second (its per_class.csv, its TensorBoard events), and it says so."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for i, folder in enumerate(("0", "1", "")):  # class indices 0 and 1, then none
        (tmp_path / "labelled" / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 20), (90 * i, 30, 60)).save(tmp_path / "labelled" / folder / "a.png")
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / "flat" / "b.png")
    out = tmp_path / "out"
    common = ["test", "--model", "squeezenet1_1", "--weights", "none", "--accelerator", "cpu",
              "--num-workers", "0", "--no-progress", "--output", str(out)]  # fmt: skip
    assert main([*common, "--data", str(tmp_path / "labelled")]) == 0
    first = sorted(out.glob("events.out.tfevents.*"))
    assert first and (out / "per_class.csv").is_file()
    capsys.readouterr()
    assert main([*common, "--data", str(tmp_path / "flat")]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n"] == 1 and res["labelled"] == 0
    assert not (out / "per_class.csv").exists()
    events = sorted(out.glob("events.out.tfevents.*"))
    assert events and not set(events) & set(first)
    said = (
        f"--output {out} held an earlier run: replaced (results.json, predictions.csv, "
        f"per_class.csv, {len(first)} TensorBoard event file{'s' * (len(first) != 1)})"
    )
    assert said in res["notes"] and f"note      {said}" in capsys.readouterr().out
    ea = EventAccumulator(str(out))
    ea.Reload()
    assert [e.value for e in ea.Scalars("test/labelled")] == [0.0]  # not the first run's 2 too


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--latency-seconds", "-1", "expected a number of seconds >= 0, got '-1'"),
        ("--latency-seconds", "nan", "expected a number of seconds >= 0, got 'nan'"),
        ("--timeout", "0", "expected a number of seconds above 0, got '0'"),
        ("--timeout", "-5", "expected a number of seconds above 0, got '-5'"),
    ],
)
def test_compare_time_options_refused(option: str, value: str, says: str, capsys) -> None:
    from harness.cli.main import build_parser

    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["compare", "--models", "squeezenet1_1", option, value])
    assert e.value.code == 2
    assert f"argument {option}: {says}" in capsys.readouterr().err


def test_compare_time_options_taken() -> None:
    from harness.cli.main import build_parser

    args = build_parser().parse_args(
        ["compare", "--models", "m", "--latency-seconds", "0", "--timeout", "2.5"]
    )
    assert (args.latency_seconds, args.timeout) == (0.0, 2.5)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_command(where: str, capsys, tmp_path: Path) -> None:
    """--debug shows the traceback on either side of the command; without it, one line."""
    absent = str(tmp_path / "absent.jpg")
    args = ["predict", absent, "--model", "squeezenet1_1"]
    with pytest.raises(Exception, match="no such file or folder"):
        main(["--debug", *args] if where == "before" else [*args, "--debug"])
    assert main(args) == 2
    assert capsys.readouterr().err == f"harness: error: no such file or folder: {absent!r}\n"


def test_topk_over_the_classes_says_so(tiny_images: list[Path], capsys) -> None:
    args = ["predict", str(tiny_images[0]), "--model", "squeezenet1_1", "--weights", "none",
            "--accelerator", "cpu", "--num-workers", "0", "--format", "json"]  # fmt: skip
    assert main([*args, "--topk", "2000"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)[0]["topk"]) == 1000
    assert "harness: note: --topk 2000: squeezenet1_1 has 1000 classes, all shown\n" in err


def test_output_into_another_tools_folder_keeps_its_events(tmp_path: Path) -> None:
    """A training run's folder (its events, no harness results.json) keeps its event files."""
    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    out = tmp_path / "version_3"
    out.mkdir()
    theirs = out / "events.out.tfevents.1700000000.trainer.1.0"
    theirs.write_bytes(b"training scalars")
    (out / "results.json").write_text('{"val_loss": 0.3}')  # not a harness run's
    args = ["test", "--model", "squeezenet1_1", "--weights", "none", "--accelerator", "cpu",
            "--num-workers", "0", "--data", str(tmp_path), "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    assert theirs.read_bytes() == b"training scalars"
    res = json.loads((out / "results.json").read_text())
    assert res["n"] == 1 and not any("earlier run" in n for n in res["notes"])


def test_top5_of_three_classes_is_flagged(tmp_path: Path) -> None:
    """Top-5 of a 3-class model is 100% whatever it predicts: results.json says so."""
    from torchvision.models import squeezenet1_1

    torch.save(squeezenet1_1(num_classes=3).state_dict(), tmp_path / "three.pth")
    (tmp_path / "classes.txt").write_text("cat\ndog\nfox\n")
    for i, name in enumerate(("cat", "dog", "fox")):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.new("RGB", (20, 20), (80 * i, 20, 40)).save(tmp_path / "data" / name / "a.png")
    args = ["test", "--model", "squeezenet1_1", "--weights", str(tmp_path / "three.pth"),
            "--classes", str(tmp_path / "classes.txt"), "--data", str(tmp_path / "data"),
            "--accelerator", "cpu", "--num-workers", "0",
            "--output", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (res["labelled"], res["correct5"], res["top5"]) == (3, 3, 1.0)
    assert "top-5 of a model with 3 classes holds every class: 100% by definition" in res["notes"]


FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]


def test_limit_and_sample_exclude_each_other_and_help_says_what_limit_does(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["test", *FAST, "--data", ".", "--limit", "3", "--sample", "3"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["test", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "only the first N images" in text and "the first classes only" in text
    assert "a random sample of N images" in text
    assert "seed of --sample and --calibration (default: 0)" in text


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


# --- 8. small ones -------------------------------------------------------------------------


def test_unknown_strategy_is_one_line(tiny_images: list[Path], capsys) -> None:
    assert main(["predict", str(tiny_images[0]), *FAST, "--strategy", "bogus"]) == 2
    line = one_line(capsys)
    assert line.startswith("harness: error: --strategy bogus: not a Lightning strategy")
    assert "ddp" in line


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


# --- smaller ------------------------------------------------------------------------------------


def test_predict_takes_a_quoted_pattern(jpegs: Path, capsys) -> None:
    assert main(["predict", str(jpegs / "p*.jpg"), *FAST, "--format", "json"]) == 0
    found = [Path(r["file"]).name for r in json.loads(capsys.readouterr().out)]
    assert found == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
    assert main(["predict", str(jpegs / "q*.jpg"), *FAST]) == 2
    assert "no file or folder matches" in one_line(capsys)


def test_predict_json_gives_each_class_its_wnid(jpegs: Path, capsys) -> None:
    with open(need(CLASSES_CSV), newline="") as f:  # the shared list, not the package's
        wnid_of = {int(r[0]): r[1] for r in csv.reader(f) if r[0].isdigit()}
    assert main(["predict", str(jpegs / "p0.jpg"), *FAST, "--format", "json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert len(result["topk"]) == 5
    for t in result["topk"]:
        assert t["wnid"] == wnid_of[t["index"]] and t["name"] == CATS[t["index"]]


def test_counts_of_one_are_singular(jpegs: Path, tmp_path: Path, capsys) -> None:
    assert main(["models", "squeezenet1_1"]) == 0
    assert "1 torchvision model:" in capsys.readouterr().err
    assert main(["models", "timm/tf_efficientnet_lite0"]) == 0
    assert "1 timm model:" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["test", *FAST, "--data", str(jpegs), "--threads", "1", "--output", str(out)]) == 0
    assert re.search(r"cpu x1, 1 thread\)", capsys.readouterr().out)
