"""Each image's answer at full precision, ``outputs.json``: what parity compares.

predictions.csv rounds probabilities to six decimals, too coarse for an fp32
runtime whose answers differ from torch's by 1e-6; this file keeps the floats as
computed (JSON round-trips them exactly), keyed by the image's path.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.data.datamodule import Samples
from harness.engine.classifier import ClassifierModule
from harness.engine.files import to_json, write_atomic
from harness.measure.parity import Answer

OUTPUTS, REFERENCE = "outputs.json", "reference.json"  # a run's own; torch fp32's, if computed


def answers(module: ClassifierModule, samples: Samples) -> dict[str, Answer]:
    """file -> (top-5 classes, top-1 probability, right at top-1 or None if unlabelled).

    Right means the label's class, or where labels are words a class under the word.
    """
    found: dict[str, Answer] = {}
    for i, y, top, prob in module.rows:
        right = None
        if y >= 0:
            right = bool(module.member[y, top[0]]) if module.words else top[0] == y
        found[str(samples.files[i])] = (top[:5], prob[0], right)
    return found


def write(path: Path, found: dict[str, Answer]) -> None:
    write_atomic(path, to_json({f: [a[0], a[1], a[2]] for f, a in found.items()}))


def read(path: Path) -> dict[str, Answer]:
    return {f: (a[0], a[1], a[2]) for f, a in json.loads(path.read_text()).items()}
