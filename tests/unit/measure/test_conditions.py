"""harness.measure.conditions: spread, the noisy verdict's reasons, --repeat's medians, by hand."""

from __future__ import annotations

from harness.measure import conditions


def test_spread_is_p90_over_p50_by_hand() -> None:
    # sorted: 10 11 12 13 30; p50 = 12; p90 at 0.9 * 4 = 3.6: 13 + 0.6 * (30 - 13) = 23.2
    assert conditions.spread([30.0, 12.0, 10.0, 13.0, 11.0]) == round(23.2 / 12, 3)
    assert conditions.spread([5.0] * 7) == 1.0


def test_reasons_thresholds() -> None:
    quiet = {"load": 2.0, "runnable": 1}  # exactly the cores: not exceeded
    assert conditions.reasons(1, quiet, quiet, 1.5, 2) == []
    assert conditions.reasons(1, {"load": None, "runnable": None}, quiet, None, 2) == []
    assert conditions.reasons(1, {"load": 2.01, "runnable": 0}, quiet, 1.0, 2) == [
        "load average 2.01 > 2 cores"
    ]
    assert conditions.reasons(2, quiet, quiet, 1.0, 2) == ["1 other runnable + 2 threads > 2 cores"]
    assert conditions.reasons(1, quiet, quiet, 1.501, 2) == ["spread p90/p50 1.501 > 1.5"]
    # sampled during the timing: it alone judges the load (the lagging average does not)
    loaded = {"load": 3.0, "runnable": 2}
    assert conditions.reasons(2, loaded, loaded, 1.0, 2, during=0.49) == []
    assert conditions.reasons(2, quiet, quiet, 1.0, 2, during=0.5) == [
        "0.5 other runnable on average during the timing + 2 threads > 2 cores"
    ]
    assert conditions.reasons(1, quiet, quiet, 1.0, 2, during=1.49) == []
    assert conditions.reasons(1, quiet, quiet, 1.0, 2, during=1.5)[0].startswith(
        "1.5 other runnable"
    )


def run(p50: float, ips: float, noisy: bool, load: float = 0.5) -> dict:
    cond = {"load_before": load, "load_after": 0.1, "runnable_before": 0, "runnable_after": 0}
    return {"model": "m", "error": None, "latency_ms_p50": p50, "throughput_ips": ips,
            "spread": 1.2, "threads": 1, "cores": 2, "noisy": noisy,
            "noisy_reasons": ["spread p90/p50 9 > 1.5"] if noisy else [], **cond}  # fmt: skip


def test_combine_medians_ranges_and_majority() -> None:
    first = run(30.0, 10.0, True, load=2.5) | {"top1": 0.75}
    rows = [first, run(10.0, 30.0, False), {"model": "m", "error": "boom"}, run(20.0, 20.0, True)]
    row = conditions.combine(rows)
    assert (row["latency_ms_p50"], row["latency_ms_p50_range"]) == (20.0, [10.0, 30.0])
    assert (row["throughput_ips"], row["throughput_ips_range"]) == (20.0, [10.0, 30.0])
    assert row["top1"] == 0.75 and row["repeat"] == 3 and row["failed_runs"] == ["boom"]
    assert row["noisy_runs"] == 2 and row["noisy"]  # 2 of 3: the median may be a noisy run
    assert row["load_before"] == 2.5 and row["noisy_reasons"] == [
        "load average 2.5 > 2 cores",
        "batch-1 median 10-30 ms over the 3 runs: 3.0x > 1.5",  # 30 / 10
    ]
    assert [r["latency_ms_p50"] for r in row["runs"]] == [30.0, 10.0, 20.0]
    calm = conditions.combine([run(10.0, 1.0, True), run(12.0, 1.0, False), run(14.0, 1.0, False)])
    assert not calm["noisy"] and calm["noisy_runs"] == 1 and calm["noisy_reasons"] == []
    assert conditions.combine([first]) is first


def test_batch1_median_that_moved_between_runs_is_noisy() -> None:
    """Two runs each quiet by its own account, 20 then 34 ms: the runs disagree by 1.7x."""
    row = conditions.combine([run(20.0, 50.0, False), run(34.0, 29.4, False)])
    why = "batch-1 median 20-34 ms over the 2 runs: 1.7x > 1.5"  # 34 / 20 = 1.7
    assert row["noisy"] and row["noisy_runs"] == 0 and row["noisy_reasons"] == [why]
    assert conditions.describe(row) == f"noisy timings: {why}"
    close = conditions.combine([run(20.0, 50.0, False), run(30.0, 33.3, False)])  # 1.5x: not over
    assert not close["noisy"] and close["noisy_reasons"] == []


def test_combine_takes_the_bound_from_the_medians() -> None:
    """Each run's decode rate and bound are kept; the row's bound is that of its medians."""
    figures = [(60.0, 50.0, 250.0), (40.0, 30.0, 200.0), (50.0, 45.0, 100.0)]  # model, e2e, dec
    rows = []
    for ips, e2e, dec in figures:
        own = 1 / (1 / ips + 1 / dec)  # no workers: decoding and the model take turns
        e2e_figures = {"throughput_e2e_ips": e2e - 5, "throughput_e2e_steady_ips": e2e,
                       "decode_ips": dec, "loader_workers": 0}  # fmt: skip
        derived = {"core_bound_ips": own, "e2e_of_bound": e2e / own}
        rows.append(run(20.0, ips, False) | e2e_figures | derived)
    row = conditions.combine(rows)
    assert (row["decode_ips"], row["decode_ips_range"]) == (200.0, [100.0, 250.0])
    by_hand = round(1 / (1 / 50.0 + 1 / 200.0), 3)  # the medians: 50 model, 200 decoding
    assert row["core_bound_ips"] == by_hand and row["e2e_of_bound"] == 45.0 / by_hand
    assert [r["e2e_of_bound"] for r in row["runs"]] == [r["e2e_of_bound"] for r in rows]
