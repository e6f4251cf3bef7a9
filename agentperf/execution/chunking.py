"""How many tasks to send a worker process at once, from how long tasks take.

Sending one no-op task per message spends far more time in pipes than in the agent;
sending a thousand LLM calls at once leaves the other workers idle at the end of the
run. So a chunk is sized to hold about :data:`TARGET_CHUNK_S` of work, from a moving
average of the measured task durations, starting at one task until the first results
are in.

A chunk is also sized to stay under :data:`MAX_CHUNK_BYTES` pickled, half of what the
parent lets sit unread in one worker's pipe (``fleet.PIPE_BUDGET``), so a busy worker
can hold its next chunk. That is only the aim: the fleet's budget check is what keeps
a send from blocking, whatever an input weighs.
"""

from __future__ import annotations

import math

TARGET_CHUNK_S = 0.01
MAX_CHUNK = 1000
MAX_CHUNK_BYTES = 32 * 1024
#: Per-task cost of the worker loop itself (timing, result tuple), added to the agent's.
LOOP_OVERHEAD_S = 2e-6
_SMOOTHING = 0.3


class TaskDuration:
    """A moving average of task duration, and how many tasks fill ``target_s`` of work.

    Shared by the process pool (chunks) and the Dask backend (batches), which differ only
    in their target and cap.
    """

    def __init__(self, target_s: float, cap: int, overhead_s: float = 0.0) -> None:
        self.target_s = target_s
        self.cap = max(1, cap)
        self.overhead_s = overhead_s
        self.mean_s: float | None = None

    def observe(self, total_s: float, count: int) -> None:
        """Feed the wall time of ``count`` finished tasks."""
        if count <= 0:
            return
        per_task = total_s / count + self.overhead_s
        mean = self.mean_s
        self.mean_s = per_task if mean is None else mean + _SMOOTHING * (per_task - mean)

    def tasks_per_chunk(self) -> int:
        """1 until something is measured, then ``target_s`` worth of tasks, within the cap."""
        if self.mean_s is None:
            return 1
        if self.mean_s <= 0:
            return self.cap
        return max(1, min(self.cap, math.ceil(self.target_s / self.mean_s)))


class ChunkSizer:
    """The current chunk size; fixed when the user set one, else adapted to task duration."""

    def __init__(self, fixed: int | None, cap: int = MAX_CHUNK) -> None:
        self.cap = max(1, cap)
        self.fixed = fixed is not None
        self.size = min(fixed, self.cap) if fixed is not None else 1
        self._duration = TaskDuration(TARGET_CHUNK_S, self.cap, LOOP_OVERHEAD_S)
        self._by_time = self.size  # what the task durations (or the user) ask for
        self._by_bytes = self.cap

    def observe(self, total_latency_s: float, count: int) -> None:
        """Feed the wall time of ``count`` finished tasks."""
        if self.fixed or count <= 0:
            return
        self._duration.observe(total_latency_s, count)
        self._by_time = self._duration.tasks_per_chunk()
        self._resize()

    def observe_bytes(self, payload_bytes: int, count: int) -> None:
        """Feed the pickled size of a chunk of ``count`` inputs (applies to fixed sizes too)."""
        if count > 0 and payload_bytes > 0:
            self._by_bytes = int(MAX_CHUNK_BYTES / (payload_bytes / count))
            self._resize()

    def _resize(self) -> None:
        self.size = max(1, min(self.cap, self._by_time, self._by_bytes))
