"""timm's published tables rebuilt by their script, and ``compare`` beside the published figures."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.zoo import published
from tests.helpers import ROOT
from tests.helpers.planted import LITES
from tests.helpers.timm_results import RESULTS, csv_rows, percent, shared


@shared
def test_the_script_rebuilds_the_shipped_tables(tmp_path: Path) -> None:
    out = tmp_path / "t.json.gz"
    script = ROOT / "scripts" / "timm_results.py"
    subprocess.run([sys.executable, script, "--source", RESULTS, "--output", out], check=True)
    assert out.read_bytes() == published.TABLES.read_bytes()  # the same bytes: no stale copy


# --- compare: published beside measured -------------------------------------------------------

# The comparison of the four real-weight models is conftest's ``planted`` (shared with the
# label-error tests): its timm models are the ones `harness models ... --names` chose, in
# its order, fed straight into compare (tests/helpers/planted.py).


def exact_tau_p(x: list[float], y: list[float]) -> tuple[float, float]:
    """tau-b and its two-sided p by listing every ordering of y: the plainest way there is."""

    def tau(b: list[float]) -> float:
        c = d = tx = ty = 0
        for i, j in itertools.combinations(range(len(x)), 2):
            s, t = x[i] - x[j], b[i] - b[j]
            tx, ty = tx + (s == 0), ty + (t == 0)
            c, d = c + (s * t > 0), d + (s * t < 0)
        n0 = len(x) * (len(x) - 1) / 2
        return (c - d) / ((n0 - tx) * (n0 - ty)) ** 0.5 if n0 > max(tx, ty) else 0.0

    orders = list(itertools.permutations(y))
    t = tau(y)
    return t, sum(abs(tau(list(o))) >= abs(t) - 1e-9 for o in orders) / len(orders)


@shared
def test_compare_shows_published_imagenet_and_v2_and_the_kendall_line(planted: dict) -> None:
    four = planted["run"]
    rows = {r["model"]: r for r in json.loads((four / "results.json").read_text())}
    assert list(rows) == ["squeezenet1_1", *LITES]  # the search's names, in its order
    imagenet = {r["model"]: r for r in csv_rows("results-imagenet.csv")}
    v2 = {r["model"]: r for r in csv_rows("results-imagenetv2-matched-frequency.csv")}
    report = (four / "report.md").read_text()
    for name in LITES:
        weight, r = f"{name[5:]}.in1k", rows[name]
        top1, top1_v2 = percent(imagenet[weight]["top1"]), percent(v2[weight]["top1"])
        assert r["published_top1"] == pytest.approx(top1 / 100, abs=1e-9)
        assert r["published_v2_top1"] == pytest.approx(top1_v2 / 100, abs=1e-9)
        assert "published_note" not in r  # timm's figures are for these very checkpoints
        # the comparison table: published top-1, then published V2 top-1
        assert f"| {top1:.1f}% | {top1_v2:.1f}% |" in report.split(f"| {name} |")[1].split("\n")[0]
    assert rows["squeezenet1_1"]["published_note"]  # GluonCV's file, torchvision's figure
    # the rank test over the three lites, worked out here from the counts and the CSV
    measured = [rows[m]["correct1"] / rows[m]["labelled"] for m in LITES]
    tau, p = exact_tau_p([rows[m]["published_top1"] for m in LITES], measured)
    verb = "agrees with" if tau > 0 else "reverses" if tau < 0 else "is unrelated to"
    photos = len(planted["given"])
    line = f"On these {photos} photos the ranking {verb} ImageNet's: tau = {tau:.2f}, p = {p:.2f}"
    assert line in report
    assert "Not ranked: squeezenet1_1 (its published figures are for other weights)." in report
    assert (four / "published_vs_measured.png").stat().st_size > 0
