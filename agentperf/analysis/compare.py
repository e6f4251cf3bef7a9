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
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentperf.bench.environment import environment_differences
from agentperf.bench.model import BenchmarkResult, BenchSuite, BenchWarning, Sample
from agentperf.bench.warnings import (
    busy_seen,
    busy_share,
    comparison_warnings,
    drift_of,
    environment_warning,
)
from agentperf.measure.stats import (
    LogRatio,
    benjamini_hochberg,
    log_ratio_test,
    paired_log_ratio_test,
)

DEFAULT_ALPHA = 0.05
#: Changes a single-run baseline does not call: separate runs of unchanged code on the
#: machine of benchmarks/README.md differed by up to 8 % (baseline_aa.py, idle).
DEFAULT_RUN_NOISE = 0.05
SAME = "no significant change"
INCONCLUSIVE = "inconclusive"
TIME_VERDICTS = ("faster", "slower")
MEMORY_VERDICTS = ("less memory", "more memory")


@dataclass(frozen=True)
class MetricComparison:
    """New against base for one metric.

    ``base_value`` and ``new_value`` are each side's geometric mean over the test's
    observations (worker means, or one process's samples), so ``ratio`` is exactly
    new/base of them.
    """

    base_value: float
    new_value: float
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str
    confidence: float = 0.95
    method: str = ""
    reason: str = ""  # why a verdict is inconclusive

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1) * 100

    @property
    def significant(self) -> bool:
        return self.verdict not in (SAME, INCONCLUSIVE)


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


@dataclass(frozen=True)
class _Test:
    """One metric's test before the false-discovery step: how to redo it at a level.

    ``unit`` says what one observation is ("paired", "process" or "sample"), which
    decides what a run's own noise can still explain; ``single_run`` is an unpaired
    test whose run-to-run spread is unknown (a baseline of one run).
    """

    base: list[float]
    new: list[float]
    run: Callable[[float], LogRatio]
    method: str
    verdicts: tuple[str, str]
    base_value: float
    new_value: float
    unit: str = "sample"
    single_run: bool = False


def compare_samples(base: Sequence[float], new: Sequence[float], *, alpha: float = DEFAULT_ALPHA,
                    verdicts: tuple[str, str] = TIME_VERDICTS) -> MetricComparison:
    """Compare two sets of independent values (one per process), alone at level ``alpha``."""
    test = _unpaired(list(base), list(new), [0] * len(base), [0] * len(new), verdicts,
                     "values")
    return _decide(test, rejected=test.run(1 - alpha).p_value < alpha,
                   confidence=1 - alpha, unstable=("", 0.0), run_noise=0.0)


def _logs(values: Sequence[float]) -> list[float]:
    """Log of each value; a zero (no memory traced) counts as one byte."""
    return [math.log(max(v, 1e-300) if v > 0 else 1.0) for v in values]


def _clusters(keys: Sequence[tuple[int, int]], logs: Sequence[float]) -> dict[tuple[int, int],
                                                                          list[float]]:
    groups: dict[tuple[int, int], list[float]] = {}
    for key, value in zip(keys, logs, strict=True):
        groups.setdefault(key, []).append(value)
    return groups


def _unpaired(base: list[float], new: list[float], base_runs: Sequence[int],
              new_runs: Sequence[int], verdicts: tuple[str, str], what: str,
              base_keys: Sequence[tuple[int, int]] | None = None,
              new_keys: Sequence[tuple[int, int]] | None = None) -> _Test:
    """Per-process means when both sides have several processes, else the samples."""
    base_logs, new_logs = _logs(base), _logs(new)
    base_groups = _clusters(base_keys or [(r, 0) for r in base_runs], base_logs)
    new_groups = _clusters(new_keys or [(r, 0) for r in new_runs], new_logs)
    if len(base_groups) >= 2 and len(new_groups) >= 2:
        base_obs = [statistics.fmean(g) for g in base_groups.values()]
        new_obs = [statistics.fmean(g) for g in new_groups.values()]
        method = (f"{len(base_obs)} vs {len(new_obs)} processes, each one observation "
                  f"(Welch t on mean log {what})")
        unit = "process"
    else:
        base_obs, new_obs = base_logs, new_logs
        method = (f"{len(base_obs)} vs {len(new_obs)} samples of one process per side "
                  f"(Welch t on log {what})")
        unit = "sample"
    floor = _run_floor(base_groups, new_groups)
    if floor is not None:
        method += "; the baseline's run-to-run spread is the floor of its error"

    def run(confidence: float) -> LogRatio:
        if len(base_obs) + len(new_obs) < 3:
            return _untestable(statistics.fmean(new_obs) - statistics.fmean(base_obs),
                               confidence)
        return log_ratio_test(base_obs, new_obs, confidence=confidence, floor=floor)

    return _Test(base, new, run, method, verdicts, _geomean(base_obs), _geomean(new_obs),
                 unit=unit, single_run=floor is None)


