"""The worker side of the Dask executor: one Dask task runs a whole batch of inputs.

Everything here executes inside a Dask worker process. The agent is rebuilt from its
:class:`AgentRef` the first time a worker sees a run, and kept until the run ends, so
a live agent never crosses the network. Timeouts and retries are applied per input,
inside the batch, so a batch of a thousand inputs still reports a thousand outcomes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentperf.execution.attempts import (
    Outcome,
    Retrier,
    Retry,
    RetryPolicy,
    timed_call,
    timeout_result,
)
from agentperf.execution.base import Task, TaskError, TaskResult, settled
from agentperf.workload.adapters import AgentAdapter, AgentRef

_KEPT_AGENTS = 4  # runs whose client vanished without freeing their agent age out


@dataclass(frozen=True)
class BatchSpec:
    """What every batch of one run shares; small and picklable, sent with each batch."""

    agent_key: str
    agent: AgentRef
    timeout_s: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    cache_config: Any = None
    #: ``agentperf.execution.redis_limiter.SharedLimit``: every call waits its turn in Redis.
    rate_limit: Any = None


class _AgentCache:
    """Agents (and their worker-side caches) built once per worker process, per run.

    Keyed by run, not by recipe: a run on a long-lived cluster starts from a freshly
    built agent, as it would locally, instead of inheriting an earlier run's state.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[AgentAdapter, Any]] = OrderedDict()

    def get(self, spec: BatchSpec) -> tuple[AgentAdapter, Any]:
        with self._lock:
            entry = self._entries.get(spec.agent_key)
            if entry is None:
                entry = (_metered(spec.agent.build(), spec.agent_key), _open_cache(spec))
                self._entries[spec.agent_key] = entry
                while len(self._entries) > _KEPT_AGENTS:
                    _close_cache(self._entries.popitem(last=False)[1][1])
            self._entries.move_to_end(spec.agent_key)
            return entry

    def __len__(self) -> int:
        return len(self._entries)

    def cache_of(self, agent_key: str) -> Any:
        with self._lock:
            entry = self._entries.get(agent_key)
        return entry[1] if entry else None

    def forget(self, agent_key: str) -> None:
        with self._lock:
            entry = self._entries.pop(agent_key, None)
        if entry is not None:
            _close_cache(entry[1])


AGENTS = _AgentCache()


def run_batch(spec: BatchSpec, items: list[tuple[int, Any]]) -> bytes:
    """Run ``items`` (index, input) one after another; one result per item, pickled.

    This is the function Dask executes. A failure to build the agent becomes a failed
    result for every item rather than a Dask error, and an output that cannot be
    pickled fails only its own input, so every outcome is reported per input.
    """
    return pack(_run_items(spec, items), MEMORY.get(spec.agent_key))


def _run_items(spec: BatchSpec, items: list[tuple[int, Any]]) -> list[TaskResult]:
    worker = worker_address()
    try:
        adapter, cache = AGENTS.get(spec)
    except Exception as exc:
        error = TaskError.from_exception(exc)
        return [TaskResult(index=i, ok=False, error=error, worker=worker, attempts=0)
                for i, _ in items]
    tasks = [Task(index, value) for index, value in items]
    retrier = Retrier(spec.retry)

    def execute(pending: Iterable[Task]) -> Iterator[TaskResult]:
        for task in pending:
            done = settled(task)
            yield done if done is not None else run_task(adapter, task, spec, worker, retrier)

    if cache is None:
        return list(execute(tasks))
    results = list(cache.wrap(tasks, execute))
    for result in results:
        result.worker = worker
    results.sort(key=lambda r: r.index)
    return results


#: Per run (agent key): [this worker's RSS with the agent built, the largest peak of one
#: measured call, calls measured]. Sent back with every batch's results.
MEMORY: dict[str, list[float]] = {}


def _metered(adapter: AgentAdapter, agent_key: str) -> AgentAdapter:
    """A sync agent whose first :data:`MEASURED_CALLS` calls in this worker have their
    peak memory measured (a worker running several threads overstates it: the
    high-water mark is the process's). Async agents are left as they are."""
    from agentperf.execution.memory import MEASURED_CALLS, CallPeak

    if adapter.is_async:
        return adapter
    try:
        meter = CallPeak()
    except Exception:
        return adapter
    reading = MEMORY[agent_key] = [float(meter.rss()), 0.0, 0.0]
    if not meter.available:
        return adapter
    plain, measured_call = adapter.call, meter.wrap(adapter.call)

    def call(value: Any) -> Any:
        if reading[2] >= MEASURED_CALLS:
            return plain(value)
        try:
            return measured_call(value)
        finally:
            reading[1], reading[2] = max(reading[1], meter.peak), reading[2] + 1

    return AgentAdapter(call, is_async=False, protocol=adapter.protocol, name=adapter.name,
                        agent=adapter.agent)


