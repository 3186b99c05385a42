"""harness.zoo.registry and the `models` / `classes` commands, against torchvision and the CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import torchvision
from torchvision.models import ResNet50_Weights, get_model_weights

from harness.cli.main import main
from harness.errors import HarnessError
from harness.zoo import registry, torchvision_models
from tests.helpers import CLASSES_CSV, need, one_line

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


@pytest.fixture(scope="module")
def classes_csv() -> list[dict[str, str]]:
    """The 1000 rows of ../shared/data/imagenet1k-classes.csv, read with the csv module."""
    with open(need(CLASSES_CSV), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1000
    return rows


# Other tasks' builders live in sub-packages of torchvision.models; classifiers at its top.
OTHER_TASKS = {"detection", "segmentation", "video", "optical_flow", "quantization"}


def task_of(name: str) -> str:
    """The sub-package that defines ``name``'s builder: "resnet", "detection", ..."""
    return torchvision.models.get_model_builder(name).__module__.split(".")[2]


@pytest.fixture(scope="module")
def imagenet_classifiers() -> set[str]:
    """Torchvision's registered models that are not another task's (independent of the harness)."""
    return {n for n in torchvision.models.list_models() if task_of(n) not in OTHER_TASKS}


def test_classifiers_are_torchvisions_classification_models(imagenet_classifiers) -> None:
    found = torchvision_models.classifiers()
    assert len(found) == len(set(found)) and set(found) == imagenet_classifiers
    for name in ("fasterrcnn_resnet50_fpn", "fcn_resnet50", "r3d_18", "raft_large",
                 "quantized_resnet18"):  # fmt: skip
        assert name not in found and name in torchvision.models.list_models()
    for name in ("alexnet", "resnet50", "vit_b_16", "squeezenet1_1", "regnet_y_128gf"):
        assert name in found
    for name in found:  # every one predicts the 1000 ImageNet classes, by its own weights
        meta = get_model_weights(name).DEFAULT.meta
        assert "ImageNet-1K" in meta["_metrics"] and len(meta["categories"]) == 1000, name


