"""Asyncio mode: a bounded pool of worker coroutines on an event loop the caller drives.

The loop runs in the caller's thread, only inside ``run_until_complete`` calls that
return as soon as results are ready, so results are handed over without a thread hop
and Ctrl-C lands where the caller expects it. A fixed number of worker coroutines pull
inputs one at a time (no coroutine per input is created up front, CPython #115201), and
pulling stops while ``max_in_flight`` results are pending.

Sync agents run on a :class:`DaemonThreadPool`, not ``asyncio.to_thread``: the default
executor joins its threads at exit and caps them at ``cpus + 4``, so one hung call
would block exit and a few would starve the run. Async agents are stepped under the
loop-lag watchdog (:mod:`agentperf.execution.loopwatch`): a call that blocks the loop
past its timeout is reported timed out, and the run's blocking becomes a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import replace
from time import perf_counter
from types import CoroutineType
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.execution.async_call import AsyncCalls
from agentperf.execution.attempts import (
    Retrier,
    Retry,
    RetryPolicy,
    timed_call,
    timeout_result,
)
from agentperf.execution.base import (
    TIMEOUT_ERROR,
    ExecutionSettings,
    ExecutorInfo,
    Task,
    TaskError,
    TaskResult,
    default_max_in_flight,
    default_workers,
)
from agentperf.execution.daemon_pool import DaemonThreadPool
from agentperf.execution.gate import StartGate
from agentperf.execution.lifecycle import GeneratorExecutor
from agentperf.execution.loopwatch import (
    BLOCK_THRESHOLD_S,
    LoopBlocking,
    Stepped,
    blocked_message,
    late_timeout_message,
)
from agentperf.workload.adapters import AgentAdapter

WORKER_NAME = "asyncio"
#: On close, cancelled workers get this long to unwind; an agent that ignores
#: cancellation is left behind rather than waited for.
CANCEL_GRACE_S = 1.0


class AsyncioExecutor(GeneratorExecutor):
    """Runs up to ``workers`` tasks concurrently on one event loop."""

    def __init__(self, adapter: AgentAdapter, settings: ExecutionSettings, *,
                 reason: str = "", gate: StartGate | None = None) -> None:
        workers = settings.workers or default_workers("asyncio")
        max_in_flight = settings.max_in_flight or default_max_in_flight("asyncio", workers)
        self.info = ExecutorInfo(mode="asyncio", workers=min(workers, max_in_flight),
                                 max_in_flight=max_in_flight, reason=reason)
        self._adapter = adapter
        self._settings = settings
        self._gate = gate

    def _iterate(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        if _loop_running():
            raise AgentperfError("asyncio mode cannot start inside a running event loop; "
                                 "run it from a thread (asyncio.to_thread) or use mode threads")
        run = _Run(self._adapter, self._settings, self.info, tasks, self._gate)
        blocking = run.blocking
        seen = 0
        try:
            while (batch := run.pump()) is not None:
                # The loop is not running while results are handed over, so no worker
                # pulls an input before the whole batch has been yielded.
                run.in_flight -= len(batch)
                if blocking is not None and blocking.blocking_calls != seen:
                    seen = blocking.blocking_calls  # readers mid-run (a soak) see it early
                    self.info = _with_blocking(self.info, blocking)
                yield from batch
                run.make_room()
        finally:
            run.shutdown()
            if blocking is not None:
                self.info = _with_blocking(self.info, blocking)


def _with_blocking(info: ExecutorInfo, blocking: LoopBlocking) -> ExecutorInfo:
    """``info`` with the watchdog's figures in ``extra`` and its warning in ``notes``."""
    warning = blocking.warning()
    return replace(info, extra={**info.extra, "event_loop_blocking": blocking.as_extra()},
                   notes=(warning,) if warning else ())


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Run:
    """The state of one asyncio run: the loop, its workers and the window."""

    def __init__(self, adapter: AgentAdapter, settings: ExecutionSettings, info: ExecutorInfo,
                 tasks: Iterable[Task], gate: StartGate | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self._gate = gate
        #: One worker at a time waits on the gate, so a slot wakes one coroutine, not all.
        self._turnstile = asyncio.Lock() if gate is not None else None
        self.in_flight = 0
        self.done: list[TaskResult] = []
        self._stream = iter(tasks)
        self._next: Callable[[], Task] = self._stream.__next__
        self._exhausted = False
        self._max = info.max_in_flight
        self._retrier = Retrier(RetryPolicy.from_settings(settings))
        self._retries = settings.retries
        self._timeout = settings.timeout_s
        self._pool = None if adapter.is_async else DaemonThreadPool("agentperf-asyncio")
        self._attempt = self._async_attempt if adapter.is_async else self._sync_attempt
        self._call = adapter.coroutine_function or adapter.call
        #: Only an async agent runs on the loop; a sync one runs on the pool's threads.
        self.blocking = LoopBlocking(adapter.name) if adapter.is_async else None
        #: Without a timeout an async call runs inside the worker itself (async_call.py).
        metering = adapter.metering
        self._calls = (AsyncCalls(metering, self.blocking) if metering is not None
                       and self.blocking is not None and self._timeout is None else None)
        self._wake: asyncio.Future[None] | None = None
        self._parked: deque[asyncio.Future[None]] = deque()
        self._waking = False
        self._error: BaseException | None = None
        self._live = info.workers
        self._workers = [self.loop.create_task(self._work()) for _ in range(info.workers)]

    def pump(self) -> list[TaskResult] | None:
        """Run the loop until results are ready; None once every worker has finished.

        When the input stream failed, the tasks already started still finish and are
        handed over first; the stream's error is raised after the last of them.
        """
        while not self.done and self._live:
            self._wake = wake = self.loop.create_future()
            self.loop.run_until_complete(wake)
        if not self.done:
            if self._error is not None:
                raise self._error
            return None
        batch, self.done = self.done, []
        return batch

    def _notify(self) -> None:
        """Let :meth:`pump` return: results are ready, or the workers are done."""
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    def make_room(self) -> None:
        """Results were handed over: wake one parked worker (it wakes the next in turn)."""
        while self._parked and not self._waking:
            parked = self._parked.popleft()
            if not parked.done():
                self._waking = True
                parked.set_result(None)

    def _release_all(self) -> None:
        while self._parked:
            parked = self._parked.popleft()
            if not parked.done():
                parked.set_result(None)

    async def _park(self) -> None:
        parked = self.loop.create_future()
        self._parked.append(parked)
        await parked
        self._waking = False

    async def _work(self) -> None:
        calls = self._calls
        if calls is not None:  # the async call path of async_call.py, inlined below
            fn, final, blocking, slot = calls.fn, calls.final, calls.blocking, calls.open_slot()
        try:
            while True:
                while self.in_flight >= self._max:
                    await self._park()
                if self._exhausted:
                    return
                try:
                    task = self._next() if self._gate is None else await self._gated_next()
                except StopIteration:
                    task = None
                if task is None:
                    self._exhausted = True
                    return
                self.in_flight += 1
                if self._parked and not self._waking:
                    # One at a time: a worker whose agent never suspends fills the window
                    # alone, and waking all parked workers would only park them again.
                    self.make_room()
                t0 = perf_counter()
                if (done := task.result) is not None:  # settled(task), inlined: a cache hit
                    result = done
                elif calls is not None:
                    # Run the first step here; a plain result with no usage is final, and
                    # anything else is awaited through calls.rest (a method call for the
                    # common case cost 0.2 us a task).
                    blocking.calls += 1
                    try:
                        output = fn(data := task.input)
                        if type(output) is CoroutineType:
                            try:
                                yielded = output.send(None)
                            except StopIteration as stop:
                                output = stop.value
                                if (step := perf_counter() - t0) > BLOCK_THRESHOLD_S:
                                    blocking.held(step, step)
                                if type(output) not in final or slot:
                                    output = await calls.rest(output, data, slot, t0, awaited=True)
                            else:
                                output = await calls.rest(
                                    output, data, slot, t0, perf_counter() - t0, yielded=yielded)
                        else:
                            output = await calls.rest(output, data, slot, t0)
                    except (Exception, SystemExit) as exc:
                        slot.clear()  # a failed call's usage is not kept, nor given to the next
                        result = TaskResult(task.index, False, None, TaskError.from_exception(exc),
                                            perf_counter() - t0, None, 1, False, WORKER_NAME)
                    else:
                        result = TaskResult(task.index, True, output, None, perf_counter() - t0,
                                            None, 1, False, WORKER_NAME)
                else:
                    result = await self._attempt(task, 1)
                if not result.ok and self._retries and done is None:
                    result = await self._retry(task, result, t0)
                self.done.append(result)  # after the await: pump() swaps the list meanwhile
                if self._wake is not None:
                    self._notify()
        except Exception as exc:  # the input stream failed (e.g. a bad JSONL line)
            self._error = self._error or exc
            self._exhausted = True
        finally:
            self._live -= 1
            if self._exhausted:
                self._release_all()  # parked workers must wake to see there is no more input
            if self._live == 0 or self._error is not None:
                self._notify()

    async def _gated_next(self) -> Task | None:
        """The next task once the gate lets it start (None when none will)."""
        gate = self._gate
        assert gate is not None and self._turnstile is not None
        async with self._turnstile:
            while True:
                if self._exhausted:
                    return None
                now = perf_counter()
                wait = gate.delay(now, self.in_flight)
                if wait is None:
                    return None
                if wait <= 0:
                    task = next(self._stream, None)
                    if task is not None:
                        gate.release(task, now)
                    return task
                await asyncio.sleep(wait)

    async def _retry(self, task: Task, result: TaskResult, started: float) -> TaskResult:
        """Rule on a failed task, trying it again after each wait the rule asks for."""
        step = self._retrier.step(task, result, started)
        while type(step) is Retry:
            await asyncio.sleep(step.delay_s)
            step = self._retrier.step(task, await self._attempt(task, step.attempt))
        return step

    async def _async_attempt(self, task: Task, attempt: int) -> TaskResult:
        clock: Stepped | None = None
        t0 = perf_counter()
        try:
            clock = Stepped(self._call(task.input))
            output = await (clock if self._timeout is None else self._bounded(clock))
        except _Expired:
            result = timeout_result(task, attempt, self._timeout or 0.0, perf_counter() - t0,
                                    WORKER_NAME)
        except (Exception, SystemExit) as exc:
            result = TaskResult(task.index, False, None, TaskError.from_exception(exc),
                                perf_counter() - t0, None, attempt, False, WORKER_NAME)
        else:
            result = TaskResult(task.index, True, output, None, perf_counter() - t0, None,
                                attempt, False, WORKER_NAME)
        return self._judge(result, clock)

    def _judge(self, result: TaskResult, clock: Stepped | None) -> TaskResult:
        """The attempt's result, timed out if it blocked the loop and so overran the timeout.

        A blocking step also holds back the timeout's own callback, so without this the
        call would be reported ok however long it blocked. A call whose timeout fired
        late because something else blocked the loop says so.
        """
        assert self.blocking is not None
        if clock is None:  # calling the agent raised before there was anything to await
            return result
        self.blocking.add(clock)
        timeout = self._timeout
        if timeout is None or result.latency_s <= timeout:
            return result
        if clock.blocked:
            message = blocked_message(self.blocking.agent, clock, result.latency_s, timeout)
        elif (result.timed_out and self.blocking.blocking_calls
              and result.latency_s - timeout > BLOCK_THRESHOLD_S):
            # late, and some call has blocked: not a guess from a slow machine alone
            message = late_timeout_message(result.latency_s, timeout)
        else:
            return result
        return TaskResult(result.index, False, None, TaskError(TIMEOUT_ERROR, message),
                          result.latency_s, None, result.attempts, True, WORKER_NAME)

    async def _sync_attempt(self, task: Task, attempt: int) -> TaskResult:
        t0 = perf_counter()
        future = self.loop.run_in_executor(self._pool, timed_call, self._call, task.input)
        try:
            ok, output, error, latency, cpu = await (
                future if self._timeout is None else self._bounded(future))
        except _Expired:
            return timeout_result(task, attempt, self._timeout or 0.0, perf_counter() - t0,
                                  WORKER_NAME)
        return TaskResult(task.index, ok, output, error, latency, cpu, attempt, False,
                          WORKER_NAME)

    async def _bounded(self, awaitable: Awaitable[Any]) -> Any:
        """Await under the per-task timeout, raising :class:`_Expired` only for ours.

        An agent's own ``TimeoutError`` (an HTTP client's, say) stays an agent error.
        """
        assert self._timeout is not None
        if hasattr(asyncio, "timeout"):  # Python 3.11+: no extra task per call
            scope = asyncio.timeout(self._timeout)
            try:
                async with scope:
                    return await awaitable
            except TimeoutError:
                if scope.expired():
                    raise _Expired from None
                raise
        start = perf_counter()
        try:
            return await asyncio.wait_for(awaitable, self._timeout)
        except asyncio.TimeoutError:
            if perf_counter() - start >= self._timeout:
                raise _Expired from None
            raise

    def shutdown(self) -> None:
        """Cancel every worker, give them a moment to unwind, close the loop; never block."""
        loop = self.loop
        for worker in self._workers:
            worker.cancel()
        with contextlib.suppress(Exception):
            pending = [w for w in self._workers if not w.done()]
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=CANCEL_GRACE_S))
            loop.run_until_complete(loop.shutdown_asyncgens())
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        loop.close()


class _Expired(Exception):
    """Our per-task deadline passed (as opposed to a TimeoutError raised by the agent)."""
