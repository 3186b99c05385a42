"""Command line: argparse subcommands dispatching to plain functions.

Heavy imports (torch, lightning) live inside the command functions so that
``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

from harness.cli import commands
from harness.cli.help import OVERVIEW, Parser  # no torch in these: --help stays instant
from harness.cli.option_groups import (
    calibration_options,
    checkpoint_options,
    choice_options,
    model_options,
    positive,
    run_options,
    search_options,
    seconds,
    seconds_at_least_0,
)
from harness.config import default
from harness.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    HarnessError,
    RunFailed,
)


def build_parser() -> Parser:
    """The ``harness`` parser: one subparser per command, each dispatching to ``commands``."""
    parser = Parser(
        prog="harness",
        description="Evaluate and benchmark pretrained image classifiers "
        "(torchvision's classification models and timm's model zoo).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    model, run, choice = model_options(), run_options(), choice_options()
    calibration = calibration_options()
    _add_models(sub)
    _add_classes(sub, model)
    _add_predict(sub, model, run, calibration)
    _add_test(sub, model, run, choice, calibration)
    _add_compare(sub, choice, calibration)
    for command in sub.choices.values():  # also after the command, as people type it
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="a model name (see `harness models`), optionally with its runtime: "
        "NAME@RUNTIME[:PRECISION], runtimes torch, compile, onnxruntime, openvino, "
        "precisions fp32, bf16 (docs/runtimes.md)",
    )


def _add_models(sub: Any) -> None:
    p = sub.add_parser("models", help="list classification models and their published metadata")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="shell patterns, e.g. 'resnet*'")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    search_options(p)
    p.set_defaults(func=commands.models)


def _add_classes(sub: Any, model: Parser) -> None:
    p = sub.add_parser(
        "classes", parents=[model], help="list the classes a model's weights predict"
    )
    _model_arg(p)
    p.add_argument("--format", choices=("txt", "csv", "json"), default="txt")
    p.add_argument(
        "--under",
        metavar="WORD",
        help="only the classes under a WordNet word or id (fox, dogs, n02118333), "
        "as a label of `test` means it",
    )
    p.set_defaults(func=commands.classes)


def _add_predict(sub: Any, model: Parser, run: Parser, calibration: Parser) -> None:
    p = sub.add_parser(
        "predict",
        parents=[model, run, calibration],
        help="classify images and print the top-k classes of each",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    _model_arg(p)
    p.add_argument(
        "--topk", type=positive, default=5, help="classes to show per image (default: 5)"
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument(
        "--labels-of",
        metavar="LABELS",
        help="comma-separated labels (fox,dog,cat: WordNet words or ids, or classes): the "
        "probability of each, its classes' summed, beside the top-k",
    )
    p.set_defaults(func=commands.predict)


LABELS_HELP = (
    "CSV of file,label rows (label: index, wnid or name of a class, or a WordNet id or "
    "word such as fox or dogs: the classes under it), with or without a header "
    "(file/filename/image/path, label/class); commas, semicolons or tabs"
)


def _add_test(sub: Any, model: Parser, run: Parser, choice: Parser, calibration: Parser) -> None:
    p = sub.add_parser(
        "test",
        parents=[model, run, choice, calibration],
        help="top-1/top-5 accuracy of a model on a labelled image folder",
    )
    _model_arg(p)
    p.add_argument(
        "--data",
        metavar="DIR",
        help="image folder: class subfolders (wnid, index or name), or any folder "
        "with --labels, or unlabelled images (default: data/, here or in the harness "
        "checkout, with data/labels.csv as --labels when it is there)",
    )
    p.add_argument("--labels", metavar="CSV", help=LABELS_HELP)
    _label_map_arg(p)
    p.add_argument(
        "--output",
        metavar="DIR",
        help="the run directory: results.json, predictions.csv and the TensorBoard events "
        "(default: lightning_logs/<model>/<date-time-pid>)",
    )
    p.set_defaults(func=commands.test)


def _add_compare(sub: Any, choice: Parser, calibration: Parser) -> None:
    compared = [model_options(with_weights=False), run_options(parallel=False), choice]
    p = sub.add_parser(
        "compare",
        parents=[*compared, calibration],
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
        "for a model with weights of one's own; NAME@RUNTIME[:PRECISION] for another "
        "runtime, e.g. NAME@onnxruntime NAME@openvino:bf16 (docs/runtimes.md)",
    )
    checkpoint_options(p.add_argument_group("own weights (NAME=FILE)"), "NAME=FILE models'")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="image folder, as for `test` (default, as there: data/ with data/labels.csv "
        "when it is there; without images only speed, memory and size are measured)",
    )
    p.add_argument("--labels", metavar="CSV", help=LABELS_HELP)
    _label_map_arg(p)
    p.add_argument(
        "--output",
        metavar="DIR",
        help="run directory (default: lightning_logs/compare/<date-time-pid>)",
    )
    _compare_options(p)
    p.set_defaults(func=commands.compare)


def _label_map_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--label-map",
        metavar="CSV",
        help="your labels' meaning, rows label,wnid or label,class;class;... (a word, "
        "wnid or class each): chooses among a word's senses, or names your own groups",
    )


def _compare_options(p: argparse.ArgumentParser) -> None:
    """--latency-seconds, --repeat, --timeout: how long compare times each model."""
    p.add_argument(
        "--latency-seconds",
        type=seconds_at_least_0,
        default=default("latency_seconds"),
        metavar="S",
        help="time spent timing batch-1 latency per model, at least 10 runs "
        f"(default: {default('latency_seconds'):g})",
    )
    p.add_argument(
        "--repeat",
        type=positive,
        default=1,
        metavar="K",
        help="measure the models round-robin K times, each in a fresh process, and report "
        "the median of the K runs with their range; accuracy is measured in the first "
        "(default: 1)",
    )
    p.add_argument(
        "--timeout",
        type=seconds,
        metavar="S",
        help="give up on a model after S seconds (an error row)",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failed, 2 usage)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a usage error (said on stderr), or --help
        words = sys.argv[1:] if argv is None else argv
        if e.code == EXIT_USAGE and _json_asked(words):
            _json_error(Parser.last_error, EXIT_USAGE)
        raise
    if args.command is None:
        print(OVERVIEW, end="")
        return EXIT_OK
    _prepare(args.debug)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except (HarnessError, RunFailed) as e:  # said in one line: the user's, or a node's
        if args.debug:
            raise
        return _fail(args, str(e), EXIT_USAGE if isinstance(e, HarnessError) else EXIT_FAILED)
    except BrokenPipeError:  # output piped into `head` and the like
        _stdout_gone()
        return EXIT_OK
    except KeyboardInterrupt:
        return _fail(args, "interrupted", EXIT_INTERRUPTED, prefix="harness: ")
    except Exception as e:
        if args.debug:
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        why = f"{type(e).__name__}: {first} (--debug shows the traceback)"
        return _fail(args, why, EXIT_FAILED)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _json_asked(words: list[str]) -> bool:
    """Whether a command line asks for ``--format json``, read as argparse reads it
    (``--format json``, ``--format=json``, ``--form json``), when it could not be parsed.

    >>> _json_asked(["predict", "x.png", "--form=json", "--topk", "0"])
    True
    """
    probe = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    probe.add_argument("--format")
    try:
        found, _ = probe.parse_known_args(words)
    except argparse.ArgumentError:  # --format without a value
        return False
    return bool(found.format == "json")


def _fail(args: argparse.Namespace, why: str, code: int, prefix: str = "harness: error: ") -> int:
    """Say ``why`` in one line on stderr; return ``code``.

    With ``--format json`` stdout also gets one JSON document, ``{"error": why,
    "exit_status": code}``, so that a script reading stdout always gets JSON.
    """
    print(prefix + why, file=sys.stderr)
    if getattr(args, "format", None) == "json" and _rank() == 0:
        _json_error(why, code)
    return code


def _rank() -> int:
    """This process's global rank in a multi-process run; 0 when there is none.

    Only rank 0 writes to stdout (the others' results go to it), so a failure
    of several processes still gives a script one JSON document.
    """
    found = sys.modules.get("lightning.fabric.utilities.rank_zero")  # imported with Lightning
    return int(getattr(getattr(found, "rank_zero_only", None), "rank", 0)) if found else 0


def _json_error(why: str | None, code: int) -> None:
    """The JSON document of a failed ``--format json`` command, on stdout."""
    try:
        print(json.dumps({"error": why, "exit_status": code}))
    except BrokenPipeError:  # nobody reads it: the status still says what happened
        _stdout_gone()


def _stdout_gone() -> None:
    """stdout's reader has gone (a closed pipe): nothing more is written there."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit


def _prepare(debug: bool) -> None:
    """Quiet c10d's C++ tracebacks (unless ``debug``); never fail on file names not in UTF-8."""
    if not debug:  # c10d's C++ logger prints stack traces of failures we report in one line
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    for stream in (sys.stdout, sys.stderr):  # file names need not be valid UTF-8
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM takes the same clean way out as Ctrl+C: results stay whole."""
    raise KeyboardInterrupt
