"""Bench statistics, warnings, comparison and formats on hand-made samples (no timing)."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from agentperf.analysis.compare import (
    INCONCLUSIVE,
    SAME,
    SuiteComparison,
    compare_pair,
    compare_results,
    compare_samples,
    compare_suites,
    evaluate_gates,
)
from agentperf.bench.baseline import append_run, load_suite, save_suite
from agentperf.bench.calibrate import find_loops
from agentperf.bench.model import BenchmarkResult, BenchSuite, Sample, TargetRecipe
from agentperf.bench.results import build_result
from agentperf.bench.warnings import comparison_warnings
from agentperf.measure.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    log_ratio_test,
    mann_whitney_u,
    outlier_indices,
    paired_log_ratio_test,
    summarize,
    t_quantile,
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


def test_comparison_warns_when_few_samples() -> None:
    assert [w.code for w in comparison_warnings(6, 6)] == ["few-samples"]
    assert comparison_warnings(20, 20) == []


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
    few = compare_pair(_result([1e-6, 1.6e-6, 0.7e-6], "a"),
                       _result([1.5e-6, 1.4e-6, 1.9e-6], "b"))
    assert few.benchmarks[0].time.verdict == SAME
    assert few.benchmarks[0].time.ci_low < 1 < few.benchmarks[0].time.ci_high
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
    assert md.splitlines()[0].startswith("| Benchmark | Time | 95% CI | Median")
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
    assert bench_formats.format_time(0.5e-9 * 3) == "1.50 ns"
    assert not math.isnan(suite.benchmarks[0].ci[0])


# -- the unit of independence: one procedure for verdict and CI ---------------------------

def _clustered(samples: list[list[float]], name: str = "k", run: int = 0,
               load: float = 0.0) -> BenchmarkResult:
    """A result whose samples come from worker processes: one inner list per process."""
    taken = [replace(s, process=p, run=run) for p, times in enumerate(samples)
             for s in _samples(times)]
    return build_result(TargetRecipe(name=name, kind="agent", reference="x:y"), taken,
                        loops=1000, load_average=load, cpu_count=2)


def test_log_ratio_ci_and_p_match_a_hand_computed_welch_case() -> None:
    # logs: base 0, 0.1, 0.2 (mean 0.1, var 0.01); new 0.3, 0.4, 0.5 (mean 0.4, var 0.01)
    base = [math.exp(x) for x in (0.0, 0.1, 0.2)]
    new = [math.exp(x) for x in (0.3, 0.4, 0.5)]
    result = log_ratio_test([math.log(v) for v in base], [math.log(v) for v in new])
    se = math.sqrt(0.01 / 3 + 0.01 / 3)
    assert result.df == pytest.approx(4)
    assert result.ratio == pytest.approx(math.exp(0.3))
    half = 2.7764451051977987 * se  # t(0.975, 4)
    assert result.ci_low == pytest.approx(math.exp(0.3 - half), rel=1e-9)
    assert result.ci_high == pytest.approx(math.exp(0.3 + half), rel=1e-9)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764451051977987, rel=1e-9)


def test_welch_paired_and_t_quantile_match_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    a = [0.01, 0.12, -0.05, 0.3, 0.07, 0.02]
    b = [0.2, 0.25, 0.1, 0.41, 0.18]
    ref = scipy_stats.ttest_ind(b, a, equal_var=False)
    mine = log_ratio_test(a, b)
    assert mine.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert mine.df == pytest.approx(ref.df, rel=1e-9)
    ci = ref.confidence_interval(0.9)
    low, high = log_ratio_test(a, b, confidence=0.9).ci_low, log_ratio_test(
        a, b, confidence=0.9).ci_high
    assert (math.log(low), math.log(high)) == pytest.approx((ci.low, ci.high), rel=1e-9)
    diffs = [0.03, -0.01, 0.05, 0.02, 0.04, 0.0, 0.06]
    paired = scipy_stats.ttest_1samp(diffs, 0.0)
    assert paired_log_ratio_test(diffs).p_value == pytest.approx(paired.pvalue, rel=1e-9)
    for q, df in ((0.975, 1), (0.995, 3.5), (0.9, 40)):
        assert t_quantile(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), rel=1e-9)


def _worker_means(workers: list[list[float]]) -> list[float]:
    return [statistics.fmean(math.log(x) for x in worker) for worker in workers]


def test_seeded_simulation_of_clustered_samples() -> None:
    """10 workers x 5 samples, half the variance between workers, per-sample CV 5 %.

    The per-worker test keeps false alarms at the nominal rate (seed 7: 48 of 1,000
    A/A trials, 4.8 %) and detects a 10 % shift in all 1,000 trials; treating the 50
    samples as independent, as the old verdict did, calls 266 of the 1,000 A/A
    trials (26.6 %) significant.
    """
    rng = random.Random(7)
    sd = 0.05 * math.sqrt(0.5)

    def run(shift: float) -> list[list[float]]:
        return [[math.exp(w + rng.gauss(0, sd) + shift) * 1e-5 for _ in range(5)]
                for w in (rng.gauss(0, sd) for _ in range(10))]

    def flat(workers: list[list[float]]) -> list[float]:
        return [math.log(x) for worker in workers for x in worker]

    false_alarms = flat_alarms = 0
    for _ in range(1000):
        base, new = run(0), run(0)
        false_alarms += log_ratio_test(_worker_means(base), _worker_means(new)).p_value < 0.05
        flat_alarms += log_ratio_test(flat(base), flat(new)).p_value < 0.05
    assert false_alarms <= 60
    assert flat_alarms > 150  # what the per-worker method exists to prevent
    detected = sum(log_ratio_test(_worker_means(run(0)), _worker_means(run(math.log(1.1))))
                   .p_value < 0.05 for _ in range(1000))
    assert detected >= 800


def test_comparison_of_worker_samples_is_the_per_worker_test() -> None:
    rng = random.Random(11)
    base = [[rng.lognormvariate(0, 0.03) * 1e-5 for _ in range(3)] for _ in range(6)]
    new = [[rng.lognormvariate(0.02, 0.03) * 1e-5 for _ in range(3)] for _ in range(5)]
    compared = compare_results(_clustered(base, "a"), _clustered(new, "a")).time
    direct = log_ratio_test(_worker_means(base), _worker_means(new))
    assert compared.p_value == pytest.approx(direct.p_value, rel=1e-6)
    assert compared.ratio == pytest.approx(direct.ratio, rel=1e-6)
    assert "6 vs 5 processes" in compared.method


def test_one_process_per_side_says_so_and_a_single_run_baseline_says_what_it_cannot_know(
        ) -> None:
    one = compare_results(_result([x * 1e-6 for x in BASE], "a"),
                          _result([x * 1e-6 for x in BASE], "a"))
    codes = [w.code for w in one.warnings]
    assert "one-process" in codes and "single-run-baseline" in codes
    assert "samples of one process per side" in one.time.method
    workers = compare_results(_clustered([[1e-5] * 2, [1.1e-5] * 2, [1.05e-5] * 2]),
                              _clustered([[1e-5] * 2, [1.1e-5] * 2, [1.05e-5] * 2]))
    assert "one-process" not in [w.code for w in workers.warnings]
    assert "3 vs 3 processes" in workers.time.method


def test_run_to_run_spread_of_an_appended_baseline_floors_the_error() -> None:
    # three baseline runs that differ by +-4 %, each tight inside: a new run 3 % slower
    # than their mean is not significant, although its samples clearly differ from each
    base = append_run(append_run(_suite_of(_result([x * 1e-6 for x in BASE]))
                                 , _suite_of(_result([x * 1.04e-6 for x in BASE]))),
                      _suite_of(_result([x * 0.96e-6 for x in BASE])))
    assert sorted({s.run for s in base.benchmarks[0].samples}) == [0, 1, 2]
    new = _result([x * 1.03e-6 for x in BASE])
    floored = compare_results(base.benchmarks[0], new)
    assert floored.time.verdict == SAME
    assert "run-to-run spread" in floored.time.method
    assert "single-run-baseline" not in [w.code for w in floored.warnings]
    # one run against one: no floor, and it says so; the 3 % shift is within the 5 %
    # a single-run baseline does not call, and is called once that allowance is 0
    alone = compare_results(_result([x * 1e-6 for x in BASE]), new)
    assert alone.time.verdict == SAME and "--run-noise" in alone.time.reason
    assert alone.time.ci_low > 1  # the test alone would have called it
    assert "single-run-baseline" in [w.code for w in alone.warnings]
    assert compare_results(_result([x * 1e-6 for x in BASE]), new,
                           run_noise=0).time.verdict == "slower"


def _suite_of(result: BenchmarkResult) -> BenchSuite:
    return BenchSuite(benchmarks=[result], environment={"cpu_count": 2}, options={},
                      created_at="", agentperf_version="")


def test_an_unstable_run_turns_a_verdict_inconclusive_and_warnings_are_carried() -> None:
    noisy = [x * 1e-6 * (1.4 if i % 3 == 0 else 1.0) for i, x in enumerate(BASE * 2)]
    steady = _result([x * 1e-6 for x in BASE * 2])
    slower = compare_results(steady, _result([x * 1.12 for x in noisy]))
    assert slower.time.p_value < 0.05 and slower.time.verdict == INCONCLUSIVE
    assert "this run is unstable (CV 17%)" in slower.time.reason
    # a change whose whole interval lies beyond the run's own spread is still called
    assert compare_results(steady, _result([x * 2 for x in noisy])).time.verdict == "slower"
    assert any(w.message.startswith("this run: unstable") for w in slower.warnings)
    gate = evaluate_gates(SuiteComparison(alpha=0.05, benchmarks=[slower]),
                          fail_if_slower_pct=5)[0]
    assert not gate.failed and "inconclusive" in gate.message
    # a busy machine (load 4 on 2 CPUs) can slow a run by up to 100 %
    quiet = _result([x * 1e-6 for x in BASE * 2])
    busy = compare_results(quiet, _result([x * 1.5e-6 for x in BASE * 2], load=4.0)).time
    assert busy.verdict == INCONCLUSIVE and "busy machine (load 4.0 on 2 CPUs" in busy.reason
    assert compare_results(quiet, _result([x * 3e-6 for x in BASE * 2], load=4.0)
                           ).time.verdict == "slower"
    # the same noise with no significant difference stays "no significant change"
    same = compare_results(_result(noisy), _result(noisy))
    assert same.time.verdict == SAME


def test_benjamini_hochberg_rejections_and_matching_interval_level() -> None:
    rejected, level = benjamini_hochberg([0.01, 0.04, 0.03, 0.2], 0.05)
    # sorted 0.01 <= 0.0125, 0.03 <= 0.025 no, 0.04 <= 0.0375 no -> one rejection
    assert rejected == [True, False, False, False]
    assert level == pytest.approx(1 - 0.05 / 4)
    rejected, level = benjamini_hochberg([0.001, 0.02, 0.03, 0.04], 0.05)
    assert rejected == [True, True, True, True] and level == pytest.approx(0.95)
    # in a suite, a benchmark significant alone at 0.05 is not once four are compared
    pairs = [_result([x * 1e-6 for x in BASE], n) for n in ("a", "b", "c", "d")]
    shifted = [_result([x * f * 1e-6 for x in BASE], n)
               for n, f in (("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 1.003))]
    alone = compare_results(pairs[3], shifted[3], run_noise=0)
    assert alone.time.p_value < 0.05 and alone.time.verdict == "slower"
    suite = compare_suites(_suite_many(pairs), _suite_many(shifted), run_noise=0)
    d = suite.benchmarks[3].time
    assert d.verdict == SAME and d.ci_low < 1 < d.ci_high
    assert d.confidence == pytest.approx(1 - 0.05 / 4)
    assert "fdr" in [w.code for w in suite.warnings]


def _suite_many(results: list[BenchmarkResult]) -> BenchSuite:
    return BenchSuite(benchmarks=results, environment={"cpu_count": 2}, options={},
                      created_at="", agentperf_version="")


def test_verdict_and_ci_never_contradict() -> None:
    rng = random.Random(3)
    for _ in range(80):
        base = [rng.lognormvariate(0, 0.1) * 1e-5 for _ in range(12)]
        new = [rng.lognormvariate(rng.choice((0, 0.05)), 0.1) * 1e-5 for _ in range(12)]
        t = compare_results(_result(base), _result(new), run_noise=0).time
        assert (t.verdict != SAME) == (not t.ci_low <= 1 <= t.ci_high)
        # with a run-to-run allowance, a change is called exactly when the interval
        # clears it, and the interval itself is the same
        banded = compare_results(_result(base), _result(new), run_noise=0.05).time
        assert (banded.ci_low, banded.ci_high) == (t.ci_low, t.ci_high)
        cleared = t.ci_low > 1.05 or t.ci_high < 1 / 1.05
        called = ("faster", "slower")
        assert (banded.verdict in called) == (cleared and t.verdict in called)


def test_interleaved_pairs_per_round_and_per_worker() -> None:
    # a common per-round disturbance cancels in the pairing: 2 % slower every round
    rounds = [1e-5 * (1 + 0.05 * (i % 4)) for i in range(12)]
    per_round = compare_pair(_result(rounds, "a"), _result([x * 1.02 for x in rounds], "b"))
    t = per_round.benchmarks[0].time
    assert t.verdict == "slower" and "12 rounds" in t.method
    assert t.ratio == pytest.approx(1.02)
    workers = compare_pair(_clustered([[r] * 2 for r in rounds[:6]], "a"),
                           _clustered([[r * 1.02] * 2 for r in rounds[:6]], "b"))
    assert "6 worker processes, paired" in workers.benchmarks[0].time.method
    unpaired = compare_results(_result(rounds, "a"), _result([x * 1.02 for x in rounds], "b"))
    assert unpaired.time.verdict == SAME  # the unpaired test cannot see through the noise


def test_too_few_observations_are_inconclusive_and_never_fail_or_pass_silently() -> None:
    one = compare_results(_result([1e-6]), _result([2e-6]))
    assert one.time.verdict == INCONCLUSIVE and "too few" in one.time.reason
    assert math.isnan(one.time.p_value) and one.time.ratio == pytest.approx(2)
    gate = evaluate_gates(SuiteComparison(alpha=0.05, benchmarks=[one]),
                          fail_if_slower_pct=5)[0]
    assert not gate.failed and "cannot judge" in gate.message
    assert bench_formats.format_p(one.time.p_value) == "n/a"


def test_formats_never_use_exponents_and_keep_asymmetry() -> None:
    assert bench_formats.format_time(999.7e-6) == "1.00 ms"
    assert bench_formats.format_time(1000e-6) == "1.00 ms"
    assert bench_formats.format_interval(306e-6, 1.6e-3) == "0.306-1.60 ms"
    assert bench_formats.format_rate(999_700, "call") == "1.00M call/s"
    assert bench_formats.format_rate(1_000, "call") == "1.00k call/s"
    assert bench_formats.format_p(3.2e-7) == "<0.0001"
    for value in (1e-12, 3e-9, 5e5, 123456.0):
        assert "e" not in bench_formats.format_time(value).split()[0]
    result = _result([1e-6] * 5 + [1.2e-6] * 10 + [3e-6] * 5)
    entry = json.loads(bench_formats.to_github_action_benchmark(_suite_of(result)))[0]
    low, high = result.ci
    median = result.stats.median
    assert float(entry["range"].removeprefix("± ")) == pytest.approx(
        max(median - low, high - median) * 1e6, rel=1e-3)
    assert "95% CI" in entry["extra"]


def _workers(rng: random.Random, shift: float = 0.0, worker_sd: float = 0.05,
             count: int = 10, step: float = 0.0) -> list[list[float]]:
    """``count`` workers x 2 samples, as a default run: the later half ``step`` slower."""
    workers = []
    for w in range(count):
        level = rng.gauss(shift + (step if w >= count // 2 else 0.0), worker_sd)
        workers.append([math.exp(level + rng.gauss(0, 0.01)) * 1e-4 for _ in range(2)])
    return workers


def test_drift_is_judged_worker_by_worker() -> None:
    """Workers that differ by 5 % (sd) are not drift; a 15 % step between halves is.

    Seeded sweep: 300 runs of 10 workers x 2 samples with no trend; the per-worker test
    warns in 4 (1.3 %, at its p < 0.01 and 3 % minimum); the old sample-level
    Mann-Whitney called 20 of them (6.7 %) drifted, turning their verdicts inconclusive.
    """
    rng = random.Random(5)
    steady = [_clustered(_workers(rng)) for _ in range(300)]
    drifted = sum("drift" in {w.code for w in r.warnings} for r in steady)
    samplewise = sum(_sample_drift([x for w in r.samples for x in [w.seconds_per_call]])
                     for r in steady)
    assert drifted <= 6 and samplewise >= 3 * max(drifted, 1)
    stepped = [_clustered(_workers(rng, step=0.15, worker_sd=0.02)) for _ in range(20)]
    assert sum("drift" in {w.code for w in r.warnings} for r in stepped) >= 18
    message = next(w.message for w in stepped[0].warnings if w.code == "drift")
    assert "Welch t on worker means" in message


def _rescaled(result: BenchmarkResult, factor: float, name: str,
              load: float = 0.0) -> BenchmarkResult:
    """``result``'s workers with every sample ``factor`` times slower: the B side of an
    interleaved pair, each worker's samples taken beside A's."""
    workers: dict[int, list[float]] = {}
    for sample in result.samples:
        workers.setdefault(sample.process, []).append(sample.seconds_per_call * factor)
    return _clustered(list(workers.values()), name, load=load)


def _sample_drift(times: list[float]) -> bool:
    half = len(times) // 2
    first, second = times[:half], times[-half:]
    shift = statistics.median(second) / statistics.median(first) - 1
    return abs(shift) > 0.03 and mann_whitney_u(first, second).p_value < 0.01


def test_what_the_test_already_counts_does_not_make_a_verdict_inconclusive() -> None:
    rng = random.Random(8)
    # worker spread (CV ~ 15 %: "unstable") is in the per-worker test's error already
    base = _clustered(_workers(rng, worker_sd=0.15))
    slower = _clustered(_workers(rng, shift=math.log(1.3), worker_sd=0.15))
    assert "unstable" in {w.code for w in base.warnings}
    compared = compare_results(base, slower).time
    assert compared.verdict == "slower" and not compared.reason
    # a paired comparison sees through a drifted, busy run: both sides lived through it
    a = _clustered(_workers(rng, step=0.15, worker_sd=0.01), "a")
    b = _rescaled(a, 1.10, "b", load=5.0)
    assert {"drift", "busy"} <= {w.code for w in b.warnings}
    assert compare_pair(a, b).benchmarks[0].time.verdict == "slower"
    # unpaired, the same drift and load are what the test cannot see
    assert compare_results(a, b).time.verdict == INCONCLUSIVE


def test_a_drifted_run_bounds_the_verdict_by_its_shift_not_by_infinity() -> None:
    rng = random.Random(9)
    base = _clustered(_workers(rng, worker_sd=0.01))
    drifted = _clustered(_workers(rng, shift=math.log(3), worker_sd=0.01, step=0.12))
    assert "drift" in {w.code for w in drifted.warnings}
    far = compare_results(base, drifted).time
    assert far.verdict == "slower" and far.ci_low > 1.12
    near = compare_results(base, _clustered(_workers(rng, shift=0.08, worker_sd=0.01,
                                                     step=0.12))).time
    assert near.verdict == INCONCLUSIVE and "this run drifted (1" in near.reason


def test_run_noise_is_what_a_single_run_baseline_does_not_call() -> None:
    rng = random.Random(10)
    base = _clustered(_workers(rng, worker_sd=0.01))
    for shift, default_verdict in ((0.03, SAME), (0.12, "slower"), (-0.12, "faster")):
        new = _clustered(_workers(rng, shift=shift, worker_sd=0.01))
        alone = compare_results(base, new, run_noise=0).time
        assert alone.verdict != SAME  # the within-run test sees every one of them
        banded = compare_results(base, new).time
        assert banded.verdict == default_verdict
        assert ("--run-noise" in banded.reason) == (default_verdict == SAME)
    # several baseline runs measure the spread instead: no allowance then
    runs = _suite_of(base)
    for _ in range(2):  # append_run numbers the runs
        runs = append_run(runs, _suite_of(_clustered(_workers(rng, worker_sd=0.01))))
    measured = compare_suites(runs, _suite_of(_clustered(_workers(rng, shift=0.03,
                                                                  worker_sd=0.01))))
    assert measured.run_noise == 0 and "--run-noise" not in measured.benchmarks[0].time.reason
    single = compare_suites(_suite_of(base), _suite_of(base), run_noise=0.07)
    assert single.run_noise == 0.07
    # an interleaved pair shares one run: no allowance
    a = _clustered(_workers(rng, worker_sd=0.01), "a")
    b = _rescaled(a, 1.03, "b")
    assert compare_pair(a, b).benchmarks[0].time.verdict == "slower"


def test_other_programs_cpu_makes_a_run_busy_whatever_the_load_average_says(
        tmp_path: Path) -> None:
    steady = [1e-4 * (1 + 0.002 * (i % 5)) for i in range(20)]
    recipe = TargetRecipe(name="k", kind="agent", reference="x:y")

    def run(others: float | None, load: float = 1.0) -> BenchmarkResult:
        return build_result(recipe, _samples(steady), loops=1000, load_average=load,
                            cpu_count=2, others_cpu=others)

    # one program on the other vCPU at load 1.2: the load rule saw nothing
    assert "busy" not in _codes(run(None, load=1.2))
    busy = run(0.9, load=1.2)
    message = next(w.message for w in busy.warnings if w.code == "busy")
    assert "other programs used 0.9 of 2 CPUs: up to 90% slower" in message
    # measured and quiet overrules a high load average (the load lags by a minute)
    assert "busy" not in _codes(run(0.1, load=4.0))
    slower = compare_results(run(0.0), build_result(
        recipe, _samples([x * 1.3 for x in steady]), loops=1000, load_average=1.2,
        cpu_count=2, others_cpu=0.9)).time
    assert slower.verdict == INCONCLUSIVE and "other programs used 0.9" in slower.reason
    assert compare_results(run(0.0), build_result(
        recipe, _samples([x * 2.5 for x in steady]), loops=1000, load_average=1.2,
        cpu_count=2, others_cpu=0.9)).time.verdict == "slower"
    # a saved baseline keeps the reading, and with it the warning
    save_suite(_suite_of(busy), tmp_path / "busy.json")
    loaded = load_suite(tmp_path / "busy.json").benchmarks[0]
    assert loaded.others_cpu == 0.9 and "busy" in _codes(loaded)


def test_a_run_of_workers_reports_the_geometric_mean_of_worker_means_and_its_t_interval(
        ) -> None:
    # ten workers in three speed modes, as workers of a 0.7 us function drew them
    modes = [690e-9] * 3 + [770e-9] * 4 + [990e-9] * 3
    workers = [[m * (1 + 0.002 * i) for i in range(2)] for m in modes]
    result = _clustered(workers)
    logs = [statistics.fmean(math.log(x) for x in w) for w in workers]
    half = 2.2622 * statistics.stdev(logs) / math.sqrt(10)  # t(0.975, 9 df) = 2.2622
    mean = statistics.fmean(logs)
    assert result.center == pytest.approx(math.exp(mean))
    assert result.ci == pytest.approx((math.exp(mean - half), math.exp(mean + half)), rel=1e-4)
    assert result.center_method == "geometric mean of 10 worker means"
    assert result.ops_per_s == pytest.approx(1 / result.center)
    # the comparison's base and new values are the same centres, and the ratio theirs
    slower = _clustered([[x * 1.1 for x in w] for w in workers])
    compared = compare_results(result, slower, run_noise=0).time
    assert (compared.base_value, compared.new_value) == pytest.approx(
        (result.center, slower.center))
    assert compared.ratio == pytest.approx(slower.center / result.center)
    # one process: the median and its bootstrap interval, said so everywhere
    alone = _result([x * 1e-6 for x in BASE])
    assert alone.center == pytest.approx(statistics.median(BASE) * 1e-6)
    assert alone.center_method == "median"
    row = next(csv.DictReader(io.StringIO(bench_formats.to_csv(_suite_of(result)))))
    assert float(row["time_s"]) == pytest.approx(result.center)
    assert row["time_of"] == "geometric mean of 10 worker means"
    assert "Time: geometric mean of 10 worker means." in bench_formats.to_markdown(
        _suite_of(result))
