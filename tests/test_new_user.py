"""What a new user met on a fresh clone with photos of their own: ``python -m harness``
from the folder above the checkout, ``compare`` and ``data/``, labels files as people
write them, and smaller defects."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLASSES_CSV, ROOT, SHARED, need
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights

import harness
from harness.cli.main import main
from harness.data.datamodule import find_samples
from harness.engine.files import to_csv
from harness.errors import HarnessError
from harness.labels.classes import LabelMap
from harness.zoo import registry

FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]
CATS = SqueezeNet1_1_Weights.DEFAULT.meta["categories"]

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


def python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """This interpreter (the checkout's venv) run as a user would: no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_WEIGHTS_DIR")}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    return line


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


# --- compare takes data/ as test does -----------------------------------------------------------


@pytest.fixture(scope="module")
def own_data(nips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder whose data/ holds six of the photos and their labels.csv."""
    work = tmp_path_factory.mktemp("work")
    (work / "data").mkdir()
    with open(nips / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:6]
    for r in rows:
        (work / "data" / r["file"]).write_bytes((nips / "images" / r["file"]).read_bytes())
    lines = ["file,label", *(f"{r['file']},{r['label']}" for r in rows)]
    (work / "data" / "labels.csv").write_text("\n".join(lines) + "\n")
    (work / "data" / "README.md").write_text("my photos\n")  # never taken for an image
    return work


def test_compare_takes_data_folder_as_test_does(
    own_data: Path, squeezenet_weights: Path, reference, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(own_data)
    out = own_data / "run"
    args = ["compare", "--models", "squeezenet1_1", "--weights-dir", str(squeezenet_weights.parent)]
    args += ["--num-workers", "0", "--latency-seconds", "0", "--output", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "the default data folder" in err and "labels from data/labels.csv" in err
    [row] = json.loads((out / "results.json").read_text())
    with open("data/labels.csv", newline="") as f:
        labels = {r["file"]: int(r["label"]) for r in csv.DictReader(f)}
    top1 = sum(reference[f][0][0] == y for f, y in labels.items())  # the plain loop's answers
    assert (row["n"], row["labelled"], row["correct1"]) == (6, 6, top1)
    assert row["skipped"] == []  # README.md and labels.csv are not images
    # results.csv: the preprocessing as JSON, equal to results.json's
    with open(out / "results.csv", newline="") as f:
        [csv_row] = list(csv.DictReader(f))
    assert json.loads(csv_row["preprocessing"]) == row["preprocessing"]


def test_to_csv_writes_dicts_and_lists_as_json() -> None:
    text = to_csv([{"model": "m", "preprocessing": {"mean": [0.5, 0.5], "crop": 0.875}}])
    [row] = list(csv.DictReader(text.splitlines()))
    assert json.loads(row["preprocessing"]) == {"mean": [0.5, 0.5], "crop": 0.875}


# --- labels files as people write them ----------------------------------------------------------


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    for i in range(4):
        Image.new("RGB", (16, 12), (50 * i, 90, 20)).save(tmp_path / f"p{i}.jpg")
    return tmp_path


ROWS = [("p0.jpg", "cannon"), ("p1.jpg", "geyser"), ("p2.jpg", "3"), ("p3.jpg", "n01440764")]


def written(header: str | None, sep: str = ",", extra: str = "") -> str:
    lines = [header] if header else []
    return "\n".join([*lines, *(f"{f}{sep}{y}{extra}" for f, y in ROWS)]) + "\n"


WRITTEN = {  # the same four rows, as people write them
    "headerless": written(None),
    "filename,class": written("filename,class"),
    "image,label": written("Image,Label,note", extra=",x"),
    "semicolons": written("file;label", ";"),
    "headerless semicolons": written(None, ";"),
    "tabs": written("file\tlabel", "\t"),
}


@pytest.mark.parametrize("form", list(WRITTEN))
def test_labels_files_as_people_write_them(form: str, photos: Path) -> None:
    (photos / "labels.csv").write_text(WRITTEN[form])
    wnids = [""] * 1000
    wnids[0] = "n01440764"
    s = find_samples(photos, CATS, wnids, photos / "labels.csv")
    expected = [CATS.index("cannon"), CATS.index("geyser"), 3, 0]  # counted by hand
    assert [f.name for f in s.files] == [f for f, _ in ROWS]
    assert s.labels == expected


def test_a_first_line_that_is_neither_header_nor_row_is_one_error(photos: Path) -> None:
    (photos / "labels.csv").write_text("picture,species\np0.jpg,cannon\n")
    with pytest.raises(HarnessError, match="neither a header naming a file column"):
        find_samples(photos, CATS, (), photos / "labels.csv")


@pytest.mark.parametrize(
    ("typed", "meant"), [("canon", "cannon"), ("geysir", "geyser"), ("tent", "mountain tent")]
)
def test_unknown_label_says_did_you_mean(typed: str, meant: str, photos: Path) -> None:
    with pytest.raises(ValueError, match=f"did you mean '{meant}'"):
        LabelMap(CATS)(typed)
    (photos / "labels.csv").write_text(f"p0.jpg,{typed}\n")
    with pytest.raises(HarnessError) as e:
        find_samples(photos, CATS, (), photos / "labels.csv")
    assert f"did you mean '{meant}'" in str(e.value) and "--lenient" in str(e.value)


BAD_ROWS = "file,label\np0.jpg,cannon\ngone.jpg,geyser\np1.jpg,canon\np2.jpg,geyser\n"


def test_lenient_skips_and_lists_bad_rows(photos: Path) -> None:
    (photos / "labels.csv").write_text(BAD_ROWS)
    with pytest.raises(HarnessError, match=r"do not exist .*--lenient skips such rows.*gone\.jpg"):
        find_samples(photos, CATS, (), photos / "labels.csv")
    s = find_samples(photos, CATS, (), photos / "labels.csv", lenient=True)
    assert [f.name for f in s.files] == ["p0.jpg", "p2.jpg"]
    assert s.labels == [CATS.index("cannon"), CATS.index("geyser")]
    why = {p.name: r for p, r in s.dropped}
    assert why["gone.jpg"] == "line 3 of labels.csv: no such file"
    assert why["p1.jpg"].startswith("line 4 of labels.csv: unknown label 'canon'")
    assert any("2 rows of labels.csv skipped" in n for n in s.notes)
    # p1.jpg is listed, under a label that is no class: only p3.jpg is not listed
    [unlisted] = [n for n in s.notes if "not listed" in n]
    assert unlisted.endswith("not evaluated: p3.jpg")


def test_test_lenient_reports_the_skipped_rows(photos: Path, tmp_path: Path, capsys) -> None:
    (photos / "labels.csv").write_text(BAD_ROWS)
    out = tmp_path / "run"
    args = ["test", *FAST, "--data", str(photos), "--labels", str(photos / "labels.csv")]
    assert main([*args, "--output", str(out)]) == 2  # without --lenient: one line, no run
    assert "--lenient" in one_line(capsys) and not out.exists()
    assert main([*args, "--output", str(out), "--lenient"]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert (res["n"], res["labelled"]) == (2, 2)  # the two good rows of the four
    skipped = {Path(s["file"]).name: s["reason"] for s in res["skipped"]}
    assert set(skipped) == {"gone.jpg", "p1.jpg"}
    assert "images    2 evaluated, 2 labelled, 2 skipped" in printed
    assert f"skipped   {photos / 'gone.jpg'}: line 3 of labels.csv: no such file" in printed


# --- smaller ------------------------------------------------------------------------------------


def test_predict_takes_a_quoted_pattern(photos: Path, capsys) -> None:
    assert main(["predict", str(photos / "p*.jpg"), *FAST, "--format", "json"]) == 0
    found = [Path(r["file"]).name for r in json.loads(capsys.readouterr().out)]
    assert found == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
    assert main(["predict", str(photos / "q*.jpg"), *FAST]) == 2
    assert "no file or folder matches" in one_line(capsys)


def test_predict_json_gives_each_class_its_wnid(photos: Path, capsys) -> None:
    with open(need(CLASSES_CSV), newline="") as f:  # the shared list, not the package's
        wnid_of = {int(r[0]): r[1] for r in csv.reader(f) if r[0].isdigit()}
    assert main(["predict", str(photos / "p0.jpg"), *FAST, "--format", "json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert len(result["topk"]) == 5
    for t in result["topk"]:
        assert t["wnid"] == wnid_of[t["index"]] and t["name"] == CATS[t["index"]]


def test_models_takes_any_case_and_suggests_torchvision_first(capsys) -> None:
    assert main(["models", "ResNet50", "--format", "json"]) == 0
    assert [r["model"] for r in json.loads(capsys.readouterr().out)] == ["resnet50"]
    with pytest.raises(HarnessError, match=r"did you mean resnet50, timm/resnet50"):
        registry.check("ResNet50")
    with pytest.raises(HarnessError, match=r"did you mean timm/efficientnet_lite0"):
        registry.check("efficientnet_lite0")  # timm's only: timm's first


def test_classes_of_a_model_without_a_head_is_an_error(capsys) -> None:
    assert main(["classes", "--model", "timm/vit_base_patch14_dinov2"]) == 2
    line = one_line(capsys)
    assert "has no classifier head (0 classes)" in line


def test_counts_of_one_are_singular(photos: Path, tmp_path: Path, capsys) -> None:
    assert main(["models", "squeezenet1_1"]) == 0
    assert "1 torchvision model:" in capsys.readouterr().err
    assert main(["models", "timm/tf_efficientnet_lite0"]) == 0
    assert "1 timm model:" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["test", *FAST, "--data", str(photos), "--threads", "1", "--output", str(out)]) == 0
    assert re.search(r"cpu x1, 1 thread\)", capsys.readouterr().out)


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
