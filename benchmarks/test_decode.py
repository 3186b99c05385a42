"""``--decode fast`` against ``exact`` on 12-megapixel JPEGs, end to end, with squeezenet1_1.

Each round runs the harness's own end-to-end loop (``speed.throughput_end_to_end``:
DataLoader workers read, decode and preprocess, the model runs) over the whole
folder, so pytest-benchmark's time is per folder. The photos are nips17-dev's
(when ../shared is there) enlarged to 4000x3000 with a little sensor-like noise,
about 3 MB each as a phone's. Once per session both modes also run photo by
photo, alternating (so that load from other processes hits both alike): their
top-1 agreement and median ms to decode + preprocess one photo go into
``extra_info`` and are printed.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageChops

from benchmarks import tb
from benchmarks.conftest import SHARED, conditions, load
from harness.data.decode import draft_side
from harness.data.images import Decoder, walk
from harness.measure import speed

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


@dataclass
class SideBySide:
    """Both modes photo by photo, alternating: top-1 agreement, ms to decode + preprocess."""

    agreement: float
    ms_exact: float  # median over the photos, one process, no workers
    ms_fast: float


@pytest.fixture(scope="session")
def side_by_side(squeezenet: Any, photos12: list[Path], settings: Settings) -> SideBySide:
    tf = squeezenet.transforms()
    decoders = {"exact": Decoder(), "fast": Decoder(draft_side=draft_side("fast", tf))}
    ms: dict[str, list[float]] = {"exact": [], "fast": []}
    top1: dict[str, list[int]] = {"exact": [], "fast": []}
    with torch.inference_mode():
        for f in photos12:
            for mode, decode in decoders.items():  # alternating: load hits both alike
                start = time.perf_counter()
                x = tf(decode(f))
                ms[mode].append((time.perf_counter() - start) * 1e3)
                top1[mode].append(int(squeezenet.model(x[None].to(settings.device)).argmax()))
    same = sum(a == b for a, b in zip(top1["exact"], top1["fast"], strict=True))
    return SideBySide(
        same / len(photos12), statistics.median(ms["exact"]), statistics.median(ms["fast"])
    )


@pytest.mark.parametrize("decode", ["exact", "fast"])
def test_decode(
    benchmark: Any,
    decode: str,
    squeezenet: Any,
    photos12: list[Path],
    side_by_side: SideBySide,
    settings: Settings,
    bench_environment: dict[str, Any],
) -> None:
    benchmark.group = f"{MODEL} end to end, {PHOTOS} 12-MP JPEGs per call"
    tf = squeezenet.transforms()
    decoder = Decoder(draft_side=draft_side(decode, tf))
    model = squeezenet.model

    def run() -> dict[str, Any]:
        return speed.throughput_end_to_end(
            model, photos12, tf, BATCH, WORKERS, device=settings.device, decode=decoder
        )

    with conditions(benchmark):
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
        top1_agreement=side_by_side.agreement,
        decode_preprocess_ms_exact=side_by_side.ms_exact,
        decode_preprocess_ms_fast=side_by_side.ms_fast,
    )
    if benchmark.stats:  # None under --benchmark-disable
        benchmark.extra_info.update(tb.per_image(benchmark.stats))
        print(
            f"\n{decode}: {benchmark.extra_info['images_per_s']:.2f} images/s end to end "
            f"(median of {ROUNDS}); side by side: top-1 agreement {side_by_side.agreement:.1%}, "
            f"decode + preprocess {side_by_side.ms_exact:.0f} ms exact, "
            f"{side_by_side.ms_fast:.0f} ms fast (median per photo)"
        )
