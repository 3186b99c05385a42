"""The runtime seam: every runtime behind one interface, used by the module and the timings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.config import RunConfig
from harness.data.datamodule import collate
from harness.engine import classifier, runtimes
from harness.engine.classifier import ClassifierModule, build_module
from harness.engine.exported import OnnxRuntime, OpenVino
from harness.engine.runtimes import Compiled, Eager, example_batch, runtime, trainer_precision
from harness.measure import speed
from harness.zoo import weights

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*(does not have many workers|LeafSpec|predict returned None).*",
)


def small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


@pytest.mark.parametrize(
    ("cfg", "kind", "name"),
    [
        (RunConfig(), Eager, "torch"),
        (RunConfig(compile=True), Compiled, "compile"),
        (RunConfig(runtime="compile"), Compiled, "compile"),
        (RunConfig(compile=True, channels_last=False), Compiled, "compile"),
    ],
)
def test_the_runtime_a_config_asks_for(cfg: RunConfig, kind: type, name: str) -> None:
    rt = runtime(cfg)
    assert type(rt) is kind and rt.name == name
    assert rt.precision == cfg.precision and rt.channels_last == cfg.channels_last
    assert runtime(cfg, "bf16-mixed").precision == "bf16-mixed"


@pytest.mark.parametrize(("name", "kind"), [("onnxruntime", OnnxRuntime), ("openvino", OpenVino)])
def test_an_exported_runtime_takes_threads_and_the_models_name(name: str, kind: type) -> None:
    cfg = RunConfig(runtime=name, precision="fp32", threads=3, compile=True)
    rt = runtime(cfg, model_name="timm/m")
    assert type(rt) is kind and rt.name == name and not rt.channels_last
    assert (rt.precision, rt.threads, rt.model_name) == ("fp32", 3, "timm/m")
    assert trainer_precision(cfg) == "32-true"  # the session has its own; Lightning adds none
    assert trainer_precision(RunConfig(precision="bf16-mixed")) == "bf16-mixed"


@pytest.mark.parametrize("channels_last", [True, False])
def test_eager_runs_the_model_itself(channels_last: bool) -> None:
    model, x = small(), torch.randn(2, 3, 8, 8)
    want = nn.Sequential(*small()).eval()(x)  # the same seeded weights, never prepared
    net = Eager("32-true", channels_last).prepare(model, example_batch(8))
    conv = model[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert not model.training
    torch.testing.assert_close(net(x), want)


def test_compiled_wraps_the_model_lazily() -> None:
    model = small()
    net = Compiled("32-true").prepare(model, example_batch(8))
    assert isinstance(net, torch._dynamo.eval_frame.OptimizedModule)
    assert net._orig_mod is model  # nothing compiled before the first batch


def test_build_module_takes_its_net_from_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, tuple[int, ...]]] = []

    class Recording(Eager):
        def prepare(self, model: nn.Module, example: torch.Tensor) -> runtimes.Runner:
            seen.append((self.precision, tuple(example.shape)))
            return super().prepare(model, example)

    monkeypatch.setattr(classifier, "runtime", lambda cfg, **_: Recording(cfg.precision))
    loaded = weights.load("squeezenet1_1", "none")
    module = build_module(RunConfig(precision="bf16-mixed"), loaded)
    assert seen == [("bf16-mixed", (1, 3, 224, 224))]
    assert module.net is loaded.model


def test_a_runner_that_is_no_module_is_run_and_timed() -> None:
    """What an exported runtime would give: a plain function of a batch."""
    table = torch.eye(3)

    def runner(x: torch.Tensor) -> torch.Tensor:  # x: (B, 1) holding sample indices
        return table[x[:, 0].long()]

    module = ClassifierModule(runner, ["a", "b", "c"], topk=1)
    batch = collate([(torch.tensor([float(i)]), i, i, "") for i in range(3)])
    module.predict_step(batch, 0)
    assert [r[2] for r in module.rows] == [[0], [1], [2]]  # row i's best class is i
    assert speed.model_device(runner) == torch.device("cpu")
    lat = speed.latency(lambda x: x.sum(), torch.zeros(3, 4, 4), warmup=0, runs=3, min_seconds=0)
    assert lat["runs"] == 3
