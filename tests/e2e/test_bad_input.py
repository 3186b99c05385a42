"""Hostile and odd input: every file is evaluated correctly or reported once, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

import harness.data.images
from harness.cli.main import main
from harness.data.datamodule import ImageDataset
from harness.engine.classifier import ClassifierModule
from tests.helpers import read_csv
from tests.helpers.images import bomb_png

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
GOOD = 20
ORIENTATION = 0x0112  # the Exif tag


def encoded(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@dataclass
class BadFolder:
    """A folder of images, with what a careful reader must make of each entry."""

    root: Path
    good: list[str]  # copies of nips17 images, by name
    valid: list[str]  # unusual but decodable (relative paths)
    unusable: list[str]  # to be reported as skipped (relative paths)
    locked: Path  # "unreadable": Image.open raises PermissionError for it in-process

    @property
    def decodable(self) -> list[str]:
        return self.good + self.valid


@pytest.fixture
def bad_folder(tmp_path: Path, nips: Path) -> BadFolder:
    """20 nips17 images and one of every awkward case, in ``tmp_path/data``."""
    pngs = sorted((nips / "images").glob("*.png"))
    if len(pngs) < GOOD + 4:
        pytest.skip(f"{nips} has fewer than {GOOD + 4} images")
    root = tmp_path / "data"
    root.mkdir()
    good = [p.name for p in pngs[:GOOD]]
    for p in pngs[:GOOD]:
        shutil.copy(p, root / p.name)
    a, b, c, d = (Image.open(p).convert("RGB") for p in pngs[GOOD : GOOD + 4])
    grey = b.convert("L")
    files: dict[str, bytes] = {
        # decodable, if unusual
        "jpeg-named.png": encoded(a, "JPEG", quality=95),
        "cmyk.jpg": encoded(c.convert("CMYK"), "JPEG", quality=95),
        "grey.png": encoded(grey, "PNG"),
        "grey16.png": encoded(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), "PNG"),
        "rgba.png": encoded(Image.open(pngs[0]).convert("RGBA"), "PNG"),  # alpha 255: as pngs[0]
        "la.png": encoded(grey.convert("LA"), "PNG"),  # alpha 255: as grey.png
        "palette.png": encoded(c.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "dot.png": encoded(Image.new("RGB", (1, 1), (200, 30, 7)), "PNG"),
        "with space.png": encoded(d, "PNG"),
        "naïve 日本.png": encoded(d.rotate(90), "PNG"),
        "sub/deeper/nested.png": encoded(a, "PNG"),
        # unusable
        "empty.jpg": b"",
        "truncated.jpg": encoded(a, "JPEG", quality=95)[:3000],
        "truncated.png": encoded(a, "PNG")[:5000],
        "notes.jpg": b"not an image at all\n",
        "bomb.png": bomb_png(),
        ".hidden.png": encoded(a, "PNG"),
        "locked.png": encoded(a, "PNG"),
    }
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # shown turned 90 degrees clockwise
    wide = d.crop((0, 0, d.width, d.height * 2 // 3))  # not square: rotation changes the crop
    files["exif6.jpg"] = encoded(wide, "JPEG", quality=95, exif=exif.tobytes())
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with Image.open(root / "exif6.jpg") as raw:  # stored sideways; turn it upright by hand
        raw.transpose(Image.Transpose.ROTATE_270).save(root / "upright.png")
    (root / "empty").mkdir()
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "self.png").symlink_to("self.png")
    os.mkfifo(root / "pipe.png")
    (root / "locked.png").chmod(0)
    unusable = ["empty.jpg", "truncated.jpg", "truncated.png", "notes.jpg", "bomb.png"]
    unusable += [".hidden.png", "locked.png", "loop", "self.png", "pipe.png"]
    valid = [n for n in files if n not in unusable] + ["upright.png"]
    assert len(good) == 20 and len(valid) == 13 and len(unusable) == 10  # the hand count
    return BadFolder(root, good, valid, unusable, root / "locked.png")


def lock(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Image.open refuses ``path`` as an unreadable file would (root reads mode 000 files)."""
    real_open = harness.data.images.Image.open

    def guarded(fp: object, *args: object, **kwargs: object) -> Image.Image:
        if isinstance(fp, (str, os.PathLike)) and os.fspath(fp) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(fp, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(harness.data.images.Image, "open", guarded)


def run_test(data: Path, out: Path, *extra: str, weights: str = "none") -> int:
    args = ["test", "--model", "squeezenet1_1", "--weights", weights, "--data", str(data)]
    return main([*args, "--output", str(out), *FAST, *extra])


def top5(out: Path) -> dict[str, list[int]]:
    """predictions.csv as file -> top-5 class indices."""
    with open(out / "predictions.csv", newline="", encoding="utf-8") as f:
        return {
            r["file"]: [int(r[f"pred{k}_index"]) for k in range(1, 6)] for r in csv.DictReader(f)
        }


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in out + err
    return lines[0]


def test_bad_folder_is_evaluated_and_reported(
    bad_folder: BadFolder,
    squeezenet_weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    lock(monkeypatch, bad_folder.locked)
    root, w = bad_folder.root, str(squeezenet_weights)
    assert run_test(root, tmp_path / "out", weights=w) == 0
    assert "Traceback" not in capsys.readouterr().err
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    preds = top5(tmp_path / "out")

    assert res["n"] == len(bad_folder.decodable) == 33
    assert sorted(preds) == sorted(bad_folder.decodable)
    skipped = [s["file"] for s in res["skipped"]]
    assert sorted(skipped) == sorted(str(root / n) for n in bad_folder.unusable)  # once each
    assert all(s["reason"].strip() for s in res["skipped"])
    assert res["n"] + len(res["skipped"]) == 20 + 13 + 10

    # the 20 good images score as they do on their own
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in bad_folder.good:
        shutil.copy(root / name, alone / name)
    assert run_test(alone, tmp_path / "out-alone", weights=w) == 0
    by_themselves = top5(tmp_path / "out-alone")
    assert sorted(by_themselves) == sorted(bad_folder.good)
    assert {n: preds[n] for n in bad_folder.good} == by_themselves

    # unusual encodings of the same pixels give the same answers
    assert preds["exif6.jpg"] == preds["upright.png"]
    assert preds["grey16.png"] == preds["grey.png"] == preds["la.png"]
    assert preds["rgba.png"] == preds[bad_folder.good[0]]


def test_bad_folder_in_a_subprocess(bad_folder: BadFolder, tmp_path: Path) -> None:
    """The real process: the FIFO does not hang it, and nothing reaches the terminal as a trace.

    Nothing can make locked.png unreadable there for root, who reads mode 000 files.
    """
    try:
        bad_folder.locked.read_bytes()
        readable = ["locked.png"]
    except PermissionError:
        readable = []
    out = tmp_path / "out"
    args = ["test", "--model", "squeezenet1_1", "--weights", "none", "--data", str(bad_folder.root)]
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args, "--output", str(out), *FAST],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    res = json.loads((out / "results.json").read_text())
    assert sorted(top5(out)) == sorted(bad_folder.decodable + readable)
    unusable = [n for n in bad_folder.unusable if n not in readable]
    assert sorted(s["file"] for s in res["skipped"]) == sorted(
        str(bad_folder.root / n) for n in unusable
    )


def test_file_name_that_is_not_utf8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Latin-1 names, as old archives hold them: evaluated and reported like any other."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (30, 30), (9, 9, 9)).save(data / "ok.png")
    try:
        latin1 = os.fsencode(data) + b"/caf\xe9.png"
        with open(latin1, "wb") as f:
            f.write(encoded(Image.new("RGB", (30, 30), (9, 90, 9)), "PNG"))
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    assert run_test(data, tmp_path / "out") == 0, capsys.readouterr().err
    res = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert res["n"] == 2 and res["skipped"] == []
    assert len(top5(tmp_path / "out")) == 2


def test_exif_rotation_matches_pil_rotation(
    bad_folder: BadFolder, squeezenet_weights: Path
) -> None:
    """The harness's top-1 for the sideways JPEG equals a plain loop on the PIL-rotated image."""
    model = squeezenet1_1()
    model.load_state_dict(torch.load(squeezenet_weights, weights_only=True))
    model.eval()
    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    with Image.open(bad_folder.root / "exif6.jpg") as raw:
        upright = raw.convert("RGB").transpose(Image.Transpose.ROTATE_270)
    ds = ImageDataset([bad_folder.root / "exif6.jpg"], [-1], tf)
    x, _, _, why = ds[0]
    assert why == "" and torch.equal(x, tf(upright))
    with torch.inference_mode():
        assert model(x[None]).argmax() == model(tf(upright)[None]).argmax()


def test_strict_stops_at_the_first_unusable_file(
    bad_folder: BadFolder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_test(bad_folder.root, tmp_path / "out", "--strict") == 2
    line = one_error_line(capsys)
    assert "--strict" in line and any(str(bad_folder.root / n) in line for n in bad_folder.unusable)
    assert not list(tmp_path.rglob("results.json"))


def test_strict_on_a_file_that_fails_to_decode(
    tiny_images: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No file is passed over before decoding: the failure comes from inside Lightning's loop."""
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    bad = tiny_images[0].parent / "img3b.png"
    bad.write_bytes(tiny_images[3].read_bytes()[:60])
    assert run_test(bad.parent, cwd / "out", "--strict", "--batch-size", "2") == 2
    line = one_error_line(capsys)
    assert str(bad) in line and "--strict" in line
    assert not list(cwd.rglob("results.json"))
    assert not list(cwd.rglob("events.out.tfevents.*"))  # no empty run for TensorBoard
    args = ["test", "--model", "squeezenet1_1", "--weights", "none", "--data", str(bad.parent)]
    assert main([*args, *FAST, "--strict", "--batch-size", "2"]) == 2  # in lightning_logs/
    assert str(bad) in one_error_line(capsys)
    assert not (cwd / "lightning_logs" / "squeezenet1_1").exists()


@pytest.mark.parametrize("case", ["empty folder", "missing folder", "a file"])
def test_data_path_errors(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    if case == "empty folder":
        data.mkdir()
    elif case == "a file":
        Image.new("RGB", (8, 8)).save(data.with_suffix(".png"))
        data = data.with_suffix(".png")
    assert run_test(data, tmp_path / "out") == 2
    assert str(data) in one_error_line(capsys)
    assert not list(tmp_path.rglob("results.json"))


@pytest.mark.parametrize(
    "text",
    [
        b"name,class\nimg0.png,1\n",  # wrong columns (a headerless file is fine: test_new_user)
        b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00junk",  # binary, not UTF-8
        b"file,label\nimg0.png,\x001\n",  # a NUL byte
    ],
    ids=["wrong columns", "binary", "nul"],
)
def test_malformed_labels_csv(
    text: bytes,
    tiny_images: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    labels = cwd / "labels.csv"
    labels.write_bytes(text)
    assert run_test(tiny_images[0].parent, cwd / "out", "--labels", str(labels)) == 2
    assert "labels" in one_error_line(capsys)
    assert not list(cwd.rglob("results.json"))


def test_out_of_memory_halves_the_batch(
    tiny_images: list[Path],
    squeezenet_weights: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    data, w = tiny_images[0].parent, str(squeezenet_weights)
    assert run_test(data, cwd / "plain", "--batch-size", "4", weights=w) == 0
    capsys.readouterr()

    forward = ClassifierModule.forward
    sizes: list[int] = []

    def small_gpu(self: ClassifierModule, x: torch.Tensor) -> torch.Tensor:
        sizes.append(len(x))
        if len(x) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return forward(self, x)

    monkeypatch.setattr(ClassifierModule, "forward", small_gpu)
    assert run_test(data, cwd / "retried", "--batch-size", "16", weights=w) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    retries = [line for line in err.splitlines() if "out of memory" in line]
    assert len(retries) == 2
    assert "--batch-size 8" in retries[0] and "--batch-size 4" in retries[1]
    assert sizes == [6, 6, 4, 2]
    plain = json.loads((cwd / "plain" / "results.json").read_text())
    retried = json.loads((cwd / "retried" / "results.json").read_text())
    assert retried["batch_size"] == plain["batch_size"] == 4
    assert retried["n"] == plain["n"] == 6
    a = (cwd / "plain" / "predictions.csv").read_text()
    assert (cwd / "retried" / "predictions.csv").read_text() == a


class Payload:
    """Unpickling this calls open(marker, 'w'): code that runs at load time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_malicious_checkpoint_is_refused(
    tiny_images: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = tmp_path_factory.mktemp("ckpt")
    marker, evil = d / "pwned", d / "evil.pth"
    torch.save({**squeezenet1_1().state_dict(), "evil": Payload(marker)}, evil)
    args = ["predict", str(tiny_images[0]), "--model", "squeezenet1_1", *FAST]
    assert main([*args, "--weights", str(evil)]) == 2
    assert "refusing to load" in one_error_line(capsys)
    assert not marker.exists()

    ten = d / "ten.pth"
    torch.save(squeezenet1_1(num_classes=10).state_dict(), ten)
    assert main([*args, "--weights", str(ten)]) == 2
    assert "10 classes" in one_error_line(capsys)


@pytest.mark.parametrize("command", ["test", "compare"])
@pytest.mark.parametrize("inside", [False, True])
def test_output_that_is_a_file(tmp_path: Path, capsys, command: str, inside: bool) -> None:
    """One line and exit 2 before any model runs, not an OS error from deep inside."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    image = tmp_path / "data" / "a.png"
    image.parent.mkdir()
    Image.new("RGB", (8, 8)).save(image)
    out = notes / "run" if inside else notes
    model = ["--model"] if command == "test" else ["--models"]
    args = [command, *model, "squeezenet1_1", "--weights-dir", str(tmp_path), "--data",
            str(image.parent), "--accelerator", "cpu", "--output", str(out)]  # fmt: skip
    assert main(args) == 2
    said = f"--output {str(out)!r}" + (f": {str(notes)!r}" if inside else "")
    assert (
        capsys.readouterr().err
        == f"harness: error: {said} is a file: name a folder (made if absent)\n"
    )
    assert notes.read_text() == "mine\n"


@pytest.mark.parametrize("strict", [False, True])
def test_compare_lists_a_file_it_passed_over_or_stops_on_it_with_strict(
    tiny_images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], strict: bool
) -> None:
    """No labels, random weights: only the end-to-end pass reads the photos, and what it
    could not read is said (row, console, report.md), or with --strict fails the row."""
    bad = tiny_images[0].parent / "img3b.png"
    bad.write_bytes(tiny_images[3].read_bytes()[:60])  # cut short: fails to decode
    out = tmp_path / "run"
    args = ["compare", "--models", "squeezenet1_1", "--weights-dir", str(tmp_path), "--data",
            str(bad.parent), "--latency-seconds", "0.1", "--batch-size", "2", *FAST,
            "--output", str(out)]  # fmt: skip
    assert main([*args, *(["--strict"] if strict else [])]) == (1 if strict else 0)
    (row,) = json.loads((out / "results.json").read_text())
    console = capsys.readouterr().out
    if strict:
        assert str(bad) in row["error"] and row["error"].endswith("(--strict)")
        assert f"error     squeezenet1_1: harness: error: unusable file {str(bad)!r}" in console
        return
    (skipped,) = row["skipped"]
    assert skipped["file"] == str(bad) and skipped["reason"].startswith("OSError")
    said = f"squeezenet1_1: 1 file passed over, not counted (results.json lists each): {bad}"
    assert f"skipped   {said}" in console and f"- {said}" in (out / "report.md").read_text()
    csv_row = read_csv(out / "results.csv")[0]
    assert csv_row["skipped"] == "1" and row["throughput_e2e_ips"] > 0


def test_compare_of_an_empty_folder_stops_before_any_model(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    out = tmp_path / "run"
    args = ["compare", "--models", "squeezenet1_1", "--data", str(tmp_path / "empty"),
            "--output", str(out)]  # fmt: skip
    assert main(args) == 2
    assert (
        capsys.readouterr().err
        == f"harness: error: no images found in {str(tmp_path / 'empty')!r}\n"
    )
    assert not out.exists()


def test_test_that_reads_nothing_fails_but_keeps_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As predict: exit 1 when not one image could be read, after the summary says why."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.png", "b.jpg"):
        (data / name).write_bytes(b"not an image")
    (data / ".DS_Store").write_bytes(b"")  # passed over, never tried
    assert run_test(data, tmp_path / "out") == 1
    out, err = capsys.readouterr()
    assert err == "harness: error: not one image could be read (the summary lists why)\n"
    assert out.count("skipped   ") == 3  # the two tried, and the hidden file passed over
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    names = [Path(s["file"]).name for s in res["skipped"]]
    assert res["n"] == 0 and names == [".DS_Store", "a.png", "b.jpg"]
