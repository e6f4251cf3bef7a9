"""Leak search: snapshots at checkpoints, ``compare_to``, and a slope fitted per site.

A site is a suspect only when its retained size grows steadily with the number of
iterations: a significant, well-fitting positive slope of at least the minimum bytes
per iteration, growing in most steps. A workload that allocates a lot and frees it
keeps every site flat, so it is never flagged.
"""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

from agentperf.measure.stats import linear_trend
from agentperf.profiling.grouping import Frames, group, key_of
from agentperf.profiling.result import LeakAnalysis, LeakSuspect
from agentperf.profiling.sites_filter import format_traceback, innermost, without_internal

MIN_CHECKPOINTS = 4  # a baseline and three iterations: fewer cannot show a steady slope
MIN_R_SQUARED = 0.8
MAX_P_VALUE = 0.05
MIN_GROWING_STEPS = 0.7  # share of checkpoint steps in which the site grew
TRACEBACK_FRAMES = 10
DEFAULT_MIN_BYTES = 256.0
HEAP_CONFIRM_SHARE = 0.25  # the heap must grow by at least this share of the suspects' slope


@dataclass
class LeakTracker:
    """Collects per-site sizes at checkpoints taken between traced iterations."""

    group_by: str
    min_bytes_per_iteration: float = DEFAULT_MIN_BYTES
    iterations: list[int] = field(default_factory=list)
    sizes: list[dict[Frames, int]] = field(default_factory=list)
    first: tracemalloc.Snapshot | None = None
    last: tracemalloc.Snapshot | None = None

    def checkpoint(self, iteration: int) -> int:
        """Snapshot the traced heap after a full collection (cyclic garbage is not a leak).

        Returns the workload's traced bytes, the profiler's own allocations left out.
        """
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        self.iterations.append(iteration)
        grouped = group(snapshot, self.group_by)
        self.sizes.append({frames: size for frames, (size, _) in grouped.items()})
        if self.first is None:
            self.first = snapshot
        else:
            self.last = snapshot
        return sum(size for size, _ in grouped.values())

    def analyse(self) -> LeakAnalysis:
        checked = len(self.iterations) >= MIN_CHECKPOINTS and self.last is not None
        analysis = LeakAnalysis(checked=checked, method="traced" if checked else "none",
                                iterations=max(len(self.iterations) - 1, 0),
                                checkpoints=len(self.iterations),
                                min_bytes_per_iteration=self.min_bytes_per_iteration)
        if not checked or self.first is None or self.last is None:
            return analysis
        span = self.iterations[-1] - self.iterations[0]
        diffs = [d for d in without_internal(self.last.compare_to(self.first, self.group_by))
                 if d.size_diff >= self.min_bytes_per_iteration * span / 2]
        analysis.candidates = len(diffs)
        for diff in diffs:
            suspect = self._judge(diff)
            if suspect is not None:
                analysis.suspects.append(suspect)
        analysis.suspects.sort(key=lambda s: s.bytes_per_iteration, reverse=True)
        return analysis

    def _judge(self, diff: tracemalloc.StatisticDiff) -> LeakSuspect | None:
        key = key_of(diff.traceback)
        ys = [float(sizes.get(key, 0)) for sizes in self.sizes]
        xs = [float(i) for i in self.iterations]
        trend = linear_trend(xs, ys)
        steps = list(itertools.pairwise(ys))
        growing = sum(1 for a, b in steps if b > a) / len(steps)
        steady = (trend.direction == "increasing" and trend.slope >= self.min_bytes_per_iteration
                  and trend.r_squared >= MIN_R_SQUARED and trend.p_value <= MAX_P_VALUE
                  and growing >= MIN_GROWING_STEPS)
        if not steady:
            return None
        frame = innermost(diff.traceback)
        return LeakSuspect(
            location=f"{frame.filename}:{frame.lineno}", filename=frame.filename,
            lineno=frame.lineno, bytes_per_iteration=trend.slope, r_squared=trend.r_squared,
            p_value=trend.p_value, retained_bytes=diff.size_diff, count_growth=diff.count_diff,
            checkpoints=[(int(x), int(y)) for x, y in zip(xs, ys, strict=True)],
            traceback=format_traceback(diff.traceback))


def confirm_with_heap(analysis: LeakAnalysis, growth: list[int | None]) -> None:
    """Clear suspects when the untraced heap did not grow with them.

    A traced call that replaces an object allocated before tracing (a full deque, a
    bounded cache) makes a site's traced size climb while the process heap stays flat;
    a real leak grows both. Without glibc's figures the suspects stand unconfirmed.
    """
    known = [g for g in growth if g is not None]
    if not analysis.suspects or not known or len(known) != len(growth):
        return
    per_iteration = sum(known) / len(known)
    claimed = sum(s.bytes_per_iteration for s in analysis.suspects)
    analysis.heap_growth_per_iteration = per_iteration
    if per_iteration < HEAP_CONFIRM_SHARE * claimed:
        analysis.dismissed = [s.location for s in analysis.suspects]
        analysis.suspects = []


def attach_tracebacks(suspects: list[LeakSuspect], run_iterations: Callable[[int], None],
                      *, iterations: int = 2) -> None:
    """Find each suspect's full traceback by tracing a few more calls with deep frames.

    Run only when the leak pass used fewer frames, so the common clean case pays nothing.
    """
    tracemalloc.stop()
    tracemalloc.start(TRACEBACK_FRAMES)
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        run_iterations(iterations)
        gc.collect()
        after = tracemalloc.take_snapshot()
        diffs = [d for d in without_internal(after.compare_to(before, "traceback"))
                 if d.size_diff > 0]
    finally:
        tracemalloc.stop()
    for suspect in suspects:
        matching = [d for d in diffs if (innermost(d.traceback).filename,
                                         innermost(d.traceback).lineno)
                    == (suspect.filename, suspect.lineno)]
        if matching:
            best = max(matching, key=lambda d: d.size_diff)
            suspect.traceback = format_traceback(best.traceback)
