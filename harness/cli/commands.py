"""The subcommands: plain functions from parsed arguments to an exit status.

Each imports what it needs (torch, lightning) when it runs, so that ``--help``
stays instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from harness.errors import EXIT_FAILED, EXIT_OK, HarnessError, RunFailed

# RunConfig fields every running command takes from the options of the same name
RUN_FIELDS = (
    "accelerator",
    "precision",
    "batch_size",
    "num_workers",
    "channels_last",
    "compile",
    "max_pixels",
    "decode",
    "threads",
)


def _run_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The RunConfig fields that ``predict``, ``test`` and ``compare`` all take from options."""
    return {name: getattr(args, name) for name in RUN_FIELDS}


def _config(args: argparse.Namespace) -> Any:
    """The RunConfig of ``predict`` and ``test``: devices, nodes and strategy too."""
    from harness.config import RunConfig
    from harness.engine.speedups import check_strategy

    devices: int | str = int(args.devices) if args.devices.isdigit() else args.devices
    return RunConfig(
        **_run_fields(args),
        devices=devices,
        strategy=check_strategy(args.strategy),
        num_nodes=args.num_nodes,
        dist_timeout=args.dist_timeout,
        progress=not args.no_progress,
        strict=getattr(args, "strict", False),
    )


def _load(args: argparse.Namespace) -> Any:
    """The model of ``predict`` and ``test``, with ``--classes`` and ``--weights-key``."""
    from harness.zoo import classlist, weights

    classes = classlist.read(args.classes) if args.classes else None
    return weights.load(args.model, args.weights, args.weights_dir, classes, args.weights_key)


def models(args: argparse.Namespace) -> int:
    from harness.cli.console import models_table
    from harness.engine.files import to_csv, to_json
    from harness.zoo import registry

    names = registry.match(args.patterns)
    if sys.stderr.isatty() and len(names) > 20:  # timm's models take 0.1-0.2 s each to count
        from tqdm import tqdm

        names = tqdm(names, desc="models", unit="model", leave=False, file=sys.stderr)
    rows = [registry.info(name) for name in names]
    if args.format == "json":
        print(to_json(rows), end="")
    elif args.format == "csv":
        print(to_csv(rows), end="")
    else:
        models_table(rows)
    return EXIT_OK


def classes(args: argparse.Namespace) -> int:
    from harness.engine.files import to_csv, to_json
    from harness.zoo import checkpoints, registry, weights

    # the class list is the architecture's, whatever weights fill it: nothing is loaded
    c, path, source = weights.resolve(args.model, args.weights, args.weights_dir)
    if path is not None:
        checkpoints.check_file(path)
    elif source != weights.RANDOM_SOURCE:
        source = c.weights  # a tag, as IMAGENET1K_V2
    rows = [{"index": i, "wnid": wnid, "name": name} for i, wnid, name in registry.class_table(c)]
    if args.format == "json":
        print(
            to_json(
                {
                    "model": args.model,
                    "weights": source,
                    "dataset": c.dataset,
                    "classes": rows,
                }
            ),
            end="",
        )
    elif args.format == "csv":
        print(to_csv(rows), end="")
    else:
        print(f"# {args.model} {source}: {len(rows)} classes of {c.dataset}")
        for r in rows:
            print(f"{r['index']}\t{r['wnid']}\t{r['name']}")
    return EXIT_OK


def predict(args: argparse.Namespace) -> int:
    from harness.cli.console import print_predictions
    from harness.data.datamodule import Samples
    from harness.data.images import find_images
    from harness.engine import runs
    from harness.engine.results import skipped_files

    files, passed = find_images(args.images)
    cfg = _config(args)
    loaded = _load(args)
    samples = Samples.unlabelled(files, Path("."), "files", passed)
    if args.topk > len(loaded.categories):
        samples.notes.append(
            f"--topk {args.topk}: {loaded.name} has {len(loaded.categories)} classes, all shown"
        )
    module = runs.predict(loaded, samples, cfg, topk=args.topk)
    if module is None:  # a non-zero rank of a multi-process run: rank 0 prints
        return EXIT_OK
    if loaded.random:
        print(
            f"harness: warning: {args.model} has random weights: its predictions are meaningless",
            file=sys.stderr,
        )
    cats = loaded.categories
    results = [
        {
            "file": str(files[i]),
            "model": args.model,
            "weights": loaded.source,
            "random_weights": loaded.random,
            "topk": [
                {"index": c, "name": cats[c], "probability": p} for c, p in zip(k, ps, strict=True)
            ],
        }
        for i, _, k, ps in module.rows
    ]
    for s in skipped_files(samples, module):
        print(f"harness: skipped {s['file']}: {s['reason']}", file=sys.stderr)
    for note in samples.notes:
        print(f"harness: note: {note}", file=sys.stderr)
    if not module.rows:  # a failure, in one line (and as JSON's error document, if asked)
        n = len(files)
        why = "the only image could not" if n == 1 else f"not one of the {n} images could"
        raise RunFailed(f"{why} be read (see above)")
    print_predictions(args, results, loaded)
    return EXIT_OK


