"""Options, models and images for the benchmarks; a TensorBoard run at session end.

Run from the repository root: ``pytest benchmarks/ --models alexnet,resnet18``; a name
may carry its runtime (``squeezenet1_1@openvino``, ``'timm/tf_efficientnet_lite*@onnxruntime'``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from benchmarks import tb
from harness.config import PRECISIONS, RunConfig, for_variant, variant
from harness.data.calibration import Calibration
from harness.data.images import walk
from harness.engine.runtimes import example_batch, runtime
from harness.engine.speedups import amp_dtype, resolve_precision
from harness.errors import HarnessError
from harness.measure import conditions as timing
from harness.measure import speed
from harness.zoo import registry, weights

SHARED = Path(os.environ.get("HARNESS_SHARED", tb.ROOT.parent / "shared"))
DEFAULT_MODELS = "squeezenet1_1,mobilenet_v3_small,resnet18"
MODES = ("model", "end_to_end")
RUN_DIR = pytest.StashKey[Path | None]()
MODELS = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class Settings:
    """What every benchmark of the session shares, from the command line."""

    precision: str
    channels_last: bool
    rounds: int
    warmup: int
    device: torch.device

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return amp_dtype(self.precision)


@dataclass
class Bench:
    """A model ready to time, with what the benchmarks report about it.

    ``model`` is what its runtime prepared (``engine.runtimes``): the model itself, or
    an exported runtime's session; ``cfg`` is how that runtime runs (device, precision,
    memory format) and ``device`` where it runs.
    """

    name: str
    model: nn.Module | Any
    transform: Any
    weights: str
    crop: int
    params: int
    flops: int
    cfg: RunConfig
    device: torch.device

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return amp_dtype(self.cfg.precision)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("harness benchmarks")
    g.addoption("--models", default=DEFAULT_MODELS, help="comma-separated names or patterns")
    g.addoption("--bench-batch", type=int, default=8, help="the larger batch (batch 1 always)")
    g.addoption(
        "--bench-precision", choices=PRECISIONS, default="32-true", help="as harness --precision"
    )
    g.addoption(
        "--bench-channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="model and inputs in channels-last memory format (the harness's default)",
    )
    g.addoption("--bench-rounds", type=int, default=20, help="timed rounds per benchmark")
    g.addoption("--bench-warmup", type=int, default=3, help="untimed rounds before them")
    g.addoption("--bench-device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    g.addoption(
        "--threads",
        "--bench-threads",
        dest="bench_threads",
        type=int,
        default=None,
        help="torch intra-op threads (torch.set_num_threads; default: torch's)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the options once, so that a typo is one usage line, not a collection error."""
    if not ours(config):
        return
    opt = config.option
    if opt.bench_batch < 1 or opt.bench_rounds < 1 or opt.bench_warmup < 0:
        raise pytest.UsageError(
            "--bench-batch and --bench-rounds must be >= 1, --bench-warmup >= 0"
        )
    if opt.bench_threads is not None and opt.bench_threads < 1:
        raise pytest.UsageError("--threads must be >= 1")
    try:
        names = [m.strip() for m in opt.models.split(",") if m.strip()]
        if not names:  # registry.match([]) would mean all 80 classifiers
            raise HarnessError("give at least one model name or pattern")
        config.stash[MODELS] = registry.match_variants(names)
        for name in config.stash[MODELS]:  # a runtime not installed: one line, now
            runtime(for_variant(RunConfig(), variant(name))).check()
    except HarnessError as e:
        raise pytest.UsageError(f"--models: {e}") from None
    if opt.bench_threads:
        torch.set_num_threads(opt.bench_threads)
    on_cpu = opt.bench_device == "cpu" or not torch.cuda.is_available()
    opt.bench_precision = resolve_precision(opt.bench_precision, "cpu" if on_cpu else "gpu")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Ids ``<model>-b<batch>-<mode>``: stable across runs, as --benchmark-compare needs."""
    opt = metafunc.config.option
    if "model_name" in metafunc.fixturenames:
        # session scope groups the tests by model, so each model is built once
        metafunc.parametrize("model_name", metafunc.config.stash[MODELS], scope="session")
    if "batch" in metafunc.fixturenames:
        sizes = sorted({1, opt.bench_batch})
        metafunc.parametrize("batch", sizes, ids=[f"b{b}" for b in sizes])
    if "mode" in metafunc.fixturenames:
        metafunc.parametrize("mode", MODES)


def settings_of(config: pytest.Config) -> Settings:
    opt = config.option
    device = opt.bench_device or ("cuda" if torch.cuda.is_available() else "cpu")
    return Settings(
        opt.bench_precision,
        opt.bench_channels_last,
        opt.bench_rounds,
        opt.bench_warmup,
        torch.device(device),
    )


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> Settings:
    return settings_of(pytestconfig)


def load(name: str) -> weights.Loaded:
    """Real weights when a local file has them (../shared/weights, torch cache), else random.

    Speed does not depend on the weights, so nothing is downloaded for a benchmark.
    """
    wdir = SHARED / "weights"
    local = wdir.is_dir() and weights.find_in_dir(weights.arch_of(name), wdir)
    cached = weights.is_cached(name)
    if local or cached:
        return weights.load(name, "DEFAULT", weights_dir=str(wdir) if local else None)
    return weights.load(name, "none")


@pytest.fixture(scope="session")
def bench_model(model_name: str, settings: Settings, image_files: list[Path]) -> Bench:
    """The model as its runtime runs it: torch's fast path (eval, channels-last if asked,
    freed memory kept), or an exported runtime's session (on the CPU); int8 calibrated on
    up to 100 of the benchmark's photos (timings only: no accuracy is claimed of them)."""
    v = variant(model_name)
    loaded = load(v.model)
    crop = loaded.card.input_size
    model = loaded.model
    params, flops = speed.count_params(model), speed.flops_per_image(model, crop)
    on = "cpu" if settings.device.type == "cpu" else "gpu"
    cfg = RunConfig(precision=settings.precision, channels_last=settings.channels_last)
    cfg = for_variant(replace(cfg, accelerator=on), v)
    device = torch.device("cpu") if cfg.accelerator == "cpu" else settings.device
    calibration = None
    if v.precision == "int8":
        photos = Calibration.from_folder(str(image_files[0].parent), min(100, len(image_files)))
        calibration = photos.prepared(loaded.transforms())
    try:
        net = runtime(cfg, model_name=loaded.name, calibration=calibration).prepare(
            model.to(device), example_batch(crop).to(device)
        )
    except HarnessError as e:  # a model the runtime cannot run: its one line
        pytest.fail(f"{model_name}: {e}", pytrace=False)
    return Bench(
        model_name, net, loaded.transforms(), loaded.source, crop, params, flops, cfg, device
    )


