"""Photos as people take them: HEIC, 108-megapixel JPEGs, --max-pixels, --decode fast."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from test_bad_input import bomb_png
from torchvision import transforms as T
from torchvision.models import (
    Inception_V3_Weights,
    MobileNet_V3_Small_Weights,
    ResNet18_Weights,
    ResNet50_Weights,
    resnet18,
)
from torchvision.transforms import v2

from harness.cli.main import build_parser, main
from harness.data.decode import decoder, needed_side
from harness.data.images import load_rgb
from harness.engine.runs import RunConfig
from harness.errors import ImageTooLarge

MODEL = "resnet18"  # random weights whose top-5 are well apart (mobilenet's all tie)
TF = ResNet18_Weights.DEFAULT.transforms()  # resize 256, crop 224
RUN = ["--model", MODEL, "--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
ORIENTATION = 0x0112  # the Exif tag
BIG = (12000, 9000)  # 108 megapixels, as several phones save

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


def marked(size: tuple[int, int]) -> Image.Image:
    """Black, with a white block in the top-left corner and a grey one in the middle."""
    w, h = size
    im = Image.new("RGB", size, (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, w // 6, h // 6))
    im.paste((120, 180, 60), (w // 3, h // 3, 2 * w // 3, 2 * h // 3))
    return im


def save_heic(path: Path, size: tuple[int, int], orientation: int = 1) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    marked(size).save(path, format="HEIF", exif=exif.tobytes(), quality=90)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / f"{MODEL}.pth"
    torch.save(resnet18().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HEIC shown turned (orientation 6), a 108-MP JPEG and a PNG claiming 30000x30000."""
    root = tmp_path_factory.mktemp("photos")
    save_heic(root / "phone.heic", (160, 120), orientation=6)
    marked(BIG).save(root / "big.jpg", quality=85)  # flat areas: encodes in about a second
    (root / "bomb.png").write_bytes(bomb_png(30000, 30000))
    return root


def reference_top5(files: list[Path], weights: Path, draft: int | None = None) -> dict[str, list]:
    """A plain loop: Pillow (+ pillow-heif), EXIF orientation, the weights' transforms, model.

    Returns file name -> (top-1, top-5 probabilities).
    """
    model = resnet18()
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    out = {}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # 108 MP > Pillow's 89
        for f in files:
            with Image.open(f) as im:
                if draft:
                    im.draft("RGB", (draft, draft))
                x = TF(ImageOps.exif_transpose(im).convert("RGB"))
            p, i = model(x[None])[0].softmax(-1).topk(5)
            out[f.name] = (int(i[0]), p.tolist())
    return out


def run_test(data: Path, out: Path, weights: Path, *extra: str) -> dict:
    assert main(["test", "--data", str(data), "--weights", str(weights), *RUN, *extra,
                 "--output", str(out)]) == 0  # fmt: skip
    return json.loads((out / "results.json").read_text())


def top5_rows(out: Path) -> dict[str, tuple]:
    """predictions.csv as file name -> (top-1, top-5 probabilities)."""
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["file"]: (int(r["pred1_index"]), [float(r[f"pred{k}_prob"]) for k in range(1, 6)])
            for r in rows}  # fmt: skip


def same_predictions(got: dict[str, tuple], expected: dict[str, tuple]) -> bool:
    """Same top-1, and top-5 probabilities within predictions.csv's 6 decimals."""
    assert sorted(got) == sorted(expected)
    for name, (top1, probs) in expected.items():
        assert got[name][0] == top1, name
        assert got[name][1] == pytest.approx(probs, abs=2e-6), name
    return True


@pytest.fixture(scope="module")
def exact_run(photos: Path, weights_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exact")
    run_test(photos, out, weights_file)
    return out


def test_heic_and_108_megapixel_jpeg_evaluated_bomb_skipped(
    exact_run: Path, photos: Path, weights_file: Path
) -> None:
    res = json.loads((exact_run / "results.json").read_text())
    assert res["n"] == 2  # the hand count: phone.heic and big.jpg
    assert [s["file"] for s in res["skipped"]] == [str(photos / "bomb.png")]
    assert "--max-pixels (250,000,000)" in res["skipped"][0]["reason"]
    assert (res["decode"], res["draft_side"], res["max_pixels"]) == ("exact", None, 250_000_000)
    expected = reference_top5([photos / "phone.heic", photos / "big.jpg"], weights_file)
    assert same_predictions(top5_rows(exact_run), expected)


def test_max_pixels_is_honoured(photos: Path, weights_file: Path, tmp_path: Path) -> None:
    res = run_test(photos, tmp_path, weights_file, "--max-pixels", "100e6")
    assert res["n"] == 1 and list(top5_rows(tmp_path)) == ["phone.heic"]
    reasons = {Path(s["file"]).name: s["reason"] for s in res["skipped"]}
    assert sorted(reasons) == ["big.jpg", "bomb.png"]
    assert reasons["big.jpg"] == (
        "ImageTooLarge: 12000x9000 is 108,000,000 pixels, over --max-pixels (100,000,000); "
        "raise it to read this file"
    )
    assert "--max-pixels (100,000,000)" in reasons["bomb.png"]
    assert res["max_pixels"] == 100_000_000


def test_decode_fast_on_large_photos(photos: Path, weights_file: Path, tmp_path: Path) -> None:
    """Recorded in results; each image as the plain loop sees it after Pillow's own draft."""
    res = run_test(photos, tmp_path, weights_file, "--decode", "fast")
    assert (res["n"], res["decode"], res["draft_side"]) == (2, "fast", 256)
    expected = reference_top5([photos / "phone.heic", photos / "big.jpg"], weights_file, 256)
    assert same_predictions(top5_rows(tmp_path), expected)


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


def test_fast_predictions_equal_exact_on_small_images(
    tiny_images: list[Path], weights_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tiny_images[0].parent
    marked((480, 360)).save(folder / "small.jpg", quality=90)
    save_heic(folder / "small.heic", (320, 240))
    args = ["predict", str(folder), "--weights", str(weights_file), *RUN, "--format", "json"]
    outputs = []
    for mode in ("exact", "fast"):
        assert main([*args, "--decode", mode]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert len(outputs[0]) == len(tiny_images) + 2
    assert outputs[0] == outputs[1]


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


def test_decode_fast_falls_back_to_exact(
    tiny_images: list[Path], weights_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transforms whose first step is not a resize: decoded exactly, and the results say so."""
    unknown = T.Compose([T.CenterCrop(24), T.Resize(224), T.ToTensor()])
    assert decoder(RunConfig(decode="fast"), unknown).mode == "exact"
    monkeypatch.setattr("harness.zoo.weights.Loaded.transforms", lambda self: unknown)
    res = run_test(tiny_images[0].parent, tmp_path / "out", weights_file, "--decode", "fast")
    assert (res["decode"], res["draft_side"]) == ("exact", None)
    assert res["notes"] == ["--decode fast: the size Compose needs is unknown; decoded exactly"]


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
