"""``--decode fast`` against ``exact`` on 12-megapixel JPEGs, end to end, with squeezenet1_1.

Each round runs the harness's own end-to-end loop (``measure.throughput_end_to_end``:
DataLoader workers read, decode and preprocess, the model runs) over the whole
folder, so pytest-benchmark's time is per folder. The photos are nips17-dev's
(when ../shared is there) enlarged to 4000x3000 with a little sensor-like noise,
about 3 MB each as a phone's; their top-1 agreement between the two modes is in
``extra_info`` (``top1_agreement``) and printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageChops

from benchmarks import tb
from benchmarks.conftest import SHARED, load
from harness import measure
from harness.decode import draft_side
from harness.images import Decoder, walk

if TYPE_CHECKING:
    from benchmarks.conftest import Settings

MODEL = "squeezenet1_1"
PHOTOS = 16
SIZE = (4000, 3000)  # 12 megapixels, 4:3 as phones take them
BATCH, WORKERS, ROUNDS = 8, 2, 3


def photo(source: Image.Image) -> Image.Image:
    """``source`` enlarged and cropped to 4000x3000, plus Gaussian noise (sigma 6)."""
    w, h = SIZE
    big = source.convert("RGB").resize((w, w), Image.Resampling.BICUBIC)
    big = big.crop((0, (w - h) // 2, w, (w + h) // 2))
    noise = Image.effect_noise(SIZE, 6).convert("RGB")
    return ImageChops.add(big, noise, scale=1.0, offset=-128)


@pytest.fixture(scope="session")
def photos12(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """PHOTOS 12-MP JPEGs (quality 90) from nips17-dev, else from smooth random images."""
    nips = SHARED / "data" / "nips17-dev" / "images"
    sources = walk(nips)[:PHOTOS] if nips.is_dir() else []
    rng = np.random.default_rng(0)
    while len(sources) < PHOTOS:
        small = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        sources.append(Image.fromarray(small))  # type: ignore[arg-type]
    folder = tmp_path_factory.mktemp("photos12")
    files = []
    for i, src in enumerate(sources):
        im = Image.open(src) if isinstance(src, Path) else src
        files.append(folder / f"photo{i:02d}.jpg")
        photo(im).save(files[-1], quality=90)
    return files


@pytest.fixture(scope="session")
def squeezenet(settings: Settings) -> Any:
    loaded = load(MODEL)
    loaded.model.to(settings.device)
    return loaded


def top1(loaded: Any, files: list[Path], decoder: Decoder, device: torch.device) -> list[int]:
    tf = loaded.transforms()
    with torch.inference_mode():
        return [int(loaded.model(tf(decoder(f))[None].to(device)).argmax()) for f in files]


@pytest.fixture(scope="session")
def agreement(squeezenet: Any, photos12: list[Path], settings: Settings) -> float:
    """The share of photos whose top-1 class is the same under both modes."""
    side = draft_side("fast", squeezenet.transforms())
    exact = top1(squeezenet, photos12, Decoder(), settings.device)
    fast = top1(squeezenet, photos12, Decoder(draft_side=side), settings.device)
    return sum(a == b for a, b in zip(exact, fast, strict=True)) / len(photos12)


@pytest.mark.parametrize("decode", ["exact", "fast"])
def test_decode(
    benchmark: Any,
    decode: str,
    squeezenet: Any,
    photos12: list[Path],
    agreement: float,
    settings: Settings,
    bench_environment: dict[str, Any],
) -> None:
    benchmark.group = f"{MODEL} end to end, {PHOTOS} 12-MP JPEGs per call"
    tf = squeezenet.transforms()
    decoder = Decoder(draft_side=draft_side(decode, tf))
    model = squeezenet.model

    def run() -> dict[str, Any]:
        return measure.throughput_end_to_end(
            model, photos12, tf, BATCH, WORKERS, device=settings.device, decode=decoder
        )

    out = benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    assert out["images"] == PHOTOS and out["skipped"] == 0
    benchmark.extra_info.update(
        bench_environment,
        model=MODEL,
        weights=squeezenet.source,
        mode=f"decode_{decoder.mode}",  # names its TensorBoard scalars
        decode=decoder.mode,
        draft_side=decoder.draft_side,
        batch_size=PHOTOS,  # images per call, as tb.per_image counts
        images_per_call=PHOTOS,
        loader_batch_size=BATCH,
        num_workers=WORKERS,
        photo_size=f"{SIZE[0]}x{SIZE[1]}",
        top1_agreement=agreement,
    )
    if benchmark.stats:  # None under --benchmark-disable
        benchmark.extra_info.update(tb.per_image(benchmark.stats))
        print(
            f"\n{decode}: {benchmark.extra_info['images_per_s']:.2f} images/s "
            f"(median of {ROUNDS}); top-1 agreement fast vs exact {agreement:.1%}"
        )
