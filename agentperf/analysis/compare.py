"""Baseline comparison: is the new run faster, slower, or not distinguishable?

The verdict comes from the Mann-Whitney U test on the raw samples (as asv does): it
assumes no distribution shape, so the outliers that a busy machine produces do not
fool it. The ratio of medians and its bootstrap 95 % confidence interval say how
large the change is. A gate asks for more than significance: ``--fail-if-slower 5%``
fails only when the test calls the run slower *and* the whole confidence interval
lies above +5 %, i.e. the slowdown is significantly larger than the tolerance. So CI
fails on real regressions, not on noise and not on changes too small to matter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentperf.bench.environment import environment_differences
from agentperf.bench.model import BenchmarkResult, BenchSuite, BenchWarning
from agentperf.bench.warnings import comparison_warnings, environment_warning
from agentperf.measure.stats import mann_whitney_u, percentile, ratio_ci

DEFAULT_ALPHA = 0.05
SAME = "no significant change"
TIME_VERDICTS = ("faster", "slower")
MEMORY_VERDICTS = ("less memory", "more memory")


@dataclass(frozen=True)
class MetricComparison:
    """New against base for one metric; ``ratio`` is new/base of the medians."""

    base_median: float
    new_median: float
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1) * 100

    @property
    def significant(self) -> bool:
        return self.verdict != SAME


@dataclass
class BenchmarkComparison:
    name: str
    base_name: str
    new_name: str
    base_count: int
    new_count: int
    time: MetricComparison
    memory: MetricComparison | None
    warnings: list[BenchWarning] = field(default_factory=list)


@dataclass
class SuiteComparison:
    """Benchmark-by-benchmark comparison of two suites (or an interleaved pair)."""

    alpha: float
    benchmarks: list[BenchmarkComparison]
    only_in_base: list[str] = field(default_factory=list)
    only_in_new: list[str] = field(default_factory=list)
    environment_differences: list[str] = field(default_factory=list)
    warnings: list[BenchWarning] = field(default_factory=list)
    base_source: str | None = None
    new_source: str | None = None


@dataclass(frozen=True)
class GateResult:
    """One ``--fail-if-slower`` / ``--fail-if-more-memory`` check of one benchmark."""

    benchmark: str
    metric: str  # "time" or "memory"
    threshold_pct: float
    change_pct: float
    lower_bound_pct: float  # the change at the low end of the ratio's 95 % CI
    verdict: str
    failed: bool

    @property
    def message(self) -> str:
        what = "slower" if self.metric == "time" else "more memory"
        if self.failed:
            return (f"{self.benchmark}: {self.change_pct:+.1f}% ({self.verdict}), {what} "
                    f"by more than {self.threshold_pct:g}% with 95% confidence")
        return (f"{self.benchmark}: {self.change_pct:+.1f}% ({self.verdict}, 95% CI from "
                f"{self.lower_bound_pct:+.1f}%) - within the {self.threshold_pct:g}% gate")


def compare_samples(base: Sequence[float], new: Sequence[float], *, alpha: float = DEFAULT_ALPHA,
                    verdicts: tuple[str, str] = TIME_VERDICTS) -> MetricComparison:
    """Compare two sample sets; ``verdicts`` names (smaller, larger) for the metric."""
    test = mann_whitney_u(base, new)
    base_median = percentile(base, 50)
    new_median = percentile(new, 50)
    if base_median > 0:
        ratio, low, high = ratio_ci(base, new) if min(base) > 0 else \
            (new_median / base_median, math.nan, math.nan)
    else:
        ratio = math.inf if new_median > 0 else 1.0
        low = high = math.nan
    verdict = SAME
    if test.p_value < alpha and ratio != 1:
        verdict = verdicts[1] if ratio > 1 else verdicts[0]
    return MetricComparison(base_median=base_median, new_median=new_median, ratio=ratio,
                            ci_low=low, ci_high=high, p_value=test.p_value, verdict=verdict)


def compare_results(base: BenchmarkResult, new: BenchmarkResult, *,
                    alpha: float = DEFAULT_ALPHA, name: str | None = None) -> BenchmarkComparison:
    label = name or (base.name if base.name == new.name else f"{base.name} -> {new.name}")
    time_cmp = compare_samples(base.times, new.times, alpha=alpha)
    base_peaks, new_peaks = base.peaks, new.peaks
    memory = compare_samples(base_peaks, new_peaks, alpha=alpha, verdicts=MEMORY_VERDICTS) \
        if base_peaks and new_peaks else None
    return BenchmarkComparison(
        name=label, base_name=base.name, new_name=new.name, base_count=len(base.samples),
        new_count=len(new.samples), time=time_cmp, memory=memory,
        warnings=comparison_warnings(len(base.samples), len(new.samples), alpha))


def compare_suites(base: BenchSuite, new: BenchSuite, *,
                   alpha: float = DEFAULT_ALPHA) -> SuiteComparison:
    """Pair benchmarks by name; report the ones only one side has."""
    base_by_name, new_by_name = base.by_name(), new.by_name()
    pairs = [compare_results(base_by_name[n], new_by_name[n], alpha=alpha)
             for n in base_by_name if n in new_by_name]
    differences = environment_differences(base.environment, new.environment)
    return SuiteComparison(
        alpha=alpha, benchmarks=pairs,
        only_in_base=[n for n in base_by_name if n not in new_by_name],
        only_in_new=[n for n in new_by_name if n not in base_by_name],
        environment_differences=differences,
        warnings=_suite_warnings(pairs, differences),
        base_source=base.source, new_source=new.source)


def compare_pair(base: BenchmarkResult, new: BenchmarkResult, *,
                 alpha: float = DEFAULT_ALPHA) -> SuiteComparison:
    """An interleaved A/B run: one environment, one comparison."""
    pair = compare_results(base, new, alpha=alpha)
    return SuiteComparison(alpha=alpha, benchmarks=[pair], warnings=_suite_warnings([pair], []))


def _suite_warnings(pairs: Sequence[BenchmarkComparison],
                    differences: Sequence[str]) -> list[BenchWarning]:
    """One line per distinct warning, naming the benchmarks it applies to."""
    names: dict[BenchWarning, list[str]] = {}
    for pair in pairs:
        for warning in pair.warnings:
            names.setdefault(warning, []).append(pair.name)
    found = [BenchWarning(w.code, f"{_which(n, len(pairs))}: {w.message}")
             for w, n in names.items()]
    env = environment_warning(differences)
    return [env, *found] if env else found


def _which(names: list[str], total: int) -> str:
    if len(names) == total and total > 1:
        return "all benchmarks"
    return ", ".join(names)


def evaluate_gates(comparison: SuiteComparison, *, fail_if_slower_pct: float | None = None,
                   fail_if_more_memory_pct: float | None = None) -> list[GateResult]:
    """Fail a benchmark only when it is significantly worse by more than the tolerance."""
    gates: list[GateResult] = []
    for pair in comparison.benchmarks:
        if fail_if_slower_pct is not None:
            gates.append(_gate(pair.name, "time", pair.time, fail_if_slower_pct, "slower"))
        if fail_if_more_memory_pct is not None and pair.memory is not None:
            gates.append(_gate(pair.name, "memory", pair.memory, fail_if_more_memory_pct,
                               "more memory"))
    return gates


def _gate(name: str, metric: str, result: MetricComparison, threshold: float,
          worse: str) -> GateResult:
    bound = result.ratio if math.isnan(result.ci_low) else result.ci_low
    failed = result.verdict == worse and (bound - 1) * 100 > threshold
    return GateResult(benchmark=name, metric=metric, threshold_pct=threshold,
                      change_pct=result.change_pct, lower_bound_pct=(bound - 1) * 100,
                      verdict=result.verdict, failed=failed)

