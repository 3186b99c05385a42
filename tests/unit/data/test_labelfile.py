"""harness.data.labelfile: labels files as people write them, --lenient, one image named twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torchvision.models import SqueezeNet1_1_Weights

from harness.cli.main import main
from harness.data.datamodule import find_samples
from harness.errors import HarnessError
from harness.labels.classes import LabelMap
from tests.helpers import one_line

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


FAST = ["--model", "squeezenet1_1", "--weights", "none", "--no-progress", "--num-workers", "0"]
CATS = SqueezeNet1_1_Weights.DEFAULT.meta["categories"]


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
def test_labels_files_as_people_write_them(form: str, jpegs: Path) -> None:
    (jpegs / "labels.csv").write_text(WRITTEN[form])
    wnids = [""] * 1000
    wnids[0] = "n01440764"
    s = find_samples(jpegs, CATS, wnids, jpegs / "labels.csv")
    expected = [CATS.index("cannon"), CATS.index("geyser"), 3, 0]  # counted by hand
    assert [f.name for f in s.files] == [f for f, _ in ROWS]
    assert s.labels == expected


def test_a_first_line_that_is_neither_header_nor_row_is_one_error(jpegs: Path) -> None:
    (jpegs / "labels.csv").write_text("picture,species\np0.jpg,cannon\n")
    with pytest.raises(HarnessError, match="neither a header naming a file column"):
        find_samples(jpegs, CATS, (), jpegs / "labels.csv")


@pytest.mark.parametrize(
    ("typed", "meant"), [("canon", "cannon"), ("geysir", "geyser"), ("tent", "mountain tent")]
)
def test_unknown_label_says_did_you_mean(typed: str, meant: str, jpegs: Path) -> None:
    with pytest.raises(ValueError, match=f"did you mean '{meant}'"):
        LabelMap(CATS)(typed)
    (jpegs / "labels.csv").write_text(f"p0.jpg,{typed}\n")
    with pytest.raises(HarnessError) as e:
        find_samples(jpegs, CATS, (), jpegs / "labels.csv")
    assert f"did you mean '{meant}'" in str(e.value) and "--lenient" in str(e.value)


BAD_ROWS = "file,label\np0.jpg,cannon\ngone.jpg,geyser\np1.jpg,canon\np2.jpg,geyser\n"


def test_lenient_skips_and_lists_bad_rows(jpegs: Path) -> None:
    (jpegs / "labels.csv").write_text(BAD_ROWS)
    with pytest.raises(
        HarnessError, match=r"does not exist .*--lenient skips such rows.*gone\.jpg"
    ):
        find_samples(jpegs, CATS, (), jpegs / "labels.csv")
    s = find_samples(jpegs, CATS, (), jpegs / "labels.csv", lenient=True)
    assert [f.name for f in s.files] == ["p0.jpg", "p2.jpg"]
    assert s.labels == [CATS.index("cannon"), CATS.index("geyser")]
    why = {p.name: r for p, r in s.dropped}
    assert why["gone.jpg"] == "line 3 of labels.csv: no such file"
    assert why["p1.jpg"].startswith("line 4 of labels.csv: unknown label 'canon'")
    assert any("2 rows of labels.csv skipped" in n for n in s.notes)
    # p1.jpg is listed, under a label that is no class: only p3.jpg is not listed
    [unlisted] = [n for n in s.notes if "not listed" in n]
    assert unlisted.endswith("not evaluated: p3.jpg")


def test_test_lenient_reports_the_skipped_rows(jpegs: Path, tmp_path: Path, capsys) -> None:
    (jpegs / "labels.csv").write_text(BAD_ROWS)
    out = tmp_path / "run"
    args = ["test", *FAST, "--data", str(jpegs), "--labels", str(jpegs / "labels.csv")]
    assert main([*args, "--output", str(out)]) == 2  # without --lenient: one line, no run
    assert "--lenient" in one_line(capsys) and not out.exists()
    assert main([*args, "--output", str(out), "--lenient"]) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert (res["n"], res["labelled"]) == (2, 2)  # the two good rows of the four
    skipped = {Path(s["file"]).name: s["reason"] for s in res["skipped"]}
    assert set(skipped) == {"gone.jpg", "p1.jpg"}
    assert "images    2 evaluated, 2 labelled, 2 skipped" in printed
    assert f"skipped   {jpegs / 'gone.jpg'}: line 3 of labels.csv: no such file" in printed


# --- 4. a labels file naming one image twice -----------------------------------------------


def test_labels_file_naming_an_image_twice(tiny_images: list[Path], tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nimg0.png,1\nimg1.png,2\n./img0.png,3\n")
    with pytest.raises(HarnessError) as e:
        find_samples(tmp_path, CATS, labels=labels)
    assert "img0.png" in str(e.value) and "lines 2 and 4" in str(e.value)