def _data(args: argparse.Namespace) -> tuple[str, str | None, list[str], tuple[str, ...]]:
    """--data and --labels, or the default data folder and its labels file.

    Returns the data folder, the labels file, notes on the defaults taken, and
    the files of the folder that are not to be taken for images.
    """
    from harness.data.selection import check_inputs, default_data

    if args.data is not None:
        check_inputs(args.data, args.labels)
        return args.data, args.labels, [], ()
    folder, found = default_data()
    labels, notes = args.labels, [f"no --data given: {folder.absolute()}, the default data folder"]
    if labels is None and found is not None:
        labels = str(found)
        notes.append(f"labels from {found}, found in the default data folder")
    check_inputs(folder, labels)
    return str(folder), labels, notes, (str(folder / "README.md"),)


def test(args: argparse.Namespace) -> int:
    from harness.data.selection import check_output

    data, labels, notes, ignore = _data(args)  # before any model loads, or lightning is imported
    check_output(args.output)
    cfg = _config(args)

    from harness.cli.console import summary
    from harness.engine import runs

    loaded = _load(args)
    res = runs.test(
        loaded, data, cfg, labels, args.limit, args.output,
        sample=args.sample, seed=args.seed, ignore=ignore,
    )  # fmt: skip
    if res is not None:  # None: a non-zero rank of a multi-process run
        summary(res, notes)
        if not res["n"]:  # as predict: a run that read nothing failed, though it says why
            raise RunFailed("not one image could be read (the summary lists why)")
    return EXIT_OK


def compare(args: argparse.Namespace) -> int:
    from harness.compare.parent import compare, entries
    from harness.compare.report import compare_table, problems
    from harness.config import LOGS, Spec, run_name

    models = entries(args.models)
    _check_compare(args, models)
    run = args.output or os.path.join(LOGS, "compare", run_name())
    spec = Spec(
        model="",
        run_dir=os.path.abspath(run),
        **_run_fields(args),
        data=args.data,
        labels=args.labels,
        limit=args.limit,
        sample=args.sample,
        seed=args.seed,
        weights_dir=args.weights_dir,
        latency_seconds=args.latency_seconds,
        classes=args.classes,
        weights_key=args.weights_key,
    )
    try:
        rows = compare(models, spec, args.timeout, args.repeat)
    except KeyboardInterrupt:
        print(f"harness: partial report in {run}/report.md", file=sys.stderr)
        raise
    print(compare_table(rows))
    for kind in ("error", "n/a", "noisy"):
        for model, what in problems(rows, kind):
            print(f"{kind:<9} {model}: {what}")
    print(
        f"report    {run}/report.md (and results.json, results.csv, accuracy_vs_latency.png;"
        f" tensorboard --logdir {run})"
    )
    return EXIT_FAILED if problems(rows, "error") else EXIT_OK


def _check_compare(args: argparse.Namespace, models: list[str]) -> None:
    """Option errors of ``compare`` as one line each, before any model process starts."""
    from harness.data.selection import check_inputs, check_not_empty, check_output
    from harness.engine.speedups import check_accelerator
    from harness.zoo.classlist import read

    if args.classes or args.weights_key:
        if not any("=" in m for m in models):
            raise HarnessError("--classes and --weights-key are for models given as NAME=FILE")
        if args.classes:
            read(args.classes)  # a malformed list: one error now, not one per model
    if args.data:
        check_inputs(args.data, args.labels)
        check_not_empty(args.data, args.labels)
    elif args.labels:
        raise HarnessError("--labels needs --data: the folder the labelled files are in")
    check_accelerator(args.accelerator)
    check_output(args.output)
