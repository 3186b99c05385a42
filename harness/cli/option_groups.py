"""The command line's shared option groups (parent parsers) and argument types.

Light on purpose (no torch at import), as ``cli``: ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from harness.cli.help import Parser
from harness.config import MODES, PRECISIONS, default, default_workers
from harness.zoo.published import MACHINES, SETS
from harness.zoo.search import COSTS, SORTS, Query


def model_options(with_weights: bool = True) -> Parser:
    p = Parser(add_help=False)
    g = p.add_argument_group("model and weights")
    if with_weights:
        g.add_argument(
            "--weights",
            default="DEFAULT",
            metavar="W",
            help="DEFAULT, a weights tag such as IMAGENET1K_V2, a checkpoint file (.pth, "
            ".ckpt: a state_dict, plain or as Lightning, DDP or torch.compile save it), "
            "or none for random weights (default: DEFAULT)",
        )
        checkpoint_options(g, "the model's")
    g.add_argument(
        "--weights-dir",
        metavar="DIR",
        default=os.environ.get("HARNESS_WEIGHTS_DIR"),
        help="folder searched for ARCH.pth / ARCH-*.pth before torchvision's or timm's "
        "download, for --weights DEFAULT (default: $HARNESS_WEIGHTS_DIR)",
    )
    return p


def checkpoint_options(g: argparse._ArgumentGroup, whose: str) -> None:
    g.add_argument(
        "--classes",
        metavar="FILE",
        help=f"{whose} own class list, in output order: one name per line, or a CSV "
        "index,name[,wnid]; the head is built with that many classes",
    )
    g.add_argument(
        "--weights-key",
        metavar="KEY",
        help="the checkpoint entry holding the weights, e.g. state_dict_ema "
        "(default: the file itself, or its state_dict or model entry)",
    )


def run_options(parallel: bool = True) -> Parser:
    p = Parser(add_help=False)
    g = p.add_argument_group("device and batching")
    g.add_argument(
        "--accelerator",
        default=default("accelerator"),
        choices=("auto", "cpu", "gpu", "cuda"),
        help="where to run; auto takes a GPU when there is one "
        f"(default: {default('accelerator')})",
    )
    if parallel:
        _parallel_options(g)
    _fast_options(g)
    g.add_argument(
        "--batch-size",
        type=positive,
        default=default("batch_size"),
        help=f"images per batch (default: {default('batch_size')})",
    )
    g.add_argument(
        "--num-workers",
        type=_natural,
        default=default("num_workers"),
        help="data-loading worker processes (default: one per CPU core, at most 8: "
        f"{default_workers()} here)",
    )
    g.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bar (shown on stderr, when that is a terminal)",
    )
    g.add_argument(
        "--threads",
        type=positive,
        metavar="N",
        help="torch intra-op threads (default: torch's, one per core); recorded in the results",
    )
    g.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first unusable file (default: skip it and list it with its reason)",
    )
    _image_options(p.add_argument_group("images"))
    return p


def _parallel_options(g: argparse._ArgumentGroup) -> None:
    """--devices, --strategy, --num-nodes, --dist-timeout: for predict and test."""
    g.add_argument(
        "--devices",
        default=str(default("devices")),
        type=_devices,
        metavar="N",
        help="devices (processes) to use: a number, auto (every GPU, or 1 CPU process), "
        f"or GPU ids such as 0,1 (default: {default('devices')})",
    )
    g.add_argument(
        "--strategy",
        default=default("strategy"),
        help=f"Lightning strategy for several devices, e.g. ddp (default: {default('strategy')})",
    )
    g.add_argument(
        "--num-nodes",
        type=positive,
        metavar="N",
        help="machines taking part, each running the same command with --devices "
        "processes (default: as torchrun, SLURM or WORLD_SIZE say, else 1)",
    )
    g.add_argument(
        "--dist-timeout",
        type=seconds,
        default=default("dist_timeout"),
        metavar="S",
        help="seconds a process waits for the others (to join, to finish, to answer) "
        f"before the run stops with an error (default: {default('dist_timeout'):g})",
    )


def _fast_options(g: argparse._ArgumentGroup) -> None:
    """--precision, --no-channels-last, --compile: the fast path (``harness.engine.speedups``)."""
    g.add_argument(
        "--precision",
        default=default("precision"),
        choices=PRECISIONS,
        help="numeric precision; auto takes bf16-mixed where the hardware has native bf16 "
        f"(AMX/AVX512-BF16 CPUs, recent GPUs) and 32-true elsewhere (default: "
        f"{default('precision')}, exact accuracy figures)",
    )
    g.add_argument(
        "--no-channels-last",
        dest="channels_last",
        action="store_false",
        help="keep the model in NCHW memory format (default: channels-last, faster convolutions)",
    )
    g.add_argument(
        "--compile", action="store_true", help="torch.compile the model (slow start, faster runs)"
    )


def _image_options(g: argparse._ArgumentGroup) -> None:
    """--max-pixels and --decode: how image files are read."""
    g.add_argument(
        "--max-pixels",
        type=_pixels,
        default=default("max_pixels"),
        metavar="N",
        help="skip images larger than N pixels (by their header, before decoding), "
        f"e.g. 300e6 (default: {default('max_pixels'):,}: a 200-megapixel photo fits)",
    )
    g.add_argument(
        "--decode",
        choices=MODES,
        default=default("decode"),
        help="fast: decode JPEGs at 1/2, 1/4 or 1/8 scale (never below what the model's "
        "transforms need; much faster on large photos, inputs differ slightly); "
        f"exact: full size (default: {default('decode')})",
    )


def _number(s: str, convert: Any, ok: Any, expected: str) -> Any:
    """``convert(s)`` when it works and ``ok`` accepts it, else argparse's one-line error."""
    try:
        v = convert(s)
    except ValueError:
        v = None
    if v is None or not ok(v):  # NaN fails every comparison, so every check
        raise argparse.ArgumentTypeError(f"expected {expected}, got {s!r}")
    return v


