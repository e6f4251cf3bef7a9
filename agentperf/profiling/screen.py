"""The leak screen: could the untraced heap have grown call after call in the timed pass?

Reading pymalloc's block count and glibc's malloc totals around each call costs a
microsecond, while tracing a call costs 5-10 calls. So the rounds of the traced leak
search run only when this screen cannot rule growth out, with the same growth rule
(:mod:`agentperf.measure.growth`) the search and monitor use: the search is skipped only
when the heap's growth is confidently below the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentperf.measure import growth
from agentperf.profiling.heap import SMALL_BLOCK_BYTES
from agentperf.profiling.result import CallRecord


@dataclass(frozen=True)
class Screen:
    suspicious: bool
    reason: str
    bytes_per_call: float | None = None
    judged: growth.Growth | None = None


def screen_heap(timed: list[CallRecord], min_bytes_per_call: float,
                round_length: int = 1) -> Screen:
    """``round_length``: calls per pass over the inputs, so batches hold whole passes."""
    calls = [c for c in timed if c.ok]
    deltas = [heap_bytes(c) for c in calls]
    if any(d is None for d in deltas):
        return Screen(True, "no malloc figures on this platform")
    judged = growth.per_call([float(d or 0) for d in deltas], threshold=min_bytes_per_call,
                             round_length=round_length)
    return Screen(judged.may_grow, f"heap screen: {judged.rule}", judged.rate, judged)


def heap_bytes(call: CallRecord) -> float | None:
    """The untraced heap bytes a call kept: malloc's in-use bytes plus pymalloc blocks."""
    if call.malloc_bytes_delta is None or call.heap_blocks_delta is None:
        return None
    return float(call.malloc_bytes_delta + call.heap_blocks_delta * SMALL_BLOCK_BYTES)
