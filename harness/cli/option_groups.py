"""The command line's shared option groups (parent parsers) and argument types.

Light on purpose (no torch at import), as ``cli``: ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from harness.cli.help import Parser
from harness.config import DEFAULT_TIMEOUT, MAX_PIXELS, MODES, PRECISIONS, default_workers


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
        default="auto",
        choices=("auto", "cpu", "gpu", "cuda"),
        help="where to run; auto takes a GPU when there is one (default: auto)",
    )
    if parallel:
        _parallel_options(g)
    _fast_options(g)
    g.add_argument("--batch-size", type=positive, default=32, help="images per batch (default: 32)")
    g.add_argument(
        "--num-workers",
        type=_natural,
        default=None,
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
        default="1",
        type=_devices,
        metavar="N",
        help="devices (processes) to use: a number, auto (every GPU, or 1 CPU process), "
        "or GPU ids such as 0,1 (default: 1)",
    )
    g.add_argument(
        "--strategy",
        default="auto",
        help="Lightning strategy for several devices, e.g. ddp (default: auto)",
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
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help="seconds a process waits for the others (to join, to finish, to answer) "
        f"before the run stops with an error (default: {DEFAULT_TIMEOUT:g})",
    )


def _fast_options(g: argparse._ArgumentGroup) -> None:
    """--precision, --no-channels-last, --compile: the fast path (``harness.engine.speedups``)."""
    g.add_argument(
        "--precision",
        default="32-true",
        choices=PRECISIONS,
        help="numeric precision; auto takes bf16-mixed where the hardware has native bf16 "
        "(AMX/AVX512-BF16 CPUs, recent GPUs) and 32-true elsewhere (default: 32-true, "
        "exact accuracy figures)",
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
        default=MAX_PIXELS,
        metavar="N",
        help="skip images larger than N pixels (by their header, before decoding), "
        f"e.g. 300e6 (default: {MAX_PIXELS:,}: a 200-megapixel photo fits)",
    )
    g.add_argument(
        "--decode",
        choices=MODES,
        default="exact",
        help="fast: decode JPEGs at 1/2, 1/4 or 1/8 scale (never below what the model's "
        "transforms need; much faster on large photos, inputs differ slightly); "
        "exact: full size (default: exact)",
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
    """--limit, or --sample with --seed: which of the images to take."""
    p = Parser(add_help=False)
    g = p.add_argument_group("which images").add_mutually_exclusive_group()
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
    p.add_argument("--seed", type=_natural, default=0, help="seed of --sample (default: 0)")
    return p
