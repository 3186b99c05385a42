"""The result schema of a ``test`` run: results.json, predictions.csv and per_class.csv."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import torch

from harness.config import RunConfig
from harness.data.datamodule import Samples
from harness.data.decode import decoder
from harness.engine.classifier import ClassifierModule
from harness.engine.files import to_csv, to_json, write_atomic
from harness.engine.runtimes import runtime
from harness.labels.resolve import Label
from harness.labels.score import (
    ONE_LABEL,
    PROB_PREFIX,
    Scored,
    best_label,
    confusion,
    confusion_rows,
    per_label,
    score,
)
from harness.measure import stats
from harness.zoo.weights import RANDOM_NOTE, Loaded

EVENTS = "events.out.tfevents.*"  # TensorBoard's event files
LABEL_ISSUES = ("label_issues.csv", "label_issues.png")
RUN_FILES = ("results.json", "predictions.csv", "per_class.csv")
WORD_FILES = ("confusion.csv", "confusion.png")  # where labels are words


def earlier_run(output: str | None) -> list[Path]:
    """The results and TensorBoard events an earlier run left in ``output`` (given again)."""
    run_dir = Path(output) if output else None
    if run_dir is None or not _ours(run_dir / "results.json"):
        return []  # another tool's folder (a training run's, say): nothing of it is touched
    mine = [run_dir / n for n in (*RUN_FILES, *LABEL_ISSUES, *WORD_FILES)]
    return [p for p in mine if p.is_file()] + sorted(run_dir.glob(EVENTS))


def earlier_note(output: str | None, earlier: list[Path]) -> str:
    """What of the earlier run in ``output`` this one replaces, event files counted."""
    named = [p.name for p in earlier if not p.match(EVENTS)]
    if k := len(earlier) - len(named):
        named.append(f"{k} TensorBoard event file{'s' * (k != 1)}")
    return f"--output {output} held an earlier run: replaced ({', '.join(named)})"


def _ours(results: Path) -> bool:
    """Whether ``results`` is a results.json of a harness ``test`` run."""
    try:
        found = json.loads(results.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and {"model", "run_dir", "n", "skipped"} <= found.keys()


def replace_earlier(earlier: list[Path], results: dict[str, Any]) -> None:
    """Remove what ``write`` did not overwrite of the earlier run: its event files, and its
    per_class.csv where this run has no labels, its label_issues files where this one has
    none. Called once this run's files are written.
    """
    found = results.get("label_issues")  # None: not looked for; 0: the csv alone
    written = LABEL_ISSUES if found else LABEL_ISSUES[:1] if found == 0 else ()
    stale = {*LABEL_ISSUES} - {*written} | (set() if results["labelled"] else {"per_class.csv"})
    if not (results["labelled"] and "label_map" in results):
        stale |= set(WORD_FILES)
    for p in earlier:
        if p.match(EVENTS) or p.name in stale:
            p.unlink(missing_ok=True)


def discard_failed(run_dir: Path, earlier: list[Path], made_for_it: bool) -> None:
    """What a run that failed left for TensorBoard, so that it shows no empty run: the
    folder made for it (only event files and an hparams.yaml in it), or in an
    ``--output`` folder its own event files (``earlier`` ones stay).
    """
    if not run_dir.is_dir():
        return
    if made_for_it:
        if all(p.match(EVENTS) or p.name == "hparams.yaml" for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
            with contextlib.suppress(OSError):  # lightning_logs/<model>/, if now empty
                run_dir.parent.rmdir()
        return
    for p in set(run_dir.glob(EVENTS)) - set(earlier):
        p.unlink(missing_ok=True)


def write(
    run_dir: Path,
    results: dict[str, Any],
    module: ClassifierModule,
    samples: Samples,
    loaded: Loaded,
) -> None:
    """predictions.csv, per_class.csv (when any image is labelled) and results.json; where
    accuracy is measured, likely label errors too (``trust.test_fields``, into ``results``:
    over the classes, or over the labels where they are words).
    """
    preds = prediction_rows(module, samples)
    write_atomic(run_dir / "predictions.csv", to_csv(preds))
    if results["labelled"] and samples.label_set is not None:
        write_words(run_dir, module, samples.label_set)
    elif results["labelled"]:
        labelled = [r for r in module.rows if r[1] >= 0]
        per_class = stats.per_class(labelled, module.categories, loaded.card.wnids)
        write_atomic(run_dir / "per_class.csv", to_csv(per_class))
    if results["top1"] is not None and not results.get("among_labels_note"):  # one word: none
        # over the classes, or the labels where they are words
        from harness.engine.trust import test_fields

        results |= test_fields(run_dir, [r for r in preds if r["label"] != ""], samples.root)
    write_atomic(run_dir / "results.json", to_json(results))


def write_words(run_dir: Path, module: ClassifierModule, labels: list[Label]) -> None:
    """per_class.csv (a row per label), confusion.csv and confusion.png among the labels."""
    from harness.engine import confusion as figure

    scored = score(module.rows, module.word_probs, labels)
    write_atomic(run_dir / "per_class.csv", to_csv(per_label(scored, labels)))
    matrix = confusion(scored, len(labels))
    write_atomic(run_dir / "confusion.csv", to_csv(confusion_rows(matrix, labels)))
    figure.save([lab.name for lab in labels], matrix, run_dir)


def summarise(
    loaded: Loaded,
    samples: Samples,
    module: ClassifierModule,
    metrics: dict[str, float],
    cfg: RunConfig,
    t: L.Trainer,
    seconds: float,
    data: str,
    labels: str | None,
) -> dict[str, Any]:
    """The results.json of a ``test`` run: what was run on what, its accuracy, how it ran."""
    res = {
        "model": loaded.name,
        "weights": loaded.source,
        "random_weights": loaded.random,
        "preprocessing": loaded.card.preprocessing,
        "classes": loaded.classes_file,  # --classes; None: the weights' own
        "data": str(data),
        "labels": None if labels is None else str(labels),
        "layout": samples.layout,
        **samples.chosen,
        **accuracy(loaded, samples, module, metrics),
        **how_run(cfg, t, loaded, len(module.rows), seconds, module.loop_seconds),
        **runtime_fields(cfg, module),
    }
    res["notes"] += ddp_note(res)
    return res


def accuracy(
    loaded: Loaded, samples: Samples, module: ClassifierModule, metrics: dict[str, float]
) -> dict[str, Any]:
    """Counts, top-1/top-5 (checked against torchmetrics'), intervals, calibration, notes."""
    labelled = [r for r in module.rows if r[1] >= 0]
    if samples.label_set is not None:
        scored = score(module.rows, module.word_probs, samples.label_set)
        correct1, correct5 = sum(s.right1 for s in scored), sum(s.right5 for s in scored)
    else:
        correct1 = sum(r[1] in r[2][:1] for r in labelled)
        correct5 = sum(r[1] in r[2][:5] for r in labelled)
    skipped = skipped_files(samples, module)
    note = RANDOM_NOTE if loaded.random else None if labelled else "no labelled images"
    found = {
        "n": len(module.rows),
        "labelled": len(labelled),
        "correct1": correct1,
        "correct5": correct5,
        "top1": None if note else check_metric(metrics, "test/top1", correct1, len(labelled)),
        "top5": None if note else check_metric(metrics, "test/top5", correct5, len(labelled)),
        **(stats.summary(labelled) if not note else dict.fromkeys(stats.SUMMARY)),
        "accuracy_note": note
        or f"micro average over the {len(labelled)} labelled images evaluated"
        + (f" ({len(skipped)} files skipped, not counted)" if skipped else ""),
        "skipped": skipped,
        "notes": samples.notes + _trivial_top5(len(module.categories), bool(labelled) and not note),
    }
    if samples.label_set is not None:
        found |= words_accuracy(samples.label_set, scored, metrics, note, module.categories)
    return found


def words_accuracy(
    labels: list[Label],
    scored: list[Scored],
    metrics: dict[str, float],
    note: str | None,
    categories: list[str],
) -> dict[str, Any]:
    """What ``accuracy`` has where labels are words: the intervals and ECE of top-1/5
    under the label, ``top1_among_labels`` with its interval and ECE (n/a, with
    ``among_labels_note``, where one label only is present), and ``label_map`` (each
    label's wnid, words and classes).
    """
    n, among = len(scored), sum(s.right_among for s in scored)
    found: dict[str, Any] = {
        "correct_among_labels": among,
        "label_map": {lab.name: lab.record(categories) for lab in labels},
    }
    keys = ("top1_among_labels", "top1_among_labels_ci95", "ece_among_labels")
    if note:
        return found | dict.fromkeys(keys)
    found |= {
        "top1_ci95": stats.wilson(sum(s.right1 for s in scored), n),
        "top5_ci95": stats.wilson(sum(s.right5 for s in scored), n),
        "ece": stats.ece([s.top1_prob for s in scored], [s.right1 for s in scored]),
    }
    if len(labels) < 2:  # n/a, not a meaningless 100%
        return found | dict.fromkeys(keys) | {"among_labels_note": f"{ONE_LABEL}: n/a"}
    return found | {
        "top1_among_labels": check_metric(metrics, "test/top1_among_labels", among, n),
        "top1_among_labels_ci95": stats.wilson(among, n),
        "ece_among_labels": stats.ece(
            [s.among_prob for s in scored], [s.right_among for s in scored]
        ),
    }


def _trivial_top5(classes: int, measured: bool) -> list[str]:
    """A note where top-5 holds every class, so that its 100% is not read as a result."""
    if not measured or classes > 5:
        return []
    return [f"top-5 of a model with {classes} classes holds every class: 100% by definition"]


def how_run(
    cfg: RunConfig, t: L.Trainer, loaded: Loaded, n: int, seconds: float, loop: float | None
) -> dict[str, Any]:
    """Precision, devices, batch size, threads, decoding and the time the run took: in
    all (``seconds``), and from the first batch on (``loop_seconds``)."""
    return {
        "precision": cfg.precision,
        "accelerator": t.accelerator.__class__.__name__.replace("Accelerator", "").lower(),
        "devices": t.world_size,
        "world_size": t.world_size,
        "num_nodes": t.num_nodes,
        "devices_per_node": t.num_devices,
        "batch_size": cfg.batch_size,
        "threads": torch.get_num_threads(),
        **decoding(cfg, loaded),
        "seconds": round(seconds, 4),
        "images_per_second": round(n / seconds, 3) if seconds > 0 else None,
        "loop_seconds": None if loop is None else round(loop, 4),
    }


def runtime_fields(cfg: RunConfig, module: ClassifierModule) -> dict[str, Any]:
    """The runtime, and for an exported one how its session was made (``exported.Setup``)."""
    setup = getattr(module.net, "setup", None)
    return {"runtime": runtime(cfg).name, "export": setup.record() if setup else None}


SLOWER = 2.0  # DDP's whole time over its loop's from which a note says one process is faster


def ddp_note(res: dict[str, Any]) -> list[str]:
    """A note where several processes on one machine's CPU took ``SLOWER`` times or more
    the time their images did: starting and joining the processes cost more than it gained.

    On one machine's CPU the processes share its cores (Lightning gives each cores /
    processes threads), so one process with all the threads does the same work on the
    same cores: about the loop's time, without the start-up.

    >>> ddp_note({"devices": 2, "num_nodes": 1, "accelerator": "cpu", "seconds": 9.4,
    ...           "loop_seconds": 1.5, "n": 100})
    ['2 processes on one CPU took 9.4 s, 1.5 s of it for the 100 images (the rest: starting and joining the processes): one process would take about 1.5 s on the same cores, 6.3x faster (--devices 1)']
    """  # noqa: E501
    seconds, loop = res["seconds"], res.get("loop_seconds")
    one_cpu = res["devices"] > 1 and res["num_nodes"] == 1 and res["accelerator"] == "cpu"
    if not one_cpu or not loop or seconds < SLOWER * loop:
        return []
    return [
        f"{res['devices']} processes on one CPU took {seconds:.1f} s, {loop:.1f} s of it for "
        f"the {res['n']} images (the rest: starting and joining the processes): one process "
        f"would take about {loop:.1f} s on the same cores, {seconds / loop:.1f}x faster "
        "(--devices 1)"
    ]


def decoding(cfg: RunConfig, loaded: Loaded) -> dict[str, Any]:
    """How the files were decoded, for results: ``decode``, ``draft_side``, ``max_pixels``."""
    dec = decoder(cfg, loaded.transforms())
    return {"decode": dec.mode, "draft_side": dec.draft_side, "max_pixels": dec.max_pixels}


def skipped_files(samples: Samples, module: ClassifierModule) -> list[dict[str, str]]:
    """Every file passed over (before or at decoding) with its reason, by name."""
    found = samples.skipped + samples.dropped + [(samples.files[i], w) for i, w in module.skipped]
    return [{"file": str(f), "reason": why} for f, why in sorted(found)]


def check_metric(metrics: dict[str, float], key: str, correct: int, n: int) -> float:
    """The exact fraction ``correct / n``, once torchmetrics' logged value agrees with it.

    The two are counted separately (metric states vs. per-image rows gathered
    from all processes); a disagreement means images were lost or doubled.
    """
    exact = correct / n
    if key not in metrics or abs(metrics[key] - exact) > 1e-6:
        raise RuntimeError(f"{key}: torchmetrics says {metrics.get(key)}, rows say {correct}/{n}")
    return exact


def prediction_rows(module: ClassifierModule, samples: Samples) -> list[dict[str, Any]]:
    """One predictions.csv row per evaluated image.

    Where labels are words, ``label`` is the user's label, ``label_wnid`` and
    ``label_name`` its synset, ``correct1``/``correct5`` say whether the top-1 (top 5)
    class lies under it, ``pred1_label`` is the label the top-1 class lies under ("" for
    none), ``among_label``, ``among_prob``, ``correct_among_labels`` give the label of the
    highest summed probability and ``prob_<label>`` each label's.
    """
    cats, words = module.categories, samples.label_set
    by_label = dict(module.word_probs)
    label_of = {c: lab.name for lab in words or () for c in lab.classes}  # labels are disjoint
    rows = []
    for i, y, idx, prob in module.rows:
        row: dict[str, Any] = {
            "file": str(samples.files[i].relative_to(samples.root))
            if samples.files[i].is_relative_to(samples.root)
            else str(samples.files[i]),
        }
        if words is None:
            row |= {"label": y if y >= 0 else "", "label_name": cats[y] if y >= 0 else ""}
            under: set[int] = {y}
        else:
            lab = words[y] if y >= 0 else None
            row |= {
                "label": lab.name if lab else "",
                "label_wnid": lab.wnid if lab else "",
                "label_name": (lab.words or lab.name) if lab else "",
            }
            under = set(lab.classes) if lab else set()
        for k, (c, p) in enumerate(zip(idx, prob, strict=True), start=1):
            row |= {f"pred{k}_index": c, f"pred{k}_name": cats[c], f"pred{k}_prob": f"{p:.6f}"}
        row["correct1"] = int(bool(under & set(idx[:1]))) if y >= 0 else ""
        row["correct5"] = int(bool(under & set(idx[:5]))) if y >= 0 else ""
        row["label_prob"] = f"{module.label_probs[i]:.6f}" if y >= 0 else ""
        if words is not None:
            row |= {"pred1_label": label_of.get(idx[0], "")} | _among_columns(by_label[i], y, words)
        rows.append(row)
    return rows


def _among_columns(probs: list[float], y: int, words: list[Label]) -> dict[str, Any]:
    """predictions.csv's ``among_label``, ``among_prob``, ``correct_among_labels`` and each
    label's probability (``prob_<label>``).
    """
    best = best_label(probs)
    return {
        "among_label": words[best].name,
        "among_prob": f"{probs[best]:.6f}",
        "correct_among_labels": int(best == y) if y >= 0 else "",
        **{f"{PROB_PREFIX}{lab.name}": f"{p:.6f}" for lab, p in zip(words, probs, strict=True)},
    }
