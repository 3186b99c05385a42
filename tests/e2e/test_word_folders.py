"""End to end: photos in folders named by everyday words (fox/, dogs/, bird/), real
squeezenet1_1 weights, against a plain loop whose classes under each word come from
ImageNet's original is_a.txt (not the package's table).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from torchvision.models import SqueezeNet1_1_Weights, squeezenet1_1

from harness.cli.main import main
from harness.labels.resolve import Resolver
from tests.helpers import ROOT, need, once, read_csv
from tests.helpers.wordnet_is_a import WORDNET, under

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
SHARED = WORDNET.parent
WORDS = {"bird": "n01503061", "dogs": "n02084071", "fox": "n02118333"}  # folder -> synset
README = ROOT / "README.md"
TWELVE = "timm/convnext_nano.in12k"  # ImageNet-12k classes; random weights offline


def imagenet_wnids() -> list[str]:
    with open(SHARED / "imagenet1k-classes.csv", newline="") as f:
        return [r["wnid"] for r in csv.DictReader(f)]


def word_classes() -> dict[str, set[int]]:
    """folder -> the ImageNet-1k class indices under its synset."""
    wnids = imagenet_wnids()
    below = {k: under(s) for k, s in WORDS.items()}
    return {k: {i for i, w in enumerate(wnids) if w in below[k]} for k in WORDS}


@pytest.fixture(scope="session")
def word_folders(nips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fox/, dogs/ and bird/ holding copies of the nips17-dev photos whose class lies under
    that word's synset (by the original is_a.txt).
    """

    def make(folder: Path) -> None:
        sets = {k: under(s) for k, s in WORDS.items()}
        with open(nips / "labels.csv", newline="") as f:
            for r in csv.DictReader(f):
                for word, synsets in sets.items():
                    if r["wnid"] in synsets:
                        (folder / word).mkdir(exist_ok=True)
                        (folder / word / r["file"]).write_bytes(
                            (nips / "images" / r["file"]).read_bytes()
                        )

    need(WORDNET)
    return once(tmp_path_factory, "word_folders", make)


def plain_model(name: str, weights_dir: Path) -> tuple[torch.nn.Module, Any]:
    """squeezenet1_1 or timm's tf_efficientnet_lite0 with the shared weights, and its
    preprocessing, as ../shared/weights/README.md says to build them.
    """
    if name == "squeezenet1_1":
        model, tf = squeezenet1_1(), SqueezeNet1_1_Weights.DEFAULT.transforms()
        file = "squeezenet1_1-webnn.pth"
    else:
        import timm
        from timm.data import create_transform, resolve_data_config

        model = timm.create_model(name.removeprefix("timm/"), pretrained=False)
        tf, file = create_transform(**resolve_data_config(model=model)), "tf_efficientnet_lite0.pth"
    model.load_state_dict(torch.load(weights_dir / file, weights_only=True))
    return model.eval(), tf


def plain_loop(
    folder: Path, weights: Path, name: str = "squeezenet1_1"
) -> dict[str, tuple[list[int], list[float]]]:
    """file (word/name) -> (the top-5 classes, each word's summed probability)."""
    model, tf = plain_model(name, weights.parent)
    classes = word_classes()
    out = {}
    with torch.inference_mode():
        for word in sorted(w for w in WORDS if (folder / w).is_dir()):
            for path in sorted((folder / word).iterdir()):
                p = model(tf(Image.open(path).convert("RGB")).unsqueeze(0)).softmax(-1)[0]
                sums = [float(p[sorted(classes[w])].sum()) for w in sorted(WORDS)]
                out[f"{word}/{path.name}"] = (p.topk(5).indices.tolist(), sums)
    return out


def expected(loop: dict[str, tuple[list[int], list[float]]]) -> tuple[int, int, int]:
    """correct1, correct5 and correct among the labels, counted from the plain loop."""
    classes, words = word_classes(), sorted(WORDS)
    c1 = c5 = among = 0
    for file, (top5, sums) in loop.items():
        word = file.split("/")[0]
        c1 += top5[0] in classes[word]
        c5 += bool(set(top5) & classes[word])
        among += words[max(range(len(sums)), key=sums.__getitem__)] == word
    return c1, c5, among


