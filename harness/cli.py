"""Command line: argparse subcommands dispatching to plain functions.

Heavy imports (torch, lightning) live inside the command functions so that
``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from harness import HarnessError, RunFailed, commands, default_workers
from harness.config import PRECISIONS
from harness.decode import MAX_PIXELS, MODES
from harness.nodes import DEFAULT_TIMEOUT  # no torch there: --help stays instant
from harness.usage import OVERVIEW, Parser

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _model_options(with_weights: bool = True) -> Parser:
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
        _checkpoint_options(g, "the model's")
    g.add_argument(
        "--weights-dir",
        metavar="DIR",
        default=os.environ.get("HARNESS_WEIGHTS_DIR"),
        help="folder searched for MODEL.pth / MODEL-*.pth before torchvision's "
        "download (default: $HARNESS_WEIGHTS_DIR)",
    )
    return p


def _checkpoint_options(g: argparse._ArgumentGroup, whose: str) -> None:
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


def _run_options(parallel: bool = True) -> Parser:
    p = Parser(add_help=False)
    g = p.add_argument_group("device and batching")
    g.add_argument(
        "--accelerator",
        default="auto",
        choices=("auto", "cpu", "gpu", "cuda"),
        help="where to run; auto takes a GPU when there is one (default: auto)",
    )
    if parallel:
        g.add_argument(
            "--devices", default="1", help="devices (processes) to use, or auto (default: 1)"
        )
        g.add_argument(
            "--strategy",
            default="auto",
            help="Lightning strategy for several devices, e.g. ddp (default: auto)",
        )
        g.add_argument(
            "--num-nodes",
            type=_positive,
            metavar="N",
            help="machines taking part, each running the same command with --devices "
            "processes (default: as torchrun, SLURM or WORLD_SIZE say, else 1)",
        )
        g.add_argument(
            "--dist-timeout",
            type=_seconds,
            default=DEFAULT_TIMEOUT,
            metavar="S",
            help="seconds a process waits for the others (to join, to finish, to answer) "
            f"before the run stops with an error (default: {DEFAULT_TIMEOUT:g})",
        )
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
    g.add_argument(
        "--batch-size", type=_positive, default=32, help="images per batch (default: 32)"
    )
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
        type=_positive,
        metavar="N",
        help="torch intra-op threads (default: torch's, one per core); recorded in the results",
    )
    g.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first unusable file (default: skip it and list it with its reason)",
    )
    g = p.add_argument_group("images")
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
    return p


def _positive(s: str) -> int:
    if not s.isdigit() or int(s) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {s!r}")
    return int(s)


def _pixels(s: str) -> int:
    try:
        n = float(s)
    except ValueError:
        n = 0.0
    if not 1 <= n < float("inf") or n != int(n):  # NaN fails the first test too
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels (250e6), got {s!r}")
    return int(n)


def _seconds(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        v = -1.0
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {s!r}")
    return v


def _natural(s: str) -> int:
    if not s.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {s!r}")
    return int(s)


def _choice_options() -> Parser:
    """--limit, or --sample with --seed: which of the images to take."""
    p = Parser(add_help=False)
    g = p.add_argument_group("which images").add_mutually_exclusive_group()
    g.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="only the first N images: in labels-file order, else sorted by path, which "
        "with class subfolders means the first classes only",
    )
    g.add_argument(
        "--sample",
        type=_positive,
        metavar="N",
        help="a random sample of N images, the same for the same --seed",
    )
    p.add_argument("--seed", type=_natural, default=0, help="seed of --sample (default: 0)")
    return p


def build_parser() -> Parser:
    parser = Parser(
        prog="harness",
        description="Evaluate and benchmark pretrained image classifiers "
        "(every torchvision classification model).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    model, run, choice = _model_options(), _run_options(), _choice_options()

    p = sub.add_parser("models", help="list classification models and their published metadata")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="shell patterns, e.g. 'resnet*'")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=commands.models)

    p = sub.add_parser(
        "classes", parents=[model], help="list the classes a model's weights predict"
    )
    p.add_argument("--model", required=True, help="a model name (see `harness models`)")
    p.add_argument("--format", choices=("txt", "csv", "json"), default="txt")
    p.set_defaults(func=commands.classes)

    p = sub.add_parser(
        "predict", parents=[model, run], help="classify images and print the top-k classes of each"
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("--model", required=True, help="a model name (see `harness models`)")
    p.add_argument(
        "--topk", type=_positive, default=5, help="classes to show per image (default: 5)"
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=commands.predict)

    p = sub.add_parser(
        "test",
        parents=[model, run, choice],
        help="top-1/top-5 accuracy of a model on a labelled image folder",
    )
    p.add_argument("--model", required=True, help="a model name (see `harness models`)")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="image folder: class subfolders (wnid, index or name), or any folder "
        "with --labels, or unlabelled images (default: data/, here or in the harness "
        "checkout, with data/labels.csv as --labels when it is there)",
    )
    p.add_argument(
        "--labels", metavar="CSV", help="CSV with columns file,label (index, wnid or name)"
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        help="the run directory: results.json, predictions.csv and the TensorBoard events "
        "(default: lightning_logs/<model>/<date-time-pid>)",
    )
    p.set_defaults(func=commands.test)

    p = sub.add_parser(
        "compare",
        parents=[_model_options(with_weights=False), _run_options(parallel=False), choice],
        help="accuracy, latency, throughput, memory, parameters and FLOPs of several models",
        description="Measure each model in its own process and write report.md, results.csv, "
        "results.json, accuracy_vs_latency.png and TensorBoard runs into one directory.",
    )
    p.add_argument(
        "--models",
        nargs="+",
        required=True,
        metavar="NAME",
        help="model names or shell patterns, e.g. alexnet vgg16 'resnet*'; NAME=FILE "
        "for a model with weights of one's own",
    )
    _checkpoint_options(p.add_argument_group("own weights (NAME=FILE)"), "NAME=FILE models'")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="image folder, as for `test` (optional: "
        "without it only speed, memory and size are measured)",
    )
    p.add_argument("--labels", metavar="CSV", help="CSV with columns file,label")
    p.add_argument(
        "--output",
        metavar="DIR",
        help="run directory (default: lightning_logs/compare/<date-time-pid>)",
    )
    p.add_argument(
        "--latency-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="time spent timing batch-1 latency per model, at least 10 runs (default: 2)",
    )
    p.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        metavar="K",
        help="measure the models round-robin K times, each in a fresh process, and report "
        "the median of the K runs with their range; accuracy is measured in the first "
        "(default: 1)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="give up on a model after S seconds (an error row)",
    )
    p.set_defaults(func=commands.compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failed, 2 usage)."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        print(OVERVIEW, end="")
        return EXIT_OK
    if not args.debug:  # c10d's C++ logger prints stack traces of failures we report in one line
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    for stream in (sys.stdout, sys.stderr):  # file names need not be valid UTF-8
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except HarnessError as e:
        if args.debug:
            raise
        print(f"harness: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return EXIT_OK
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFailed as e:
        if args.debug:
            raise
        print(f"harness: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as e:
        if args.debug:
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        print(
            f"harness: error: {type(e).__name__}: {first} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM takes the same clean way out as Ctrl+C: results stay whole."""
    raise KeyboardInterrupt
