"""``harness compare``: one subprocess per model, checked against independent figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning
import pytest
import torch
from PIL import Image
from torchvision.models import AlexNet_Weights

import harness
from harness.cli.main import main
from tests.helpers import COMPARE_LIMIT, labels_of

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


LIMIT = COMPARE_LIMIT  # the shared ``compared`` run (conftest.py)


def rows_of(run: Path) -> dict[str, dict]:
    return {r["model"]: r for r in json.loads((run / "results.json").read_text())}


def test_real_weights_accuracy_equals_reference_loop(compared, nips, reference):
    sq = rows_of(compared)["squeezenet1_1"]
    labels = labels_of(nips)
    files = list(labels)[:LIMIT]  # --limit takes the first N rows of labels.csv
    top1 = sum(reference[f][0][0] == labels[f] for f in files)
    top5 = sum(labels[f] in reference[f][0] for f in files)
    assert (sq["n"], sq["correct1"], sq["correct5"]) == (LIMIT, top1, top5)
    assert sq["top1"] == top1 / LIMIT and sq["top5"] == top5 / LIMIT
    assert not sq["random_weights"] and sq["error"] is None


def test_random_weights_get_na_accuracy_and_real_speed(compared):
    rows = rows_of(compared)
    for name in ("alexnet",):
        r = rows[name]
        assert r["error"] is None and r["random_weights"]
        assert r["top1"] is None and r["accuracy_note"] == "n/a (weights unavailable offline)"
        assert r["latency_runs"] >= 10
        assert 0 < r["latency_ms_min"] <= r["latency_ms_p50"] <= r["latency_ms_p90"]
        assert r["latency_ms_p90"] <= r["latency_ms_p99"]
        assert r["throughput_ips"] > 0 and r["throughput_e2e_ips"] > 0
        assert r["peak_memory_mib"] > r["memory_rise_mib"] > 0
    said = "alexnet: accuracy n/a (weights unavailable offline)"
    assert f"\nn/a       {said}\n" in (compared.parent / "console.txt").read_text()
    assert f"\n- {said}\n" in (compared / "report.md").read_text()
    # parameter counts are the architectures', whatever the weights
    assert rows["alexnet"]["params"] == 61100840
    # published accuracy in the same unit as top1: a fraction, from torchvision's percent
    published = AlexNet_Weights.DEFAULT.meta["_metrics"]["ImageNet-1K"]
    assert rows["alexnet"]["published_top1"] == pytest.approx(published["acc@1"] / 100)
    assert rows["alexnet"]["published_top5"] == pytest.approx(published["acc@5"] / 100)


def test_output_files(compared):
    json_rows = json.loads((compared / "results.json").read_text())
    assert [r["model"] for r in json_rows] == [
        "squeezenet1_1",
        "alexnet",
        "timm/tf_efficientnet_lite0",
    ]
    keys = {"model", "weights", "top1", "top5", "latency_ms_p50", "latency_ms_p90",
            "throughput_ips", "peak_memory_mib", "params", "flops", "error"}  # fmt: skip
    assert all(keys <= set(r) for r in json_rows)
    with open(compared / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    for c, j in zip(csv_rows, json_rows, strict=True):
        assert c["model"] == j["model"] and float(c["latency_ms_p50"]) == j["latency_ms_p50"]
    report = (compared / "report.md").read_text()
    assert "| squeezenet1_1 |" in report and "| alexnet | n/a | n/a |" in report
    assert "predict the same 1000 classes" in report
    assert f"(the first {LIMIT} images, --limit), labels `" in report  # how images were chosen
    env = dict(
        kv.split(" ", 1) for kv in report.split("Environment: ", 1)[1].splitlines()[0].split(", ")
    )  # how the run was made: versions, machine, start
    assert env["harness"] == harness.__version__ and env["lightning"] == lightning.__version__
    assert env["torch_threads"] == str(torch.get_num_threads()) and env["date"]
    with Image.open(compared / "accuracy_vs_latency.png") as im:
        im.load()  # every byte decodes: a truncated or corrupt file fails here
        assert im.format == "PNG"
        width, height = im.size
        colours = {rgb for _, rgb in im.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert width > height >= 400  # two panels side by side
    # the measured points (matplotlib's C0 blue) and the published one of the model
    # without weights (C1 orange) are drawn; text and lines give many more colours
    assert {(31, 119, 180), (255, 127, 14)} <= colours and len(colours) > 100


def test_end_to_end_beside_the_cores_bound(compared):
    """Each row's bound from its own figures by hand (--num-workers 0: decoding and the
    model take turns), its share exactly the end-to-end pass's steady rate over it, in
    every file."""
    json_rows = json.loads((compared / "results.json").read_text())
    with open(compared / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    report = (compared / "report.md").read_text()
    for c, j in zip(csv_rows, json_rows, strict=True):
        assert j["loader_workers"] == 0 and j["decode_ips"] > 0
        by_hand = 1 / (1 / j["throughput_ips"] + 1 / j["decode_ips"])
        assert j["core_bound_ips"] == round(by_hand, 3)
        # the share is the steady rate's: 24 photos in batches of 8, from the second batch
        assert j["throughput_e2e_ips"] > 0 and j["throughput_e2e_steady_ips"] > 0
        assert j["e2e_of_bound"] == j["throughput_e2e_steady_ips"] / j["core_bound_ips"]
        for key in ("decode_ips", "core_bound_ips", "e2e_of_bound", "throughput_e2e_steady_ips"):
            assert float(c[key]) == j[key]
        said = (
            f"- {j['model']}: end to end {j['throughput_e2e_ips']:.1f} images/s, "
            f"{j['throughput_e2e_steady_ips']:.1f} once each loader worker had delivered a "
            f"batch, of a bound of {j['core_bound_ips']:.1f}: {j['e2e_of_bound']:.2f} (the model"
        )
        assert said in report
    assert "| of bound |" in report


def test_tensorboard_run_per_model(compared):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    for name, row in rows_of(compared).items():
        ea = EventAccumulator(str(compared / name))  # names distinct in 16 characters: as is
        ea.Reload()
        p50 = ea.Scalars("timing/latency_ms_p50")[-1].value
        assert p50 == pytest.approx(row["latency_ms_p50"], rel=1e-6)
        start = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hp = HParamsPluginData.FromString(start).session_start_info.hparams
        assert hp["model"].string_value == name
        if row["top1"] is not None:
            assert ea.Scalars("test/top1")[-1].value == pytest.approx(row["top1"], abs=1e-6)


def test_a_failing_model_is_an_error_row(tmp_path, nips):
    """A broken weights file fails its own model only; the others are still measured."""
    wdir = tmp_path / "weights"
    wdir.mkdir()
    (wdir / "squeezenet1_1.pth").write_bytes(b"not a checkpoint")
    args = [
        "compare",
        "--models",
        "squeezenet1_1",
        "mobilenet_v3_small",
        "--accelerator",
        "cpu",
        "--weights-dir",
        str(wdir),
        "--latency-seconds",
        "0.1",
        "--output",
        str(tmp_path / "r"),
    ]
    assert main(args) == 1
    rows = rows_of(tmp_path / "r")
    assert "not a PyTorch checkpoint" in rows["squeezenet1_1"]["error"]
    assert rows["mobilenet_v3_small"]["error"] is None
    assert rows["mobilenet_v3_small"]["latency_ms_p50"] > 0


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