def _digits(s: str) -> int:
    """A whole number written with digits only (no sign, no spaces)."""
    if not s.isdigit():
        raise ValueError(s)
    return int(s)


def positive(s: str) -> int:
    return int(_number(s, _digits, lambda v: v >= 1, "a whole number of at least 1"))


def _natural(s: str) -> int:
    return int(_number(s, _digits, lambda v: v >= 0, "a whole number of at least 0"))


def _pixels(s: str) -> int:
    def whole(n: float) -> bool:
        return 1 <= n < float("inf") and n == int(n)

    return int(_number(s, float, whole, "a whole number of pixels (250e6)"))


def _devices(s: str) -> str:
    """--devices: a count of at least 1, auto (or -1, Lightning's word for it), or GPU ids."""
    s = s.strip()
    ids = [d.strip() for d in s.split(",")]
    if s in ("auto", "-1"):
        return "auto"  # Lightning takes -1 for GPUs only
    if s.isdigit() and int(s) >= 1:
        return s
    if "," in s and all(d.isdigit() for d in ids if d) and any(ids):
        return s
    raise argparse.ArgumentTypeError(
        f"expected a number of devices of at least 1, auto, or GPU ids such as 0,1, got {s!r}"
    )


def seconds(s: str) -> float:
    return float(_number(s, float, lambda v: 0 < v < float("inf"), "a number of seconds above 0"))


def seconds_at_least_0(s: str) -> float:
    return float(_number(s, float, lambda v: 0 <= v < float("inf"), "a number of seconds >= 0"))


