"""Processes mode: worker processes of our own, fed chunks through the sliding window.

Not ``ProcessPoolExecutor``: one dead worker breaks it for good, and a running call
cannot be cancelled. Here each worker rebuilds the agent from its :class:`AgentRef`
once; a worker that dies or hangs past the timeout is killed and replaced, and only
the task it was running fails (``WorkerDied`` or ``Timeout``, retried if retries
remain). Tasks it had finished but not yet reported, and tasks queued behind the
culprit, run again on another worker: every input is reported exactly once.
"""

from __future__ import annotations

import pickle
from collections.abc import Generator, Iterable
from dataclasses import replace
from multiprocessing.connection import wait
from time import perf_counter
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.execution.attempts import (
    RetryPolicy,
    describe_exit,
    finish_retried,
    timeout_result,
    worker_died_error,
)
from agentperf.execution.base import (
    ExecutionSettings,
    ExecutorInfo,
    Task,
    TaskError,
    TaskResult,
    default_workers,
)
from agentperf.execution.chunking import MAX_CHUNK, ChunkSizer
from agentperf.execution.feed import Item, TaskFeed
from agentperf.execution.fleet import Fleet, Worker, is_connection, start_method
from agentperf.execution.lifecycle import GeneratorExecutor
from agentperf.workload.adapters import AgentRef

_INF = float("inf")
#: Workers that die before they are ready this many times in a row end the run.
MAX_STARTUP_DEATHS = 3
#: How long entering the executor waits for workers to build the agent; slower builds
#: go on in the background and the run starts on whichever workers are ready.
READY_WAIT_S = 30.0
#: A task lost with this many workers (none of which was running it) is failed.
MAX_REQUEUES = 3


