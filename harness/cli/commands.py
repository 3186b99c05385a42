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


def _run_fields(args: argparse.Namespace, config: type | None = None) -> dict[str, Any]:
    """The fields of ``config`` (default: RunConfig) that have an option of the same name.

    What a command takes otherwise (``--devices`` as a number, ``--strategy``
    checked, ``--no-progress``) its caller sets over these.
    """
    from dataclasses import fields

    from harness.config import RunConfig

    given = vars(args)
    return {f.name: given[f.name] for f in fields(config or RunConfig) if f.name in given}


def _config(args: argparse.Namespace) -> Any:
    """The RunConfig of ``predict`` and ``test``: devices, nodes and strategy too, and the
    runtime of ``--model NAME@RUNTIME[:PRECISION]``, checked before any model loads.
    """
    from harness.config import RunConfig, for_variant, variant
    from harness.engine.runtimes import runtime
    from harness.engine.speedups import check_strategy

    devices: int | str = int(args.devices) if args.devices.isdigit() else args.devices
    own = {"devices": devices, "strategy": check_strategy(args.strategy)}
    cfg = RunConfig(**(_run_fields(args) | own), progress=not args.no_progress)
    cfg = for_variant(cfg, variant(args.model))
    runtime(cfg).check()
    return cfg


def _load(args: argparse.Namespace) -> Any:
    """The model of ``predict`` and ``test`` (``--model`` less its runtime), with
    ``--classes`` and ``--weights-key``.
    """
    from harness.config import variant
    from harness.zoo import classlist, weights

    classes = classlist.read(args.classes) if args.classes else None
    name = variant(args.model).model
    return weights.load(name, args.weights, args.weights_dir, classes, args.weights_key)


def _calibrate(args: argparse.Namespace, cfg: Any, loaded: Any, samples: Any) -> None:
    """For an int8 model: quantize it on its calibration photos now, in the session that
    the run then finds (``Exported.prepare``), and record the photos with the samples.
    """
    from harness.config import default
    from harness.engine.exported import calibration_for
    from harness.engine.runtimes import example_batch, runtime

    seed = getattr(args, "seed", default("seed"))  # predict has no --sample, nor --seed
    found = calibration_for(cfg, loaded, samples, args.calibration_data, args.calibration, seed)
    if found is None:
        return
    samples.chosen.setdefault("calibration", found.record)
    rt = runtime(cfg, model_name=loaded.name, calibration=found)
    rt.prepare(loaded.model, example_batch(loaded.card.input_size))


def models(args: argparse.Namespace) -> int:
    from harness.cli.console import models_table
    from harness.cli.option_groups import search_query
    from harness.engine.files import to_csv, to_json
    from harness.zoo import registry, search

    names = registry.match(args.patterns)
    if sys.stderr.isatty() and len(names) > 20:  # 'timm/*' read live: 1,300 configs
        from tqdm import tqdm

        names = tqdm(names, desc="models", unit="model", leave=False, file=sys.stderr)
    q = search_query(args)
    rows, notes = search.search([registry.info(name) for name in names], q)
    for note in notes:
        print(f"harness: note: {note}", file=sys.stderr)
    if not rows:
        print("harness: note: no model passes the search", file=sys.stderr)
    if args.names:
        print("".join(r["model"] + "\n" for r in rows), end="")
    elif args.format == "json":
        print(to_json(rows), end="")
    elif args.format == "csv":
        print(to_csv(rows), end="")
    else:
        models_table(rows, q.speed_on)
    return EXIT_OK


def classes(args: argparse.Namespace) -> int:
    from harness.config import variant
    from harness.engine.files import to_csv, to_json
    from harness.zoo import checkpoints, registry, weights

    # the class list is the architecture's, whatever weights fill it (or runtime runs it)
    c, path, source = weights.resolve(variant(args.model).model, args.weights, args.weights_dir)
    weights.check_head(args.model, c)
    if path is not None:
        checkpoints.check_file(path)
    elif source != weights.RANDOM_SOURCE:
        source = c.weights  # a tag, as IMAGENET1K_V2
    rows = [{"index": i, "wnid": wnid, "name": name} for i, wnid, name in registry.class_table(c)]
    if args.under is not None:
        rows = _under(rows, args.under)
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


def _under(rows: list[dict[str, Any]], word: str) -> list[dict[str, Any]]:
    """The class rows under ``word`` (``classes --under``), as a label of ``test`` means it."""
    names = [x["name"] for x in rows]
    (label,) = _named("--under", [word], names, [x["wnid"] for x in rows])
    return [rows[i] for i in label.classes]


def _named(option: str, values: list[str], names: Any, wnids: Any) -> list[Any]:
    """The labels an option names, each with its notes and classes on stderr."""
    from harness.labels.resolve import named

    labels, notes = named(option, values, names, wnids)
    for note in notes:
        print(f"harness: note: {note}", file=sys.stderr)
    for label in labels:
        print(f"harness: {label.line(names)}", file=sys.stderr)
    return labels


