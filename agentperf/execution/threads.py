"""Threads mode: a pool of daemon threads fed through the sliding window.

A thread cannot be killed, so a task past its deadline is reported as timed out at
that moment and its thread is abandoned (it ends whenever the call returns, its late
result dropped) while a fresh thread takes its place: a hung agent costs one idle
thread, never capacity. Threads are daemons so a hung agent cannot block exit.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Generator, Iterable
from queue import Empty, SimpleQueue
from time import perf_counter
from typing import Any

from agentperf.execution.attempts import (
    CPU_MIN_WALL_S,
    Retrier,
    Retry,
    RetryPolicy,
    timed_call,
    timeout_result,
)
from agentperf.execution.base import (
    ExecutionSettings,
    ExecutorInfo,
    Task,
    TaskResult,
    default_max_in_flight,
    default_workers,
    settled,
)
from agentperf.execution.feed import Item, TaskFeed
from agentperf.execution.gate import StartGate
from agentperf.execution.lifecycle import GeneratorExecutor
from agentperf.workload.adapters import AgentAdapter

_INF = float("inf")


class _Worker:
    """One thread's state, read by the parent to find tasks past their deadline."""

    __slots__ = ("abandoned", "current", "lock", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.current: tuple[Item, float] | None = None  # (item, started) while it runs
        self.abandoned = False
        self.lock = threading.Lock()


class _Pool:
    """Daemon threads taking items from ``inbox`` and putting (item, result) in ``outbox``."""

    def __init__(self, call: Callable[[Any], Any], size: int, track: bool,
                 measure_cpu: bool = True) -> None:
        self.inbox: SimpleQueue[Item | None] = SimpleQueue()
        self.outbox: SimpleQueue[tuple[Item, TaskResult]] = SimpleQueue()
        self.workers: set[_Worker] = set()
        self.closed = False
        self._call = call
        self._track = track  # only timeouts need to know what each thread is running
        self._measure_cpu = measure_cpu  # False for async agents: the loop's CPU is not theirs
        self._names = itertools.count(1)
        for _ in range(size):
            self.spawn()

    def spawn(self) -> None:
        worker = _Worker(f"thread:{next(self._names)}")
        self.workers.add(worker)
        threading.Thread(target=self._work, args=(worker,), daemon=True,
                         name=f"agentperf-{worker.name}").start()

    def _work(self, worker: _Worker) -> None:
        get, put, call, track, name = (self.inbox.get, self.outbox.put, self._call,
                                       self._track, worker.name)
        measure_cpu = cpu_clock = self._measure_cpu
        while True:
            item = get()
            if item is None or self.closed:
                return
            task, attempt = item
            if track:
                worker.current = (item, perf_counter())
            ok, output, error, latency, cpu = timed_call(call, task.input, cpu_clock)
            cpu_clock = measure_cpu and latency >= CPU_MIN_WALL_S
            result = TaskResult(task.index, ok, output, error, latency, cpu, attempt, False, name)
            if track:
                with worker.lock:
                    if worker.abandoned:
                        return
                    worker.current = None
            put((item, result))

    def abandon(self, worker: _Worker, current: tuple[Item, float]) -> bool:
        """Give up on ``worker`` if it is still running ``current``; start a replacement."""
        with worker.lock:
            if worker.current is not current:
                return False
            worker.abandoned = True
        self.workers.discard(worker)
        self.spawn()
        return True

    def shutdown(self) -> None:
        """Stop every thread after its current call; queued items are dropped."""
        self.closed = True
        for _ in range(len(self.workers)):
            self.inbox.put(None)


class ThreadExecutor(GeneratorExecutor):
    """Runs tasks on ``workers`` threads, at most ``max_in_flight`` pending at once."""

    def __init__(self, adapter: AgentAdapter, settings: ExecutionSettings, *,
                 mode: str = "threads", workers: int | None = None,
                 max_in_flight: int | None = None, reason: str = "",
                 gate: StartGate | None = None) -> None:
        workers = workers or settings.workers or default_workers("threads")
        max_in_flight = (max_in_flight or settings.max_in_flight
                         or default_max_in_flight("threads", workers))
        self.info = ExecutorInfo(mode=mode, workers=workers, max_in_flight=max_in_flight,
                                 reason=reason)
        self._adapter = adapter
        self._timeout = settings.timeout_s
        self._policy = RetryPolicy.from_settings(settings)
        self._gate = gate

    def _iterate(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        feed = TaskFeed(tasks, self.info.max_in_flight, self._gate)
        pool = _Pool(self._adapter.call, self.info.workers, self._timeout is not None,
                     not self._adapter.is_async)
        put, get = pool.inbox.put, pool.outbox.get
        retrier = Retrier(self._policy)
        timeout, window = self._timeout, self.info.max_in_flight
        next_check = perf_counter() + timeout if timeout is not None else _INF
        try:
            while True:
                now = perf_counter()
                ready: list[TaskResult] = []
                for item in feed.take(window, now):
                    if (done := settled(item[0])) is None:
                        put(item)
                    else:
                        feed.finish()
                        ready.append(done)
                yield from ready  # hits, handed over before more inputs are read
                if feed.done:
                    return
                try:
                    # After hits, only collect what is ready: hits must not starve results.
                    item, result = get(True, 0.0 if ready else _wait_s(feed, now, next_check))
                except Empty:
                    pass
                else:
                    # A first try that succeeded needs no ruling (the hot path stays short).
                    step = result if result.ok and result.attempts == 1 else retrier.step(
                        item[0], result)
                    if type(step) is Retry:
                        feed.retry_at(item[0], step.attempt, step.at)
                    else:
                        feed.finish()
                        yield step
                if timeout is not None and perf_counter() >= next_check:
                    expired, next_check = self._expire(pool, feed, retrier, timeout)
                    yield from expired
        finally:
            pool.shutdown()
            feed.close()
            retrier.clear()

    def _expire(self, pool: _Pool, feed: TaskFeed, retrier: Retrier, timeout: float
                ) -> tuple[list[TaskResult], float]:
        """Report tasks past their deadline; return them and when to look again.

        No task that starts later can be due before ``earliest start + timeout``, so the
        threads are scanned about once per timeout period, not once per result.
        """
        now = perf_counter()
        earliest = now
        reports: list[TaskResult] = []
        for worker in list(pool.workers):
            current = worker.current
            if current is None:
                continue
            (task, attempt), started = current
            if now - started < timeout:
                earliest = min(earliest, started)
                continue
            if not pool.abandon(worker, current):
                continue
            step = retrier.step(task, timeout_result(task, attempt, timeout, now - started,
                                                     worker.name), started)
            if isinstance(step, Retry):
                feed.retry_at(task, step.attempt, step.at)
            else:
                feed.finish()
                reports.append(step)
        return reports, earliest + timeout


def _wait_s(feed: TaskFeed, now: float, next_check: float) -> float | None:
    """How long the parent may block for a result before it has other work to do."""
    deadline = next_check
    for at in (feed.next_retry_at(), feed.next_start_at(now)):
        if at is not None:
            deadline = min(deadline, at)
    return None if deadline == _INF else max(deadline - now, 0.0)
