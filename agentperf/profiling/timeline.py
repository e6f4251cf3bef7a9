"""A background thread sampling RSS every few milliseconds, with call boundaries marked.

Samples go into ``array`` buffers rather than lists of ints, so the sampler retains no
Python objects allocated by psutil: a steadily growing list of psutil's ints would
otherwise look like a leak in psutil to the tracemalloc leak search.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable

from agentperf.profiling.result import CallMark, Timeline
from agentperf.profiling.rss import RssReader

INITIAL_CAPACITY = 8192  # samples: 82 s at 10 ms before the buffers double


class RssSampler:
    """Start, mark calls, stop, then :meth:`timeline` for the result.

    ``on_tick`` runs on the sampler thread after every sample; the tracer uses it to
    catch a call's traced peak while a long C call holds no Python frame boundary.
    """

    def __init__(self, interval_s: float = 0.01, include_children: bool = False,
                 on_tick: Callable[[], None] | None = None) -> None:
        if interval_s <= 0:
            raise ValueError("interval must be positive")
        self.interval_s = interval_s
        self.include_children = include_children
        self.on_tick = on_tick
        self._reader = RssReader(include_children)
        # Preallocated and filled by index: a buffer growing during a call would show in
        # the heap screen as the workload's growth.
        self._times = array("d", bytes(8 * INITIAL_CAPACITY))
        self._rss = array("q", bytes(8 * INITIAL_CAPACITY))
        self._count = 0
        self._mark_index = array("q")
        self._mark_phase: list[str] = []
        self._mark_bounds = array("d")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._t_end = 0.0

    def start(self) -> RssSampler:
        self._t0 = time.perf_counter()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="agentperf-rss", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self._reader.close()
        self._t_end = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def mark(self, index: int, phase: str, start_s: float, end_s: float) -> None:
        """Record a call's boundaries (seconds from :meth:`now`)."""
        self._mark_index.append(index)
        self._mark_phase.append(phase)
        self._mark_bounds.append(start_s)
        self._mark_bounds.append(end_s)

    def _run(self) -> None:
        # Ticks are scheduled on a fixed grid, so time spent waiting for the GIL or in
        # on_tick does not stretch every later interval.
        due = time.perf_counter()
        while True:
            due += self.interval_s
            if self._stop.wait(max(due - time.perf_counter(), 0.0)):
                return
            self._sample()
            if self.on_tick is not None:
                self.on_tick()
            due = max(due, time.perf_counter() - self.interval_s)

    def _sample(self) -> None:
        if self._count == len(self._times):
            self._times.extend(self._times)
            self._rss.extend(self._rss)
        self._rss[self._count] = self._reader.rss()
        self._times[self._count] = time.perf_counter() - self._t0
        self._count += 1

    def timeline(self, *, peak_hwm_bytes: int | None,
                 traced_peak_bytes: int | None) -> Timeline:
        times, rss = self._times[:self._count], self._rss[:self._count]
        samples = list(zip(times, rss, strict=True))
        marks = [CallMark(int(i), phase, self._mark_bounds[2 * n], self._mark_bounds[2 * n + 1])
                 for n, (i, phase) in enumerate(zip(self._mark_index, self._mark_phase,
                                                    strict=True))]
        spacing = None
        if len(times) > 2:
            spacing = (times[-1] - times[0]) / (len(times) - 1)
        return Timeline(
            interval_s=self.interval_s, achieved_interval_s=spacing,
            include_children=self.include_children, samples=samples, marks=marks,
            peak_sampled_bytes=max(rss) if rss else None,
            peak_hwm_bytes=peak_hwm_bytes, traced_peak_bytes=traced_peak_bytes,
            duration_s=self._t_end - self._t0,
        )
