"""One definition per fact: option defaults are the config's, run fields come from the dataclass;
a model's name says its runtime, ``MODEL@RUNTIME[:PRECISION]``, read in one place."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest

from harness.cli import commands
from harness.cli.main import build_parser
from harness.config import RunConfig, Spec, Variant, default, for_variant, variant
from harness.errors import HarnessError
from harness.zoo import registry

COMMANDS = {
    "predict": ["predict", "photo.jpg", "--model", "resnet18"],
    "test": ["test", "--model", "resnet18"],
    "compare": ["compare", "--models", "resnet18"],
}


def options(words: list[str]) -> dict[str, object]:
    """What the parser gives for ``words`` with nothing else on the line."""
    return vars(build_parser().parse_args(words))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_named_after_a_config_field_defaults_to_the_fields_default(
    command: str,
) -> None:
    given = options(COMMANDS[command])
    shared = [f for f in fields(Spec) if f.name in given and f.default is not MISSING]
    assert len(shared) >= 10  # the walk found the options
    for f in shared:
        want = str(f.default) if f.name == "devices" else f.default  # --devices takes text
        assert given[f.name] == want, f.name


def test_default_reads_the_dataclass() -> None:
    assert default("batch_size") == RunConfig().batch_size == 32
    assert default("latency_seconds") == 2.0
    assert default("precision") == RunConfig().precision
    with pytest.raises(KeyError):
        default("model")  # no default: given each time


CHANGED = [
    "--batch-size", "7", "--precision", "bf16-mixed", "--decode", "fast", "--threads", "3",
    "--max-pixels", "1000", "--no-channels-last", "--compile", "--num-workers", "0",
    "--strict", "--accelerator", "cpu",
]  # fmt: skip


def test_predict_and_test_take_every_run_field_they_have_an_option_for() -> None:
    args = build_parser().parse_args(
        [*COMMANDS["test"], *CHANGED, "--devices", "2", "--dist-timeout", "5", "--num-nodes", "1"]
    )
    cfg = commands._config(args)
    assert cfg == RunConfig(
        accelerator="cpu", devices=2, num_nodes=1, dist_timeout=5.0, precision="bf16-mixed",
        batch_size=7, num_workers=0, channels_last=False, compile=True, strict=True,
        max_pixels=1000, decode="fast", threads=3,
    )  # fmt: skip


def test_compare_takes_the_spec_fields_from_its_options() -> None:
    args = build_parser().parse_args(
        [*COMMANDS["compare"], *CHANGED, "--latency-seconds", "0.5", "--limit", "4"]
    )
    got = commands._run_fields(args, Spec)
    assert got["latency_seconds"] == 0.5 and got["limit"] == 4 and got["batch_size"] == 7
    assert {"model", "run_dir", "run", "devices"}.isdisjoint(got)  # set by compare, not options


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("resnet50", Variant("resnet50")),
        ("resnet50@torch", Variant("resnet50")),
        ("resnet50@compile:bf16", Variant("resnet50", "compile", "bf16")),
        (
            "timm/tf_efficientnet_lite0@OpenVINO:BF16",
            Variant("timm/tf_efficientnet_lite0", "openvino", "bf16"),
        ),  # noqa: E501
        (
            "timm/tf_efficientnet_lite*@onnxruntime",
            Variant("timm/tf_efficientnet_lite*", "onnxruntime"),
        ),  # noqa: E501
        ("m@openvino:int8", Variant("m", "openvino", "int8")),
        ("resnet50=runs@2/ft.ckpt", Variant("resnet50=runs@2/ft.ckpt")),  # a file's @
        ("resnet50=a@b.ckpt@openvino", Variant("resnet50=a@b.ckpt", "openvino")),
    ],
)
def test_a_name_says_its_runtime_and_precision(text: str, want: Variant) -> None:
    assert variant(text) == want
    assert variant(str(want)) == want  # the canonical text reads back the same


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("resnet50@onnxrutime", "unknown runtime 'onnxrutime'; did you mean onnxruntime?"),
        ("resnet50@openvino:fp16", "unknown precision 'fp16'; choose from fp32, bf16, int8"),
        ("resnet50@torch:int8", "int8 runs in onnxruntime and openvino only"),
        ("@openvino", "unknown runtime"),
    ],
)
def test_a_wrong_runtime_or_precision_is_named(text: str, said: str) -> None:
    with pytest.raises(HarnessError, match=said):
        variant(text)


def test_a_pattern_keeps_its_runtime_on_every_match() -> None:
    lites = registry.match_variants(["timm/tf_efficientnet_lite*@openvino"])
    assert lites[:3] == [f"timm/tf_efficientnet_lite{k}@openvino" for k in range(3)]
    assert all(v.endswith("@openvino") for v in lites)
    assert registry.match_variants(["alexnet", "alexnet@torch", "alexnet@onnxruntime"]) == [
        "alexnet",
        "alexnet@onnxruntime",
    ]


def test_an_exported_runtime_runs_on_the_cpu_in_nchw() -> None:
    cfg = for_variant(RunConfig(precision="bf16-mixed"), variant("m@openvino"))
    assert (cfg.runtime, cfg.precision, cfg.accelerator, cfg.channels_last) == (
        "openvino", "fp32", "cpu", False,
    )  # fmt: skip
    assert for_variant(RunConfig(), variant("m@torch:bf16")).precision == "bf16-mixed"
    with pytest.raises(HarnessError, match="runs on the CPU"):
        for_variant(RunConfig(accelerator="gpu"), variant("m@onnxruntime"))
    assert Spec("timm/m@openvino:bf16", "r").slug() == "timm/m@openvino-bf16"
