"""The leak screen: does the untraced heap grow call after call over the timed pass?

Reading pymalloc's block count and glibc's malloc totals around each call costs a
microsecond, while tracing a call costs 5-10 calls. So the traced leak search (the
snapshots, ``compare_to`` and slope per site) runs only when this screen sees growth,
or when the user asks for it with ``--trace-iterations``.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentperf.measure.stats import linear_trend
from agentperf.profiling.result import CallRecord

MIN_CALLS = 3
MIN_BLOCKS_PER_CALL = 0.5  # a leak of Python objects keeps at least one block per call


@dataclass(frozen=True)
class Screen:
    suspicious: bool
    reason: str
    blocks_per_call: float | None = None
    malloc_bytes_per_call: float | None = None


def screen_heap(timed: list[CallRecord], min_bytes_per_call: float) -> Screen:
    calls = [c for c in timed if c.ok]
    if len(calls) >= 2 * MIN_CALLS:
        calls = calls[len(calls) // 3:]  # allocator and cache warm-up shows in the first calls
    if len(calls) < MIN_CALLS:
        return Screen(True, f"fewer than {MIN_CALLS} timed calls to screen")
    blocks = _slope([c.heap_blocks_delta for c in calls])
    malloc = _slope([c.malloc_bytes_delta for c in calls])
    if malloc is None:
        return Screen(True, "no malloc figures on this platform", blocks, None)
    grows_blocks = blocks is not None and blocks >= MIN_BLOCKS_PER_CALL
    grows_malloc = malloc >= min_bytes_per_call / 2
    if grows_blocks or grows_malloc:
        return Screen(True, f"the heap grew by {blocks or 0:.1f} blocks and "
                      f"{malloc:,.0f} malloc bytes per call", blocks, malloc)
    return Screen(False, "the heap did not grow call after call", blocks, malloc)


def _slope(deltas: list[int | None]) -> float | None:
    """Growth per call, None when a platform gave no figure for some call."""
    if any(d is None for d in deltas):
        return None
    return growth_per_call([d or 0 for d in deltas])


def growth_per_call(deltas: list[int], *, min_r_squared: float = 0.0) -> float:
    """The slope of the running total of per-call deltas, 0 unless it rises significantly
    (and, with ``min_r_squared``, steadily)."""
    cumulative, total = [], 0
    for delta in deltas:
        total += delta
        cumulative.append(float(total))
    trend = linear_trend([float(i) for i in range(len(cumulative))], cumulative)
    rising = trend.direction == "increasing" and trend.r_squared >= min_r_squared
    return trend.slope if rising else 0.0