def natural_key(name: str) -> list[object]:
    """Runs of digits compare as numbers (a second implementation, for the test)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def test_match_all_when_no_patterns_sorts_naturally(imagenet_classifiers) -> None:
    found = registry.match(None)
    assert set(found) == imagenet_classifiers
    assert len(found) == len(set(found))
    assert found == sorted(found, key=natural_key)
    # digits compare as numbers, as in timm: 1 < 3 < 8 < 16 < 32 < 400 (written out by hand)
    regnets = [n for n in found if n.startswith("regnet_x_")]
    assert regnets == [
        "regnet_x_1_6gf",
        "regnet_x_3_2gf",
        "regnet_x_8gf",
        "regnet_x_16gf",
        "regnet_x_32gf",
        "regnet_x_400mf",
        "regnet_x_800mf",
    ]
    assert registry.match([]) == found


def test_match_globs_and_exact_names() -> None:
    assert registry.match(["resnet*"]) == [
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
    ]
    assert registry.match(["vgg1?"]) == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert registry.match(["alexnet"]) == ["alexnet"]
    assert registry.match(["squeezenet1_[01]"]) == ["squeezenet1_0", "squeezenet1_1"]


def test_match_does_not_repeat_names() -> None:
    found = registry.match(["resnet1*", "resnet18", "resnet*"])
    assert sorted(found) == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert len(found) == len(set(found))


def test_match_keeps_the_order_of_patterns() -> None:
    assert registry.match(["vgg11", "alexnet"]) == ["vgg11", "alexnet"]
    assert registry.match(["vgg1[19]", "alexnet", "vgg11"]) == ["vgg11", "vgg19", "alexnet"]


def test_match_unknown_pattern_raises_with_suggestions() -> None:
    with pytest.raises(HarnessError, match="unknown model 'resnet5'.*did you mean.*resnet50"):
        registry.match(["resnet*", "resnet5"])


@pytest.mark.parametrize(
    ("name", "near"),
    [
        ("resnet5", ["resnet50", "resnet18"]),
        ("vgg61", ["vgg16", "vgg11"]),
        ("ResNet50", ["resnet50"]),
    ],
)
def test_check_suggests_near_matches(name: str, near: list[str]) -> None:
    with pytest.raises(HarnessError) as e:
        registry.check(name)
    msg = str(e.value)
    assert repr(name) in msg
    assert "did you mean" in msg
    for n in near:
        assert n in msg


def test_check_without_near_matches_points_at_models_command() -> None:
    with pytest.raises(HarnessError) as e:
        registry.check("xyzzy_qq")
    assert "did you mean" not in str(e.value)
    assert "harness models" in str(e.value)


def test_check_accepts_every_classifier_and_no_other_model(imagenet_classifiers) -> None:
    for name in imagenet_classifiers:
        assert registry.check(name) == name
    for name in set(torchvision.models.list_models()) - imagenet_classifiers:
        with pytest.raises(HarnessError, match="unknown model"):
            registry.check(name)


@pytest.mark.parametrize("tag", ["DEFAULT", "default", "ResNet50_Weights.DEFAULT"])
def test_weights_tag_default_is_resnet50_v2(tag: str) -> None:
    # torchvision made V2 (80.858% top-1) the default for resnet50
    assert torchvision_models.weights_tag("resnet50", tag) is ResNet50_Weights.IMAGENET1K_V2


@pytest.mark.parametrize("tag", ["IMAGENET1K_V1", "ResNet50_Weights.IMAGENET1K_V1"])
def test_weights_tag_v1(tag: str) -> None:
    assert torchvision_models.weights_tag("resnet50", tag) is ResNet50_Weights.IMAGENET1K_V1


@pytest.mark.parametrize("tag", ["IMAGENET1K_V2", "ResNet50_Weights.IMAGENET1K_V2"])
def test_weights_tag_v2(tag: str) -> None:
    assert torchvision_models.weights_tag("resnet50", tag) is ResNet50_Weights.IMAGENET1K_V2


def test_weights_tag_unknown_lists_valid_tags() -> None:
    with pytest.raises(HarnessError) as e:
        torchvision_models.weights_tag("resnet50", "IMAGENET1K_V9")
    msg = str(e.value)
    assert "'IMAGENET1K_V9'" in msg and "resnet50" in msg
    for valid in ("DEFAULT", "IMAGENET1K_V1", "IMAGENET1K_V2", ".pth", "none"):
        assert valid in msg


def test_weights_tag_unknown_lists_default_once() -> None:
    with pytest.raises(HarnessError) as e:
        torchvision_models.weights_tag("resnet50", "IMAGENET1K_V9")
    assert str(e.value).count("DEFAULT") == 1


def test_weights_tag_of_another_model_is_refused() -> None:
    with pytest.raises(HarnessError):
        torchvision_models.weights_tag("resnet50", "ResNet18_Weights.IMAGENET1K_V1")


def test_weights_tag_unknown_model() -> None:
    with pytest.raises(HarnessError, match="did you mean"):
        torchvision_models.weights_tag("resnet5", "DEFAULT")


# torchvision's documented figures for each DEFAULT weight (its model pages), written out:
# weights, top-1 %, top-5 %, parameters, GFLOPS, file MB
PUBLISHED = {
    "resnet50": ("IMAGENET1K_V2", 80.858, 95.434, 25557032, 4.089, 97.79),
    "squeezenet1_1": ("IMAGENET1K_V1", 58.178, 80.624, 1235496, 0.349, 4.729),
    "vit_b_16": ("IMAGENET1K_V1", 81.072, 95.318, 86567656, 17.564, 330.285),
    "regnet_y_128gf": ("IMAGENET1K_SWAG_E2E_V1", 88.228, 98.682, 644812894, 374.57, 2461.564),
    "alexnet": ("IMAGENET1K_V1", 56.522, 79.066, 61100840, 0.714, 233.087),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_info_rows_are_the_published_figures(name: str) -> None:
    """Fractions for accuracies, millions of parameters, 2 FLOPs per multiply-accumulate."""
    weights, acc1, acc5, params, macs, file_mb = PUBLISHED[name]
    row = registry.info(name)
    assert {k: row[k] for k in ("model", "weights", "dataset", "classes", "file_mb")} == {
        "model": name,
        "weights": weights,
        "dataset": "ImageNet-1K",
        "classes": 1000,
        "file_mb": file_mb,
    }
    assert row["published_top1"] == pytest.approx(acc1 / 100)
    assert row["published_top5"] == pytest.approx(acc5 / 100)
    assert row["params_m"] == pytest.approx(params / 1e6)
    assert row["gflops"] == pytest.approx(2 * macs)
    # torchvision publishes ImageNet only: the harder sets and speeds are n/a
    assert row["published_v2_top1"] is None and row["published_ips_rtx4090"] is None


def test_info_resnet50_published_figures() -> None:
    row = registry.info("resnet50")
    # torchvision's documented figures for ResNet50_Weights.IMAGENET1K_V2
    assert (row["weights"], row["dataset"], row["classes"], row["input_size"]) == (
        "IMAGENET1K_V2",
        "ImageNet-1K",
        1000,
        "224x224",
    )
    assert (row["published_top1"], row["published_top5"]) == (0.80858, 0.95434)
    assert row["params_m"] == 25.557032


def check_against_csv(table: list[tuple[int, str, str]], rows: list[dict[str, str]]) -> None:
    assert len(table) == len(rows) == 1000
    for (index, wnid, name), row in zip(table, rows, strict=True):
        assert (index, wnid, name) == (int(row["index"]), row["wnid"], row["name"])


def test_class_table_matches_csv(classes_csv: list[dict[str, str]]) -> None:
    check_against_csv(registry.class_table(registry.card("resnet50")), classes_csv)


def test_class_table_known_rows() -> None:
    table = registry.class_table(registry.card("resnet50"))
    assert table[0] == (0, "n01440764", "tench")
    assert table[999] == (999, "n15075141", "toilet tissue")
    wnids = [w for _, w, _ in table]
    assert len(set(wnids)) == 1000


# --- the `models` and `classes` commands ---------------------------------------------------


def test_cli_models_json_all(capsys: pytest.CaptureFixture[str], imagenet_classifiers) -> None:
    assert main(["models", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["model"] for r in rows) == sorted(imagenet_classifiers)
    for r in rows:
        assert (r["dataset"], r["classes"]) == ("ImageNet-1K", 1000), r
        assert 0 < r["published_top1"] < r["published_top5"] < 1 and r["params_m"] > 0, r
    by_name = {r["model"]: r for r in rows}
    for name, (weights, acc1, acc5, params, *_) in PUBLISHED.items():
        r = by_name[name]
        assert r["weights"] == weights and r["params_m"] == pytest.approx(params / 1e6)
        assert (r["published_top1"], r["published_top5"]) == (
            pytest.approx(acc1 / 100),
            pytest.approx(acc5 / 100),
        )


def test_cli_models_csv_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "resnet*", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["model"] for r in rows] == [
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
    ]
    resnet50 = rows[2]  # the CSV's text holds the published figures exactly
    _, acc1, acc5, params, *_ = PUBLISHED["resnet50"]
    assert float(resnet50["published_top1"]) == pytest.approx(acc1 / 100)
    assert float(resnet50["published_top5"]) == pytest.approx(acc5 / 100)
    assert float(resnet50["params_m"]) == params / 1e6
    assert float(rows[0]["params_m"]) == 11.689512  # resnet18's, as torchvision documents it


def test_cli_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "vgg1?", "alexnet"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].split()[0] == "model"
    body = lines[1:]
    assert sorted(line.split()[0] for line in body) == [
        "alexnet",
        "vgg11",
        "vgg13",
        "vgg16",
        "vgg19",
    ]
    assert out.err.startswith("5 torchvision models")
    assert "harness models 'timm/PATTERN'" in out.err
    alexnet = next(line.split() for line in body if line.startswith("alexnet"))
    meta = get_model_weights("alexnet").DEFAULT.meta
    assert alexnet[1] == "IMAGENET1K_V1"
    assert f"{meta['num_params'] / 1e6:.2f}" in alexnet


def test_cli_models_unknown_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "vgg61"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean" in err[0] and "vgg16" in err[0]


def test_cli_classes_txt(
    capsys: pytest.CaptureFixture[str], classes_csv: list[dict[str, str]]
) -> None:
    assert main(["classes", "--model", "resnet50"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.startswith("# resnet50 IMAGENET1K_V2: 1000 classes")
    table = [(int(i), w, n) for i, w, n in (line.split("\t") for line in lines)]
    check_against_csv(table, classes_csv)


def test_cli_classes_csv(
    capsys: pytest.CaptureFixture[str], classes_csv: list[dict[str, str]]
) -> None:
    assert main(["classes", "--model", "squeezenet1_1", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    check_against_csv([(int(r["index"]), r["wnid"], r["name"]) for r in rows], classes_csv)


def test_cli_classes_json(
    capsys: pytest.CaptureFixture[str], classes_csv: list[dict[str, str]]
) -> None:
    args = ["classes", "--model", "resnet50", "--weights", "IMAGENET1K_V1", "--format", "json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["model"], doc["weights"], doc["dataset"]) == (
        "resnet50",
        "IMAGENET1K_V1",
        "ImageNet-1K",
    )
    table = [(c["index"], c["wnid"], c["name"]) for c in doc["classes"]]
    check_against_csv(table, classes_csv)


def test_cli_classes_unknown_weights(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classes", "--model", "resnet50", "--weights", "V7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "IMAGENET1K_V2" in err[0]


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
