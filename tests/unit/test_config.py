"""One definition per fact: option defaults are the config's, run fields come from the dataclass."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest

from harness.cli import commands
from harness.cli.main import build_parser
from harness.config import RunConfig, Spec, default

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
