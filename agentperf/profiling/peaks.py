"""A tracemalloc snapshot taken near the traced peak of one call, and that call's peak.

A snapshot after a call shows only what the call kept; an agent that builds 50 MB and
frees it shows nothing. So during one call the RSS sampler thread (every tick) and, for
short calls, a profile hook (every function and C-call return) watch the traced memory
and snapshot it each time it has grown by half again since the last snapshot, leaving at
least three times a snapshot's cost between two: the kept snapshot holds two thirds of
the call's peak or more when the peak lasts, and snapshots take at most a quarter of
the call's time.

tracemalloc does not trace the memory of its own snapshots (it builds them with tracing
suspended in the building thread), so the call's traced peak stays the workload's.
"""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from types import FrameType
from typing import Any

GROWTH_STEP = 1.5
FLOOR_BYTES = 64 * 1024
SPACING = 3.0  # wait 3x a snapshot's cost before the next: snapshots take at most a quarter


class PeakCapture:
    """Use as a context manager around one traced call; then read :attr:`snapshot`."""

    def __init__(self, *, hook: bool = True, step: float = GROWTH_STEP,
                 floor_bytes: int = FLOOR_BYTES) -> None:
        self.hook = hook
        self.step = step
        self.floor_bytes = floor_bytes
        self.snapshot: tracemalloc.Snapshot | None = None
        self.captured_bytes = 0  # traced memory above the start when the snapshot was taken
        self.peak_bytes = 0  # the call's traced peak above the start
        self._lock = threading.Lock()
        self._active = False
        self._base = 0
        self._next = 0
        self._hooked = False
        self._free_at = 0.0  # no snapshot before this perf_counter time: bounds our overhead

    def __enter__(self) -> PeakCapture:
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]
        self._next = self._base + self.floor_bytes
        self._active = True
        # Another profiler (cProfile, a debugger) keeps its hook; the sampler's ticks remain.
        self._hooked = self.hook and sys.getprofile() is None
        if self._hooked:
            sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._hooked:
            sys.setprofile(None)
        with self._lock:
            self._active = False
            self.peak_bytes = max(tracemalloc.get_traced_memory()[1] - self._base, 0)

    @property
    def base_bytes(self) -> int:
        return self._base

    def check(self) -> None:
        """Snapshot now if traced memory reached the next step (safe from any thread)."""
        if not self._active or not self._lock.acquire(blocking=False):
            return
        try:
            if self._active:
                current = tracemalloc.get_traced_memory()[0]
                if current >= self._next and time.perf_counter() >= self._free_at:
                    self._take(current)
        finally:
            self._lock.release()

    def _take(self, current: int) -> None:
        started = time.perf_counter()
        self.snapshot = None  # free the last one first: snapshots are large (untraced) objects
        self.snapshot = tracemalloc.take_snapshot()
        ended = time.perf_counter()
        self._free_at = ended + SPACING * (ended - started)
        self.captured_bytes = current - self._base
        self._next = self._base + max(self.floor_bytes, int(self.captured_bytes * self.step))

    def _hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "return" or event == "c_return":
            self.check()
