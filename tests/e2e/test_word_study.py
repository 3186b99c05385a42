"""The word study's labels file (docs/studies/nips17-words.csv): what scripts/word_labels.py
makes from ../shared, and what the harness reads it as.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

from torchvision.models import SqueezeNet1_1_Weights

from harness.data.datamodule import find_samples
from harness.zoo import registry
from tests.helpers import NIPS, ROOT, SHARED, need

STUDY = ROOT / "docs" / "studies"


def script():  # scripts/ is no package
    spec = importlib.util.spec_from_file_location(
        "word_labels", ROOT / "scripts" / "word_labels.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_kept_labels_files_are_what_the_script_makes(tmp_path: Path) -> None:
    need(SHARED / "data" / "wordnet")
    words = script()
    rows, left_out = words.relabel(SHARED)
    assert len(rows) + left_out == 500 and len(rows) == 218
    for name, text in words.files(rows).items():
        assert (STUDY / name).read_text() == text


def test_the_harness_reads_each_word_as_the_scripts_synset() -> None:
    """Each word is the synset the script took it for; every row is one nips17-dev photo
    whose ImageNet class lies under that synset (the harness's classes of the word)."""
    need(NIPS)
    cats = SqueezeNet1_1_Weights.DEFAULT.meta["categories"]
    s = find_samples(NIPS / "images", cats, registry.imagenet_wnids(), STUDY / "nips17-words.csv")
    assert s.label_set is not None and len(s.files) == 218
    synsets = script().WORDS
    assert {lab.name: lab.wnid for lab in s.label_set} == synsets
    with open(NIPS / "labels.csv", newline="") as f:
        fine = {r["file"]: int(r["label"]) for r in csv.DictReader(f)}
    for file, y in zip(s.files, s.labels, strict=True):
        assert fine[file.name] in s.label_set[y].classes
    assert "282 files in" in " ".join(s.notes)  # the photos under none: not evaluated
