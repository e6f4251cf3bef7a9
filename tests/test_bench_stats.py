"""Bench statistics, warnings, comparison and formats on hand-made samples (no timing)."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics

import pytest

from agentperf.analysis.compare import (
    SAME,
    compare_pair,
    compare_samples,
    evaluate_gates,
)
from agentperf.bench.calibrate import find_loops
from agentperf.bench.model import BenchSuite, Sample, TargetRecipe
from agentperf.bench.results import build_result
from agentperf.bench.warnings import comparison_warnings, min_p_value
from agentperf.measure.stats import (
    bootstrap_ci,
    mann_whitney_u,
    outlier_indices,
    summarize,
)
from agentperf.report import bench_formats

RECIPE = TargetRecipe(name="k", kind="agent", reference="x:y")


def _samples(times_s: list[float], loops: int = 1000, peak: int | None = 100) -> list[Sample]:
    return [Sample(loops=loops, elapsed_ns=round(t * loops * 1e9), peak_bytes=peak,
                   max_rss_bytes=10_000_000) for t in times_s]


def _result(times_s: list[float], name: str = "k", load: float | None = 0.0,
            peak: int | None = 100):
    recipe = TargetRecipe(name=name, kind="agent", reference="x:y")
    return build_result(recipe, _samples(times_s, peak=peak), loops=1000, load_average=load,
                        cpu_count=2)


# -- descriptive statistics -------------------------------------------------------------

def test_summary_matches_statistics_module_and_hand_values() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
    s = summarize(values)
    assert s.mean == pytest.approx(statistics.fmean(values))
    assert s.median == pytest.approx(statistics.median(values)) == 3.5
    assert s.stdev == pytest.approx(statistics.stdev(values))
    # MAD by hand: |x - 3.5| = 0.5 2.5 0.5 2.5 1.5 5.5 1.5 2.5 1.5 0.5 -> median 1.5
    assert s.mad == pytest.approx(1.5)
    assert (s.min, s.max) == (1.0, 9.0)
    # p95 with linear interpolation: rank 0.95 * 9 = 8.55 between 6 and 9 -> 6 + 0.55 * 3
    assert s.p95 == pytest.approx(7.65)
    assert s.p99 == pytest.approx(6 + 0.91 * 3)
    assert s.cv == pytest.approx(statistics.stdev(values) / statistics.fmean(values))


def test_result_rates_and_ci_come_from_the_samples() -> None:
    times = [10e-6, 11e-6, 10.5e-6, 9.5e-6, 10.2e-6, 10.1e-6]
    result = _result(times)
    assert result.stats.median == pytest.approx(statistics.median(times))
    assert result.ops_per_s == pytest.approx(1 / statistics.median(times))
    low, high = result.ci
    assert min(times) <= low <= result.stats.median <= high <= max(times)
    assert result.ci == bootstrap_ci(times)  # seeded: the same samples, the same interval
    assert result.peak_bytes is not None and result.peak_bytes.median == 100


def test_outliers_by_modified_z_score() -> None:
    values = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95, 30.0]
    assert outlier_indices(values) == [6]
    assert _result([v * 1e-6 for v in values]).outliers == [6]


# -- Mann-Whitney U against published critical values ------------------------------------

def _with_u(counts: list[int], n2: int) -> tuple[list[float], list[float]]:
    """Samples whose U statistic is sum(counts): a_i has counts[i] values of b below it."""
    b = [float(j) for j in range(n2)]
    a = [c - 0.5 + i * 1e-6 for i, c in enumerate(counts)]
    return a, b


@pytest.mark.parametrize(("n", "critical"), [(5, 2), (8, 13), (10, 23), (20, 127)])
def test_mann_whitney_critical_values_two_sided_005(n: int, critical: int) -> None:
    """Tables of the two-sided 5 % critical U: p <= 0.05 at the value, above it at +1."""
    def p_at(u: int) -> float:
        counts = [min(n, u - n * i) if u - n * i > 0 else 0 for i in range(n)]
        a, b = _with_u(counts, n)
        result = mann_whitney_u(a, b)
        assert min(result.u, n * n - result.u) == u
        return result.p_value

    assert p_at(critical) <= 0.05 < p_at(critical + 1)


def test_mann_whitney_exact_hand_values_and_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = _with_u([2, 0, 0, 0, 0], 5)
    # P(U <= 2) for n1 = n2 = 5 is (1 + 1 + 2) / C(10, 5) = 4 / 252; two-sided doubles it
    assert mann_whitney_u(a, b).p_value == pytest.approx(8 / 252)
    assert mann_whitney_u(a, b).exact
    ref = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method="exact")
    assert mann_whitney_u(a, b).p_value == pytest.approx(ref.pvalue)
    tied_a = [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0]
    tied_b = [2.0, 3.0, 3.0, 5.0, 6.0, 6.0, 7.0, 8.0]
    ref = scipy_stats.mannwhitneyu(tied_a, tied_b, alternative="two-sided",
                                   method="asymptotic", use_continuity=True)
    assert mann_whitney_u(tied_a, tied_b).p_value == pytest.approx(ref.pvalue, rel=1e-9)


# -- warnings ------------------------------------------------------------------------------

def _codes(result) -> set[str]:
    return {w.code for w in result.warnings}


def test_warnings_for_noise_outliers_short_samples_busy_machine_and_few_samples() -> None:
    steady = [10e-3 + i * 1e-6 for i in range(12)]
    assert _codes(_result(steady)) == set()
    noisy = [10e-3, 14e-3, 8e-3, 12e-3, 7e-3, 13e-3, 9e-3, 15e-3, 6e-3, 11e-3]
    assert "unstable" in _codes(_result(noisy))
    assert "outliers" in _codes(_result([*steady, 40e-3]))
    short = build_result(RECIPE, _samples([2e-7] * 12, loops=100), loops=100,
                         load_average=0.0, cpu_count=2)
    assert "short-samples" in _codes(short)  # 100 calls of 0.2 us: a 20 us sample
    assert "busy" in _codes(_result(steady, load=4.0))
    assert "busy" not in _codes(_result(steady, load=1.5))
    assert "few-samples" in _codes(_result(steady[:3]))
    message = next(w.message for w in _result(noisy).warnings if w.code == "unstable")
    assert "--samples" in message  # a warning names its fix


def test_drift_warning_when_the_run_changes_speed_halfway() -> None:
    fast = [10e-3 + (i % 3) * 1e-5 for i in range(10)]
    slow = [x * 1.08 for x in fast]
    shifted = _result([*fast, *slow])
    assert "drift" in _codes(shifted)
    message = next(w.message for w in shifted.warnings if w.code == "drift")
    assert "+8%" in message and "--interleave" in message
    assert "drift" in _codes(_result([*slow, *fast]))  # faster later: warming up, or noise gone
    assert "drift" not in _codes(_result([*fast, *fast]))
    # the same two levels mixed through the run are noise, not a shift between halves
    assert "drift" not in _codes(_result([x for pair in zip(fast, slow, strict=True) for x in pair]))
    # a significant but tiny shift (the steady series creeps up by 0.1 %) stays quiet
    assert "drift" not in _codes(_result([10e-3 + i * 1e-6 for i in range(20)]))
    assert "drift" not in _codes(_result([*fast[:4], *slow[:4]]))  # too few to tell


def test_comparison_warns_when_too_few_samples_to_reach_significance() -> None:
    assert min_p_value(5, 5) == pytest.approx(2 / 252)
    assert min_p_value(3, 3) == pytest.approx(0.1)
    assert [w.code for w in comparison_warnings(3, 3, 0.05)] == ["too-few-to-compare"]
    assert [w.code for w in comparison_warnings(6, 6, 0.05)] == ["few-samples"]
    assert comparison_warnings(20, 20, 0.05) == []


# -- comparison and gates ------------------------------------------------------------------

BASE = [100.0 + d for d in (0.3, -0.2, 0.5, -0.4, 0.1, 0.0, -0.1, 0.2, -0.3, 0.4)]


def test_identical_samples_are_no_change_and_pass_every_gate() -> None:
    result = compare_samples(BASE, list(BASE))
    assert result.verdict == SAME
    assert result.ratio == pytest.approx(1.0)
    pair = compare_pair(_result([x * 1e-6 for x in BASE], "a"),
                        _result([x * 1e-6 for x in BASE], "b"))
    gates = evaluate_gates(pair, fail_if_slower_pct=0.0, fail_if_more_memory_pct=0.0)
    assert [g.failed for g in gates] == [False, False]


def test_shifted_samples_are_slower_or_faster_and_gates_need_size_and_significance() -> None:
    slower = compare_samples(BASE, [x * 1.3 for x in BASE])
    assert slower.verdict == "slower"
    assert slower.ratio == pytest.approx(1.3, rel=0.01)
    assert slower.ci_low > 1 and slower.p_value < 0.05
    assert compare_samples(BASE, [x * 0.8 for x in BASE]).verdict == "faster"
    pair = compare_pair(_result([x * 1e-6 for x in BASE], "a"),
                        _result([x * 1.3e-6 for x in BASE], "b"))
    assert evaluate_gates(pair, fail_if_slower_pct=5)[0].failed
    assert not evaluate_gates(pair, fail_if_slower_pct=40)[0].failed
    # a large but not significant difference never fails a gate
    few = compare_pair(_result([1e-6, 1e-6 * 1.01, 0.99e-6], "a"),
                       _result([1.5e-6, 1.4e-6, 1.6e-6], "b"))
    assert few.benchmarks[0].time.verdict == SAME
    assert not evaluate_gates(few, fail_if_slower_pct=5)[0].failed


def test_memory_gate_uses_traced_peaks() -> None:
    base = _result([x * 1e-6 for x in BASE], "a", peak=1000)
    more = _result([x * 1e-6 for x in BASE], "b", peak=1500)
    pair = compare_pair(base, more)
    memory = pair.benchmarks[0].memory
    assert memory is not None and memory.verdict == "more memory"
    assert memory.ratio == pytest.approx(1.5)
    gates = evaluate_gates(pair, fail_if_more_memory_pct=10)
    assert [(g.metric, g.failed) for g in gates] == [("memory", True)]


# -- calibration ---------------------------------------------------------------------------

def test_find_loops_reaches_min_time_for_a_deterministic_clock() -> None:
    tried: list[int] = []

    def one_microsecond_per_call(loops: int) -> int:
        tried.append(loops)
        return loops * 1_000

    loops = find_loops(one_microsecond_per_call, 100_000_000)  # 100 ms
    assert loops * 1_000 >= 100_000_000
    assert loops < 2 * 110_000  # no more than about twice what is needed
    assert tried[0] == 1 and tried == sorted(tried)


# -- formats -------------------------------------------------------------------------------

def _suite() -> BenchSuite:
    a = _result([x * 1e-6 for x in BASE], "alpha")
    b = _result([x * 2e-6 for x in BASE], "beta", peak=None)
    return BenchSuite(benchmarks=[a, b], environment={"cpu_count": 2}, options={},
                      created_at="2026-01-01T00:00:00+00:00", agentperf_version="0.1.0")


def test_markdown_csv_gab_and_histogram() -> None:
    suite = _suite()
    md = bench_formats.to_markdown(suite)
    assert md.splitlines()[0].startswith("| Benchmark | Median")
    assert "| `alpha` | 100 us |" in md
    rows = list(csv.DictReader(io.StringIO(bench_formats.to_csv(suite))))
    assert [r["name"] for r in rows] == ["alpha", "beta"]
    assert float(rows[1]["median_s"]) == pytest.approx(statistics.median(BASE) * 2e-6)
    assert rows[1]["peak_bytes_median"] == ""
    gab = json.loads(bench_formats.to_github_action_benchmark(suite))
    assert {"name", "unit", "value"} <= set(gab[0])
    assert gab[0]["unit"] == "us" and gab[0]["value"] == pytest.approx(statistics.median(BASE))
    assert [e["name"] for e in gab] == ["alpha", "alpha - peak memory", "beta"]
    lines = bench_formats.histogram_lines([1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == 6
    assert lines[-1].endswith(" 3") and "#" in lines[-1]
    assert bench_formats.format_time(1.234e-6) == "1.23 us"
    assert bench_formats.format_time(0.5e-9 * 3) == "1.5 ns"
    assert not math.isnan(suite.benchmarks[0].ci[0])
