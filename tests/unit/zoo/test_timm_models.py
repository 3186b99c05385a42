"""timm models beside torchvision's: names, registry, preprocessing, weights, exact counts."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config
from timm.models import get_pretrained_cfg
from torch import nn

from harness.cli.main import main
from harness.errors import HarnessError
from harness.zoo import registry, weights
from tests.helpers import CLASSES_CSV, SHARED, need

LITE0 = SHARED / "weights" / "tf_efficientnet_lite0.pth"
LITE1 = SHARED / "weights" / "tf_efficientnet_lite1.pth"


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty Hugging Face cache and no hub, as on a machine without internet."""
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


# --- names ------------------------------------------------------------------------------


def test_names_patterns_and_natural_order() -> None:
    lite = registry.match(["timm/tf_efficientnet_lite*"])
    assert lite == [f"timm/tf_efficientnet_lite{i}" for i in range(5)]
    assert registry.match(["timm/resnet50.a1_in1k"]) == ["timm/resnet50.a1_in1k"]
    assert "timm/resnet50.tv_in1k" in registry.match(["timm/resnet50.*"])
    # torchvision and timm names in one list, each pattern's hits in natural order
    assert registry.match(["timm/resnet*0", "resnet*"]) == [
        "timm/resnet50",
        "timm/resnet200",
        "timm/resnetaa50",
        "timm/resnetblur50",
        "timm/resnetrs50",
        "timm/resnetrs200",
        "timm/resnetrs270",
        "timm/resnetrs350",
        "timm/resnetrs420",
        "timm/resnetv2_50",
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
    ]
    # bare names stay torchvision's
    assert registry.card("resnet50").library == "torchvision"
    assert registry.card("timm/resnet50").library == "timm"


@pytest.mark.parametrize(
    ("name", "near"),
    [
        ("timm/tf_efficientnet_lit0", "timm/tf_efficientnet_lite0"),
        ("timm/resnet50.a1_in1", "timm/resnet50.a1_in1k"),
        ("efficientnet_lite0", "timm/efficientnet_lite0"),  # a timm name typed bare
    ],
)
def test_unknown_names_suggest(name: str, near: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean" in err[0] and near in err[0]


# --- registry: models and classes ---------------------------------------------------------


def test_models_lists_timm_configs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "timm/tf_efficientnet_lite[012]", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == [f"timm/tf_efficientnet_lite{i}" for i in range(3)]
    # the weights README: 224/240/260 pixels, bicubic, crop 0.875/0.882/0.890, mean = std = 0.5
    for r, size, crop in zip(rows, (224, 240, 260), (0.875, 0.882, 0.890), strict=True):
        assert (r["weights"], r["dataset"], r["classes"]) == ("in1k", "imagenet-1k", 1000)
        assert r["input_size"] == f"{size}x{size}" and r["interpolation"] == "bicubic"
        assert r["crop_pct"] == crop and r["mean"] == r["std"] == [0.5, 0.5, 0.5]
        model = timm.create_model(r["model"][5:])  # counted on a real model, not the tables
        assert r["params_m"] == round(sum(p.numel() for p in model.parameters()) / 1e6, 2)


def test_the_shipped_listing_is_the_installed_timms() -> None:
    """timm_listing.json.gz holds what timm itself says now (when it is this timm's version)."""
    from harness.zoo import timm_models

    shipped = json.loads(gzip.decompress(timm_models.LISTING.read_bytes()))
    if shipped["timm"] != timm.__version__:  # the harness reads this timm live (next test)
        assert timm_models.shipped() is None
        pytest.skip(f"listing of timm {shipped['timm']}, installed {timm.__version__}: "
                    "rebuild it with scripts/timm_listing.py")  # fmt: skip
    assert timm_models.shipped() == shipped
    live = timm_models.live_listing()
    assert shipped["architectures"] == timm.list_models() == live["architectures"]
    assert shipped["pretrained"] == timm.list_pretrained()
    assert shipped == live


def clear_registry() -> None:
    """Forget timm's names (``architectures``, ``pretrained`` and their sets are cached)."""
    from harness.zoo import timm_models

    for f in (timm_models.architectures, timm_models.pretrained, timm_models._known):
        f.cache_clear()


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """timm's names read again in the test, and again after it."""
    clear_registry()
    yield
    clear_registry()


@pytest.mark.parametrize("pattern", ["timm/*", "timm/resnet50.*", "timm/vit_base_patch16_224.*"])
@pytest.mark.usefixtures("fresh_registry")
def test_rows_from_the_listing_equal_rows_read_live(pattern: str) -> None:
    """``models`` answers the same with the listing as from timm's own configs."""
    from harness.zoo import timm_models

    if timm_models.shipped() is None:
        pytest.skip("the shipped listing is not the installed timm's: both would be read live")
    with_listing = [registry.info(n) for n in registry.match([pattern])]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(timm_models, "shipped", lambda: None)
        clear_registry()
        live = [registry.info(n) for n in registry.match([pattern])]
    assert len(live) > (1000 if pattern == "timm/*" else 2)
    assert with_listing == live


def test_models_without_timm_pattern_says_how(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "alexnet"]) == 0
    assert "harness models 'timm/PATTERN'" in capsys.readouterr().err


