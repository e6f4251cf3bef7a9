"""The sliding window over the input stream, shared by the threads and processes backends.

Inputs are pulled one at a time, only while fewer than ``max_in_flight`` tasks are
pending, so a million-input run holds no more than a window of them. A task waiting
out its retry backoff, or re-queued because its worker died before reporting it, still
counts as pending. A :class:`~agentperf.execution.gate.StartGate` (an open model's
schedule, a rate limit, a duration) decides when a new input may start.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Iterator

from agentperf.execution.base import Task
from agentperf.execution.gate import StartGate

#: A task and the try number it is about to get (1 for the first try).
Item = tuple[Task, int]


class TaskFeed:
    """Hands out tasks lazily within the window; holds retries until their backoff ends."""

    def __init__(self, tasks: Iterable[Task], max_in_flight: int,
                 gate: StartGate | None = None) -> None:
        self._tasks: Iterator[Task] = iter(tasks)
        self.gate = gate
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.exhausted = False
        self._later: list[tuple[float, int, Task, int]] = []
        self._again: deque[Item] = deque()
        self._order = itertools.count()

    @property
    def done(self) -> bool:
        """Every input has been pulled and every pulled task has been reported."""
        return self.exhausted and self.in_flight == 0

    def take(self, limit: int, now: float) -> list[Item]:
        """Up to ``limit`` items: re-queued ones first, then due retries, then new inputs."""
        items: list[Item] = []
        while self._again and len(items) < limit:
            items.append(self._again.popleft())
        later = self._later
        while later and later[0][0] <= now and len(items) < limit:
            _, _, task, attempt = heapq.heappop(later)
            items.append((task, attempt))
        room = min(limit - len(items), self.max_in_flight - self.in_flight)
        if self.gate is not None:
            return items + self._gated(room, now) if not self.exhausted else items
        if room > 0 and not self.exhausted:
            # islice and zip run in C: a chunk of a thousand inputs costs no Python loop.
            fresh = list(zip(itertools.islice(self._tasks, room), itertools.repeat(1)))
            self.in_flight += len(fresh)
            if len(fresh) < room:
                self.exhausted = True
            if items:
                items.extend(fresh)
            else:
                items = fresh
        return items

    def _gated(self, room: int, now: float) -> list[Item]:
        """New inputs as the gate allows (it counts drops even when there is no room)."""
        gate = self.gate
        assert gate is not None
        fresh: list[Item] = []
        if room <= 0 and gate.schedule is not None:
            gate.ready(now, self.in_flight)  # slots still come due: count the drops
        while len(fresh) < room and (allowed := gate.ready(now, self.in_flight)) > 0:
            for _ in range(min(allowed, room - len(fresh))):
                task = next(self._tasks, None)
                if task is None:
                    self.exhausted = True
                    return fresh
                gate.release(task, now)
                self.in_flight += 1
                fresh.append((task, 1))
        if gate.ended:
            self.exhausted = True
        return fresh

    def next_start_at(self, now: float) -> float | None:
        """When the gate may let the next input start by the clock (None: no gate, or
        only a finished task can make room)."""
        if self.gate is None or self.exhausted:
            return None
        return self.gate.next_at(now)

    def finish(self) -> None:
        """A task was reported for good (succeeded, or failed with no tries left)."""
        self.in_flight -= 1

    def retry_at(self, task: Task, attempt: int, when: float) -> None:
        """Schedule try number ``attempt`` of ``task`` for time ``when`` (perf_counter);
        the retry rule (:class:`~agentperf.execution.attempts.Retrier`) chose both."""
        heapq.heappush(self._later, (when, next(self._order), task, attempt))

    def again(self, task: Task, attempt: int) -> None:
        """Run this try again at once: it was lost with its worker, not failed by the agent."""
        self._again.append((task, attempt))

    def next_retry_at(self) -> float | None:
        return self._later[0][0] if self._later else None

    def close(self) -> None:
        """Drop the input iterator, closing a lazily read file or generator now."""
        self._later.clear()
        self._again.clear()
        close = getattr(self._tasks, "close", None)
        self._tasks = iter(())
        self.exhausted = True
        if close is not None:
            close()
