"""Raw samples in, :class:`BenchmarkResult` out: the one place derived figures are made."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from agentperf.bench.model import (
    BenchmarkResult,
    BenchWarning,
    Sample,
    TargetRecipe,
    process_log_means,
)
from agentperf.bench.warnings import benchmark_warnings
from agentperf.measure.stats import (
    bootstrap_ci,
    geometric_mean_ci,
    outlier_indices,
    summarize,
)


def build_result(recipe: TargetRecipe, samples: Sequence[Sample], *, loops: int,
                 load_average: float | None, cpu_count: int | None,
                 stopped_early: bool = False, requested: int | None = None,
                 others_cpu: float | None = None) -> BenchmarkResult:
    if not samples:
        raise ValueError(f"{recipe.name}: no samples")
    times = [s.seconds_per_call for s in samples]
    stats = summarize(times)
    outliers = outlier_indices(times) if len(times) >= 3 else []
    peaks = [float(s.peak_bytes) for s in samples if s.peak_bytes is not None]
    peak_stats = summarize(peaks) if len(peaks) == len(samples) else None
    rss = [s.max_rss_bytes for s in samples if s.max_rss_bytes is not None]
    bytes_per_op: float | None = recipe.bytes_per_op
    if bytes_per_op is None and recipe.kind == "memory" and peak_stats is not None:
        bytes_per_op = peak_stats.median  # allocation throughput: traced peak per call
    center, ci, method = time_center(samples)
    return BenchmarkResult(
        recipe=recipe, samples=list(samples), loops=loops, load_average=load_average,
        stopped_early=stopped_early, stats=stats, ci=ci, outliers=outliers,
        center=center, center_method=method,
        ops_per_s=recipe.ops_per_call / center if center > 0 else math.inf,
        bytes_per_s=bytes_per_op / center if bytes_per_op and center > 0 else None,
        peak_bytes=peak_stats, max_rss_bytes=max(rss) if rss else None,
        figures=sample_figures(samples), cpu_count=cpu_count, others_cpu=others_cpu,
        warnings=_warnings_per_run(samples, load_average=load_average, cpu_count=cpu_count,
                                   stopped_early=stopped_early, requested=requested,
                                   others_cpu=others_cpu),
    )


def time_center(samples: Sequence[Sample]) -> tuple[float, tuple[float, float], str]:
    """The time per call a run reports, its 95 % CI, and how it was made.

    With worker processes, each worker's mean log time is one observation (as in the
    comparison): the geometric mean of those and Student's t interval. A median of
    all samples would land in whichever speed most workers drew: workers of one
    0.7 us function read 690, 770 or 990 ns each, and run medians jumped between those
    modes. With one process, the samples' median and its bootstrap interval.
    """
    workers = process_log_means(samples)
    if len(workers) >= 2:
        center, low, high = geometric_mean_ci(workers)
        return center, (low, high), f"geometric mean of {len(workers)} worker means"
    times = [s.seconds_per_call for s in samples]
    return statistics.median(times), bootstrap_ci(times), "median"


#: The figures of --type memory, measured by the profiler rather than in the samples.
MEMORY_FIGURES = ("peak_bytes_per_call", "max_peak_bytes_per_call", "retained_bytes_per_call",
                  "peak_rss_bytes")


def memory_figures(recipe: TargetRecipe, calls: int) -> dict[str, float]:
    """Peak and retained memory per call, from the profiler's measurement of ``calls`` calls.

    The profiler runs the workload untimed, traces each call and collects garbage
    after it, so "retained" is what a call leaves behind; it is the same
    measurement ``agentperf profile`` reports.
    """
    from pathlib import Path

    from agentperf.profiling.api import profile_memory
    from agentperf.workload.spec import load_workload

    spec = load_workload(recipe.reference, inputs=recipe.inputs,
                         inputs_file=recipe.inputs_file, cwd=Path(recipe.cwd))
    summary = profile_memory(spec, iterations=calls, name=recipe.name).memory
    found = {"peak_bytes_per_call": summary.mean_peak_bytes,
             "max_peak_bytes_per_call": summary.peak_bytes,
             "retained_bytes_per_call": summary.mean_net_bytes,
             "peak_rss_bytes": summary.peak_rss_bytes}
    return {k: float(v) for k, v in found.items() if v is not None}


def sample_figures(samples: Sequence[Sample]) -> dict[str, float]:
    """CPU and I/O per call, from the samples that counted them (--type cpu or io).

    CPU per call is the median over samples; CPU/wall and the I/O figures are totals
    over all samples divided by wall time or calls, so rare I/O is not rounded away.
    """
    figures: dict[str, float] = {}
    timed = [s for s in samples if s.cpu_ns is not None]
    if timed:
        cpu = [s.cpu_ns / s.loops / 1e9 for s in timed]  # type: ignore[operator]
        wall = [s.seconds_per_call for s in timed]
        figures["cpu_per_call_s"] = statistics.median(cpu)
        figures["cpu_share"] = sum(s.cpu_ns for s in timed) / sum(  # type: ignore[misc]
            s.elapsed_ns for s in timed)
        figures["wait_per_call_s"] = max(statistics.median(
            w - c for w, c in zip(wall, cpu, strict=True)), 0.0)
    counted = [s for s in samples if s.syscalls is not None]
    if counted:
        calls = sum(s.loops for s in counted)
        for key in ("read_bytes", "write_bytes", "syscalls"):
            figures[f"{key}_per_call"] = sum(getattr(s, key) for s in counted) / calls
    figures.update(usage_figures(samples))
    return figures


def usage_figures(samples: Sequence[Sample]) -> dict[str, float]:
    """Tokens and cost per call, over the calls read (each sample's last call)."""
    read = [s for s in samples if s.input_tokens is not None]
    if not read:
        return {}
    figures = {"usage_calls_read": float(len(read)),
               "input_tokens_per_call": statistics.fmean(s.input_tokens or 0 for s in read),
               "output_tokens_per_call": statistics.fmean(s.output_tokens or 0 for s in read)}
    priced = [s.cost_usd for s in read if s.cost_usd is not None]
    if priced:
        figures["cost_usd_per_call"] = statistics.fmean(priced)
        figures["cost_estimated"] = float(any(s.cost_estimated for s in read))
    return figures


def _warnings_per_run(samples: Sequence[Sample], *, load_average: float | None,
                      cpu_count: int | None, stopped_early: bool,
                      requested: int | None, others_cpu: float | None) -> list[BenchWarning]:
    """Each run's own warnings: the spread between appended runs is not instability."""
    runs: dict[int, list[Sample]] = {}
    for sample in samples:
        runs.setdefault(sample.run, []).append(sample)
    found: dict[str, BenchWarning] = {}
    for index, run in enumerate(runs.values()):
        times = [s.seconds_per_call for s in run]
        last = index == len(runs) - 1
        for warning in benchmark_warnings(
                summarize(times), run, outlier_indices(times) if len(times) >= 3 else [],
                load_average=load_average if last else None, cpu_count=cpu_count,
                stopped_early=stopped_early and last, requested=requested or len(run),
                others_cpu=others_cpu if last else None):
            found.setdefault(warning.code, warning)
    return list(found.values())
