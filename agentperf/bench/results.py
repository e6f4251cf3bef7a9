"""Raw samples in, :class:`BenchmarkResult` out: the one place derived figures are made."""

from __future__ import annotations

import math
from collections.abc import Sequence

from agentperf.bench.model import BenchmarkResult, BenchWarning, Sample, TargetRecipe
from agentperf.bench.warnings import benchmark_warnings
from agentperf.measure.stats import bootstrap_ci, outlier_indices, summarize


def build_result(recipe: TargetRecipe, samples: Sequence[Sample], *, loops: int,
                 load_average: float | None, cpu_count: int | None,
                 stopped_early: bool = False, requested: int | None = None) -> BenchmarkResult:
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
    median = stats.median
    return BenchmarkResult(
        recipe=recipe, samples=list(samples), loops=loops, load_average=load_average,
        stopped_early=stopped_early, stats=stats, ci=bootstrap_ci(times), outliers=outliers,
        ops_per_s=recipe.ops_per_call / median if median > 0 else math.inf,
        bytes_per_s=bytes_per_op / median if bytes_per_op and median > 0 else None,
        peak_bytes=peak_stats, max_rss_bytes=max(rss) if rss else None,
        warnings=_warnings_per_run(samples, load_average=load_average, cpu_count=cpu_count,
                                   stopped_early=stopped_early, requested=requested),
    )


def _warnings_per_run(samples: Sequence[Sample], *, load_average: float | None,
                      cpu_count: int | None, stopped_early: bool,
                      requested: int | None) -> list[BenchWarning]:
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
                stopped_early=stopped_early and last, requested=requested or len(run)):
            found.setdefault(warning.code, warning)
    return list(found.values())
