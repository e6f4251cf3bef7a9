"""Loop calibration: how many calls make one sample last at least ``--min-time``.

A call too short for the clock is timed in a loop, as pyperf does, so each sample is
long enough that the timer's resolution and its own overhead do not matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

MAX_LOOPS = 2**32
_OVERSHOOT = 1.1  # aim a little above min-time so the next try usually suffices
_MAX_STEP = 100  # never trust one short timing for more than a 100x jump


def find_loops(time_loops: Callable[[int], int], min_time_ns: int) -> int:
    """Smallest tried loop count whose timing reached ``min_time_ns``.

    ``time_loops(n)`` runs ``n`` calls and returns the elapsed nanoseconds.
    """
    loops = 1
    while True:
        elapsed = time_loops(loops)
        if elapsed >= min_time_ns or loops >= MAX_LOOPS:
            return loops
        factor = min_time_ns * _OVERSHOOT / elapsed if elapsed > 0 else _MAX_STEP
        factor = min(max(factor, 2.0), _MAX_STEP)
        loops = min(MAX_LOOPS, math.ceil(loops * factor))
