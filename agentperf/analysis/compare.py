"""Baseline comparison: is the new run faster, slower, or not distinguishable?

The unit of independence is the process. Samples taken in one worker process share
that process's speed (memory layout, what ran before, the machine's state at that
time), so they are not independent draws: a test that treats them as such calls
unchanged code "slower". Each worker process's mean log time is one observation;
Welch's t test on those gives the ratio of geometric means, its confidence interval
and the p-value from one estimate and one standard error, so the verdict and the CI
can never contradict each other. With one process per side (``--processes 0``) the
samples are the observations and the comparison says the verdict rests on one
process; a baseline that holds several runs (``--save FILE --append``) adds their
run-to-run spread as a floor under the standard error, and a single-run baseline,
which cannot know that spread, does not call a change whose interval reaches within
``run_noise`` (5 %). An interleaved pair is paired: per worker, or per round, log
ratios, and needs neither.

Many benchmarks at once are judged with Benjamini-Hochberg at false-discovery rate
``alpha``, with intervals at the matching level. A gate asks for more than
significance: ``--fail-if-slower 5%`` fails only when the run is called slower *and*
the whole interval lies above +5 %. A significant change in a run or baseline that
is itself unstable in a way the test does not count (drift, a busy machine, or a
noisy single process) is "inconclusive", never "faster" or "slower", unless its whole
interval lies beyond that run's own spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentperf.analysis.verdict import (
    DEFAULT_ALPHA,
    DEFAULT_RUN_NOISE,
    INCONCLUSIVE,
    MEMORY_VERDICTS,
    SAME,
    TIME_VERDICTS,
    MetricComparison,
    MetricTest,
    compare_samples,
    decide,
    paired_test,
    unpaired_test,
    unstable_reason,
)
from agentperf.bench.environment import environment_differences
from agentperf.bench.model import BenchmarkResult, BenchSuite, BenchWarning, Sample
from agentperf.bench.warnings import comparison_warnings, environment_warning
from agentperf.measure.stats import benjamini_hochberg

__all__ = ["DEFAULT_ALPHA", "DEFAULT_RUN_NOISE", "INCONCLUSIVE", "MEMORY_VERDICTS", "SAME",
           "TIME_VERDICTS", "BenchmarkComparison", "GateResult", "MetricComparison",
           "SuiteComparison", "compare_pair", "compare_results", "compare_samples",
           "compare_suites", "evaluate_gates"]


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
    run_noise: float = 0.0  # the allowance a single-run baseline used (0 when none applies)


@dataclass(frozen=True)
class GateResult:
    """One ``--fail-if-slower`` / ``--fail-if-more-memory`` check of one benchmark."""

    benchmark: str
    metric: str  # "time" or "memory"
    threshold_pct: float
    change_pct: float
    lower_bound_pct: float  # the change at the low end of the ratio's CI
    verdict: str
    failed: bool
    confidence: float = 0.95
    reason: str = ""

    @property
    def message(self) -> str:
        what = "slower" if self.metric == "time" else "more memory"
        level = f"{self.confidence * 100:.4g}%"
        if self.failed:
            return (f"{self.benchmark}: {self.change_pct:+.1f}% ({self.verdict}), {what} "
                    f"by more than {self.threshold_pct:g}% with {level} confidence")
        if self.verdict == INCONCLUSIVE:
            return (f"{self.benchmark}: {self.change_pct:+.1f}% (inconclusive: "
                    f"{self.reason}) - the {self.threshold_pct:g}% gate cannot judge it")
        why = f": {self.reason}" if self.reason else ""
        return (f"{self.benchmark}: {self.change_pct:+.1f}% ({self.verdict}, {level} CI "
                f"from {self.lower_bound_pct:+.1f}%{why}) - within the "
                f"{self.threshold_pct:g}% gate")


def _time(sample: Sample) -> float:
    return sample.seconds_per_call


def _peak(sample: Sample) -> float:
    return float(sample.peak_bytes or 0)


def _tests(base: BenchmarkResult, new: BenchmarkResult,
           paired: bool) -> tuple[MetricTest, MetricTest | None]:
    memory_ok = base.peaks is not None and new.peaks is not None
    if paired:
        return (paired_test(base.samples, new.samples, _time, TIME_VERDICTS, "time"),
                paired_test(base.samples, new.samples, _peak, MEMORY_VERDICTS, "peak")
                if memory_ok else None)
    keys = ([(s.run, s.process) for s in base.samples], [(s.run, s.process) for s in new.samples])
    runs = ([s.run for s in base.samples], [s.run for s in new.samples])
    time_test = unpaired_test(base.times, new.times, *runs, TIME_VERDICTS, "time", *keys)
    memory_test = unpaired_test(base.peaks or [], new.peaks or [], *runs, MEMORY_VERDICTS,
                            "peak", *keys) if memory_ok else None
    return time_test, memory_test


def _carried(base: BenchmarkResult, new: BenchmarkResult, *, paired: bool) -> list[BenchWarning]:
    """Both runs' own warnings, each saying which side it is about."""
    sides = (("A", base), ("B", new)) if paired else (("baseline", base), ("this run", new))
    return [BenchWarning(w.code, f"{side}: {w.message}") for side, result in sides
            for w in result.warnings]


