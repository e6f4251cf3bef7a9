"""One metric's verdict: the test on the right observations, and what can overrule it.

A test is built from the observations that are independent (each worker process's
mean log value, one process's samples, or paired per-worker or per-round log
ratios), gives the ratio, its interval and the p-value from one estimate, and then
:func:`decide` turns it into "faster", "slower", "no significant change" or
"inconclusive": noise the test cannot see (a drifted or busy run) withholds a
verdict, and a single-run baseline does not call a change within ``run_noise``.
:mod:`agentperf.analysis.compare` pairs benchmarks and applies the gates.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentperf.bench.model import BenchmarkResult, Sample
from agentperf.bench.warnings import busy_seen, busy_share, drift_of
from agentperf.measure.stats import LogRatio, log_ratio_test, paired_log_ratio_test

DEFAULT_ALPHA = 0.05
#: Changes a single-run baseline does not call: separate runs of unchanged code on the
#: machine of benchmarks/README.md differed by up to 9 % (baseline_aa.py, idle).
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
    reason: str = ""  # why a verdict is inconclusive, or a change within run_noise not called

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1) * 100

    @property
    def significant(self) -> bool:
        return self.verdict not in (SAME, INCONCLUSIVE)


@dataclass(frozen=True)
class MetricTest:
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
    test = unpaired_test(list(base), list(new), [0] * len(base), [0] * len(new), verdicts,
                         "values")
    return decide(test, rejected=test.run(1 - alpha).p_value < alpha,
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


def unpaired_test(base: list[float], new: list[float], base_runs: Sequence[int],
                  new_runs: Sequence[int], verdicts: tuple[str, str], what: str,
                  base_keys: Sequence[tuple[int, int]] | None = None,
                  new_keys: Sequence[tuple[int, int]] | None = None) -> MetricTest:
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

    return MetricTest(base, new, run, method, verdicts, _geomean(base_obs), _geomean(new_obs),
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


def paired_test(base: Sequence[Sample], new: Sequence[Sample],
                values: Callable[[Sample], float], verdicts: tuple[str, str],
                what: str) -> MetricTest:
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

    return MetricTest(base_v, new_v, run, method, verdicts, _geomean(base_side),
                      _geomean(new_side), unit="paired")


def _geomean(logs: Sequence[float]) -> float:
    return math.exp(statistics.fmean(logs)) if logs else math.nan


def _untestable(diff: float, confidence: float) -> LogRatio:
    """Too few observations for any test: a ratio, and no interval or p-value."""
    return LogRatio(math.exp(diff), math.nan, math.nan, math.nan, 0.0, confidence, diff,
                    math.nan)


def decide(test: MetricTest, *, rejected: bool, confidence: float,
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
        allowance = run_noise if test.single_run else 0.0  # a paired test is never single_run
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


def unstable_reason(base: BenchmarkResult, new: BenchmarkResult,
                    unit: str) -> tuple[str, float]:
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