def _run_floor(base_groups: dict[tuple[int, int], list[float]],
               new_groups: dict[tuple[int, int], list[float]]) -> tuple[float, float] | None:
    """Standard error and df of the difference from run-to-run spread, when known.

    Each run's mean log is one draw of "the machine on that occasion"; with k
    baseline runs (and m new ones) the difference of two run means varies with
    sd * sqrt(1/k + 1/m). One run per side cannot estimate it, so then there is none.
    """
    base_runs, new_runs = _run_means(base_groups), _run_means(new_groups)
    if len(base_runs) < 2:
        return None
    deviations = [x - statistics.fmean(base_runs) for x in base_runs]
    if len(new_runs) >= 2:
        deviations += [x - statistics.fmean(new_runs) for x in new_runs]
    df = len(deviations) - (2 if len(new_runs) >= 2 else 1)
    sd = math.sqrt(sum(d * d for d in deviations) / df)
    return sd * math.sqrt(1 / len(base_runs) + 1 / len(new_runs)), df


def _run_means(groups: dict[tuple[int, int], list[float]]) -> list[float]:
    by_run: dict[int, list[float]] = {}
    for (run, _process), values in groups.items():
        by_run.setdefault(run, []).append(statistics.fmean(values))
    return [statistics.fmean(v) for v in by_run.values()]


def _paired(base: Sequence[Sample], new: Sequence[Sample], values: Callable[[Sample], float],
            verdicts: tuple[str, str], what: str) -> _Test:
    """Interleaved samples: per worker (several processes) or per round log ratios."""
    base_v, new_v = [values(s) for s in base], [values(s) for s in new]
    base_logs, new_logs = _logs(base_v), _logs(new_v)
    processes = sorted({s.process for s in base} & {s.process for s in new})
    if len(processes) >= 2:
        base_side = [statistics.fmean([x for s, x in zip(base, base_logs, strict=True)
                                       if s.process == p]) for p in processes]
        new_side = [statistics.fmean([x for s, x in zip(new, new_logs, strict=True)
                                      if s.process == p]) for p in processes]
        method = (f"{len(processes)} worker processes, paired (t test on per-worker log "
                  "ratios)")
    else:
        rounds = min(len(base_logs), len(new_logs))
        base_side, new_side = base_logs[:rounds], new_logs[:rounds]
        method = f"{rounds} rounds in one process, paired (t test on per-round log ratios)"
    diffs = [n - b for b, n in zip(base_side, new_side, strict=True)]

    def run(confidence: float) -> LogRatio:
        if len(diffs) < 2:
            return _untestable(statistics.fmean(diffs), confidence)
        return paired_log_ratio_test(diffs, confidence=confidence)

    return _Test(base_v, new_v, run, method, verdicts, _geomean(base_side),
                 _geomean(new_side), unit="paired")


def _geomean(logs: Sequence[float]) -> float:
    return math.exp(statistics.fmean(logs)) if logs else math.nan


def _untestable(diff: float, confidence: float) -> LogRatio:
    """Too few observations for any test: a ratio, and no interval or p-value."""
    return LogRatio(math.exp(diff), math.nan, math.nan, math.nan, 0.0, confidence, diff,
                    math.nan)


def _decide(test: _Test, *, rejected: bool, confidence: float,
            unstable: tuple[str, float], run_noise: float) -> MetricComparison:
    """The verdict at ``confidence``; noise the test cannot see can overrule it, never
    reverse it.

    When a run is unstable in a way the test does not already count (see
    :func:`_unstable`), a change is only called when its whole interval lies beyond
    that run's own spread; otherwise the verdict is inconclusive, with the reason. A
    single-run baseline cannot know how far a separate run of unchanged code moves, so
    a change whose interval reaches within ``run_noise`` is not called (as criterion's
    noise threshold); a baseline of several runs measures that spread instead.
    """
    result = test.run(confidence)
    verdict = SAME
    reason = ""
    if math.isnan(result.p_value):
        verdict, reason = INCONCLUSIVE, "too few observations to test"
    elif rejected and result.ratio != 1:
        verdict = test.verdicts[1] if result.ratio > 1 else test.verdicts[0]
        why, spread = unstable
        allowance = run_noise if test.single_run and test.unit != "paired" else 0.0
        if why and not _beyond(result, spread):
            verdict = INCONCLUSIVE
            reason = f"{why}, and the change's interval reaches within that spread"
        elif allowance and not _beyond(result, allowance):
            verdict = SAME
            reason = (f"the interval reaches within +-{allowance * 100:.3g}%, which separate "
                      "runs of unchanged code can differ by; a single-run baseline cannot "
                      "tell that from a change (--run-noise)")
    return MetricComparison(
        base_value=test.base_value, new_value=test.new_value,
        ratio=result.ratio, ci_low=result.ci_low, ci_high=result.ci_high,
        p_value=result.p_value, verdict=verdict, confidence=confidence, method=test.method,
        reason=reason)


