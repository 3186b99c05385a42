"""``harness predict`` on the shared photos with real weights, against a plain reference loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main
from tests.helpers import labels_of

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]


def test_predict_matches_reference_loop(nips, squeezenet_weights, reference, capsys):
    names = sorted(labels_of(nips))[:10]
    files = [str(nips / "images" / n) for n in names]
    w = ["--weights", str(squeezenet_weights)]
    assert main(["predict", *files, "--model", "squeezenet1_1", *w, "--format", "json", *FAST]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [Path(g["file"]).name for g in got] == names
    for g, name in zip(got, names, strict=True):
        ref_idx, ref_p = reference[name]
        assert [t["index"] for t in g["topk"]] == ref_idx
        assert [t["probability"] for t in g["topk"]] == pytest.approx(ref_p, abs=1e-5)
        assert not g["random_weights"]