def pack(results: list[TaskResult], memory: list[float] | None = None) -> bytes:
    """The results of a batch and this worker's memory reading (baseline, peak, calls)."""
    from distributed.protocol.pickle import dumps

    reading = tuple(memory) if memory else None
    try:
        return dumps((results, reading))
    except Exception:
        return dumps(([_sendable(result) for result in results], reading))


def unpack(payload: bytes) -> tuple[list[TaskResult], tuple[float, ...] | None]:
    from distributed.protocol.pickle import loads

    return loads(payload)


def _sendable(result: TaskResult) -> TaskResult:
    from distributed.protocol.pickle import dumps

    try:
        dumps(result)
    except Exception as exc:
        error = TaskError(type(exc).__name__, "the agent's output cannot be sent back from "
                          f"the worker: {exc}")
        return TaskResult(result.index, False, None, error, result.latency_s, result.cpu_s,
                          result.attempts, False, result.worker)
    return result


def run_task(adapter: AgentAdapter, task: Task, spec: BatchSpec, worker: str | None,
             retrier: Retrier | None = None) -> TaskResult:
    """Call the agent, retrying by the local backends' rule; the last attempt is reported,
    with the task's latency counted from its first attempt."""
    retrier = retrier or Retrier(spec.retry)
    limiter = _limiter(spec)
    waited = 0.0

    def attempt(number: int) -> TaskResult:
        nonlocal waited
        if limiter is not None:
            waited += limiter.acquire()
        return _attempt(adapter, task, spec.timeout_s, number, worker)

    started = time.perf_counter()
    step = retrier.step(task, attempt(1), started)
    while type(step) is Retry:
        time.sleep(step.delay_s)
        step = retrier.step(task, attempt(step.attempt))
    step.limiter_wait_s = waited
    return step


def _limiter(spec: BatchSpec) -> Any:
    if spec.rate_limit is None:
        return None
    from agentperf.execution.redis_limiter import limiter_for

    return limiter_for(spec.rate_limit)


def _attempt(adapter: AgentAdapter, task: Task, timeout_s: float | None, attempt: int,
             worker: str | None) -> TaskResult:
    cpu = not adapter.is_async  # an event loop's CPU is not the agent's
    if timeout_s is None:
        outcome = timed_call(adapter.call, task.input, cpu)
    else:
        started = time.perf_counter()
        outcome = _runner().call(adapter, task.input, timeout_s, cpu)
        if outcome is None:
            return timeout_result(task, attempt, timeout_s, time.perf_counter() - started,
                                  worker)
    ok, output, error, latency, cpu = outcome
    return TaskResult(task.index, ok, output, error, latency, cpu, attempt, False, worker)


_Job = tuple[Callable[[], Outcome], "queue.SimpleQueue[Outcome]"]


class _Runner:
    """A helper thread that runs calls with a deadline.

    A Python thread cannot be killed, so a call that overruns its deadline is
    abandoned with its thread (a daemon), and the next call gets a fresh runner:
    the worker keeps its capacity and the run goes on.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.abandoned = False
        threading.Thread(target=self._loop, name="agentperf-dask-call", daemon=True).start()

    def _loop(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, reply = item
            reply.put(job())

    def call(self, adapter: AgentAdapter, value: Any, timeout_s: float,
             cpu: bool = True) -> Outcome | None:
        reply: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._jobs.put((lambda: timed_call(adapter.call, value, cpu), reply))
        try:
            return reply.get(timeout=timeout_s)
        except queue.Empty:
            self.abandoned = True
            self._jobs.put(None)  # the thread exits once the overrunning call returns
            return None


_local = threading.local()


def _runner() -> _Runner:
    runner: _Runner | None = getattr(_local, "runner", None)
    if runner is None or runner.abandoned:
        runner = _Runner()
        _local.runner = runner
    return runner


def worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def _open_cache(spec: BatchSpec) -> Any:
    """This worker's own cache tiers (its memory tier, plus Redis shared by all workers)."""
    if spec.cache_config is None or not getattr(spec.cache_config, "enabled", False):
        return None
    from agentperf.cache.batch import BatchCache

    cache = BatchCache.open(spec.cache_config, spec.agent)
    cache.__enter__()
    return cache


def _close_cache(cache: Any) -> None:
    if cache is not None:
        cache.__exit__(None, None, None)


def worker_cache_stats(agent_key: str) -> Any:
    """The cache statistics of this worker for one run (called through ``client.run``)."""
    cache = AGENTS.cache_of(agent_key)
    return cache.stats() if cache is not None else None


def forget_agent(agent_key: str) -> None:
    """Drop a finished run's agent and cache from this worker (called through ``client.run``)."""
    AGENTS.forget(agent_key)
    MEMORY.pop(agent_key, None)