class ProcessExecutor(GeneratorExecutor):
    """Runs tasks on ``workers`` processes, at most ``max_in_flight`` pending at once."""

    def __init__(self, agent: AgentRef, settings: ExecutionSettings, *,
                 reason: str = "") -> None:
        workers = settings.workers or default_workers("processes")
        cap = settings.chunk_size or MAX_CHUNK
        if settings.max_in_flight:
            cap = min(cap, max(1, settings.max_in_flight // (2 * workers)))
        max_in_flight = settings.max_in_flight or 2 * workers * cap
        self._method = start_method()
        self.info = ExecutorInfo(mode="processes", workers=workers, max_in_flight=max_in_flight,
                                 chunk_size=settings.chunk_size or 1, reason=reason,
                                 extra={"start_method": self._method})
        self._agent = agent
        self._timeout = settings.timeout_s
        self._policy = RetryPolicy.from_settings(settings)
        self._sizer = ChunkSizer(settings.chunk_size, cap)
        self._seq = 0  # sequence number of the next task sent, across all workers
        self._requeues: dict[int, int] = {}
        self._startup_deaths = 0
        self._fleet: Fleet | None = None
        self._largest_chunk = 0

    def start(self) -> None:
        """Start the workers and wait (up to :data:`READY_WAIT_S`) until they have built the
        agent, so a worker that cannot build it fails here and startup is not timed as work."""
        if self._fleet is not None:
            return
        self._fleet = fleet = Fleet(self._agent, self.info.workers, self._method)
        idle: TaskFeed = TaskFeed((), 0)
        deadline = perf_counter() + READY_WAIT_S
        try:
            while not all(w.ready for w in fleet.workers) and perf_counter() < deadline:
                table = fleet.waitables()
                for obj in wait(list(table), max(deadline - perf_counter(), 0.0)):
                    worker = table[obj]
                    if worker in fleet.workers and not worker.ready:
                        self._read(fleet, worker, idle, [], is_connection(obj))
        except BaseException:
            fleet.stop(kill=True)  # no __exit__ follows a failed __enter__
            self._fleet = None
            raise

    def close(self) -> None:
        super().close()
        if self._fleet is not None:  # started but never run
            self._fleet.stop(kill=True)

    def _iterate(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        feed = TaskFeed(tasks, self.info.max_in_flight)
        self.start()
        fleet = self._fleet
        assert fleet is not None
        timeout = self._timeout
        next_check = perf_counter() + timeout if timeout is not None else _INF
        try:
            while True:
                reports: list[TaskResult] = []
                self._dispatch(fleet, feed, reports)
                if feed.done and not reports:
                    return
                if not reports:
                    table = fleet.waitables()
                    for obj in wait(list(table), _wait_s(feed, next_check)):
                        worker = table[obj]
                        if worker in fleet.workers:
                            self._read(fleet, worker, feed, reports, is_connection(obj))
                if timeout is not None and perf_counter() >= next_check:
                    next_check = self._expire(fleet, feed, reports, timeout)
                yield from reports
        finally:
            fleet.stop(kill=not feed.done)
            feed.close()
            self.info = replace(self.info, chunk_size=max(self._largest_chunk, 1))

    def _dispatch(self, fleet: Fleet, feed: TaskFeed, reports: list[TaskResult]) -> None:
        """Top up every ready worker to two chunks' worth of queued tasks."""
        size = self._sizer.size
        now = perf_counter()
        for worker in sorted(fleet.workers, key=lambda w: len(w.queue)):
            while worker.ready and len(worker.queue) < size:
                items = feed.take(size, now)
                if not items:
                    return
                self._send(worker, items, feed, reports)

    def _send(self, worker: Worker, items: list[Item], feed: TaskFeed,
              reports: list[TaskResult]) -> None:
        """Send ``items`` as one chunk: (first sequence number, inputs)."""
        payload = self._payload(items)
        if payload is None:
            items = self._drop_unpicklable(items, feed, reports)
            if not items:
                return
            payload = self._payload(items) or b""
        try:
            worker.conn.send_bytes(payload)
        except OSError:
            for task, attempt in items:
                feed.again(task, attempt)  # the worker is dying; its sentinel says so next
            return
        self._sizer.observe_bytes(len(payload), len(items))
        first = self._seq
        self._seq += len(items)
        self._largest_chunk = max(self._largest_chunk, len(items))
        worker.queue.extend(zip(range(first, self._seq), items, strict=True))

    def _payload(self, items: list[Item]) -> bytes | None:
        try:
            return pickle.dumps((self._seq, [task.input for task, _ in items]),
                                pickle.HIGHEST_PROTOCOL)
        except Exception:
            return None

    def _drop_unpicklable(self, items: list[Item], feed: TaskFeed,
                          reports: list[TaskResult]) -> list[Item]:
        kept: list[Item] = []
        for task, attempt in items:
            try:
                pickle.dumps(task.input)
            except Exception as exc:
                error = TaskError("UnpicklableInput", f"input {type(task.input).__name__} "
                                  f"cannot be sent to a worker process: {exc}")
                # attempts 0: the agent was never called, so no latency is recorded for it
                reports.append(TaskResult(task.index, False, None, error, 0.0, None, 0))
                feed.finish()
            else:
                kept.append((task, attempt))
        return kept

    def _read(self, fleet: Fleet, worker: Worker, feed: TaskFeed, reports: list[TaskResult],
              from_pipe: bool) -> None:
        if not from_pipe:
            self._lost(fleet, worker, feed, reports, timed_out=False)
            return
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(fleet, worker, feed, reports, timed_out=False)
            return
        self._handle(worker, message, feed, reports)

    def _handle(self, worker: Worker, message: Any, feed: TaskFeed,
                reports: list[TaskResult]) -> None:
        if type(message) is list:
            self._collect(worker, message, feed, reports)
        elif message[0] == "ready":
            worker.ready = True
            self._startup_deaths = 0
        elif message[0] == "error":
            error: TaskError = message[1]
            raise AgentperfError(f"processes mode: a worker process could not build the "
                                 f"agent: {error.type}: {error.message}")

    def _collect(self, worker: Worker, batch: list[Any], feed: TaskFeed,
                 reports: list[TaskResult]) -> None:
        popleft, name, requeues, append = (worker.queue.popleft, worker.name, self._requeues,
                                           reports.append)
        total = 0.0
        finished = 0
        for ok, output, error, latency, cpu in batch:
            task, attempt = popleft()[1]
            total += latency
            if requeues:
                requeues.pop(id(task), None)
            if ok or not self._policy.should_retry(attempt):
                result = TaskResult(task.index, ok, output, error, latency, cpu, attempt, False,
                                    name)
                if attempt > 1:
                    finish_retried(result, feed.first_start(task), perf_counter())
                append(result)
                finished += 1
            else:
                now = perf_counter()
                feed.retry_at(task, attempt + 1, now + self._policy.delay(attempt),
                              now - latency)
        feed.in_flight -= finished
        self._sizer.observe(total, len(batch))

    def _lost(self, fleet: Fleet, worker: Worker, feed: TaskFeed, reports: list[TaskResult],
              *, timed_out: bool) -> None:
        """The worker died or was killed: keep what it reported, fail only its running task."""
        running = worker.running()
        worker.kill()
        for message in worker.drain():
            self._handle(worker, message, feed, reports)
        if not worker.ready:
            self._startup_deaths += 1
            if self._startup_deaths >= MAX_STARTUP_DEATHS:
                raise AgentperfError(
                    f"processes mode: worker processes keep dying before they are ready "
                    f"(the last {describe_exit(worker.process.exitcode)}); "
                    "try mode threads to see the agent's own error")
        now = perf_counter()
        for seq, (task, attempt) in worker.queue:
            if running is not None and seq == running[0]:
                self._fail(task, attempt, worker, feed, reports, now - running[1], timed_out)
            elif self._requeues.get(id(task), 0) >= MAX_REQUEUES:
                self._fail(task, attempt, worker, feed, reports, 0.0, False)
            else:
                self._requeues[id(task)] = self._requeues.get(id(task), 0) + 1
                feed.again(task, attempt)
        worker.queue.clear()
        fleet.replace(worker)

    def _fail(self, task: Task, attempt: int, worker: Worker, feed: TaskFeed,
              reports: list[TaskResult], elapsed: float, timed_out: bool) -> None:
        self._requeues.pop(id(task), None)
        now = perf_counter()
        if self._policy.should_retry(attempt):
            feed.retry_at(task, attempt + 1, now + self._policy.delay(attempt), now - elapsed)
            return
        feed.finish()
        if timed_out:
            assert self._timeout is not None
            result = timeout_result(task, attempt, self._timeout, elapsed, worker.name)
        else:
            error = worker_died_error(worker.name, worker.process.exitcode)
            result = TaskResult(task.index, False, None, error, elapsed, None, attempt, False,
                                worker.name)
        reports.append(finish_retried(result, feed.first_start(task), now))

    def _expire(self, fleet: Fleet, feed: TaskFeed, reports: list[TaskResult],
                timeout: float) -> float:
        """Kill workers whose task is past its deadline; return when to look again."""
        now = perf_counter()
        earliest = now
        for worker in list(fleet.workers):
            running = worker.running() if worker.queue else None
            if running is None:
                continue
            if now - running[1] < timeout:
                earliest = min(earliest, running[1])
                continue
            self._lost(fleet, worker, feed, reports, timed_out=True)
        return earliest + timeout


def _wait_s(feed: TaskFeed, next_check: float) -> float | None:
    retry_at = feed.next_retry_at()
    deadline = next_check if retry_at is None else min(next_check, retry_at)
    return None if deadline == _INF else max(deadline - perf_counter(), 0.0)
