"""harness.zoo.search: the ``models`` search over the published tables, filters, sort,
the Pareto front."""

from __future__ import annotations

import json

import pytest

from harness.cli.main import main
from harness.zoo.search import Query, search
from tests.helpers.timm_results import csv_rows, percent, shared

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