def _compare_many(pairs: Sequence[tuple[str, BenchmarkResult, BenchmarkResult]], *,
                  alpha: float, paired: bool,
                  run_noise: float = DEFAULT_RUN_NOISE) -> list[BenchmarkComparison]:
    tests = [_tests(base, new, paired) for _, base, new in pairs]
    time_results = _judge([t for t, _ in tests], [(b, n) for _, b, n in pairs], alpha,
                          run_noise)
    memory_index = [i for i, (_, m) in enumerate(tests) if m is not None]
    # A traced peak is the same bytes on any occasion: no run-to-run allowance.
    memory_results = _judge([tests[i][1] for i in memory_index],  # type: ignore[misc]
                            [(pairs[i][1], pairs[i][2]) for i in memory_index], alpha, 0.0)
    memory_of = dict(zip(memory_index, memory_results, strict=True))
    out = []
    for i, (label, base, new) in enumerate(pairs):
        warnings = [*comparison_warnings(len(base.samples), len(new.samples)),
                    *_method_warnings(base, new, paired), *_carried(base, new, paired=paired)]
        out.append(BenchmarkComparison(
            name=label, base_name=base.name, new_name=new.name, base_count=len(base.samples),
            new_count=len(new.samples), time=time_results[i], memory=memory_of.get(i),
            warnings=warnings))
    return out


def _p_or_one(p_value: float) -> float:
    return 1.0 if math.isnan(p_value) else p_value


def _judge(tests: Sequence[MetricTest], runs: Sequence[tuple[BenchmarkResult, BenchmarkResult]],
           alpha: float, run_noise: float) -> list[MetricComparison]:
    """Benjamini-Hochberg over the tests, then each verdict and CI at the matching level."""
    p_values = [_p_or_one(t.run(1 - alpha).p_value) for t in tests]
    rejected, confidence = benjamini_hochberg(p_values, alpha)
    return [decide(t, rejected=r, confidence=confidence,
                   unstable=unstable_reason(b, n, t.unit), run_noise=run_noise)
            for t, r, (b, n) in zip(tests, rejected, runs, strict=True)]


def _method_warnings(base: BenchmarkResult, new: BenchmarkResult,
                     paired: bool) -> list[BenchWarning]:
    found: list[BenchWarning] = []
    base_keys = {(s.run, s.process) for s in base.samples}
    new_keys = {(s.run, s.process) for s in new.samples}
    if not paired and (len(base_keys) < 2 or len(new_keys) < 2):
        found.append(BenchWarning(
            "one-process", "the verdict rests on one process per side (--processes 0, or "
            "calls longer than --min-time): its samples share that process's speed, so the "
            "test can only say the two processes differ; use --processes 10 for short "
            "calls"))
    if not paired and len({s.run for s in base.samples}) < 2:
        found.append(BenchWarning(
            "single-run-baseline", "the baseline holds one run, so run-to-run variation "
            "(the machine on another occasion) cannot be estimated from one run against "
            "one: changes within --run-noise are not called; add runs with --save FILE "
            "--append to measure it instead"))
    base_loops, new_loops = {s.loops for s in base.samples}, {s.loops for s in new.samples}
    if base_loops != new_loops:
        found.append(BenchWarning(
            "loops-differ", f"the runs time different loop counts ("
            f"{_loops_text(base_loops)} vs {_loops_text(new_loops)}), so their samples are "
            "not the same measurement"))
    return found


def _loops_text(loops: set[int]) -> str:
    return "/".join(str(n) for n in sorted(loops))


def compare_results(base: BenchmarkResult, new: BenchmarkResult, *,
                    alpha: float = DEFAULT_ALPHA, name: str | None = None,
                    paired: bool = False,
                    run_noise: float = DEFAULT_RUN_NOISE) -> BenchmarkComparison:
    label = name or (base.name if base.name == new.name else f"{base.name} -> {new.name}")
    return _compare_many([(label, base, new)], alpha=alpha, paired=paired,
                         run_noise=run_noise)[0]


def compare_suites(base: BenchSuite, new: BenchSuite, *, alpha: float = DEFAULT_ALPHA,
                   run_noise: float = DEFAULT_RUN_NOISE) -> SuiteComparison:
    """Pair benchmarks by name; report the ones only one side has.

    ``run_noise`` is the change a single-run baseline does not call (0 judges on
    this run's precision alone, as a within-run test would).
    """
    base_by_name, new_by_name = base.by_name(), new.by_name()
    pairs = _compare_many([(n, base_by_name[n], new_by_name[n])
                           for n in base_by_name if n in new_by_name], alpha=alpha,
                          paired=False, run_noise=run_noise)
    differences = environment_differences(base.environment, new.environment)
    return SuiteComparison(
        alpha=alpha, benchmarks=pairs,
        only_in_base=[n for n in base_by_name if n not in new_by_name],
        only_in_new=[n for n in new_by_name if n not in base_by_name],
        environment_differences=differences,
        warnings=_suite_warnings(pairs, differences),
        base_source=base.source, new_source=new.source,
        run_noise=run_noise if any(_single_run(pair) for pair in pairs) else 0.0)


def _single_run(pair: BenchmarkComparison) -> bool:
    return any(w.code == "single-run-baseline" for w in pair.warnings)


def compare_pair(base: BenchmarkResult, new: BenchmarkResult, *,
                 alpha: float = DEFAULT_ALPHA) -> SuiteComparison:
    """An interleaved A/B run: one environment, one paired comparison."""
    pair = compare_results(base, new, alpha=alpha, paired=True)
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
    if len(pairs) > 1:
        found.append(BenchWarning(
            "fdr", f"{len(pairs)} benchmarks compared at once: verdicts keep the "
            "false-discovery rate at alpha (Benjamini-Hochberg), and intervals are at "
            f"the matching level ({pairs[0].time.confidence:.2%})"))
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
                      verdict=result.verdict, failed=failed, confidence=result.confidence,
                      reason=result.reason)

