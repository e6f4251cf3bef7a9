"""Leak search: snapshots after each round of traced calls, a verdict, then the sites.

A round is one traced call of each distinct input, so what one input keeps more than
another never looks like growth, and a leak on one input in three counts in full. The
verdict comes from :mod:`agentperf.measure.growth` on the workload's traced retained
bytes per call (the same rule the heap screen and monitor use); only then are the sites
that carry the growth named, with their share of it. Growth that no single site carries
is still a leak, reported as such with the top contributors.
"""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

from agentperf.measure import growth
from agentperf.profiling.grouping import Frames, group
from agentperf.profiling.result import LeakAnalysis, LeakSuspect
from agentperf.profiling.sites_filter import format_traceback, innermost, without_internal

TRACEBACK_FRAMES = 10
DEFAULT_MIN_BYTES = 4096.0  # a leak is at least 4 KiB per call, averaged over the traced calls
SITE_SHARE = 0.25  # a site "carries" the growth with at least this share of it
CONTRIBUTOR_SHARE = 0.05  # smaller sites are not listed
TOP_CONTRIBUTORS = 5
HEAP_CONFIRM_SHARE = 0.25  # the untraced heap must grow by this share of the traced growth


@dataclass
class LeakTracker:
    """Collects per-site sizes at checkpoints taken between rounds of traced calls."""

    group_by: str
    min_bytes_per_iteration: float = DEFAULT_MIN_BYTES
    round_length: int = 1
    retained: list[int] = field(default_factory=list)
    heap: list[int | None] = field(default_factory=list)  # untraced heap growth per round
    sizes: list[dict[Frames, int]] = field(default_factory=list)
    first: tracemalloc.Snapshot | None = None
    last: tracemalloc.Snapshot | None = None

    def checkpoint(self, heap_growth: int | None = None) -> int:
        """Snapshot the traced heap after a full collection (cyclic garbage is not a leak).

        Returns the workload's traced bytes, the profiler's own allocations left out.
        """
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        grouped = group(snapshot, self.group_by)
        self.sizes.append({frames: size for frames, (size, _) in grouped.items()})
        total = sum(size for size, _ in grouped.values())
        self.retained.append(total)
        if self.first is None:
            self.first = snapshot
        else:
            self.heap.append(heap_growth)
            self.last = snapshot
        return total

    def analyse(self, screen: growth.Growth | None = None) -> LeakAnalysis:
        """The verdict from the traced growth per call; ``screen``, the untraced heap of
        the timed calls, also decides when the traced rounds cannot rule growth out."""
        rounds = max(len(self.retained) - 1, 0)
        calls = rounds * self.round_length
        per_round = [(b - a) / self.round_length
                     for a, b in itertools.pairwise(self.retained)]
        traced = growth.per_call(per_round, threshold=self.min_bytes_per_iteration,
                                 noun="rounds of calls" if self.round_length > 1 else "calls")
        analysis = LeakAnalysis(
            checked=traced.verdict != growth.NOT_ENOUGH, method="traced", iterations=calls,
            checkpoints=len(self.retained), min_bytes_per_iteration=self.min_bytes_per_iteration,
            verdict="not enough data" if traced.verdict == growth.NOT_ENOUGH else "no leak",
            rule=f"traced retained memory: {traced.rule}", rounds=rounds,
            round_length=self.round_length)
        if traced.verdict != growth.NOT_ENOUGH:  # no infinities in JSON
            analysis.growth_per_call = traced.rate
            analysis.growth_low, analysis.growth_high = traced.low, traced.high
        heap = self._heap_growth(analysis)
        if traced.grows and heap is not None and heap.rate < HEAP_CONFIRM_SHARE * traced.rate:
            analysis.dismissed = [s.location for s in self._contributors(calls)]
            analysis.rule += (f"; not a leak: the untraced heap grew {heap.rate:,.0f} B per "
                              "call, under a quarter of it (objects made before tracing "
                              "replaced by traced ones, as in a full deque)")
        elif traced.grows:
            analysis.verdict = "leak"
            self._attribute(analysis, calls)
        elif screen is not None and screen.grows and analysis.checked:
            self._screened_leak(analysis, traced, screen, calls)
        return analysis

    def _screened_leak(self, analysis: LeakAnalysis, traced: growth.Growth,
                       screen: growth.Growth, calls: int) -> None:
        """The untraced heap grew with confidence: a leak. Inside Python's allocator
        when the traced rounds agree within their interval, else outside it."""
        analysis.verdict = "leak"
        analysis.growth_per_call = screen.rate
        analysis.growth_low, analysis.growth_high = screen.low, screen.high
        if traced.high < self.min_bytes_per_iteration:
            analysis.rule = (f"untraced heap of the timed calls: {screen.rule}; tracemalloc "
                             f"saw no growth ({traced.rule}), so it is outside Python's "
                             "allocator")
            return
        analysis.rule = (f"untraced heap of the timed calls: {screen.rule}; the traced "
                         f"rounds agree within their interval ({traced.rule})")
        self._attribute(analysis, calls)

    def _heap_growth(self, analysis: LeakAnalysis) -> growth.Growth | None:
        """The untraced heap over the traced calls: it only clears traced growth, never
        makes a leak (under tracing it carries tracemalloc's own tables)."""
        if not self.heap or any(h is None for h in self.heap):
            return None
        per_round = [(h or 0) / self.round_length for h in self.heap]
        heap = growth.per_call(per_round, threshold=self.min_bytes_per_iteration)
        analysis.heap_growth_per_iteration = heap.rate
        return heap

    def _attribute(self, analysis: LeakAnalysis, calls: int) -> None:
        contributors = self._contributors(calls)
        total = analysis.growth_per_call or 0.0
        shown = [s for s in contributors if total > 0 and s.share >= CONTRIBUTOR_SHARE]
        analysis.candidates = len(contributors)
        analysis.single_site = any(s.share >= SITE_SHARE for s in shown)
        analysis.rule += "; sites by their share of the traced growth"
        analysis.suspects = shown[:TOP_CONTRIBUTORS]

    def _contributors(self, calls: int) -> list[LeakSuspect]:
        """Every site that grew between the first and last checkpoint, largest first."""
        if self.first is None or self.last is None or calls <= 0:
            return []
        total = max(self.retained[-1] - self.retained[0], 1)
        diffs = [d for d in without_internal(self.last.compare_to(self.first, self.group_by))
                 if d.size_diff > 0]
        out = []
        for diff in sorted(diffs, key=lambda d: d.size_diff, reverse=True)[:50]:
            frame = innermost(diff.traceback)
            out.append(LeakSuspect(
                location=f"{frame.filename}:{frame.lineno}", filename=frame.filename,
                lineno=frame.lineno, bytes_per_iteration=diff.size_diff / calls,
                share=diff.size_diff / total, retained_bytes=diff.size_diff,
                count_growth=diff.count_diff, traceback=format_traceback(diff.traceback)))
        return out


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
