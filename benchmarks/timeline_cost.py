"""What the run timeline costs, side by side with what run-batch already pays per task.

    python benchmarks/timeline_cost.py

Per task: ``TimelineRecorder.add_task`` against ``TaskTally.add`` (run-batch's existing
per-task bookkeeping, one HDR histogram record) on the same TaskResults, interleaved,
best of five. Per interval: the snapshot work of one interval (three percentiles from its
sketch) and the pairwise merge that halves the timeline, amortised per interval.
Memory: 2,000 intervals each with latencies in many buckets (the bound), against the same
2,000 intervals as one HDR histogram each (the structure a sketch replaces).
Targets: under 20 MB for the timeline and under 1 ms per interval.
"""

from __future__ import annotations

import random
import time
import tracemalloc

from agentperf.execution.base import TaskResult
from agentperf.measure.histogram import LatencyHistogram
from agentperf.measure.tally import TaskTally
from agentperf.measure.timeline import TimelineRecorder

TASKS = 200_000


def _results() -> list[TaskResult]:
    rng = random.Random(1)
    return [
        TaskResult(index=i, ok=True, latency_s=rng.lognormvariate(-4, 0.6), attempts=1)
        for i in range(TASKS)
    ]


def per_task() -> tuple[float, float]:
    results = _results()
    best_tally = best_timeline = float("inf")
    for _ in range(5):
        tally = TaskTally()
        start = time.perf_counter()
        for r in results:
            tally.add(r)
        best_tally = min(best_tally, time.perf_counter() - start)
        timeline = TimelineRecorder()
        start = time.perf_counter()
        for r in results:
            timeline.add_task(r.latency_s, ok=r.ok, cache_hit=r.cache_hit, in_flight=8)
        best_timeline = min(best_timeline, time.perf_counter() - start)
    return best_tally / TASKS * 1e6, best_timeline / TASKS * 1e6


def per_interval() -> tuple[float, float, int]:
    """Snapshot time per interval, and merge time per interval over a run that merges."""
    clock = [0.0]
    rec = TimelineRecorder(1.0, 2000, clock=lambda: clock[0])
    rng = random.Random(2)
    merge_s = 0.0
    intervals = 20_000  # merges at 2,000, 4,000, 8,000 and 16,000 s
    for second in range(intervals):
        clock[0] = float(second)
        before = rec.merges
        start = time.perf_counter()
        rec.add_task(rng.lognormvariate(-4, 1.0), ok=True)  # the call that may merge
        if rec.merges != before:
            merge_s += time.perf_counter() - start
        for _ in range(4):
            rec.add_task(rng.lognormvariate(-4, 1.0), ok=True)
    start = time.perf_counter()
    snap = rec.snapshot()
    snapshot_s = time.perf_counter() - start
    return snapshot_s / len(snap.rows) * 1e3, merge_s / intervals * 1e3, rec.merges


def memory() -> tuple[float, float]:
    def spread(record: object) -> None:
        for latency in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0):
            record(latency)  # type: ignore[operator]

    tracemalloc.start()
    clock = [0.0]
    rec = TimelineRecorder(1.0, 2000, clock=lambda: clock[0])
    for second in range(2000):
        clock[0] = float(second)
        spread(lambda v: rec.add_task(v, ok=True, in_flight=8))
    timeline_mb = tracemalloc.get_traced_memory()[0] / 1024**2
    tracemalloc.stop()
    tracemalloc.start()
    hdrs = []
    for _ in range(2000):
        hist = LatencyHistogram()
        spread(hist.record)
        hdrs.append(hist)
    hdr_mb = tracemalloc.get_traced_memory()[0] / 1024**2
    tracemalloc.stop()
    return timeline_mb, hdr_mb


def main() -> None:
    tally_us, timeline_us = per_task()
    print(
        f"per task: TaskTally.add {tally_us:.2f} us, TimelineRecorder.add_task "
        f"{timeline_us:.2f} us ({timeline_us / tally_us:.2f}x the existing bookkeeping)"
    )
    snapshot_ms, merge_ms, merges = per_interval()
    verdict = "PASS" if snapshot_ms + merge_ms < 1.0 else "FAIL"
    print(
        f"per interval: snapshot {snapshot_ms * 1000:.1f} us, merging {merge_ms * 1000:.2f} us "
        f"amortised over {merges} merges ({verdict}: target < 1 ms)"
    )
    timeline_mb, hdr_mb = memory()
    verdict = "PASS" if timeline_mb < 20 else "FAIL"
    print(
        f"memory, 2,000 intervals: timeline {timeline_mb:.1f} MB ({verdict}: target < 20 MB); "
        f"one HDR histogram per interval would take {hdr_mb:.1f} MB "
        f"({hdr_mb / timeline_mb:.1f}x)"
    )


if __name__ == "__main__":
    main()