def test_classes_of_a_timm_model_match_the_csv(capsys: pytest.CaptureFixture[str]) -> None:
    with open(need(CLASSES_CSV), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert main(["classes", "--model", "timm/tf_efficientnet_lite0", "--format", "csv"]) == 0
    got = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(int(g["index"]), g["wnid"]) for g in got] == [
        (int(r["index"]), r["wnid"]) for r in rows
    ]
    # timm's names are the first WordNet lemma; torchvision disambiguated two of them
    differ = {int(r["index"]) for g, r in zip(got, rows, strict=True) if g["name"] != r["name"]}
    assert differ == {134, 639}
    assert all(
        g["name"] == r["wordnet_lemmas"].split(",")[0] for g, r in zip(got, rows, strict=True)
    )


def test_label_space_equal_across_libraries_but_not_subsets() -> None:
    tv, lite = registry.card("squeezenet1_1"), registry.card("timm/tf_efficientnet_lite0")
    assert tv.label_space == lite.label_space  # same 1000 WordNet ids, same order
    assert registry.card("timm/convnext_atto.d2_in1k").label_space == tv.label_space
    other = registry.card("timm/convnext_nano.in12k")
    assert other.dataset == "imagenet-12k" and len(other.categories) == 11821
    assert other.label_space != tv.label_space


# --- preprocessing ------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["tf_efficientnet_lite2", "resnet50.a1_in1k"])
def test_preprocessing_is_timms_own(arch: str, tiny_images: list[Path]) -> None:
    loaded = weights.load(f"timm/{arch}", "none")
    model = timm.create_model(arch, pretrained=False)
    expected = create_transform(**resolve_data_config(model=model), is_training=False)
    img = Image.open(tiny_images[3]).convert("RGB")
    assert torch.equal(loaded.transforms()(img), expected(img))
    cfg = get_pretrained_cfg(arch)
    pre = loaded.card.preprocessing
    assert pre["input_size"] == list(cfg.input_size[1:])
    assert (pre["interpolation"], pre["crop_pct"]) == (cfg.interpolation, cfg.crop_pct)
    assert (pre["mean"], pre["std"]) == (list(cfg.mean), list(cfg.std))


def test_torchvision_preprocessing_recorded_too() -> None:
    pre = registry.card("inception_v3").preprocessing
    assert (pre["input_size"], pre["resize"], pre["interpolation"]) == ([299, 299], 342, "bilinear")


# --- weights ------------------------------------------------------------------------------


def test_default_offline_is_one_line_and_nothing_on_stdout(
    offline_hub: Path, capsys: pytest.CaptureFixture[str], tiny_images: list[Path]
) -> None:
    code = main(["predict", str(tiny_images[0]), "--model", "timm/tf_efficientnet_lite0"])
    out = capsys.readouterr()
    assert code == 2 and out.out == ""
    err = out.err.strip().splitlines()
    assert len(err) == 1
    assert "timm/tf_efficientnet_lite0.in1k" in err[0] and "--weights FILE.pth" in err[0]


def test_default_from_timms_cache(offline_hub: Path) -> None:
    """A file in the Hugging Face cache goes through timm's own loader, offline."""
    snap = offline_hub / "models--timm--tf_efficientnet_lite0.in1k" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "pytorch_model.bin").symlink_to(need(LITE0).resolve())
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc")
    loaded = weights.load("timm/tf_efficientnet_lite0")
    state = torch.load(LITE0, weights_only=True)
    assert not loaded.random and loaded.source == "timm/tf_efficientnet_lite0 (timm)"
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in state.items())


def test_file_dir_tag_and_none() -> None:
    state = torch.load(need(LITE0), weights_only=True)
    for w, wdir in ((str(LITE0), None), ("DEFAULT", str(LITE0.parent))):
        loaded = weights.load("timm/tf_efficientnet_lite0", w, wdir)
        assert loaded.source == str(LITE0) and not loaded.random
        assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in state.items())
    assert weights.load("timm/tf_efficientnet_lite0", "none").random
    with pytest.raises(HarnessError, match="unknown weights 'zz'.*in1k"):
        weights.load("timm/tf_efficientnet_lite0", "zz")
    with pytest.raises(HarnessError, match="does not fit timm/tf_efficientnet_lite0"):
        weights.load("timm/tf_efficientnet_lite0", str(need(LITE1)))


def test_weights_tag_is_the_same_as_naming_it(offline_hub: Path) -> None:
    """--weights in1k and timm/ARCH.in1k: the same card, and the same --weights-dir file."""
    state = torch.load(need(LITE0), weights_only=True)
    by_tag = weights.load("timm/tf_efficientnet_lite0", "in1k", str(LITE0.parent))
    by_name = weights.load("timm/tf_efficientnet_lite0.in1k", "DEFAULT", str(LITE0.parent))
    for loaded in (by_tag, by_name):
        assert loaded.source == str(LITE0) and loaded.card.name == "timm/tf_efficientnet_lite0.in1k"
        assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in state.items())
    with pytest.raises(HarnessError, match="already names its weights"):
        weights.load("timm/tf_efficientnet_lite0.in1k", "zz", str(LITE0.parent))


def test_flops_of_a_timm_model_equal_a_hand_count() -> None:
    """FLOPs = 2 x the multiply-accumulates of every convolution and linear layer."""
    from harness.measure import speed

    model = timm.create_model("tf_efficientnet_lite0").eval()
    macs = 0

    def count(m: nn.Module, _: object, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(m, nn.Conv2d):  # per output value: (in / groups) x kh x kw
            macs += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs += out.numel() * m.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    assert speed.flops_per_image(model, 224) == 2 * macs == 2 * 385187552
