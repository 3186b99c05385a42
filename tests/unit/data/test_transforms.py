"""harness.data.transforms: the split preprocessing equals each library's own, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from harness.data import transforms
from harness.data.datamodule import UNLABELLED, ImageFolderDataModule, Samples
from harness.zoo import registry
from tests.helpers import NIPS

# torchvision: bilinear 232/224 (V2), 256/224 (V1), ViT's bilinear; timm: bicubic 260 and
# crop 0.89 with mean = std = 0.5, and resnet50's a1 weights (crop 0.95)
MODELS = ["resnet50", "squeezenet1_1", "vit_b_16", "timm/tf_efficientnet_lite2",
          "timm/resnet50.a1_in1k"]  # fmt: skip


def photos() -> list[Image.Image]:
    """Real photos where ../shared is there, and generated ones of awkward sizes always."""
    rng = np.random.default_rng(0)
    made = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(300, 451), (97, 61)]]
    real = sorted((NIPS / "images").glob("*.png"))[:4] if NIPS.is_dir() else []
    return [Image.fromarray(a) for a in made] + [Image.open(p).convert("RGB") for p in real]


@pytest.mark.parametrize("name", MODELS)
def test_split_equals_the_transform_bit_for_bit(name: str) -> None:
    tf = registry.card(name).transforms()
    split = transforms.split(tf)
    assert split is not None, type(tf)
    images = photos()
    want = torch.stack([tf(im) for im in images])  # the library's own, image by image
    pixels = torch.stack([split.pixels(im) for im in images])
    assert pixels.dtype == torch.uint8 and pixels.shape[-1] == 3  # (B, H, W, C)
    got = split.normalise(pixels)
    assert torch.equal(got, want)
    assert got.is_contiguous(memory_format=torch.channels_last)
    nchw = split.normalise(pixels, channels_last=False)  # what the exported runtimes get
    assert torch.equal(nchw, want) and nchw.is_contiguous()


def test_other_transforms_are_applied_whole(tmp_path: Path) -> None:
    """No split for a transform of another shape: the workers apply it as it is."""
    odd = [T.Compose([T.Resize(8), T.ToTensor()]),  # no Normalize
           T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3), T.CenterCrop(4)]),
           lambda im: T.functional.to_tensor(im)]  # fmt: skip
    assert [transforms.split(t) for t in odd] == [None, None, None]
    Image.new("RGB", (10, 12), (200, 10, 10)).save(tmp_path / "a.png")
    samples = Samples(tmp_path, [tmp_path / "a.png"], [UNLABELLED], "unlabelled")
    dm = ImageFolderDataModule(samples, odd[0], batch_size=1, num_workers=0)
    (batch,) = dm.test_dataloader()
    assert batch["image"].dtype == torch.float32  # as the transform made it
    assert dm.on_after_batch_transfer(batch, 0)["image"] is batch["image"]


@pytest.mark.parametrize("channels_last", [True, False])
def test_loader_sends_pixels_and_the_batch_is_normalised_after(tmp_path, channels_last) -> None:
    tf = registry.card("squeezenet1_1").transforms()
    files = []
    for i, im in enumerate(photos()[:2]):
        files.append(tmp_path / f"{i}.png")
        im.save(files[-1])
    samples = Samples(tmp_path, files, [UNLABELLED] * 2, "unlabelled")
    dm = ImageFolderDataModule(samples, tf, 2, num_workers=0, channels_last=channels_last)
    (batch,) = dm.test_dataloader()
    assert batch["image"].dtype == torch.uint8  # a quarter of the bytes of float32
    x = dm.on_after_batch_transfer(batch, 0)["image"]
    assert torch.equal(x, torch.stack([tf(Image.open(f).convert("RGB")) for f in files]))
    assert x.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert x.is_contiguous() == (not channels_last)


def test_steps_that_change_the_image_or_skip_the_division_are_not_split() -> None:
    """A mode change before the tensor step, or timm's ToTensor (no / 255): applied whole."""
    from timm.data.transforms import MaybeToTensor
    from timm.data.transforms import ToTensor as TimmToTensor

    norm = T.Normalize([0.5] * 3, [0.5] * 3)
    assert transforms.split(T.Compose([T.Grayscale(3), MaybeToTensor(), norm])) is None
    assert transforms.split(T.Compose([T.Resize(8), TimmToTensor(), norm])) is None
    assert transforms.split(T.Compose([T.Resize(8), MaybeToTensor(), norm])) is not None


def test_sample_grid_is_unnormalised_with_the_weights_mean_and_std() -> None:
    """timm's mean = std = 0.5 too: the grid shows the crop's own pixels (to a rounding)."""
    from types import SimpleNamespace

    from harness.engine.tensorboard import COLS, sample_grid

    card = registry.card("timm/tf_efficientnet_lite0")
    tf = card.transforms()
    im = photos()[0]
    x = tf(im)  # normalised with mean = std = 0.5: the grid must undo it
    module = SimpleNamespace(samples=[(x, 0, 0)] * COLS, categories=["a"])
    grid = sample_grid(module, SimpleNamespace(transforms=lambda: tf))  # type: ignore[arg-type]
    crop = np.asarray(transforms.split(tf).image(im)).astype(int)  # type: ignore[union-attr]
    shown = grid[32 : 32 + crop.shape[0], : crop.shape[1]].astype(int)  # below the caption
    assert np.abs(shown - crop).max() <= 1
