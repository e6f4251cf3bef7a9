"""Calibrated benchmarks: kernels and workloads timed in loops, with memory next to time.

The package measures and returns data; comparison lives in ``agentperf.analysis.compare``
and rendering in ``agentperf.report``.
"""

from agentperf.bench.model import (
    BenchmarkResult,
    BenchOptions,
    BenchSuite,
    BenchWarning,
    Sample,
    TargetRecipe,
)

__all__ = [
    "BenchOptions",
    "BenchSuite",
    "BenchWarning",
    "BenchmarkResult",
    "Sample",
    "TargetRecipe",
]
