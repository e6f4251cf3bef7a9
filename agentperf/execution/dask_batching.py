"""How many inputs go into one Dask task, and how many may be outstanding at once.

Dask spends 200 us to 1 ms of scheduler and network time per task (its own docs), so a
1 us agent sent one input per task would run at Dask's speed, not the agent's. Batches
are sized so one batch takes about ``TARGET_BATCH_S`` on a worker: long enough to hide
the overhead, short enough that results still stream back several times a second and
the last batches of a run balance across workers.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentperf.execution.base import Task, TaskError, TaskResult, settled
from agentperf.execution.chunking import TaskDuration

if TYPE_CHECKING:
    from agentperf.execution.feed import TaskFeed

TARGET_BATCH_S = 0.05
MAX_CHUNK = 2000
BATCHES_PER_THREAD = 2  # one running and one queued per worker thread hides the round trip


@dataclass(frozen=True)
class Window:
    """The sliding-window limits: inputs outstanding and inputs per batch."""

    max_in_flight: int
    chunk_size: int


class WindowPlanner:
    """Tracks the mean task duration and turns it into a batch size and an in-flight window.

    The processes backend's :class:`agentperf.execution.chunking.ChunkSizer` sizes chunks
    from the same :class:`TaskDuration`; this one also plans how many inputs a cluster
    may hold outstanding, which a local pool does not need.

    Before anything is measured the sizer sends one input per batch (a probe per
    worker thread); after that the size follows a moving average, so a workload that
    slows down mid-run gets smaller batches.
    """

    def __init__(self, threads: int, *, fixed: int | None = None,
                 max_in_flight: int | None = None) -> None:
        self.threads = max(threads, 1)
        self.fixed = fixed
        self.user_max_in_flight = max_in_flight
        self._duration = TaskDuration(TARGET_BATCH_S, MAX_CHUNK)
        self.smallest = self.largest = self.current = fixed or 1

    @property
    def mean_task_s(self) -> float | None:
        return self._duration.mean_s

    @property
    def calibrated(self) -> bool:
        return self.fixed is not None or self.mean_task_s is not None

    @property
    def probes(self) -> int:
        """Batches to send before the first measurement comes back."""
        return self.threads

    def observe(self, results: Sequence[TaskResult]) -> None:
        measured = [r.latency_s for r in results if not r.cache_hit]
        if not measured:
            return
        first = self.mean_task_s is None
        self._duration.observe(sum(measured), len(measured))
        self.current = self.window().chunk_size
        if first:
            self.smallest = self.largest = self.current
        self.smallest = min(self.smallest, self.current)
        self.largest = max(self.largest, self.current)

    def window(self) -> Window:
        batches = self.threads * BATCHES_PER_THREAD
        chunk = self.fixed if self.fixed is not None else self._duration.tasks_per_chunk()
        if self.user_max_in_flight is not None:
            if self.fixed is None:
                chunk = min(chunk, max(1, self.user_max_in_flight // batches))
            chunk = min(chunk, self.user_max_in_flight)
            return Window(self.user_max_in_flight, chunk)
        return Window(chunk * batches, chunk)

    def describe(self) -> str:
        if self.fixed is not None:
            return f"batches of {self.fixed} (execution.chunk_size)"
        if self.mean_task_s is None:
            return "batches of 1 (no task measured yet)"
        span = (f"{self.current}" if self.smallest == self.largest
                else f"{self.current} (ranged {self.smallest}-{self.largest})")
        return (f"batches of {span}: mean task {self.mean_task_s * 1000:.3g} ms, "
                f"target {TARGET_BATCH_S * 1000:g} ms per batch")


class BatchWindow:
    """The sliding window: pulls inputs lazily, submits batches, tracks what is outstanding.

    ``submit(batch, sequence)`` returns a Dask future; ``done`` is the ``as_completed``
    the futures are added to. At most ``sizer.window().max_in_flight`` inputs are
    outstanding, except while the sizer is still probing (one input per batch).
    """

    def __init__(self, tasks: Iterator[Task], sizer: WindowPlanner,
                 submit: Callable[[list[Task], int], Any], done: Any,
                 feed: TaskFeed | None = None) -> None:
        self._tasks = tasks
        self._feed = feed  # with a start gate, new inputs come through it
        self._sizer = sizer
        self._submit_batch = submit
        self._done = done
        self._pending: dict[Any, tuple[Any, list[Task]]] = {}
        self._unsent: list[TaskResult] = []
        self._outstanding = 0
        self._sequence = 0
        self.exhausted = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def refill(self) -> None:
        window = self._sizer.window()
        while not self.exhausted:
            if not self._sizer.calibrated and len(self._pending) >= self._sizer.probes:
                return
            size = window.chunk_size
            # Results not handed over yet (hits, unsendable inputs) count against the window.
            if window.max_in_flight - self._outstanding - len(self._unsent) < size:
                return
            batch = self._pull(size)
            if not batch:
                self.exhausted = self._feed is None or self._feed.exhausted
                return
            self._submit(batch)

    def _pull(self, size: int) -> list[Task]:
        feed = self._feed
        if feed is None:
            return list(islice(self._tasks, size))
        feed.in_flight = self._outstanding + len(self._unsent)  # the gate counts these
        return [task for task, _ in feed.take(size, perf_counter())]

    def _submit(self, batch: list[Task]) -> None:
        ready = [done for task in batch if (done := settled(task)) is not None]
        if ready:  # cache hits carry their result: nothing to send
            self._unsent.extend(ready)
            batch = [task for task in batch if task.result is None]
            if not batch:
                return
        self._sequence += 1  # never reuse a key, even one whose submission failed
        try:
            future = self._submit_batch(batch, self._sequence)
        except (TypeError, pickle.PicklingError) as exc:  # an input that cannot be pickled
            if len(batch) > 1:
                self.resubmit_one_by_one(batch)
            else:
                self._unsent.append(_unsendable(batch[0], exc))
            return
        self._pending[future.key] = (future, batch)
        self._outstanding += len(batch)
        self._done.add(future)

    def drain_unsent(self) -> list[TaskResult]:
        unsent, self._unsent = self._unsent, []
        return unsent

    def finished(self, future: Any) -> list[Task]:
        _, batch = self._pending.pop(future.key)
        self._outstanding -= len(batch)
        return batch

    def resubmit_one_by_one(self, batch: list[Task]) -> None:
        for task in batch:
            self._submit([task])

    def cancel(self) -> list[Any]:
        """Forget what is outstanding (early close, Ctrl-C); return its futures to cancel."""
        futures = [future for future, _ in self._pending.values()]
        self._pending.clear()
        return futures


def _unsendable(task: Task, exc: BaseException) -> TaskResult:
    cause = exc.__cause__ or exc
    error = TaskError(type(cause).__name__,
                      f"this input cannot be sent to the Dask workers: {cause}")
    return TaskResult(index=task.index, ok=False, error=error)
