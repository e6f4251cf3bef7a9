"""The cache in front of an executor, for run-batch.

``wrap`` puts a feed in front of the executor: it reads as many inputs as the executor
has room for (never past ``max_in_flight``), looks them up with one round trip per
tier (one MGET on Redis), and hands every task to the executor, a hit carrying its
result (:attr:`Task.result`), which every backend returns without calling the agent.
So hits travel through the executor's window and cannot pile up, and no thread of the
cache's own runs or stops the executor: the caller's thread owns it. A key already
running is not run again: its duplicates wait, parked (at most ``MIN_WAITERS`` or four
windows), and are yielded right after its result (single flight).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice

from agentperf.cache.config import CacheConfig
from agentperf.cache.factory import build_cache
from agentperf.cache.keys import KeyBuilder, UnkeyableError
from agentperf.cache.seen import SeenFilter
from agentperf.cache.serializers import Entry, UnstorableError
from agentperf.cache.stats import CacheStats
from agentperf.cache.tiered import TieredCache
from agentperf.execution.base import Task, TaskError, TaskResult
from agentperf.usage.model import Usage
from agentperf.workload.adapters import AgentRef
from agentperf.workload.fingerprint import SHORT_CHARS, agent_fingerprint

Execute = Callable[[Iterable[Task]], Iterator[TaskResult]]
#: Duplicates parked behind running keys, at least; past the bound a duplicate runs
#: again. The feed cannot block instead: it runs in the thread that delivers results.
#: A parked duplicate is one small Task, and hits outrun a slow agent's misses, so the
#: bound is generous: single flight is what saves a paid agent's calls.
MIN_WAITERS = 1024


class BatchCache:
    """A run's cache: open, ``wrap`` the executor, read ``stats()``; a context manager."""

    def __init__(self, config: CacheConfig, cache: TieredCache, keys: KeyBuilder) -> None:
        self.config = config
        self.cache = cache
        self.keys = keys
        self._seen = SeenFilter()
        self._repeats = 0

    @classmethod
    def open(cls, config: CacheConfig, agent: AgentRef) -> BatchCache:
        """Keys carry ``config.fingerprint``; a config without one (library use) gets the
        agent module's fingerprint here. run-batch sets it in the parent beforehand, so
        Dask workers, which open their own caches, build the same keys as the client."""
        if config.fingerprint is None:
            code = agent_fingerprint(agent)
            config = replace(config, fingerprint=code.digest, fingerprint_sources=code.sources)
        keys = KeyBuilder(agent.target, version=agent.version, context=agent.context,
                          key_fields=config.key_fields, fingerprint=config.fingerprint)
        return cls(config, build_cache(config), keys)

    def __enter__(self) -> BatchCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.cache.close()

    def clear(self) -> dict[str, int]:
        """Empty every tier (``--cache-clear``); a tier that is down gets a warning."""
        return self.cache.clear()

    def stats(self) -> CacheStats:
        stats = self.cache.stats()
        stats.fingerprint = (self.config.fingerprint or "")[:SHORT_CHARS] or None
        stats.fingerprint_sources = list(self.config.fingerprint_sources)
        return stats

    @property
    def repeated_fraction(self) -> float:
        """Share of lookups whose key was seen earlier in the run (a Bloom filter's answer)."""
        lookups = self.stats().lookups
        return self._repeats / lookups if lookups else 0.0

    def wrap(self, tasks: Iterable[Task], execute: Execute,
             max_in_flight: int | Callable[[], int] | None = None) -> Iterator[TaskResult]:
        """One result per task: hits from the cache, misses from ``execute`` (stored).

        ``max_in_flight`` is the executor's window (a callable when it changes, as auto's
        does); inputs are read only as far ahead as it, plus the duplicates parked
        behind a running key.
        """
        if max_in_flight is None:
            limit = self.config.window
            window: Callable[[], int] = lambda: limit  # noqa: E731
        elif callable(max_in_flight):
            window = max_in_flight
        else:
            fixed = max_in_flight
            window = lambda: fixed  # noqa: E731
        return _BatchRun(self, tasks, execute, window).results()

    def _note_key(self, key: str) -> None:
        if self._seen.check_and_add(key):
            self._repeats += 1


@dataclass
class _Flight:
    owner: int
    waiters: list[tuple[Task, float]] = field(default_factory=list)


