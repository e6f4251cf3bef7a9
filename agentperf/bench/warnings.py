"""Every warning a bench user sees, computed in one place from the statistics.

Each message says what was seen, why it matters, and what to do about it, in the
spirit of pyperf's "the benchmark result may be unstable".
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from agentperf.bench.model import BenchWarning, Sample, process_log_means
from agentperf.measure.stats import Summary, log_ratio_test, mann_whitney_u

CV_LIMIT = 0.10
SHORT_SAMPLE_S = 1e-3
RESOLUTION_FACTOR = 1_000
FEW_SAMPLES = 5
MIN_COMPARE_SAMPLES = 10
BUSY_SHARE = 0.5  # other runnable work above half the CPUs counts as a busy machine
#: Other programs using more than this share of the CPUs a benchmark leaves free.
BUSY_OTHERS_SHARE = 0.25
DRIFT_LIMIT = 0.03  # a shift between the halves of a run smaller than this is not reported
DRIFT_ALPHA = 0.01
MIN_DRIFT_SAMPLES = 10  # 5 against 5 is the smallest split that can reach p < 0.01
MIN_DRIFT_PROCESSES = 4  # 2 worker means against 2: fewer cannot be tested


def timer_resolution_s() -> float:
    return time.get_clock_info("perf_counter").resolution


def benchmark_warnings(stats: Summary, samples: Sequence[Sample], outliers: Sequence[int], *,
                       load_average: float | None, cpu_count: int | None,
                       stopped_early: bool, requested: int,
                       others_cpu: float | None = None) -> list[BenchWarning]:
    found: list[BenchWarning] = []
    if stats.count >= 2 and stats.cv > CV_LIMIT:
        found.append(BenchWarning(
            "unstable", f"unstable: the standard deviation is {stats.cv:.0%} of the mean "
            f"(over {CV_LIMIT:.0%}); rerun with more --samples or --processes, or on a "
            "quieter machine"))
    if outliers:
        found.append(BenchWarning(
            "outliers", f"{len(outliers)} of {stats.count} samples are outliers (modified "
            "Z-score above 3.5), usually interference from other programs; they widen the "
            "time's interval, and a quieter machine gives a cleaner result"))
    found.extend(_duration_warnings(samples))
    for extra in (_drift_warning(samples), _busy_warning(load_average, cpu_count, others_cpu)):
        if extra:
            found.append(extra)
    if stopped_early:
        found.append(BenchWarning(
            "max-time", f"--max-time reached after {stats.count} of {requested} samples; "
            "raise --max-time or lower --min-time for the full count"))
    elif stats.count < FEW_SAMPLES:
        found.append(BenchWarning(
            "few-samples", f"only {stats.count} samples: spread and confidence interval are "
            "rough; use --samples 10 or more"))
    return found


def _duration_warnings(samples: Sequence[Sample]) -> list[BenchWarning]:
    if not samples:
        return []
    durations = sorted(s.elapsed_ns / 1e9 for s in samples)
    typical = durations[len(durations) // 2]
    resolution = timer_resolution_s()
    if typical < resolution * RESOLUTION_FACTOR:
        return [BenchWarning(
            "timer-resolution", f"samples last {_fmt_s(typical)}, within "
            f"{RESOLUTION_FACTOR}x the timer's resolution ({_fmt_s(resolution)}); raise "
            "--min-time")]
    if typical < SHORT_SAMPLE_S:
        return [BenchWarning(
            "short-samples", f"samples last only {_fmt_s(typical)} (under 1 ms), so timer "
            "overhead and scheduler noise weigh on them; raise --min-time (pyperf uses 100 ms)")]
    return []


def _drift_warning(samples: Sequence[Sample]) -> BenchWarning | None:
    found = drift_of(samples)
    if found is None:
        return None
    return BenchWarning(
        "drift", f"the timings shifted during the run: the second half is "
        f"{found.shift:+.0%} against the first ({found.method}, p = {found.p_value:.2g}); "
        "the machine changed speed (another program, CPU frequency, a busy neighbour on a "
        "shared VM), the worker processes of the two halves differ, or the agent was "
        "still warming up (raise --warmup). Rerun, and compare with --interleave so both "
        "sides see the same machine")


@dataclass(frozen=True)
class Drift:
    shift: float  # second half / first half - 1
    p_value: float
    method: str


def drift_of(samples: Sequence[Sample]) -> Drift | None:
    """The first and the second half of one run, in the order taken, disagree.

    A shared or virtual machine changes speed for seconds at a time, which the load
    average does not show; a run that straddles such a change mixes two states, and
    its median lands in one of them depending on where the change fell. With worker
    processes the halves are compared process by process (each worker's mean log
    time is one observation), since workers differ from each other anyway and their
    samples are not independent: a sample-level test would call that spread drift.
    """
    if len(samples) < MIN_DRIFT_SAMPLES:
        return None
    groups = process_log_means(samples)
    if len(groups) >= MIN_DRIFT_PROCESSES:
        half = len(groups) // 2
        test = log_ratio_test(groups[:half], groups[-half:])
        found = Drift(test.ratio - 1, test.p_value, "Welch t on worker means")
    else:
        times = [s.seconds_per_call for s in samples]
        half = len(times) // 2
        first, second = times[:half], times[-half:]
        shift = statistics.median(second) / statistics.median(first) - 1
        if abs(shift) <= DRIFT_LIMIT:
            return None
        found = Drift(shift, mann_whitney_u(first, second).p_value, "Mann-Whitney")
    return found if abs(found.shift) > DRIFT_LIMIT and found.p_value < DRIFT_ALPHA else None


def busy_share(load_average: float | None, cpu_count: int | None,
               others_cpu: float | None) -> float | None:
    """How much slower other programs could have made the run, as a fraction.

    Measured: the CPUs other programs used, over the CPUs the benchmark left free
    (one CPU on a 2-CPU machine, where a program on the sibling vCPU slows a run that
    has a core to itself). Otherwise, from the load average: sharing C CPUs with load
    L leaves a run C/L of the CPU it needs, L/C - 1 slower. None when neither says
    the machine was busy.
    """
    if not cpu_count:
        return None
    if others_cpu is not None:
        share = others_cpu / max(1, cpu_count - 1)
        return share if share > BUSY_OTHERS_SHARE else None
    if load_average is None or load_average - 1 <= BUSY_SHARE * cpu_count:
        return None  # the benchmark itself keeps one CPU busy
    return load_average / cpu_count - 1


def busy_seen(load_average: float | None, cpu_count: int | None,
              others_cpu: float | None) -> str:
    """What made the machine busy, and how much slower that allows: for one line."""
    share = busy_share(load_average, cpu_count, others_cpu) or 0.0
    if others_cpu is not None:
        return (f"other programs used {others_cpu:.2g} of {cpu_count} CPUs: up to "
                f"{share:.0%} slower")
    return f"load {load_average or 0:.1f} on {cpu_count} CPUs: up to {share:.0%} slower"


def _busy_warning(load_average: float | None, cpu_count: int | None,
                  others_cpu: float | None) -> BenchWarning | None:
    if busy_share(load_average, cpu_count, others_cpu) is None:
        return None
    return BenchWarning(
        "busy", f"the machine was busy while measuring ("
        f"{busy_seen(load_average, cpu_count, others_cpu)}); "
        "close other programs, or use short samples that preemption rarely hits "
        "(--min-time 1ms --samples 50) and compare with --interleave")


def comparison_warnings(n_base: int, n_new: int) -> list[BenchWarning]:
    if min(n_base, n_new) < MIN_COMPARE_SAMPLES:
        return [BenchWarning(
            "few-samples", f"only {min(n_base, n_new)} samples on one side, so only "
            "large changes can be detected; use --samples 20 to detect changes of a few %")]
    return []


def environment_warning(differences: Sequence[str]) -> BenchWarning | None:
    if not differences:
        return None
    return BenchWarning(
        "environment-differs", "the two runs come from different environments ("
        + "; ".join(differences) + "); a difference may be the machine, not the code")


def _fmt_s(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
