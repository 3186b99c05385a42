"""Photos as people take them, evaluated by ``test``: HEIC, 108-megapixel JPEGs, --max-pixels,
--decode fast.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageOps
from torchvision import transforms as T
from torchvision.models import (
    ResNet18_Weights,
    resnet18,
)

from harness.cli.main import main
from harness.data.decode import decoder
from harness.engine.runs import RunConfig
from tests.helpers.images import bomb_png, marked, save_heic

pytestmark = pytest.mark.filterwarnings("ignore:.*(does not have many workers|LeafSpec).*")


MODEL = "resnet18"  # random weights whose top-5 are well apart (mobilenet's all tie)
TF = ResNet18_Weights.DEFAULT.transforms()  # resize 256, crop 224
RUN = ["--model", MODEL, "--no-progress", "--num-workers", "0", "--accelerator", "cpu"]
BIG = (12000, 9000)  # 108 megapixels, as several phones save


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
