"""A workload soak: the inputs cycle through the executor until told to stop.

The soak runs on its own thread so the monitor can keep sampling on schedule; the
monitor takes one :class:`TaskWindow` per interval (throughput, latency, errors and
cache hits since the previous one) and a :class:`SoakSummary` at the end. Memory is
constant however long it runs: counts and streaming histograms, never a list of results.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from agentperf.analysis.health import (
    CacheHealthInput,
    TaskHealthInput,
    UsageHealthInput,
    usage_input,
)
from agentperf.execution.base import Executor, ExecutorInfo, Task, TaskResult
from agentperf.measure.histogram import LatencySummary
from agentperf.measure.tally import TaskTally
from agentperf.measure.timeline import TimelineRecorder
from agentperf.measure.usage_tally import UsageSummary, UsageTally
from agentperf.pipeline.execution import (
    create_workload_executor,
    open_workload_cache,
    run_tasks,
)
from agentperf.usage.pricing import Pricer
from agentperf.workload.adapters import AgentAdapter
from agentperf.workload.spec import WorkloadSpec

#: How long stop() waits for in-flight tasks to be cancelled before leaving the thread.
STOP_GRACE_S = 5.0
#: The soak timeline's first interval (it doubles past 2,000 of them): about 2 kB of
#: sketch a second at most, far below what the memory-growth rule could notice.
SOAK_TIMELINE_INTERVAL_S = 1.0


@dataclass(frozen=True)
class TaskWindow:
    """Tasks that finished in one monitor interval."""

    completed: int
    failed: int
    throughput_per_s: float
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    error_rate: float | None
    cache_hit_ratio: float | None  # None when the soak runs without a cache
    #: LLM usage rates over the window; None until some task reported usage.
    input_tokens_per_s: float | None = None
    output_tokens_per_s: float | None = None
    cost_usd_per_s: float | None = None

    def metrics(self) -> dict[str, float | None]:
        usage = {} if self.input_tokens_per_s is None else {
            "task_input_tokens_per_s": self.input_tokens_per_s,
            "task_output_tokens_per_s": self.output_tokens_per_s,
            "task_cost_usd_per_s": self.cost_usd_per_s}
        return {**usage,
            "task_throughput_per_s": self.throughput_per_s,
            "task_latency_mean_s": self.latency_mean_s,
            "task_latency_p50_s": self.latency_p50_s,
            "task_latency_p95_s": self.latency_p95_s,
            "task_error_rate": self.error_rate,
            "task_cache_hit_ratio": self.cache_hit_ratio,
            "tasks_completed": float(self.completed),
            "tasks_failed": float(self.failed),
        }


TASK_UNITS = {
    "task_throughput_per_s": "/s", "task_latency_mean_s": "s", "task_latency_p50_s": "s",
    "task_latency_p95_s": "s", "task_error_rate": "ratio", "task_cache_hit_ratio": "ratio",
    "tasks_completed": "", "tasks_failed": "", "task_input_tokens_per_s": "/s",
    "task_output_tokens_per_s": "/s", "task_cost_usd_per_s": "/s",
}


@dataclass
class SoakSummary:
    """The whole soak: JSON-able fields only."""

    name: str
    executor: ExecutorInfo | None
    total: int
    failed: int
    timed_out: int
    cache_hits: int
    cache_enabled: bool
    wall_s: float
    throughput_per_s: float
    latency: LatencySummary
    cpu_per_wall: float | None
    cpu_cores_used: float | None = None  # task CPU seconds per wall second
    first_pass_tasks: int = 0  # tasks in one pass over the inputs
    failure_types: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    error: str | None = None  # why the soak stopped early, if it did
    #: Tokens and cost of the soak's agent calls (None: no call reported usage), and
    #: their rates over the soak's wall time.
    usage: UsageSummary | None = None
    input_tokens_per_s: float | None = None
    output_tokens_per_s: float | None = None
    cost_usd_per_hour: float | None = None

    @property
    def error_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @property
    def cache_hit_ratio(self) -> float | None:
        return self.cache_hits / self.total if self.cache_enabled and self.total else None

    def health_input(self) -> TaskHealthInput:
        info = self.executor
        return TaskHealthInput(
            total=self.total, failed=self.failed, timed_out=self.timed_out,
            mean_latency_s=self.latency.mean, p50_s=self.latency.p50, p99_s=self.latency.p99,
            mode=info.mode if info else "", workers=info.workers if info else 1,
            cpu_per_wall=self.cpu_per_wall, cpu_cores_used=self.cpu_cores_used,
            cores=os.cpu_count() or 1, chunk_size=info.chunk_size if info else 1,
            wall_s=self.wall_s, command="monitor")

    def usage_health_input(self) -> UsageHealthInput | None:
        cache = self.cache_health_input()
        return usage_input(self.usage, cache_on=cache is not None,
                           repeated_fraction=cache.repeated_fraction if cache else 0.0)

    def cache_health_input(self) -> CacheHealthInput | None:
        if not self.cache_enabled or not self.total:
            return None
        # Inputs cycle, so every lookup after the first pass repeats a key.
        return CacheHealthInput(lookups=self.total, hit_rate=self.cache_hits / self.total,
                                repeated_fraction=max(0.0, 1 - self.first_pass_tasks / self.total))


class WorkloadSoak:
    """Runs ``spec`` continuously on a background thread until :meth:`stop`."""

    def __init__(self, spec: WorkloadSpec, adapter: AgentAdapter | None = None, *,
                 cache_config: Any = None) -> None:
        self.spec = spec
        self._adapter = adapter
        self._cache_config = cache_config
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._total = TaskTally()
        self._window = TaskTally()
        self._usage = UsageTally(Pricer.create(spec.pricing))
        self._window_usage = _UsageWindow()
        self._window_start = time.monotonic()
        self._thread: threading.Thread | None = None
        #: The executor while the soak runs (None before); for reading its live state.
        self.executor: Executor | None = None
        self._info: ExecutorInfo | None = None
        self._error: str | None = None
        self._first_pass = 0
        self._cache_on = False
        self._started = 0.0
        self._ended: float | None = None
        self._issued = 0  # tasks handed to the executor: issued - done are in flight
        #: Per-interval aggregates of the whole soak; the monitor adds its system samples.
        #: Intervals of a second at first: a soak is long, and its own memory is judged.
        self.timeline = TimelineRecorder(SOAK_TIMELINE_INTERVAL_S)

    def start(self) -> None:
        self._started = self._window_start = time.monotonic()
        self.timeline.restart()
        self._thread = threading.Thread(target=self._run, name="agentperf-soak", daemon=True)
        self._thread.start()

    @property
    def finished(self) -> bool:
        """True once the soak thread ended on its own (an error, or no inputs at all)."""
        return self._thread is not None and not self._thread.is_alive()

    def _run(self) -> None:
        try:
            with ExitStack() as stack:
                executor = stack.enter_context(create_workload_executor(
                    self.spec, self._adapter, self._cache_config))
                self.executor = executor
                self._info = executor.info
                cache = open_workload_cache(self.spec, self._cache_config, stack)
                self._cache_on = cache is not None
                results = run_tasks(executor, cache, self._endless())
                try:
                    for result in results:
                        with self._lock:
                            self._total.add(result)
                            self._window.add(result)
                            if result.usage is not None:
                                self._usage.add(result)
                                self._window_usage.add(result, self._usage.pricer)
                        self.timeline.add_task(
                            result.latency_s if result.called_agent else None, ok=result.ok,
                            cache_hit=result.cache_hit,
                            in_flight=self._issued - self._total.done + 1)  # this one too
                        if self._stop.is_set():
                            break
                finally:
                    self._info = executor.info  # auto and dask settle their choices mid-run
                    close = getattr(results, "close", None)
                    if close is not None:
                        close()
        except Exception as exc:  # the monitor reports it; the thread must not die silently
            self._error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ended = time.monotonic()

    def _endless(self) -> Iterator[Task]:
        index = 0
        passes = 0
        while not self._stop.is_set():
            before = index
            for item in self._inputs():
                if self._stop.is_set():
                    return
                self._issued += 1
                yield Task(index, item)
                index += 1
            passes += 1
            if passes == 1:
                self._first_pass = index
            if index == before:
                return  # an empty input stream would spin forever

    def _inputs(self) -> Iterable[Any]:
        return iter(self.spec.inputs)

    def take_window(self) -> TaskWindow:
        """Tasks finished since the previous call (or the start)."""
        now = time.monotonic()
        with self._lock:
            window, self._window = self._window, TaskTally()
            used, self._window_usage = self._window_usage, _UsageWindow()
            seen = self._usage.tasks > 0
            elapsed = max(now - self._window_start, 1e-9)
            self._window_start = now
        lat = window.latency.summary() if window.latency.count else None
        return TaskWindow(
            completed=window.done, failed=window.failed, throughput_per_s=window.done / elapsed,
            latency_mean_s=lat.mean if lat else None, latency_p50_s=lat.p50 if lat else None,
            latency_p95_s=lat.p95 if lat else None,
            error_rate=window.failed / window.done if window.done else None,
            cache_hit_ratio=(window.cache_hits / window.done if window.done else None)
            if self._cache_on else None,
            input_tokens_per_s=used.input_tokens / elapsed if seen else None,
            output_tokens_per_s=used.output_tokens / elapsed if seen else None,
            cost_usd_per_s=used.cost_usd / elapsed if seen and used.priced else None,
        )

    def stop(self) -> SoakSummary:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_GRACE_S)
        return self.summary()

    def summary(self) -> SoakSummary:
        end = self._ended if self._ended is not None else time.monotonic()
        wall = max(end - self._started, 1e-9)
        with self._lock:
            t = self._total
            summary = SoakSummary(
                name=self.spec.name, executor=self._info, total=t.done, failed=t.failed,
                timed_out=t.timed_out, cache_hits=t.cache_hits, cache_enabled=self._cache_on,
                wall_s=wall, throughput_per_s=t.done / wall, latency=t.latency.summary(),
                cpu_per_wall=t.cpu_s / t.cpu_wall_s if t.cpu_wall_s > 0 else None,
                cpu_cores_used=t.cpu_s / wall if t.cpu_wall_s > 0 else None,
                first_pass_tasks=self._first_pass or t.done, error=self._error,
                failure_types=t.failure_types, last_error=t.last_error)
            usage = self._usage.summary(wall, t.done)
        if usage is not None and usage.tasks:
            summary.usage = usage
            summary.input_tokens_per_s = usage.input_tokens.total / wall
            summary.output_tokens_per_s = usage.output_tokens.total / wall
            if usage.cost is not None:
                summary.cost_usd_per_hour = usage.cost.total / wall * 3600
        return summary


class _UsageWindow:
    """Tokens and cost of the agent calls finished in one monitor interval."""

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.priced = 0

    def add(self, result: TaskResult, pricer: Pricer) -> None:
        usage = result.usage
        if usage is None or result.cache_hit or not usage.has_tokens:
            return
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        cost = pricer.cost(usage)
        if cost is not None:
            self.cost_usd += cost
            self.priced += 1