def check_run(out: Path, loop: dict) -> dict:
    res = json.loads((out / "results.json").read_text())
    c1, c5, among = expected(loop)
    n = len(loop)
    assert (res["n"], res["labelled"]) == (n, n) and n >= 25
    assert (res["correct1"], res["correct5"], res["correct_among_labels"]) == (c1, c5, among)
    assert res["top1"] == c1 / n and res["top1_among_labels"] == among / n
    assert res["top1_among_labels_ci95"][0] < among / n <= res["top1_among_labels_ci95"][1]
    classes = word_classes()
    for word, wnid in WORDS.items():
        record = res["label_map"][word]
        assert record["wnid"] == wnid
        assert {c["index"] for c in record["classes"]} == classes[word]
    rows = read_csv(out / "predictions.csv")
    assert sorted(r["file"] for r in rows) == sorted(loop)
    for r in rows:
        top5, _ = loop[r["file"]]
        assert [int(r[f"pred{k}_index"]) for k in range(1, 6)] == top5
        assert r["label"] == r["file"].split("/")[0] and r["label_wnid"] == WORDS[r["label"]]
    confusion = {r["label"]: r for r in read_csv(out / "confusion.csv")}
    assert sum(int(confusion[w][w]) for w in WORDS) == among
    per_label = {r["label"]: r for r in read_csv(out / "per_class.csv")}
    assert sum(int(r["correct1"]) for r in per_label.values()) == c1
    return res


