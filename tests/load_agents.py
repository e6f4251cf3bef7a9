"""Agents for the load-shape tests: each returns the wall-clock time its call started,
so a test measures when calls really began, in any process, not what the gate intended."""

from __future__ import annotations

import threading
import time
from typing import Any


def stamp(value: Any) -> float:
    """A 2 ms call that returns when it started (time.time: comparable across processes)."""
    started = time.time()
    time.sleep(0.002)
    return started


async def astamp(value: Any) -> float:
    import asyncio

    started = time.time()
    await asyncio.sleep(0.002)
    return started


def slow(value: Any) -> float:
    """A 50 ms call: one worker keeps up with 20 starts a second, not 100."""
    started = time.time()
    time.sleep(0.05)
    return started


class StallOnce:
    """5 ms calls, except call number ``at``, which stalls for ``stall_s``."""

    def __init__(self, stall_s: float = 1.0, at: int = 20) -> None:
        self.stall_s = stall_s
        self.at = at
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, value: Any) -> float:
        with self._lock:
            self.calls += 1
            stall = self.calls == self.at
        started = time.time()
        time.sleep(self.stall_s if stall else 0.005)
        return started
