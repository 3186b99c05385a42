"""harness.measure.speed against hand counts, torchvision's metadata, the OS and plain loops."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.models import SqueezeNet1_1_Weights, get_model, get_model_weights

from harness.measure import speed
from harness.zoo import registry
from tests.helpers.images import image


class Sleeper(nn.Module):
    """Takes at least the next of ``seconds`` per call (the last one when they run out),
    whatever the machine, and records when each call began and ended."""

    def __init__(self, *seconds: float) -> None:
        super().__init__()
        self.seconds, self.calls = list(seconds), []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        began = time.perf_counter()
        time.sleep(self.seconds[min(len(self.calls), len(self.seconds) - 1)])
        self.calls.append((began, time.perf_counter(), x.shape[0]))
        return x


class Counter(nn.Module):
    """Wraps a model and records the batch shapes it is called with."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.shapes = inner, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.inner(x)


def test_count_params_by_hand() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    assert speed.count_params(model) == 3 * 4 + 4 + 4 * 2 + 2 == 26
    shared = nn.Linear(5, 5)
    assert speed.count_params(nn.Sequential(shared, nn.ReLU(), shared)) == 5 * 5 + 5


def test_count_params_matches_torchvision_meta() -> None:
    model = get_model("squeezenet1_1", weights=None)
    assert speed.count_params(model) == 1235496
    assert speed.count_params(model) == SqueezeNet1_1_Weights.DEFAULT.meta["num_params"]


def test_flops_linear_by_hand() -> None:
    c, h, w, out = 3, 4, 5, 7
    model = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, out))
    assert speed.flops_per_image(model, (h, w), channels=c) == 2 * (c * h * w) * out


@pytest.mark.parametrize(("stride", "padding", "h_out", "w_out"), [(1, 1, 10, 12), (2, 0, 4, 5)])
def test_flops_conv_by_hand(stride: int, padding: int, h_out: int, w_out: int) -> None:
    c_in, c_out, k = 3, 8, 3
    model = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding)
    flops = speed.flops_per_image(model, (10, 12), channels=c_in)
    assert flops == 2 * c_out * h_out * w_out * c_in * k * k


def test_flops_leave_the_model_untouched() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    speed.flops_per_image(model, 2)
    assert all(t.device.type == "cpu" for t in model.state_dict().values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["resnet18", "vit_b_16"])
def test_flops_are_twice_torchvision_ops(name: str) -> None:
    """torchvision's ``_ops`` "GFLOPS" are multiply-accumulates: FLOPs are twice that.

    vit_b_16 checks that attention is counted: on CPU its fused kernels are not.
    """
    weights = get_model_weights(name).DEFAULT
    with torch.device("meta"):  # no memory, no init time: only shapes matter
        model = get_model(name).eval()
    gflops = speed.flops_per_image(model, registry.card(name).input_size) / 1e9
    assert gflops == pytest.approx(2 * weights.meta["_ops"], rel=0.01)


def test_input_size() -> None:
    assert registry.card("resnet18").input_size == 224
    assert registry.card("inception_v3").input_size == 299
    assert registry.card("timm/tf_efficientnet_lite2").input_size == 260


def test_latency_quantiles_against_statistics() -> None:
    stats = speed.latency(Sleeper(0.01), torch.zeros(3, 2, 2), warmup=1, runs=12, min_seconds=0)
    samples = stats["samples_ms"]
    assert stats["runs"] == len(samples) >= 12
    assert stats["ms_p50"] >= 10.0  # sleep gives a lower bound, never an upper one
    assert stats["ms_min"] <= stats["ms_p50"] <= stats["ms_p90"] <= stats["ms_p99"]
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    assert stats["ms_p50"] == pytest.approx(cuts[49])
    assert stats["ms_p90"] == pytest.approx(cuts[89])
    assert stats["ms_p99"] == pytest.approx(cuts[98])
    assert stats["ms_mean"] == pytest.approx(sum(samples) / len(samples))
    assert stats["ms_min"] == min(samples)


def test_latency_runs_for_min_seconds_and_stops_at_cap() -> None:
    start = time.perf_counter()
    stats = speed.latency(Sleeper(0.01), torch.zeros(1, 1, 1, 1), warmup=0, runs=2, min_seconds=0.2)
    assert time.perf_counter() - start >= 0.2
    assert stats["runs"] > 2
    capped = speed.latency(
        Sleeper(0.001), torch.zeros(1, 1, 1), warmup=0, runs=3, min_seconds=100, max_runs=15
    )
    assert capped["runs"] == 15
    many = speed.latency(nn.Identity(), torch.zeros(1, 1, 1), runs=30, min_seconds=0, max_runs=5)
    assert many["runs"] == 30  # requested runs always happen


def test_latency_refuses_a_batch() -> None:
    with pytest.raises(ValueError, match="one image"):
        speed.latency(nn.Identity(), torch.zeros(2, 3, 4, 4), runs=1, min_seconds=0)


def test_latency_under_bf16_autocast() -> None:
    seen: list[torch.dtype] = []
    lin = nn.Linear(4, 3)
    lin.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    model = nn.Sequential(nn.Flatten(), lin)
    speed.latency(model, torch.randn(1, 2, 2), warmup=1, runs=2, min_seconds=0)
    speed.latency(model, torch.randn(1, 2, 2), 1, 2, 0, amp_dtype=torch.bfloat16)
    assert seen[:3] == [torch.float32] * 3
    assert seen[3:] == [torch.bfloat16] * 3