class _BatchRun:
    """One ``wrap`` call, in the caller's thread: a feed in front of the executor, and a
    filter behind it that stores results and serves the duplicates parked behind them."""

    def __init__(self, owner: BatchCache, tasks: Iterable[Task], execute: Execute,
                 max_in_flight: Callable[[], int]) -> None:
        self.owner = owner
        self.cache = owner.cache
        self.counters = owner.cache.counters
        self.tasks = tasks
        self.execute = execute
        self.window = owner.config.window
        self.max_in_flight = max_in_flight
        self.lock = threading.Lock()  # a Dask worker's threads may share the counters
        self.pending: dict[int, str] = {}  # task index -> key, for misses handed out
        self.flights: dict[str, _Flight] = {}
        self.waiting = 0
        self.handed = 0  # tasks given to the executor
        self.returned = 0  # results it gave back
        self.ready: deque[TaskResult] = deque()  # parked duplicates served, not yet yielded
        self.recent: OrderedDict[str, TaskResult] = OrderedDict()

    def results(self) -> Iterator[TaskResult]:
        executed = self.execute(self._feed())
        try:
            for result in executed:
                self.returned += 1
                if result.index in self.pending:
                    self._complete(result)
                    yield result
                    while self.ready:
                        yield self.ready.popleft()
                else:
                    yield result  # a hit, or an unkeyable input
            self._orphans()
            while self.ready:
                yield self.ready.popleft()
        finally:
            close = getattr(executed, "close", None)
            if close is not None:
                close()

    def _room(self) -> int:
        """How many inputs the executor can take now: reading more would outrun its window."""
        free = self.max_in_flight() - (self.handed - self.returned)
        return max(1, min(self.window, free))

    def _feed(self) -> Iterator[Task]:
        tasks = iter(self.tasks)
        while True:
            window = list(islice(tasks, self._room()))
            if not window:
                return
            for task in self._route(window):
                self.handed += 1
                yield task

    def _route(self, window: list[Task]) -> Iterator[Task]:
        keyed: list[tuple[Task, str | None]] = []
        for task in window:
            try:
                keyed.append((task, self.owner.keys.key(task.input)))
            except UnkeyableError as exc:
                self.counters.skip(exc.reason)
                keyed.append((task, None))
        keys = [k for _, k in keyed if k is not None]
        start = time.perf_counter()
        found = self.cache.get_many(keys, self._replayable) if keys else {}
        lookup_s = (time.perf_counter() - start) / max(1, len(keys))
        for task, key in keyed:
            if key is None:
                yield task
                continue
            self.owner._note_key(key)
            entry = found.get(key)
            if entry is not None:
                task.result = self._hit(task, entry, lookup_s)
                yield task
            elif not self._join_flight(task, key):
                yield task

    def _replayable(self, entry: Entry) -> bool:
        """Whether a stored entry may answer a task: a failure only with cache_failures."""
        return entry.ok or self.owner.config.cache_failures

    def _join_flight(self, task: Task, key: str) -> bool:
        """Park ``task`` behind a running duplicate, or serve it from one just finished
        (a success, or a failure with ``cache_failures``: see :meth:`_servable`)."""
        now = time.perf_counter()
        with self.lock:
            flight = self.flights.get(key)
            if flight is not None and self.waiting < max(MIN_WAITERS,
                                                         4 * self.max_in_flight()):
                flight.waiters.append((task, now))
                self.waiting += 1
                return True
            done = self.recent.get(key)
            if done is None:
                if flight is None:
                    self.flights[key] = _Flight(owner=task.index)
                self.pending[task.index] = key
                return False
        task.result = self._shared(task, done, now)
        return False

    def _complete(self, result: TaskResult) -> None:
        with self.lock:
            key = self.pending.pop(result.index, None)
            flight = None
            if key is not None:
                if self._servable(result):
                    self.recent[key] = result
                    if len(self.recent) > 2 * self.window:
                        self.recent.popitem(last=False)
                if key in self.flights and self.flights[key].owner == result.index:
                    flight = self.flights.pop(key)
                    self.waiting -= len(flight.waiters)
        if key is not None:
            self._store(key, result)
        for task, parked in flight.waiters if flight else ():
            self.ready.append(self._shared(task, result, parked))

    def _servable(self, result: TaskResult) -> bool:
        """Whether a finished result may answer duplicates that come after it.

        A failure is shared only with the duplicates parked on its own call; a later
        duplicate calls the agent again (a transient fault is not replayed), unless
        ``cache_failures`` asks for failures to be served like stored ones.
        """
        return result.ok or self.owner.config.cache_failures

    def _orphans(self) -> None:
        """Duplicates whose original never came back (an executor that dropped a task)
        still get a result each: one result per input, always."""
        with self.lock:
            flights, self.flights = list(self.flights.values()), {}
        error = TaskError(type="CacheError", message="the duplicate's original produced no result")
        for flight in flights:
            for task, parked in flight.waiters:
                self.ready.append(TaskResult(index=task.index, ok=False, error=error,
                                             latency_s=time.perf_counter() - parked,
                                             attempts=0))

    def _store(self, key: str, result: TaskResult) -> None:
        if result.ok:
            usage = result.usage.to_dict() if result.usage and result.usage.has_tokens else None
            entry = Entry(result.output, result.latency_s, usage=usage)
        elif self.owner.config.cache_failures and result.error is not None:
            entry = Entry({"type": result.error.type, "message": result.error.message},
                          result.latency_s, ok=False)
        else:
            return
        try:
            self.cache.set(key, entry)
        except UnstorableError as exc:
            self.counters.skip(exc.reason)

    def _hit(self, task: Task, entry: Entry, lookup_s: float) -> TaskResult:
        self.counters.avoided(entry.latency_s)
        if entry.ok:
            return TaskResult(index=task.index, ok=True, output=entry.value, latency_s=lookup_s,
                              attempts=0, cache_hit=True, saved_s=entry.latency_s,
                              usage=Usage.from_dict(entry.usage))
        error = TaskError(type=str(entry.value.get("type", "Error")),
                          message=str(entry.value.get("message", "")))
        return TaskResult(index=task.index, ok=False, error=error, latency_s=lookup_s,
                          attempts=0, cache_hit=True, saved_s=entry.latency_s)

    def _shared(self, task: Task, done: TaskResult, parked: float) -> TaskResult:
        """A duplicate served from its original's call: its output or its failure. Either
        way no call was made for it, so it counts as a call avoided (shared in flight)."""
        waited = time.perf_counter() - parked
        self.counters.avoided(done.latency_s, shared=True)
        return TaskResult(index=task.index, ok=done.ok, output=done.output, error=done.error,
                          latency_s=waited, attempts=0, timed_out=done.timed_out,
                          cache_hit=True, saved_s=done.latency_s, usage=_saved(done.usage))


def _saved(usage: Usage | None) -> Usage | None:
    """The tokens a duplicate saved: its original's, without the stream timing it did not see."""
    if usage is None or not usage.has_tokens:
        return None
    return Usage(parts=list(usage.parts))