@pytest.fixture(scope="session")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """nips17-dev's PNGs when ../shared is there, else 32 generated 299x299 noise PNGs."""
    nips = SHARED / "data" / "nips17-dev" / "images"
    found = walk(nips) if nips.is_dir() else []
    if found:
        return found
    folder = tmp_path_factory.mktemp("bench_images")
    rng = np.random.default_rng(0)
    files = []
    for i in range(32):
        files.append(folder / f"noise{i:02d}.png")
        Image.fromarray(rng.integers(0, 256, (299, 299, 3), dtype=np.uint8)).save(files[-1])
    return files


def environment(settings: Settings) -> dict[str, Any]:
    """Machine, versions and settings: the same for every benchmark of the session."""
    import harness
    from harness.engine.files import environment as machine

    env = machine(settings.precision)
    dev = settings.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else env["cpu"]
    return {
        "device": str(dev),
        "device_name": name,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "torchvision_version": env["torchvision"],
        "harness_version": harness.__version__,
        "precision": settings.precision,
        "channels_last": settings.channels_last,
    }


@pytest.fixture(scope="session")
def bench_environment(settings: Settings) -> dict[str, Any]:
    return environment(settings)


@contextlib.contextmanager
def conditions(benchmark: Any) -> Iterator[None]:
    """Put threads, the load before and after the block, spread and ``noisy`` in extra_info.

    See ``harness.measure.conditions``; the spread is p90/p50 of the block's timed rounds.
    """
    with timing.Watch() as watch:
        yield
    spread = timing.spread(benchmark.stats.stats.data) if benchmark.stats else None
    benchmark.extra_info.update(watch.conditions(torch.get_num_threads(), spread))


def ours(config: pytest.Config) -> bool:
    """Whether this conftest's options were parsed (it was loaded as an initial conftest)."""
    return hasattr(config.option, "bench_batch")


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Saved runs carry the torch setup, so --benchmark-compare warns when it differs."""
    if ours(config):
        env = environment(settings_of(config))
        machine_info["harness"] = {
            k: env[k] for k in ("device_name", "torch_threads", "torch_version")
        }


def pytest_sessionfinish(session: pytest.Session) -> None:
    bs = getattr(session.config, "_benchmarksession", None)
    if bs is not None and ours(session.config):
        env = environment(settings_of(session.config))
        session.config.stash[RUN_DIR] = tb.write_session(bs.benchmarks, env)


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> Any:
    """The run folder, after pytest-benchmark's table (even when --benchmark-compare-fail fails)."""
    try:
        return (yield)
    finally:
        bs = getattr(config, "_benchmarksession", None)
        for b in bs.benchmarks if bs is not None and ours(config) else []:
            if b and b.extra_info.get("noisy"):
                terminalreporter.write_line(f"noisy: {b.name}: {timing.describe(b.extra_info)}")
        path = config.stash.get(RUN_DIR, None)
        if path is not None:
            terminalreporter.write_line(
                f"TensorBoard run: {path}  (tensorboard --logdir {path.parent})"
            )