def choice_options() -> Parser:
    """--limit, or --sample with --seed: which of the images to take; --lenient."""
    p = Parser(add_help=False)
    group = p.add_argument_group("which images")
    group.add_argument(
        "--lenient",
        action="store_true",
        help="skip the labels file's rows that name a missing file or an unknown label, "
        "listing them as skipped (default: such rows stop the run)",
    )
    g = group.add_mutually_exclusive_group()
    g.add_argument(
        "--limit",
        type=positive,
        metavar="N",
        help="only the first N images: in labels-file order, else sorted by path, which "
        "with class subfolders means the first classes only",
    )
    g.add_argument(
        "--sample",
        type=positive,
        metavar="N",
        help="a random sample of N images, the same for the same --seed",
    )
    p.add_argument(
        "--seed",
        type=_natural,
        default=default("seed"),
        help=f"seed of --sample and --calibration (default: {default('seed')})",
    )
    return p


def calibration_options() -> Parser:
    """--calibration and --calibration-data: the photos int8 models are calibrated on."""
    p = Parser(add_help=False)
    g = p.add_argument_group("int8 calibration (MODEL@onnxruntime:int8, MODEL@openvino:int8)")
    g.add_argument(
        "--calibration",
        type=positive,
        default=default("calibration"),
        metavar="N",
        help="calibrate int8 models on N photos of the data, drawn with --seed and left "
        "out of every model's evaluation, so that all are compared on the same photos "
        f"(default: {default('calibration')})",
    )
    g.add_argument(
        "--calibration-data",
        metavar="DIR",
        help="calibrate int8 models on N photos of DIR instead; then none is left out "
        "(predict: the only way)",
    )
    return p


# models' search filters: flag, what its value is, its largest value, metavar, help
BOUNDS = (
    ("--max-params", "millions of parameters", 1e6, "M", "at most M million parameters"),
    ("--max-gflops", "GFLOPs per image", 1e6, "G", "at most G GFLOPs per image (2 per MAC)"),
    ("--max-input", "a side in pixels", 1e5, "PX", "an input of at most PX x PX pixels"),
    ("--min-top1", "a published top-1", 1, "F", "a fraction, on the --published-on set"),
)


def _bound(what: str, high: float) -> Callable[[str], float]:
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            v = float("nan")
        if not 0 <= v <= high:  # NaN too
            hint = " (a fraction: 0.75 for 75%)" if high == 1 else ""
            raise argparse.ArgumentTypeError(f"expected {what}{hint}, got {s!r}")
        return v

    return parse


def search_options(p: argparse.ArgumentParser) -> None:
    """``harness models``'s search options: filters, sort, --pareto, --limit, --names."""
    g = p.add_argument_group("search (published figures: see docs/published.md)")
    g.add_argument("--sort", choices=SORTS, help="accuracy and speed best first, costs least first")
    on = ", ".join(SETS)
    g.add_argument(
        "--published-on",
        dest="on",
        choices=tuple(SETS),
        default="imagenet",
        metavar="SET",
        help=f"the test set top1 means: {on} (default: imagenet)",
    )
    g.add_argument(
        "--speed-on",
        choices=MACHINES,
        default="rtx4090",
        metavar="MACHINE",
        help=f"the machine speed means: {', '.join(MACHINES)} (default: rtx4090)",
    )
    for flag, what, high, metavar, words in BOUNDS:
        g.add_argument(flag, type=_bound(what, high), metavar=metavar, help=words)
    g.add_argument(
        "--pareto",
        action="store_true",
        help="only models that no other beats on both top1 and --cost",
    )
    g.add_argument("--cost", choices=COSTS, default="params", help="--pareto's cost")
    g.add_argument("--limit", type=positive, metavar="N", help="the first N rows")
    g.add_argument(
        "--names",
        action="store_true",
        help="the names only, one a line: compare --models $(harness models ... --names)",
    )


def search_query(args: argparse.Namespace) -> Query:
    """The :class:`Query` of parsed ``models`` options."""
    return Query(**{f.name: getattr(args, f.name) for f in fields(Query)})