def _beyond(result: LogRatio, spread: float) -> bool:
    """The whole interval lies outside [1 / (1 + spread), 1 + spread]."""
    return result.ci_low > 1 + spread or result.ci_high < 1 / (1 + spread)


def _time(sample: Sample) -> float:
    return sample.seconds_per_call


def _peak(sample: Sample) -> float:
    return float(sample.peak_bytes or 0)


def _tests(base: BenchmarkResult, new: BenchmarkResult,
           paired: bool) -> tuple[_Test, _Test | None]:
    memory_ok = base.peaks is not None and new.peaks is not None
    if paired:
        return (_paired(base.samples, new.samples, _time, TIME_VERDICTS, "time"),
                _paired(base.samples, new.samples, _peak, MEMORY_VERDICTS, "peak")
                if memory_ok else None)
    keys = ([(s.run, s.process) for s in base.samples], [(s.run, s.process) for s in new.samples])
    runs = ([s.run for s in base.samples], [s.run for s in new.samples])
    time_test = _unpaired(base.times, new.times, *runs, TIME_VERDICTS, "time", *keys)
    memory_test = _unpaired(base.peaks or [], new.peaks or [], *runs, MEMORY_VERDICTS,
                            "peak", *keys) if memory_ok else None
    return time_test, memory_test


def _unstable(base: BenchmarkResult, new: BenchmarkResult, unit: str) -> tuple[str, float]:
    """Why these runs' own noise could explain a difference the test does not already
    count, and how large that noise is.

    A paired test counts all of it (what disturbs a round or a worker disturbs both
    sides). A test on worker means counts the spread between workers, which is most
    of an ``unstable`` run's CV, but not a machine that changed speed mid-run or was
    busy in one run only. A test on one process's samples counts none of it. The
    spread is the larger CV of an unstable run, or for a busy machine the slowdown
    other programs' CPU allows (:func:`busy_share`); for a drifted run, the shift
    between its halves.
    """
    if unit == "paired":
        return "", 0.0
    reasons: list[str] = []
    spread = 0.0
    for side, result in (("the baseline", base), ("this run", new)):
        codes = {w.code for w in result.warnings}
        if "drift" in codes:
            shift = _drift_size(result)
            reasons.append(f"{side} drifted ({shift:.0%})")
            spread = max(spread, shift)
        if "unstable" in codes and unit == "sample":
            reasons.append(f"{side} is unstable (CV {result.stats.cv:.0%})")
            spread = max(spread, result.stats.cv)
        machine = (result.load_average, result.cpu_count, result.others_cpu)
        share = busy_share(*machine)
        if "busy" in codes and share is not None:
            reasons.append(f"{side} ran on a busy machine ({busy_seen(*machine)})")
            spread = max(spread, share)
    return "; ".join(reasons), spread


def _drift_size(result: BenchmarkResult) -> float:
    """The largest shift between the halves of any of the result's runs."""
    runs: dict[int, list[Sample]] = {}
    for sample in result.samples:
        runs.setdefault(sample.run, []).append(sample)
    found = [drift_of(samples) for samples in runs.values()]
    return max((abs(d.shift) for d in found if d is not None), default=0.0)


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


def _judge(tests: Sequence[_Test], runs: Sequence[tuple[BenchmarkResult, BenchmarkResult]],
           alpha: float, run_noise: float) -> list[MetricComparison]:
    """Benjamini-Hochberg over the tests, then each verdict and CI at the matching level."""
    p_values = [_p_or_one(t.run(1 - alpha).p_value) for t in tests]
    rejected, confidence = benjamini_hochberg(p_values, alpha)
    return [_decide(t, rejected=r, confidence=confidence, unstable=_unstable(b, n, t.unit),
                    run_noise=run_noise)
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