def test_throughput_model_counts_batches() -> None:
    model = Counter(nn.Identity())
    stats = speed.throughput_model(model, 4, (8, 6), warmup=2, runs=3, min_seconds=0)
    assert stats["runs"] >= 3
    assert stats["images"] == 4 * stats["runs"]
    assert model.shapes == [(4, 3, 8, 6)] * (2 + stats["runs"])
    assert stats["images_per_s"] == pytest.approx(stats["images"] / stats["seconds"])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_throughput_end_to_end_counts_each_image_once(tmp_path: Path, num_workers: int) -> None:
    files = []
    for i in range(8):
        files.append(tmp_path / f"img{i}.png")
        Image.new("RGB", (20 + 3 * i, 16 + 2 * i), (30 * i, 80, 200 - 20 * i)).save(files[-1])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    model = Counter(get_model("squeezenet1_1", weights=None).eval())
    transform = SqueezeNet1_1_Weights.DEFAULT.transforms()
    stats = speed.throughput_end_to_end(
        model, [*files[:4], bad, *files[4:]], transform, batch_size=3, num_workers=num_workers
    )
    assert (stats["images"], stats["skipped"]) == (8, 1)
    ((path, why),) = stats["skipped_files"]
    assert path == bad and "cannot identify image file" in why
    assert [s[0] for s in model.shapes] == [3, 3, 2, 3]  # a full warm-up batch, then 3+2+3
    assert stats["images_per_s"] > 0
    assert stats["images_per_s"] == pytest.approx(8 / stats["seconds"])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_the_steady_rate_starts_once_each_worker_delivered_a_batch(
    tmp_path: Path, num_workers: int
) -> None:
    """11 photos in batches of 2, the model 0.2 s on each of the first two batches, 0.15 s
    on the third and 40 ms on the others: the rate from the call of the
    ``max(workers, 1)``-th batch to the end of the last, by the model's own clock (a batch
    earlier or later gives a rate 14-60% off)."""
    files = [image(tmp_path / f"img{i}.png", (20 * i, 60, 90)) for i in range(11)]
    model = Sleeper(0.0, 0.2, 0.2, 0.15, 0.04)  # the warm-up call first
    transform = SqueezeNet1_1_Weights.DEFAULT.transforms()
    stats = speed.throughput_end_to_end(
        model, files, transform, batch_size=2, num_workers=num_workers
    )
    timed = model.calls[1:]
    assert [n for _, _, n in timed] == [2, 2, 2, 2, 2, 1]

    def from_batch(k: int) -> float:  # the rate from the k-th batch's call, by the model's clock
        return sum(n for _, _, n in timed[k:]) / (timed[-1][1] - timed[k][0])

    filled = max(num_workers, 1)
    steady, by_hand = stats["steady_images_per_s"], from_batch(filled)
    # the function's clock holds the model's (it starts before the call, ends after it),
    # and a batch earlier or later would be further off
    assert steady <= by_hand
    assert abs(steady - by_hand) < min(
        abs(steady - from_batch(k)) for k in (filled - 1, filled + 1)
    )
    assert steady > stats["images_per_s"]  # start-up aside


def test_no_steady_rate_without_a_batch_after_the_first_of_each_worker(tmp_path: Path) -> None:
    files = [image(tmp_path / f"img{i}.png") for i in range(3)]
    transform = SqueezeNet1_1_Weights.DEFAULT.transforms()
    stats = speed.throughput_end_to_end(Sleeper(0), files, transform, batch_size=2, num_workers=2)
    assert stats["images"] == 3 and stats["steady_images_per_s"] is None


def test_current_rss_matches_proc_status() -> None:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc/self/status on this OS")
    now = speed.current_rss_mib()
    vm_rss_kib = int(re.search(r"VmRSS:\s+(\d+) kB", status.read_text()).group(1))
    assert now == pytest.approx(vm_rss_kib / 1024, abs=8)  # RSS drifts a little between reads
    assert speed.peak_rss_mib() >= now - 1


def test_weight_file_mib(tmp_path: Path, squeezenet_weights: Path) -> None:
    f = tmp_path / "w.pth"
    f.write_bytes(b"\0" * (3 * 2**20 + 2**19))
    assert speed.weight_file_mib(f) == 3.5
    # the shared file has the size of torchvision's own, whose _file_size is in MiB
    assert round(speed.weight_file_mib(squeezenet_weights), 3) == pytest.approx(
        SqueezeNet1_1_Weights.DEFAULT.meta["_file_size"]
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_memory_and_latency() -> None:
    with speed.track_memory("cuda") as mem:
        block = torch.ones(64 * 2**20, device="cuda")  # 256 MiB of float32
    assert mem["cuda_max_allocated_mib"] == pytest.approx(256, rel=0.05)
    assert mem["cuda_max_reserved_mib"] >= mem["cuda_max_allocated_mib"]
    del block
    model = nn.Linear(8, 8).cuda()
    stats = speed.latency(model, torch.zeros(1, 8), runs=3, min_seconds=0)
    assert stats["runs"] >= 3
