"""harness.data.decode: --max-pixels, --decode fast's draft scale, HEIC orientation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms as T
from torchvision.models import (
    Inception_V3_Weights,
    MobileNet_V3_Small_Weights,
    ResNet18_Weights,
    ResNet50_Weights,
)
from torchvision.transforms import v2

from harness.cli.main import build_parser, main
from harness.data.decode import needed_side
from harness.data.images import load_rgb
from harness.errors import ImageTooLarge
from tests.helpers.images import marked, save_heic

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


TF = ResNet18_Weights.DEFAULT.transforms()  # resize 256, crop 224


def test_heic_orientation_honoured(tmp_path: Path) -> None:
    p = tmp_path / "turned.heic"
    save_heic(p, (60, 30), orientation=6)  # shown turned 90 degrees clockwise
    im = load_rgb(p)
    assert im.size == (30, 60)
    a = np.asarray(im).astype(int)
    assert a[2, -3].min() > 200 and a[2, 2].max() < 50  # the white block is now top-right


@pytest.mark.parametrize(
    ("side", "size"),
    [
        (None, (2000, 1500)),
        (256, (500, 375)),  # 1/8 would leave 187.5 < 256: 1/4
        (187, (250, 188)),  # 1500 / 8 = 187.5 >= 187: 1/8
        (188, (500, 375)),  # 1/8 would leave 187.5 < 188: 1/4
        (750, (1000, 750)),  # 1/2
        (751, (2000, 1500)),  # even 1/2 is too small: full size
    ],
)
def test_draft_decodes_at_the_smallest_sufficient_scale(
    side: int | None, size: tuple[int, int], tmp_path: Path
) -> None:
    p = tmp_path / "photo.jpg"
    marked((2000, 1500)).save(p, quality=90)
    im = load_rgb(p, draft_side=side)
    assert im.size == size
    assert TF(im).shape == (3, 224, 224)


def test_fast_equals_exact_when_no_scale_applies(tmp_path: Path) -> None:
    p = tmp_path / "small.jpg"
    marked((500, 400)).save(p, quality=90)  # 400 // 256 = 1: no draft scaling
    assert np.array_equal(np.asarray(load_rgb(p, draft_side=256)), np.asarray(load_rgb(p)))


def test_max_pixels_boundary(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    Image.new("RGB", (40, 25)).save(p)  # 1000 pixels
    assert load_rgb(p, max_pixels=1000).size == (40, 25)
    with pytest.raises(ImageTooLarge, match=r"40x25 is 1,000 pixels, over --max-pixels \(999\)"):
        load_rgb(p, max_pixels=999)
    # over twice the limit Pillow's own guard refuses it at opening: still the file's own size
    with pytest.raises(ImageTooLarge, match=r"claims 1,000 pixels, over --max-pixels \(400\)"):
        load_rgb(p, max_pixels=400)


@pytest.mark.parametrize(
    ("value", "pixels"), [("250e6", 250_000_000), ("1000", 1000), ("1.2e9", 1_200_000_000)]
)
def test_max_pixels_option(value: str, pixels: int) -> None:
    args = build_parser().parse_args(["test", "--model", "m", "--data", "d", "--max-pixels", value])
    assert args.max_pixels == pixels


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots", "nan", "inf"])
def test_max_pixels_option_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["predict", "x.png", "--model", "m", "--max-pixels", value])
    assert e.value.code == 2
    assert "--max-pixels: expected a whole number of pixels" in capsys.readouterr().err


def test_needed_side() -> None:
    import timm.data

    cfg = {"input_size": (3, 224, 224), "crop_pct": 0.95, "interpolation": "bicubic"}
    assert needed_side(MobileNet_V3_Small_Weights.DEFAULT.transforms()) == 256
    assert needed_side(ResNet50_Weights.IMAGENET1K_V2.transforms()) == 232
    assert needed_side(Inception_V3_Weights.DEFAULT.transforms()) == 342
    assert needed_side(timm.data.create_transform(**cfg)) == 235  # 224 / 0.95, rounded down
    assert needed_side(timm.data.create_transform(**cfg, crop_mode="squash")) == 235
    assert needed_side(timm.data.create_transform(**cfg, crop_mode="border")) is None
    assert needed_side(T.Compose([T.Resize((200, 300)), T.ToTensor()])) == 300
    assert needed_side(v2.Compose([v2.Resize(300), v2.CenterCrop(288)])) == 300
    assert needed_side(T.Compose([T.CenterCrop(224), T.Resize(256)])) is None
    assert needed_side(T.CenterCrop(224)) is None


def test_compare_passes_the_image_options_to_each_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the command line into each child's Spec (its RunConfig takes them from there)."""
    import harness.compare.parent

    specs = []
    monkeypatch.setattr(
        harness.compare.parent, "compare", lambda m, spec, *_: specs.append(spec) or []
    )
    (tmp_path / "data").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "data" / "a.png")  # compare refuses an empty folder
    data = str(tmp_path / "data")
    args = ["compare", "--models", "squeezenet1_1", "--data", data, "--accelerator", "cpu"]
    assert main([*args, "--decode", "fast", "--max-pixels", "5e6", "--output", str(tmp_path)]) == 0
    assert (specs[0].decode, specs[0].max_pixels) == ("fast", 5_000_000)
