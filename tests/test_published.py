"""timm's published tables in the package, the ``models`` search over them, and Kendall's tau."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.measure import kendall
from harness.zoo import published
from harness.zoo.search import Query, search

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT.parent / "shared" / "data" / "timm-results"
shared = pytest.mark.skipif(not RESULTS.is_dir(), reason=f"{RESULTS} is absent")


def percent(text: str) -> float:
    """A figure of timm's CSV files ("1,013.01" has a thousands comma) as a float."""
    return float(text.replace(",", ""))


def csv_rows(name: str) -> list[dict[str, str]]:
    with open(RESULTS / name, newline="") as f:
        return list(csv.DictReader(f))


# --- the tables in the package ----------------------------------------------------------------


@shared
def test_tables_record_source_commit_and_each_files_digest() -> None:
    meta = published.tables().meta
    assert (meta["repository"], meta["commit"]) == ("huggingface/pytorch-image-models", "aa4b5850")
    for name, digest in meta["files"].items():
        assert hashlib.sha256((RESULTS / name).read_bytes()).hexdigest() == digest, name
    assert len(meta["files"]) == 11  # six accuracy tables, five speed tables


@shared
def test_the_script_rebuilds_the_shipped_tables(tmp_path: Path) -> None:
    out = tmp_path / "t.json.gz"
    script = ROOT / "scripts" / "timm_results.py"
    subprocess.run([sys.executable, script, "--source", RESULTS, "--output", out], check=True)
    assert out.read_bytes() == published.TABLES.read_bytes()  # the same bytes: no stale copy


@shared
def test_every_accuracy_row_equals_the_csv_files() -> None:
    """Each set's top-1/top-5 of each (weight, size), read back as fractions."""
    files = {"imagenet": "results-imagenet.csv", "v2": "results-imagenetv2-matched-frequency.csv",
             "real": "results-imagenet-real.csv", "sketch": "results-sketch.csv",
             "r": "results-imagenet-r.csv", "a": "results-imagenet-a.csv"}  # fmt: skip
    rows = {k: {(r["model"], int(r["img_size"])): r for r in csv_rows(f)} for k, f in files.items()}
    assert len(rows["imagenet"]) == 1556 and len(published.tables().accuracy) == 1266
    for weight, sized in published.tables().accuracy.items():
        for r in sized:
            key = (weight, r["img_size"])
            assert r["param_count"] == percent(rows["imagenet"][key]["param_count"])
            for on in files:
                want = rows[on].get(key)
                assert r[f"{on}_top1"] == (percent(want["top1"]) if want else None), (key, on)


def test_tables_are_read_only_by_what_needs_them() -> None:
    """Listing torchvision's models, a timm card (as predict and test use): no tables read."""
    code = (
        "from harness.zoo import published, registry\n"
        "from harness.cli.main import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['models', 'resnet*'])\n"
        "registry.card('timm/tf_efficientnet_lite0')\n"
        "before = published.tables.cache_info().currsize\n"
        "registry.figures(registry.card('timm/tf_efficientnet_lite0'))\n"
        "print(before, published.tables.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1"]


# --- the search ---------------------------------------------------------------------------------


