"""The Dask distributed executor: the same contract as the local backends, on a cluster.

Joins an existing scheduler (``settings.scheduler`` or ``DASK_SCHEDULER_ADDRESS``) or
starts a ``LocalCluster`` sized to this machine and closes it afterwards. Inputs are read
lazily and sent in batches through a sliding window (``as_completed(...).add``, never
``client.map`` over everything), so memory stays flat however long the input stream is.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from agentperf.errors import AgentperfError, DependencyMissingError
from agentperf.execution.attempts import RetryPolicy
from agentperf.execution.base import (
    WORKER_DIED_ERROR,
    ExecutorInfo,
    Task,
    TaskError,
    TaskResult,
)
from agentperf.execution.dask_batching import BatchWindow, WindowPlanner
from agentperf.execution.dask_worker import (
    BatchSpec,
    forget_agent,
    run_batch,
    unpack,
    worker_cache_stats,
)
from agentperf.execution.feed import TaskFeed
from agentperf.execution.gate import StartGate
from agentperf.execution.memory import MemoryEstimate, memory_budget, reported
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentRef

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT_S = 5.0
KEY_PREFIX = "agentperf-batch"
#: With a start gate the parent polls for results this often between scheduled starts
#: (``as_completed`` has no timed wait).
GATED_POLL_S = 0.0005


def scheduler_address(settings: ExecutionSettings) -> str | None:
    """The cluster to join: the spec or ``--scheduler`` first, then the environment."""
    return settings.scheduler or os.environ.get(SCHEDULER_ENV) or None


def batch_size_of(key: Any) -> int | None:
    """The number of inputs in one of our Dask tasks, read from its key (None if not ours).

    Keys are ``("agentperf-batch-<run>", sequence, size)`` so the window can be audited
    from the scheduler, which sees Dask tasks but not the inputs inside them.
    """
    if isinstance(key, tuple) and len(key) == 3 and str(key[0]).startswith(KEY_PREFIX):
        return int(key[2])
    return None


def worker_cache_config(config: Any) -> Any:
    """The tiers a worker opens: its own memory tier plus the shared Redis tier.

    Only with Redis: without a store the workers share, the client's own memory and
    disk tiers already answer every repeat. The disk tier stays with the client: its
    directory is a path on the client's machine.
    """
    if config is None or not getattr(config, "enabled", False) or "redis" not in config.tiers:
        return None
    tiers = tuple(t for t in config.tiers if t != "disk")
    return dataclasses.replace(config, tiers=tiers)


class DaskExecutor:
    """Runs tasks on a Dask cluster in batches, at most ``max_in_flight`` inputs outstanding.

    ``cache_config`` (an ``agentperf.cache.config.CacheConfig``) makes every worker
    consult its own cache tiers before calling the agent: a memory tier per worker and,
    when configured, the Redis tier shared by all workers and machines.
    """

    def __init__(self, agent: AgentRef, settings: ExecutionSettings, *,
                 cache_config: Any = None, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 gate: StartGate | None = None) -> None:
        _require_distributed()
        self._gate = gate
        self._address = scheduler_address(settings)
        self._cluster: Any = None
        self._client: Any = None
        self._ran = False
        run_key = f"{KEY_PREFIX}-{uuid.uuid4().hex[:12]}"  # names this run's agents and tasks
        self._spec = BatchSpec(agent_key=run_key, agent=agent, timeout_s=settings.timeout_s,
                               retry=RetryPolicy.from_settings(settings),
                               cache_config=worker_cache_config(cache_config),
                               rate_limit=_shared_limit(settings, agent))
        if self._address:
            self._client = _connect(self._address, connect_timeout_s)
        else:
            self._cluster, self._client = _start_local_cluster(settings.workers)
        try:
            self._workers, threads = self._cluster_size()
        except BaseException:
            self.close()
            raise
        # A gated start is dispatched alone, at its time: batching would bunch starts.
        self._sizer = WindowPlanner(threads, fixed=1 if gate is not None else settings.chunk_size,
                                 max_in_flight=settings.max_in_flight)
        self._per_worker: Counter[str] = Counter()
        self._batches = 0
        #: Each worker's (baseline RSS, largest measured call peak), from its batches.
        self._memory: dict[str, tuple[float, float]] = {}
        # A remote cluster's memory is not this machine's: judged only against a set budget.
        self._budget = (memory_budget(settings.memory_budget)
                        if settings.memory_budget is not None or not self._address else None)
        self.info = self._describe()

    # -- context manager -------------------------------------------------------------

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect; a LocalCluster started here is shut down, a shared one is left alone."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None and cluster is None and self._ran:
            _forget_run(client, self._spec.agent_key)
        with _quiet_distributed_logs():
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` in use (for callers that inspect the cluster)."""
        return self._client

    # -- running ---------------------------------------------------------------------

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskResult]:
        if self._ran:
            raise RuntimeError("DaskExecutor.run may be called only once")
        if self._client is None:
            raise RuntimeError("DaskExecutor is closed")
        self._ran = True
        return self._stream(iter(tasks))

    def _stream(self, tasks: Iterator[Task]) -> Iterator[TaskResult]:
        from distributed import as_completed

        done = as_completed([], loop=self._client.loop, with_results=True, raise_errors=False)
        feed = (TaskFeed(tasks, self._sizer.window().max_in_flight, self._gate)
                if self._gate is not None else None)
        window = BatchWindow(tasks, self._sizer, self._submit, done, feed)
        try:
            while True:
                window.refill()
                yield from window.drain_unsent()
                if not window.pending:
                    if window.exhausted:
                        return
                    if feed is not None:
                        _idle(feed)
                    continue
                if feed is not None and not done.has_ready():
                    _idle(feed)
                    continue
                future, value = next(done)
                batch = window.finished(future)
                results = self._results(batch, value)
                if results is None:
                    window.resubmit_one_by_one(batch)
                    continue
                self._observe(results)
                window.refill()  # before yielding: the workers stay busy while we hand out
                yield from results
        finally:
            outstanding = window.cancel()
            if outstanding and self._client is not None:
                self._client.cancel(outstanding, force=True)
            self.info = self._describe()

    def _results(self, batch: list[Task], value: Any) -> list[TaskResult] | None:
        """The batch's results; None when a lost worker means it should be split and retried."""
        failure = _failure_of(value)
        if failure is None:
            results, memory = unpack(value)
            if memory and results and results[0].worker:
                self._memory[results[0].worker] = (memory[0], memory[1])
            return results
        from distributed.scheduler import KilledWorker

        if isinstance(failure, KilledWorker):
            if len(batch) > 1:
                return None  # only one input may be killing workers: retry the others alone
            error = TaskError(WORKER_DIED_ERROR, "the worker running this input died and Dask "
                              f"gave up retrying it: {failure}")
        else:
            error = TaskError.from_exception(failure)
        return [TaskResult(index=t.index, ok=False, error=error) for t in batch]

    def _observe(self, results: list[TaskResult]) -> None:
        self._batches += 1
        for result in results:
            if result.worker:
                self._per_worker[result.worker] += 1
        before = self._sizer.current
        self._sizer.observe(results)
        if self._sizer.current != before or self._batches == 1:
            self.info = self._describe()

    def _submit(self, batch: list[Task], sequence: int) -> Any:
        key = (self._spec.agent_key, sequence, len(batch))
        items = [(task.index, task.input) for task in batch]
        return self._client.submit(run_batch, self._spec, items, key=key, pure=False)

    # -- description -----------------------------------------------------------------

    def _cluster_size(self) -> tuple[int, int]:
        workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        return len(workers), max(threads, 1)

    def _describe(self) -> ExecutorInfo:
        window = self._sizer.window()
        where = self._address or "a LocalCluster started by agentperf"
        reason = (f"dask: {self._workers} workers, {self._sizer.threads} threads at {where}; "
                  f"{self._sizer.describe()}")
        extra: dict[str, Any] = {
            "scheduler": self._address or "LocalCluster",
            "threads": self._sizer.threads,
            "batches": self._batches,
            "tasks_per_worker": dict(sorted(self._per_worker.items())),
        }
        if self._sizer.mean_task_s is not None:
            extra["mean_task_s"] = self._sizer.mean_task_s
        memory = self._memory_estimate()
        return ExecutorInfo(mode="dask", workers=self._workers,
                            max_in_flight=window.max_in_flight,
                            chunk_size=self._sizer.current, reason=reason, extra=extra,
                            memory=memory,
                            notes=(memory.note,) if memory is not None and memory.exceeded
                            else ())

    def _memory_estimate(self) -> MemoryEstimate | None:
        """What the workers' first calls showed (reported, never applied: Dask workers have
        their own ``memory_limit``); None before any call was measured."""
        return reported(self._budget, list(self._memory.values()), self._workers,
                        advice="start fewer workers or give them a memory_limit (a budget "
                        "is not applied in dask mode)")

    def worker_cache_stats(self) -> dict[str, Any]:
        """Each worker's cache statistics for this run (empty without ``cache_config``)."""
        if self._client is None or self._spec.cache_config is None:
            return {}
        stats = self._client.run(worker_cache_stats, self._spec.agent_key)
        return {address: s for address, s in stats.items() if s is not None}


