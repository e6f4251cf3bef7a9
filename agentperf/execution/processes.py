"""Processes mode: worker processes of our own, fed chunks through the sliding window.

Not ``ProcessPoolExecutor``: one dead worker breaks it for good, and a running call
cannot be cancelled. Here each worker rebuilds the agent from its :class:`AgentRef`
once (within ``build_timeout_s``); a worker that dies or hangs past the timeout is
killed and replaced, and only the task it was running fails (``WorkerDied`` or
``Timeout``, retried if retries remain). No send to a worker can block the parent (see
:mod:`agentperf.execution.fleet`), so a stuck worker never delays the timeout.

Every input is reported exactly once, and the agent is called once per input unless
a result says otherwise. The worker marks each finished task in shared memory, so when
a worker is lost the parent knows which of its tasks finished, which was running and
which never started. Before killing a hung worker it asks for the finished results the
worker still holds (``SIGUSR1``, answered between bytecodes of the hung call). Tasks
that never started simply run elsewhere. A task that may have run twice (the running
task, retried; or a finished task whose result died with the worker because the agent
never let the worker answer) runs again with ``attempts`` counting every call and
``reran_after_worker_loss`` set on its result.
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Generator, Iterable
from dataclasses import replace
from multiprocessing.connection import wait
from time import perf_counter
from typing import Any

from agentperf.errors import AgentperfError, ExitCode
from agentperf.execution.attempts import (
    Retrier,
    Retry,
    RetryPolicy,
    describe_exit,
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
    settled,
)
from agentperf.execution.chunking import MAX_CHUNK, ChunkSizer
from agentperf.execution.feed import Item, TaskFeed
from agentperf.execution.fleet import Fleet, Worker, is_connection
from agentperf.execution.gate import StartGate
from agentperf.execution.lifecycle import GeneratorExecutor
from agentperf.execution.memory import memory_budget, reported
from agentperf.execution.proc_worker import BASELINE, PEAK, RUN_QUEUE
from agentperf.execution.worker_start import start_method
from agentperf.workload.adapters import AgentRef

_INF = float("inf")
#: Workers that die before they are ready this many times in a row end the run.
MAX_STARTUP_DEATHS = 3
#: A task lost with this many workers (none of which was running it) is failed.
MAX_REQUEUES = 3
#: How long a hung worker gets to send the finished results it holds before it is killed.
FLUSH_GRACE_S = 0.5


class WorkerBuildError(AgentperfError):
    """The agent raised while a worker process built it (auto falls back to in-process)."""


class ProcessExecutor(GeneratorExecutor):
    """Runs tasks on ``workers`` processes, at most ``max_in_flight`` pending at once."""

    def __init__(self, agent: AgentRef, settings: ExecutionSettings, *,
                 reason: str = "", gate: StartGate | None = None,
                 report_memory: bool = True) -> None:
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
        self._build_timeout = settings.build_timeout_s
        self._held: deque[Item] = deque()  # taken from the feed, waiting for room in a pipe
        self._reran: set[int] = set()  # indexes of tasks that may have run twice
        self._probing = False
        self._retrier = Retrier(RetryPolicy.from_settings(settings))
        self._sizer = ChunkSizer(settings.chunk_size, cap)
        self._seq = 0  # sequence number of the next task sent, across all workers
        self._requeues: dict[int, int] = {}
        self._startup_deaths = 0
        self._fleet: Fleet | None = None
        self._largest_chunk = 0
        self.gate = gate  # auto hands a started fleet its gate when it picks processes
        #: Each worker's (baseline, largest call peak) as last read; kept past the fleet.
        self._memory: dict[str, tuple[float, float]] = {}
        self._budget = memory_budget(settings.memory_budget) if report_memory else None
        self._max_in_flight = settings.max_in_flight

    def start(self) -> None:
        """Start the workers and wait until they have built the agent, so a worker that
        cannot build it fails here and start-up is not timed as work."""
        if self._fleet is not None:
            return
        self._fleet = fleet = Fleet(self._agent, self.info.workers, self._method)
        idle: TaskFeed = TaskFeed((), 0)
        try:
            while not all(w.ready for w in fleet.workers):
                self._check_builds(fleet)
                table = fleet.waitables()
                for obj in wait(list(table), self._build_wait_s(fleet)):
                    worker = table[obj]
                    if worker in fleet.workers and not worker.ready:
                        self._read(fleet, worker, idle, [], is_connection(obj))
        except BaseException:
            fleet.stop(kill=True)  # no __exit__ follows a failed __enter__
            self._fleet = None
            raise

    def close(self) -> None:
        super().close()
        if self._fleet is not None:  # started but never run, or only probed
            self._fleet.stop(kill=True)

    def _iterate(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        feed = TaskFeed(tasks, self.info.max_in_flight, self.gate)
        self.start()
        fleet = self._fleet
        assert fleet is not None
        try:
            yield from self._pump(fleet, feed)
        finally:
            self.memory_readings()
            fleet.stop(kill=not feed.done)
            feed.close()
            self._retrier.clear()
            self.info = replace(self.info, chunk_size=max(self._largest_chunk, 1))
            self._report_memory()

    def probe(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        """Run ``tasks`` one at a time on the started workers, adding up each call's
        run-queue wait (:meth:`run_queue_s`); the workers stay up for :meth:`run`."""
        self.start()
        fleet = self._fleet
        assert fleet is not None
        feed = TaskFeed(tasks, 1)
        self._probing = True
        finished = False
        try:
            yield from self._pump(fleet, feed)
            finished = True
        finally:
            self._probing = False
            if not finished:
                self.close()

    def run_queue_s(self) -> float:
        """Seconds the probe calls spent runnable but waiting for a core (Linux)."""
        return sum(w.slot[RUN_QUEUE] for w in self._fleet.workers) if self._fleet else 0.0

    def memory_readings(self) -> list[tuple[float, float]]:
        """(baseline RSS, largest measured call peak) of every worker this run had."""
        for worker in self._fleet.workers if self._fleet else ():
            self._memory[worker.name] = (worker.slot[BASELINE], worker.slot[PEAK])
        return list(self._memory.values())

    def resize(self, workers: int) -> None:
        """Grow or shrink to ``workers`` worker processes between the probe and the run (a
        memory cap); new workers build the agent while the first tasks run."""
        fleet = self._fleet
        if fleet is not None:
            self.memory_readings()
            if workers < len(fleet.workers):
                fleet.shrink(workers)
            else:
                fleet.grow(workers - len(fleet.workers))
        self.info = replace(self.info, workers=workers,
                            max_in_flight=self._max_in_flight or 2 * workers * self._sizer.cap)

    def _report_memory(self) -> None:
        """Explicit processes mode: what the workers' first calls showed about memory, and a
        warning when the workers would exceed the default budget (never a cap here)."""
        found = reported(self._budget, list(self._memory.values()), self.info.workers)
        if found is None:
            return
        notes = (*self.info.notes, found.note) if found.exceeded else self.info.notes
        self.info = replace(self.info, memory=found, notes=notes)

    def with_reason(self, reason: str) -> ProcessExecutor:
        self.info = replace(self.info, reason=reason)
        return self

    def _pump(self, fleet: Fleet, feed: TaskFeed) -> Generator[TaskResult, None, None]:
        timeout = self._timeout
        next_check = perf_counter() + timeout if timeout is not None else _INF
        while True:
            reports: list[TaskResult] = []
            self._dispatch(fleet, feed, reports)
            if feed.done and not reports:
                return
            # After hits (results ready at dispatch), only collect what is ready:
            # hits must not starve the workers' results.
            table = fleet.waitables()
            wait_s = 0.0 if reports else _wait_s(feed, min(next_check,
                                                           self._build_deadline(fleet)))
            for obj in wait(list(table), wait_s):
                worker = table[obj]
                if worker in fleet.workers:
                    self._read(fleet, worker, feed, reports, is_connection(obj))
            if timeout is not None and perf_counter() >= next_check:
                next_check = self._expire(fleet, feed, reports, timeout)
            self._check_builds(fleet)
            yield from reports

    def _build_deadline(self, fleet: Fleet) -> float:
        starts = [w.started_at for w in fleet.workers if not w.ready]
        return min(starts) + self._build_timeout if starts else _INF

    def _build_wait_s(self, fleet: Fleet) -> float:
        return max(self._build_deadline(fleet) - perf_counter(), 0.0)

    def _check_builds(self, fleet: Fleet) -> None:
        """End the run when a worker has spent longer than ``build_timeout_s`` building."""
        if perf_counter() < self._build_deadline(fleet):
            return
        raise AgentperfError(
            f"processes mode: building the agent '{self._agent.target}' in a worker process "
            f"took longer than execution.build_timeout_s ({self._build_timeout:g} s); "
            "raise build_timeout_s if the agent is slow to load",
            exit_code=ExitCode.WORKLOAD_FAILED)

    def _dispatch(self, fleet: Fleet, feed: TaskFeed, reports: list[TaskResult]) -> None:
        """Top up every ready worker to two chunks' worth of queued tasks, never sending
        more than its pipe can take without blocking."""
        now = perf_counter()
        for worker in sorted(fleet.workers, key=lambda w: len(w.queue)):
            while worker.ready and len(worker.queue) < self._sizer.size:
                items = self._take(feed, self._sizer.size, now)
                if not items:
                    return
                to_run = [item for item in items if settled(item[0]) is None]
                if len(to_run) < len(items):
                    for item in items:
                        if (done := settled(item[0])) is not None:
                            feed.finish()
                            reports.append(done)
                    if to_run and not self._send(worker, to_run, feed, reports):
                        self._held.extendleft(reversed(to_run))
                    return  # hits are handed over before more inputs are read
                if not self._send(worker, items, feed, reports):
                    self._held.extendleft(reversed(items))
                    break

    def _take(self, feed: TaskFeed, limit: int, now: float) -> list[Item]:
        held = self._held
        if not held:
            return feed.take(limit, now)
        return [held.popleft() for _ in range(min(limit, len(held)))]

    def _send(self, worker: Worker, items: list[Item], feed: TaskFeed,
              reports: list[TaskResult]) -> bool:
        """Send ``items`` as one chunk: (first sequence number, inputs[, probe]); False
        (nothing sent) when the worker's pipe has no room for it now."""
        payload = self._payload(items)
        if payload is None:
            items = self._drop_unpicklable(items, feed, reports)
            if not items:
                return True
            payload = self._payload(items) or b""
        self._sizer.observe_bytes(len(payload), len(items))
        if not worker.can_take(len(payload)):
            return False
        try:
            worker.conn.send_bytes(payload)
        except OSError:
            for task, attempt in items:
                feed.again(task, attempt)  # the worker is dying; its sentinel says so next
            return True
        first = self._seq
        self._seq += len(items)
        self._largest_chunk = max(self._largest_chunk, len(items))
        worker.chunks.append((first, len(payload)))
        worker.queue.extend(zip(range(first, self._seq), items, strict=True))
        return True

    def _payload(self, items: list[Item]) -> bytes | None:
        inputs = [task.input for task, _ in items]
        chunk = (self._seq, inputs, True) if self._probing else (self._seq, inputs)
        try:
            return pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL)
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
            self._lost(fleet, worker, feed, reports)
            return
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            self._lost(fleet, worker, feed, reports)
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
            raise WorkerBuildError(f"processes mode: a worker process could not build the "
                                   f"agent: {error.type}: {error.message}")

    def _collect(self, worker: Worker, batch: list[Any], feed: TaskFeed,
                 reports: list[TaskResult]) -> None:
        popleft, name, requeues, append = (worker.queue.popleft, worker.name, self._requeues,
                                           reports.append)
        reran, step_of = self._reran, self._retrier.step
        total = 0.0
        finished = 0
        for ok, output, error, latency, cpu in batch:
            task, attempt = popleft()[1]
            total += latency
            if requeues:
                requeues.pop(id(task), None)
            result = TaskResult(task.index, ok, output, error, latency, cpu, attempt, False, name)
            # A first try that succeeded needs no ruling (the hot path stays short).
            step = result if ok and attempt == 1 else step_of(task, result)
            if type(step) is Retry:
                feed.retry_at(task, step.attempt, step.at)
                continue
            if reran and _pop(reran, task.index):
                result.reran_after_worker_loss = True
            append(result)
            finished += 1
        feed.in_flight -= finished
        self._sizer.observe(total, len(batch))

    def _lost(self, fleet: Fleet, worker: Worker, feed: TaskFeed, reports: list[TaskResult],
              *, expired: int | None = None) -> None:
        """The worker died or was killed (``expired``: for running that task past the
        timeout): keep what it reported, fail only its running task, and re-run what
        finished but was lost with it and what never started."""
        if worker.process.is_alive():
            self._collect_held(worker, feed, reports)
        worker.kill()
        for message in worker.drain():
            self._handle(worker, message, feed, reports)
        running = worker.running()  # the worker is dead: what it was doing is settled
        timed_out = expired is not None
        if timed_out and (running is None or running[0] != expired):
            timed_out = False  # it moved on just before the kill: the new task is not late
            running = None if running is None else (running[0], -1.0)
        if not worker.ready:
            self._startup_deaths += 1
            if self._startup_deaths >= MAX_STARTUP_DEATHS:
                raise AgentperfError(
                    f"processes mode: worker processes keep dying before they are ready "
                    f"(the last {describe_exit(worker.process.exitcode)}); "
                    "try mode threads to see the agent's own error")
        now = perf_counter()
        finished = worker.finished_before()
        for seq, (task, attempt) in worker.queue:
            if seq < finished or (running is not None and seq == running[0]
                                  and running[1] < 0):
                self._reran.add(task.index)  # its result died with the worker
                feed.again(task, attempt + 1)
            elif running is not None and seq == running[0]:
                self._fail(task, attempt, worker, feed, reports, now - running[1], timed_out)
            elif self._requeues.get(id(task), 0) >= MAX_REQUEUES:
                self._fail(task, attempt, worker, feed, reports, 0.0, False)
            else:
                self._requeues[id(task)] = self._requeues.get(id(task), 0) + 1
                feed.again(task, attempt)
        worker.queue.clear()
        fleet.replace(worker)

    def _collect_held(self, worker: Worker, feed: TaskFeed, reports: list[TaskResult]) -> None:
        """Ask a live worker for the results it finished but holds, and read them, for up
        to :data:`FLUSH_GRACE_S`; whatever does not come is re-run after the kill."""
        def holds() -> bool:
            return bool(worker.queue) and worker.queue[0][0] < worker.finished_before()

        if not holds() or worker.running() is None or not worker.ask_flush():
            return  # between tasks the handler must not send: it could cut into a send
        deadline = perf_counter() + FLUSH_GRACE_S
        while holds():
            left = deadline - perf_counter()
            try:
                if left <= 0 or not worker.conn.poll(left):
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                return
            self._handle(worker, message, feed, reports)

    def _fail(self, task: Task, attempt: int, worker: Worker, feed: TaskFeed,
              reports: list[TaskResult], elapsed: float, timed_out: bool) -> None:
        self._requeues.pop(id(task), None)
        if timed_out:
            assert self._timeout is not None
            result = timeout_result(task, attempt, self._timeout, elapsed, worker.name)
        else:
            error = worker_died_error(worker.name, worker.process.exitcode)
            result = TaskResult(task.index, False, None, error, elapsed, None, attempt, False,
                                worker.name)
        step = self._retrier.step(task, result)
        if isinstance(step, Retry):
            self._reran.add(task.index)  # it started: the retry may be its second run
            feed.retry_at(task, step.attempt, step.at)
            return
        feed.finish()
        step.reran_after_worker_loss = _pop(self._reran, task.index)
        reports.append(step)

    def _expire(self, fleet: Fleet, feed: TaskFeed, reports: list[TaskResult],
                timeout: float) -> float:
        """Kill workers whose task is past its deadline, and workers with tasks to run that
        neither run one nor finish one for as long (they stopped reading); return when
        to look again."""
        now = perf_counter()
        earliest = now
        for worker in list(fleet.workers):
            if not worker.queue:
                continue
            running = worker.running()
            if running is None:
                since = worker.stalled_since(now)
                if since is None or now - since < timeout:
                    earliest = min(earliest, since if since is not None else now)
                    continue
                self._lost(fleet, worker, feed, reports)
                continue
            if now - running[1] < timeout:
                earliest = min(earliest, running[1])
                continue
            self._lost(fleet, worker, feed, reports, expired=running[0])
        return earliest + timeout


def _pop(items: set[int], item: int) -> bool:
    """Remove ``item``; whether it was there."""
    if item in items:
        items.remove(item)
        return True
    return False


def _wait_s(feed: TaskFeed, next_check: float) -> float | None:
    now = perf_counter()
    deadline = next_check
    for at in (feed.next_retry_at(), feed.next_start_at(now)):
        if at is not None:
            deadline = min(deadline, at)
    return None if deadline == _INF else max(deadline - now, 0.0)