def default_weight(arch: str) -> tuple[str, int, int]:
    """(ARCH.TAG, input side, classes) of timm's default weights, from its pretrained config."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    return (f"{arch}.{cfg.tag}" if cfg.tag else arch), cfg.input_size[1], cfg.num_classes


@shared
def test_search_rows_equal_a_filter_of_the_shared_csv(capsys: pytest.CaptureFixture[str]) -> None:
    """models 'timm/*' --max-params 6 --sort top1 --limit 10 against the CSV read here."""
    import timm

    by_weight: dict[str, list[dict[str, str]]] = {}
    for r in csv_rows("results-imagenet.csv"):
        by_weight.setdefault(r["model"], []).append(r)
    expected = []
    for arch in timm.list_models():
        weight, side, _ = default_weight(arch)
        rows = by_weight.get(weight, [])
        exact = [r for r in rows if int(r["img_size"]) == side] or (rows if len(rows) == 1 else [])
        if exact and percent(exact[0]["param_count"]) <= 6:
            expected.append((f"timm/{arch}", percent(exact[0]["top1"]), exact[0]))
    expected.sort(key=lambda e: -e[1])  # stable: ties keep timm's order
    args = ["models", "timm/*", "--max-params", "6", "--sort", "top1", "--limit", "10"]
    assert main([*args, "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in got] == [m for m, _, _ in expected[:10]]
    for r, (_, top1, row) in zip(got, expected, strict=False):
        assert r["published_top1"] == pytest.approx(top1 / 100, abs=1e-9)
        assert r["published_top5"] == pytest.approx(percent(row["top5"]) / 100, abs=1e-9)
        assert r["params_m"] == percent(row["param_count"]) and r["params_m"] <= 6


def rows_of(table: str) -> list[dict]:
    """A small table by hand: name top1 params ips (- for unknown)."""
    out = []
    for line in table.strip().splitlines():
        name, top1, params, ips = line.split()
        out.append({"model": name, "published_top1": None if top1 == "-" else float(top1),
                    "params_m": None if params == "-" else float(params),
                    "published_ips_rtx4090": None if ips == "-" else float(ips)})  # fmt: skip
    return out


SMALL = """
a 0.80 10 100
b 0.75  5 300
c 0.70  6 400
d 0.80 12 100
e 0.60  1 900
f    -  2 950
g 0.75  5 200
h 0.50  - 999
"""


def test_pareto_on_params_equals_a_hand_computation() -> None:
    # c loses to b (less accurate, bigger), d to a (as accurate, bigger); b and g tie: both stay;
    # f has no top-1, h no parameter count: neither can be placed
    rows, notes = search(rows_of(SMALL), Query(pareto=True))
    assert [r["model"] for r in rows] == ["a", "b", "g", "e"]
    assert notes == ["--pareto: 2 models without both figures left out"]


def test_pareto_on_speed_equals_a_hand_computation() -> None:
    # faster is better: g (0.75, 200/s) loses to b (0.75, 300/s); a and d tie (0.80, 100/s):
    # both stay; no row is both faster and as accurate as b, c, e or h; f has no top-1
    rows, _ = search(rows_of(SMALL), Query(pareto=True, cost="speed", sort="speed"))
    assert [r["model"] for r in rows] == ["h", "e", "c", "b", "a", "d"]


def test_filters_and_sort_and_what_they_leave_out() -> None:
    rows, notes = search(rows_of(SMALL), Query(max_params=6, min_top1=0.7, sort="params"))
    assert [r["model"] for r in rows] == ["b", "g", "c"]  # params 5, 5, 6: stable for b, g
    assert notes == [
        "--max-params: 1 models without a published parameter count left out",
        "--min-top1: 1 models without a published top-1 on that set left out",
    ]


def test_names_feed_compare(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["models", "timm/tf_efficientnet_lite*", "--max-params", "6.5", "--sort", "top1"]
    assert main([*args, "--names"]) == 0
    out = capsys.readouterr().out
    assert out.split("\n") == [f"timm/tf_efficientnet_lite{i}" for i in (2, 1, 0)] + [""]


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--min-top1", "75"], "expected a published top-1 (a fraction: 0.75 for 75%), got '75'"),
        (["--max-params", "-1"], "expected millions of parameters, got '-1'"),
        (["--published-on", "imagenet-c"], "invalid choice: 'imagenet-c'"),
    ],
)
def test_bad_search_options_are_one_line(capsys, option, said) -> None:
    with pytest.raises(SystemExit) as e:
        main(["models", "timm/resnet50", *option])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert said in err[-1]


def test_weights_absent_from_the_tables_say_why(capsys: pytest.CaptureFixture[str]) -> None:
    names = ["timm/aimv2_1b_patch14_224", "timm/coatnet_0_224", "timm/tf_efficientnet_lite0"]
    assert main(["models", *names, "--format", "json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    other, untrained, lite0 = (rows[n] for n in names)
    assert (
        other["published_top1"] is None
        and "ImageNet-1k classifiers only" in other["published_missing"]
    )
    assert untrained["published_missing"] == "timm has no pretrained weights for coatnet_0_224"
    assert lite0["published_top1"] == 0.74846 and "published_missing" not in lite0
    assert main(["models", *names]) == 0  # the table says n/a, stderr says why
    out = capsys.readouterr()
    assert "n/a       timm/coatnet_0_224: timm has no pretrained weights" in out.err
    assert "aa4b5850" in out.err and "NVIDIA RTX 4090" in out.err


# --- Kendall's tau ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "tau", "p"),
    [
        # one swapped pair of 4: (5 - 1) / 6; orderings with <= 1 or >= 5 inversions: 8 of 24
        ([1, 2, 3, 4], [1, 2, 4, 3], 2 / 3, 8 / 24),
        # all agree, 5 models: only the order itself and its reverse are as extreme: 2 of 120
        ([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], 1.0, 2 / 120),
        ([1, 2, 3], [3, 2, 1], -1.0, 2 / 6),
        # ties in y: C = 2, D = 0, tau-b = 2 / sqrt(3 * 2); of the 3 distinct orderings of
        # (1, 1, 2) against (1, 2, 3), (1,1,2) and (2,1,1) reach |tau| = 0.816, (1,2,1) 0
        ([1, 2, 3], [1, 1, 2], 2 / 6**0.5, 2 / 3),
        # all three tied: tau-b is 0 for every ordering
        ([1, 2, 3], [5, 5, 5], 0.0, 1.0),
    ],
)
def test_kendall_against_hand_worked_examples(x, y, tau, p) -> None:
    k = kendall.kendall(x, y)
    assert k.tau == pytest.approx(tau) and k.p == pytest.approx(p) and k.n == len(x)


def test_kendall_exact_p_equals_plain_enumeration() -> None:
    """The inversion-count recursion against counting over all 6! orderings by hand."""
    x = [0.61, 0.75, 0.77, 0.78, 0.80, 0.81]
    y = [0.62, 0.91, 0.90, 0.92, 0.85, 0.95]

    def tau(a: list[float], b: list[float]) -> float:
        pairs = itertools.combinations(range(6), 2)
        return sum(1 if (a[i] > a[j]) == (b[i] > b[j]) else -1 for i, j in pairs) / 15

    observed = tau(x, y)
    far = sum(abs(tau(x, list(o))) >= abs(observed) - 1e-9 for o in itertools.permutations(y))
    k = kendall.kendall(x, y)
    assert k.tau == pytest.approx(observed) and k.p == pytest.approx(far / 720)
    assert kendall.inversions_counts(6) == [
        sum(sum(o[i] > o[j] for i, j in itertools.combinations(range(6), 2)) == inv
            for o in itertools.permutations(range(6)))
        for inv in range(16)
    ]  # fmt: skip


def test_kendall_without_scipy() -> None:
    modules = "harness.measure.kendall, harness.compare.published"
    code = f"import sys, {modules}; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- compare: published beside measured -------------------------------------------------------

PHOTOS = 12


@pytest.fixture(scope="module")
def four(nips: Path, squeezenet_weights: Path, tmp_path_factory) -> Path:
    """compare of the four real-weight models, the timm ones named by ``models --names``."""
    import contextlib
    import io

    from conftest import compare_args

    names = io.StringIO()
    with contextlib.redirect_stdout(names):
        args = ["models", "timm/tf_efficientnet_lite*", "--max-params", "6.5", "--sort", "top1"]
        assert main([*args, "--names"]) == 0
    models = ["squeezenet1_1", *names.getvalue().split()]
    out = tmp_path_factory.mktemp("four") / "run"
    args = compare_args(nips, squeezenet_weights, out, models, PHOTOS)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*args, "--latency-seconds", "0"]) == 0
    return out


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
def test_compare_shows_published_imagenet_and_v2_and_the_kendall_line(four: Path) -> None:
    rows = {r["model"]: r for r in json.loads((four / "results.json").read_text())}
    lites = [f"timm/tf_efficientnet_lite{i}" for i in (2, 1, 0)]
    assert list(rows) == ["squeezenet1_1", *lites]
    imagenet = {r["model"]: r for r in csv_rows("results-imagenet.csv")}
    v2 = {r["model"]: r for r in csv_rows("results-imagenetv2-matched-frequency.csv")}
    report = (four / "report.md").read_text()
    for name in lites:
        weight, r = f"{name[5:]}.in1k", rows[name]
        top1, top1_v2 = percent(imagenet[weight]["top1"]), percent(v2[weight]["top1"])
        assert r["published_top1"] == pytest.approx(top1 / 100, abs=1e-9)
        assert r["published_v2_top1"] == pytest.approx(top1_v2 / 100, abs=1e-9)
        assert "published_note" not in r  # timm's figures are for these very checkpoints
        # the comparison table: published top-1, then published V2 top-1
        assert f"| {top1:.1f}% | {top1_v2:.1f}% |" in report.split(f"| {name} |")[1].split("\n")[0]
    assert rows["squeezenet1_1"]["published_note"]  # GluonCV's file, torchvision's figure
    # the rank test over the three lites, worked out here from the counts and the CSV
    measured = [rows[m]["correct1"] / rows[m]["labelled"] for m in lites]
    tau, p = exact_tau_p([rows[m]["published_top1"] for m in lites], measured)
    verb = "agrees with" if tau > 0 else "reverses" if tau < 0 else "is unrelated to"
    line = f"On these {PHOTOS} photos the ranking {verb} ImageNet's: tau = {tau:.2f}, p = {p:.2f}"
    assert line in report
    assert "Not ranked: squeezenet1_1 (its published figures are for other weights)." in report
    assert (four / "published_vs_measured.png").stat().st_size > 0


def test_the_figure_plots_published_against_measured() -> None:
    from harness.compare.published import published_figure

    pairs = [(0.7485, 0.92), (0.7667, 0.92), (0.7747, 0.94)]
    rows = [{"model": f"m{i}", "published_top1": p, "top1": t} for i, (p, t) in enumerate(pairs)]
    ax = published_figure(rows, "heading").axes[0]
    points = [c for xy in ax.collections[0].get_offsets().tolist() for c in xy]
    assert points == pytest.approx([74.85, 92.0, 76.67, 92.0, 77.47, 94.0])
    assert [t.get_text() for t in ax.texts] == ["m0", "m1", "m2"]
    assert ax.get_legend().get_texts()[0].get_text() == "measured = published (out of view)"