def _idle(feed: TaskFeed) -> None:
    """Wait a moment for a result, but not past the gate's next start."""
    now = time.perf_counter()
    at = feed.next_start_at(now)
    time.sleep(GATED_POLL_S if at is None else min(max(at - now, 0.0), GATED_POLL_S))


def _shared_limit(settings: ExecutionSettings, agent: AgentRef) -> Any:
    """The Redis-held rate limit every worker obeys, when ``rate_limit_redis`` is set."""
    if settings.rate_limit_redis is None or settings.rate_limit is None:
        return None
    from agentperf.execution.redis_limiter import RedisRateLimiter, SharedLimit

    limit = SharedLimit(settings.rate_limit_redis, settings.rate_limit, settings.burst,
                        agent.target)
    limiter = RedisRateLimiter(limit)
    try:
        limiter.check()
    finally:
        limiter.close()
    return limit


def _forget_run(client: Any, agent_key: str) -> None:
    """Free this run's agents on a shared cluster; best effort, workers may be gone."""
    try:
        client.run(forget_agent, agent_key)
    except Exception:
        logging.getLogger(__name__).debug("could not free the agents of %s", agent_key,
                                          exc_info=True)


def _failure_of(value: Any) -> BaseException | None:
    """The exception of a failed future: as_completed hands errors over as exc_info."""
    if isinstance(value, BaseException):
        return value
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value[1]
    return None


def _require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DependencyMissingError("--mode dask", "distributed", "distributed") from None


def _connect(address: str, timeout_s: float) -> Any:
    from distributed import Client

    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except Exception as exc:
        raise AgentperfError(f"cannot reach Dask scheduler at {address}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except Exception:
        client.close()
        raise AgentperfError(f"the Dask scheduler at {address} has no workers (start some "
                             f"with 'dask worker {address}')") from None
    return client


@contextmanager
def _quiet_distributed_logs() -> Iterator[None]:
    """LocalCluster restores INFO logging before it closes; keep its shutdown chatter quiet."""
    logger = logging.getLogger("distributed")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start worker processes with SIGINT ignored, as the local process pool does.

    Ctrl-C reaches the whole terminal process group; the client handles it and closes
    the cluster, so workers dying of it would only print a traceback each. An ignored
    signal stays ignored across exec (a handled one does not), so the spawned workers
    inherit it. Only the main thread may change handlers; elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _start_local_cluster(workers: int | None) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    # ":0": any free port, where the default 8787 warns when another cluster holds it.
    with _workers_ignore_sigint():
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
    try:
        client = Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return cluster, client


__all__ = ["SCHEDULER_ENV", "DaskExecutor", "batch_size_of", "scheduler_address"]