def test_word_folders_scored_as_a_plain_loop(word_folders, squeezenet_weights, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["test", "--model", "squeezenet1_1", "--weights", str(squeezenet_weights)]
    assert main([*args, "--data", str(word_folders), "--output", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    check_run(out, plain_loop(word_folders, squeezenet_weights))
    assert "label     fox -> n02118333 fox: 4 classes (red fox, kit fox, Arctic fox, grey fox)" in (
        printed
    )
    assert printed.count("fox -> n02118333") == 1
    assert (out / "confusion.png").stat().st_size > 0
    shown = README.read_text().split("$ python -m harness test --model squeezenet1_1 --data data")
    assert len(shown) == 2, "README's example of word folders"
    for line in shown[1].split("```")[0].strip().splitlines()[1:]:  # as README prints them
        assert line in printed.splitlines()


def test_word_folders_in_two_processes(word_folders, squeezenet_weights, tmp_path):
    """DDP: 2 CPU processes, each image counted once, the same counts as the plain loop."""
    out = tmp_path / "d2"
    cmd = [sys.executable, "-m", "harness", "test", "--model", "squeezenet1_1",
           "--weights", str(squeezenet_weights), "--data", str(word_folders), "--batch-size",
           "4", *FAST, "--devices", "2", "--strategy", "ddp", "--output", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = check_run(out, plain_loop(word_folders, squeezenet_weights))
    assert res["world_size"] == 2


def test_compare_two_models_on_word_folders(word_folders, squeezenet_weights, tmp_path):
    """compare of two real-weight models on fox/, dogs/, bird/: each row's counts, the
    paired tests (top-1 under the word, and among the labels) and the disagreements in
    the labels' terms, all against the plain loops; the likely label errors over the
    labels' probabilities (where compare once stopped with a ValueError).
    """
    models = ["squeezenet1_1", "timm/tf_efficientnet_lite0"]
    run = tmp_path / "run"
    args = ["compare", "--models", *models, "--data", str(word_folders), "--weights-dir",
            str(squeezenet_weights.parent), "--batch-size", "8", "--latency-seconds", "0.3",
            "--output", str(run), "--num-workers", "0", "--accelerator", "cpu"]  # fmt: skip
    assert main(args) == 0
    loops = {m: plain_loop(word_folders, squeezenet_weights, m) for m in models}
    rows = {r["model"]: r for r in json.loads((run / "results.json").read_text())}
    classes, words = word_classes(), sorted(WORDS)
    right: dict[str, dict[str, list[bool]]] = {"top1": {}, "among": {}}
    named: dict[str, list[str]] = {}  # the label each top-1 class lies under, "" for none
    for m, loop in loops.items():
        c1, c5, among = expected(loop)
        r = rows[m]
        assert (r["correct1"], r["correct5"], r["correct_among_labels"]) == (c1, c5, among)
        assert r["top1_among_labels"] == among / len(loop)
        files = sorted(loop)
        right["top1"][m] = [loop[f][0][0] in classes[f.split("/")[0]] for f in files]
        best = [words[max(range(3), key=loop[f][1].__getitem__)] for f in files]
        right["among"][m] = [b == f.split("/")[0] for b, f in zip(best, files, strict=True)]
        named[m] = [next((w for w in words if loop[f][0][0] in classes[w]), "") for f in files]
    for kind, csv_name in (("top1", "pairwise.csv"), ("among", "pairwise_among_labels.csv")):
        a, b = (right[kind][m] for m in models)
        (pair,) = read_csv(run / csv_name)
        x = sum(p and not q for p, q in zip(a, b, strict=True))
        y = sum(q and not p for p, q in zip(a, b, strict=True))
        assert (int(pair["n"]), int(pair["a_only"]), int(pair["b_only"])) == (len(a), x, y)
    files = sorted(loops[models[0]])
    differ = [f for k, f in enumerate(files) if named[models[0]][k] != named[models[1]][k]]
    assert sorted(d["file"] for d in read_csv(run / "disagreements.csv")) == differ
    report = (run / "report.md").read_text()
    assert "top-1 among the labels" in report and "not compared" not in report
    assert (run / "label_issues.csv").is_file() and "## Can I trust the labels?" in report


LABELS_OF = {"fox": "n02118333", "dog": "n02084071", "cat": "n02121620"}  # cat: "cat, true cat"


def test_predict_labels_of_as_a_plain_softmax_summed(nips, squeezenet_weights, capsys):
    """predict --labels-of fox,dog,cat: each label's probability in the JSON, CSV and table
    formats, against the plain model's softmax summed over the label's classes by is_a.txt.
    """
    files = sorted((nips / "images").iterdir())[:3]
    wnids = imagenet_wnids()
    below = {w: under(s) for w, s in LABELS_OF.items()}
    members = {w: [i for i, x in enumerate(wnids) if x in below[w]] for w in LABELS_OF}
    model, tf = plain_model("squeezenet1_1", squeezenet_weights.parent)
    with torch.inference_mode():
        expected = {
            str(f): {
                w: float(p[c].sum())
                for w, c in members.items()
                for p in [model(tf(Image.open(f).convert("RGB")).unsqueeze(0)).softmax(-1)[0]]
            }
            for f in files
        }
    args = ["predict", *map(str, files), "--model", "squeezenet1_1", "--weights",
            str(squeezenet_weights), "--labels-of", "fox,dog,cat", *FAST]  # fmt: skip
    assert main([*args, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    for r in json.loads(out):
        got = {q["label"]: q["probability"] for q in r["labels"]}
        assert got == pytest.approx(expected[r["file"]], abs=1e-5)
        assert [q["classes"] for q in r["labels"]] == [len(c) for c in members.values()]
    assert "harness: cat -> n02121620 cat, true cat: 7 classes" in err
    assert main([*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(rows) == 3 * 5
    for r in rows:
        got = {w: float(r[f"prob_{w}"]) for w in LABELS_OF}
        assert got == pytest.approx(expected[r["file"]], abs=1e-5)
    assert main(args) == 0
    table = capsys.readouterr().out
    fox = expected[str(files[0])]["fox"]
    assert f"fox    n02118333        4       {fox:.4f}" in table


@pytest.mark.parametrize(
    ("labels", "error"),
    [
        ("fox,holiday snaps", "--labels-of holiday snaps: 'holiday snaps' (no such class"),
        ("cranes", "--labels-of cranes: label 'cranes' is ambiguous: n02012849 crane"),
        ("giraffe", "--labels-of giraffe (n02439033 giraffe, camelopard, Giraffa camelopardalis)"
                    ": no class of the model lies under it"),
    ],
)  # fmt: skip
def test_predict_labels_of_a_bad_label_is_one_line(nips, labels, error, capsys):
    image = sorted((nips / "images").iterdir())[0]
    args = ["predict", str(image), "--model", "squeezenet1_1", "--weights", "none", *FAST]
    assert main([*args, "--labels-of", labels]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines()[-1].startswith(f"harness: error: {error}")
    assert err.count("error") == 1


def test_one_label_has_no_top1_among_labels(word_folders, squeezenet_weights, tmp_path, capsys):
    """Only dogs/: top-1 and top-5 under the word as the plain loop counts them; among one
    label every answer is right, so top1_among_labels is n/a with a note, not 100%.
    """
    import shutil

    shutil.copytree(word_folders / "dogs", tmp_path / "data" / "dogs")
    out = tmp_path / "out"
    args = ["test", "--model", "squeezenet1_1", "--weights", str(squeezenet_weights)]
    assert main([*args, "--data", str(tmp_path / "data"), "--output", str(out), *FAST]) == 0
    res = json.loads((out / "results.json").read_text())
    loop = plain_loop(tmp_path / "data", squeezenet_weights)
    dogs = word_classes()["dogs"]
    assert res["correct1"] == sum(top5[0] in dogs for top5, _ in loop.values())
    assert res["correct5"] == sum(bool(set(top5) & dogs) for top5, _ in loop.values())
    assert res["labelled"] == len(loop) > 1 and list(res["label_map"]) == ["dogs"]
    assert res["top1_among_labels"] is None and res["top1_among_labels_ci95"] is None
    assert res["among_labels_note"].startswith("one label only")
    printed = capsys.readouterr().out
    assert "among     n/a  (one label only: among one label every answer is right" in printed
    assert "label_issues" not in res


def twelve_k() -> tuple[list[str], list[str]]:
    """timm's ImageNet-12k classes: WordNet ids and names, as the harness names them."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-12k")
    wnids = [info.index_to_label_name(i) for i in range(info.num_classes())]
    return wnids, [info.index_to_description(i).split(",")[0] for i in range(len(wnids))]


@pytest.mark.skipif(not WORDNET.is_dir(), reason="../shared/data/wordnet is absent")
def test_a_12k_model_scores_fox_by_its_classes_under_fox(tmp_path, capsys) -> None:
    """Built offline with random weights: the label map of fox/ and dog/ folders is the
    12k classes under each synset by the original is_a.txt; the class fox alone by its wnid.
    """
    wnids, names = twelve_k()
    synsets = {"fox": under("n02118333"), "dog": under("n02084071")}
    below = {w: {i for i, x in enumerate(wnids) if x in s} for w, s in synsets.items()}
    assert len(below["fox"]) > 1 and names.index("fox") in below["fox"]
    for word in ("fox", "dog"):
        for i in range(2):
            (tmp_path / "data" / word).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (9, 80 * i, 9)).save(tmp_path / "data" / word / f"{i}.png")
    out = tmp_path / "out"
    args = ["test", "--model", TWELVE, "--weights", "none", "--data", str(tmp_path / "data")]
    assert main([*args, "--output", str(out), *FAST]) == 0
    res = json.loads((out / "results.json").read_text())
    for word in ("fox", "dog"):
        assert {c["index"] for c in res["label_map"][word]["classes"]} == below[word]
    assert res["top1"] is None and res["classes"] is None and res["labelled"] == 4
    printed = capsys.readouterr().out
    assert f"the index {names.index('fox')} or the wnid n02118333 means the class alone" in printed
    r = Resolver(names, wnids)
    assert r.labels[r("n02118333")].classes == (names.index("fox"),)


@pytest.mark.skipif(not WORDNET.is_dir(), reason="../shared/data/wordnet is absent")
def test_classes_under_a_word_of_a_12k_model(capsys) -> None:
    wnids, _ = twelve_k()
    args = ["classes", "--model", TWELVE, "--weights", "none", "--format", "csv"]
    assert main([*args, "--under", "foxes"]) == 0
    got = [line.split(",")[1] for line in capsys.readouterr().out.splitlines()[1:]]
    foxes = under("n02118333")
    assert got == [w for w in wnids if w in foxes]


def test_wnid_folder_and_label_map_scored_as_the_plain_loop(
    word_folders, squeezenet_weights, tmp_path
):
    """The same photos in folders n02118333/ (a wnid above classes), pets/ (mapped to dog by
    --label-map) and bird/: the same counts as the plain loop over fox/, dogs/, bird/."""
    import shutil

    data = tmp_path / "data"
    for old, new in (("fox", "n02118333"), ("dogs", "pets"), ("bird", "bird")):
        shutil.copytree(word_folders / old, data / new)
    (tmp_path / "map.csv").write_text("label,target\npets,dog\n")
    out = tmp_path / "out"
    args = ["test", "--model", "squeezenet1_1", "--weights", str(squeezenet_weights),
            "--data", str(data), "--label-map", str(tmp_path / "map.csv"), "--output",
            str(out), *FAST]  # fmt: skip
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    c1, c5, among = expected(plain_loop(word_folders, squeezenet_weights))
    assert (res["correct1"], res["correct5"], res["correct_among_labels"]) == (c1, c5, among)
    assert res["label_map"]["n02118333"]["how"] == "wnid"
    assert (res["label_map"]["pets"]["how"], res["label_map"]["pets"]["wnid"]) == (
        "label-map",
        "n02084071",
    )
    classes = word_classes()
    assert {c["index"] for c in res["label_map"]["pets"]["classes"]} == classes["dogs"]