def predict(args: argparse.Namespace) -> int:
    from harness.cli.console import print_predictions
    from harness.data.datamodule import Samples
    from harness.data.images import find_images
    from harness.data.selection import check_calibration_data
    from harness.engine import runs
    from harness.engine.results import skipped_files

    files, passed = find_images(args.images)
    check_calibration_data(args.calibration_data)
    cfg = _config(args)
    loaded = _load(args)
    samples = Samples.unlabelled(files, Path("."), "files", passed)
    _calibrate(args, cfg, loaded, samples)
    if args.labels_of:  # each label's probability (its classes' summed) beside the top-k
        values = [v for v in args.labels_of.split(",") if v.strip()]
        samples.label_set = _named("--labels-of", values, loaded.categories, loaded.card.wnids)
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
    cats, wnids = loaded.categories, loaded.card.wnids  # wnid "" where none is known
    by_label = dict(module.word_probs)
    results = [
        {
            "file": str(files[i]),
            "model": args.model,
            "weights": loaded.source,
            "random_weights": loaded.random,
            "topk": [
                {"index": c, "wnid": wnids[c], "name": cats[c], "probability": p}
                for c, p in zip(k, ps, strict=True)
            ],
            **({"labels": _label_probs(samples.label_set, by_label[i])} if by_label else {}),
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


def _label_probs(labels: Any, probs: list[float]) -> list[dict[str, Any]]:
    """predict's ``labels``: each label, its synset and classes, and its probability."""
    return [
        {"label": lab.name, "wnid": lab.wnid, "classes": len(lab.classes), "probability": p}
        for lab, p in zip(labels, probs, strict=True)
    ]


Data = tuple[str | None, str | None, list[str], tuple[str, ...]]


def _data(args: argparse.Namespace, required: bool = True) -> Data:
    """--data and --labels, or the default data folder and its labels file.

    Returns the data folder, the labels file, notes on the defaults taken, and
    the files of the folder that are not to be taken for images. Unless
    ``required``, a default folder without images is no data (None) and a note.
    """
    from harness.data.selection import check_inputs, default_data

    if args.data is not None:
        check_inputs(args.data, args.labels)
        return args.data, args.labels, [], ()
    try:
        folder, found = default_data()
    except HarnessError as e:
        if required or args.labels is not None:
            raise
        return None, None, [f"{e}; measuring speed, memory and size only"], ()
    labels, notes = args.labels, [f"no --data given: {folder.absolute()}, the default data folder"]
    if labels is None and found is not None:
        labels = str(found)
        notes.append(f"labels from {found}, found in the default data folder")
    check_inputs(folder, labels)
    return str(folder), labels, notes, (str(folder / "README.md"),)


def test(args: argparse.Namespace) -> int:
    from harness.data.selection import check_calibration_data, check_output

    data, labels, notes, ignore = _data(args)  # before any model loads, or lightning is imported
    assert data is not None  # required
    check_output(args.output)
    check_calibration_data(args.calibration_data)
    cfg = _config(args)

    from harness.cli.console import summary
    from harness.config import LOGS, sets_aside
    from harness.data.datamodule import find_samples
    from harness.engine import runs

    loaded = _load(args)
    aside = args.calibration if sets_aside([args.model], args.calibration_data) else None
    samples = find_samples(
        data, loaded.categories, loaded.card.wnids, labels,
        args.limit, args.sample, args.seed, ignore, cfg.lenient,
        args.label_map, aside, outputs=[o for o in (args.output, LOGS) if o],
    )  # fmt: skip
    _calibrate(args, cfg, loaded, samples)
    res = runs.test(loaded, samples, cfg, data, labels, args.output)
    if res is not None:  # None: a non-zero rank of a multi-process run
        summary(res, notes)
        if not res["n"]:  # as predict: a run that read nothing failed, though it says why
            raise RunFailed("not one image could be read (the summary lists why)")
    return EXIT_OK


def compare(args: argparse.Namespace) -> int:
    from harness.compare.parent import compare, entries
    from harness.compare.parity import parity_sentence
    from harness.compare.report import compare_table, problems
    from harness.config import LOGS, Spec, run_name, sets_aside

    models = entries(args.models)
    data, labels, notes, ignore = _data(args, required=False)
    _check_compare(args, models, data, labels)
    for note in notes:
        print(f"harness: note: {note}", file=sys.stderr)
    run = args.output or os.path.join(LOGS, "compare", run_name())
    aside = sets_aside(models, args.calibration_data)  # the same photos out of every row
    spec = Spec(
        model="",
        run_dir=os.path.abspath(run),
        # the data folder, labels and ignored files as _data resolved them (data/ by default)
        **(
            _run_fields(args, Spec)
            | {"data": data, "labels": labels, "ignore": list(ignore)}
            | {"set_aside": aside}
        ),
    )
    try:
        rows = compare(models, spec, args.timeout, args.repeat)
    except KeyboardInterrupt:
        print(f"harness: partial report in {run}/report.md", file=sys.stderr)
        raise
    print(compare_table(rows))
    for kind in ("error", "n/a", "skipped", "noisy"):
        for model, what in problems(rows, kind):
            print(f"{kind:<9} {model}: {what}")
    for row in rows:  # each row not run in torch fp32: its answers against torch fp32's
        if "parity_n" in row:
            print(f"{'parity':<9} {parity_sentence(row)}")
    print(
        f"report    {run}/report.md (and results.json, results.csv, accuracy_vs_latency.png;"
        f" tensorboard --logdir {run})"
    )
    return EXIT_FAILED if problems(rows, "error") else EXIT_OK


def _check_compare(
    args: argparse.Namespace, models: list[str], data: str | None, labels: str | None
) -> None:
    """Option errors of ``compare`` as one line each, before any model process starts."""
    from harness.data.selection import check_calibration_data, check_not_empty, check_output
    from harness.engine.speedups import check_accelerator
    from harness.zoo.classlist import read

    if args.classes or args.weights_key:
        if not any("=" in m for m in models):
            raise HarnessError("--classes and --weights-key are for models given as NAME=FILE")
        if args.classes:
            read(args.classes)  # a malformed list: one error now, not one per model
    if data:
        check_not_empty(data, labels)
    check_accelerator(args.accelerator)
    check_output(args.output)
    check_calibration_data(args.calibration_data)
