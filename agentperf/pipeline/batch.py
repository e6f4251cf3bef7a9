"""run-batch as a pipeline: inputs -> (cache) -> executor -> measurements -> verdict.

Returns a :class:`BatchResult`; prints nothing. Progress and abort checks are callbacks
so the CLI decides how to show them and the library stays quiet.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agentperf import __version__
from agentperf.analysis.gates import abort_check, abort_reason
from agentperf.analysis.health import (
    HealthInput,
    HealthLimits,
    TaskHealthInput,
    cache_input,
    evaluate,
    system_input,
)
from agentperf.errors import ExitCode
from agentperf.execution.base import Task, TaskResult
from agentperf.execution.lifecycle import Shutdown
from agentperf.measure.histogram import LatencyHistogram
from agentperf.measure.tally import MESSAGE_CHARS, TaskTally
from agentperf.pipeline.results import BatchResult, FailedInput
from agentperf.pipeline.results_file import ResultsWriter
from agentperf.redact import Redactor
from agentperf.workload.adapters import AgentAdapter
from agentperf.workload.spec import WorkloadSpec

PROGRESS_EVERY_S = 0.25
MAX_FAILED_KEPT = 1000  # failed inputs listed in reports; the results file has them all


@dataclass
class Progress:
    """A snapshot of a running batch, for progress displays and abort checks."""

    done: int
    total: int | None
    failed: int
    timed_out: int
    cache_hits: int
    elapsed_s: float
    latency: LatencyHistogram  # tasks that called the agent
    service_time: LatencyHistogram | None = None
    served_latency: LatencyHistogram | None = None
    calls: int | None = None  # tasks that called the agent
    call_failed: int | None = None

    @classmethod
    def of(cls, tally: TaskTally, total: int | None, elapsed_s: float) -> Progress:
        return cls(tally.done, total, tally.failed, tally.timed_out, tally.cache_hits,
                   elapsed_s, tally.latency, tally.service_time, tally.served_latency,
                   tally.calls, tally.call_failed)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class BatchOptions:
    """Everything run-batch needs besides the spec; the CLI fills it from options."""

    output: Path | None = None
    cache_config: Any = None  # agentperf.cache.config.CacheConfig, or None for no cache
    cache_clear: bool = False
    health_limits: HealthLimits = field(default_factory=HealthLimits)
    sample_interval_s: float = 0.5
    thresholds: list[Any] = field(default_factory=list)  # analysis.thresholds.Threshold
    on_progress: Callable[[Progress], None] | None = None
    #: How the caller stops the run (the CLI wires SIGINT and SIGTERM to it).
    shutdown: Shutdown | None = None


class _Tally(TaskTally):
    """The run's counts, plus the first failed inputs for the reports."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_inputs: list[FailedInput] = []

    def keep_failed(self, result: TaskResult, input_value: Any) -> None:
        """List a failed input for the reports (the first :data:`MAX_FAILED_KEPT`)."""
        if len(self.failed_inputs) >= MAX_FAILED_KEPT:
            return
        error = result.error
        self.failed_inputs.append(FailedInput(
            result.index, _brief(input_value), error.type if error else "Unknown",
            (error.message if error else "")[:MESSAGE_CHARS], result.timed_out,
            result.attempts))


def run_batch(spec: WorkloadSpec, options: BatchOptions,
              adapter: AgentAdapter | None = None) -> BatchResult:
    """Run every input of ``spec``; always returns a result, even when interrupted."""
    from agentperf.execution import create_executor

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tally = _Tally()
    pending: dict[int, Any] = {}
    total = spec.inputs.count()  # validates an input file not validated yet
    inputs = spec.inputs.guarded()
    interrupted = False
    aborted: Any = None  # the ThresholdResult that stopped the run
    cache = None
    shutdown = options.shutdown or Shutdown()
    results: Iterator[TaskResult] | None = None
    sampler: Any = None
    start: float | None = None
    with ExitStack() as stack:
        writer = stack.enter_context(ResultsWriter(
            options.output, Redactor.from_context(spec.context, options.cache_config))
        ) if options.output else None
        executor = create_executor(
            spec.agent, spec.execution, adapter=adapter,
            cache_config=options.cache_config if spec.execution.mode == "dask" else None)
        try:
            with shutdown.armed():  # a stop during start-up is an interrupted run too
                stack.enter_context(executor)
                cache = _open_cache(options, spec, stack)
                # The clock starts once workers and caches are up: a LocalCluster's
                # seconds of start-up are not the workload's throughput.
                sampler = _start_sampler(options.sample_interval_s)
                start = time.perf_counter()
                tasks = _tasks(inputs, pending)
                results = (cache.wrap(tasks, executor.run, lambda: executor.info.max_in_flight)
                           if cache else executor.run(tasks))
                last_progress = start
                abort = abort_check(options.thresholds, cache_enabled=cache is not None)
                if options.on_progress:
                    options.on_progress(Progress.of(tally, total, 0.0))
                # Once per task: names bound here, the usual (successful) task takes
                # the shortest path; a failed one is also listed for the reports.
                shielded, take, count = shutdown.shielded(), pending.pop, tally.add
                clock = time.perf_counter
                for result in results:
                    with shielded:  # counted and written, or neither
                        input_value = take(result.index, None)
                        count(result)
                        if not result.ok:
                            tally.keep_failed(result, input_value)
                        if writer:
                            writer.write(result, input_value)
                    if shutdown.requested:
                        break
                    now = clock()
                    if now - last_progress >= PROGRESS_EVERY_S:
                        last_progress = now
                        snapshot = Progress.of(tally, total, now - start)
                        if options.on_progress:
                            options.on_progress(snapshot)
                        if abort and (stop := abort(snapshot)) is not None:
                            aborted = stop
                            break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if results is not None:
                _close(results)
            # not the pools' or cluster's shutdown
            wall_s = time.perf_counter() - start if start is not None else 0.0
            system = sampler.stop() if sampler else None
    interrupted = interrupted or shutdown.requested
    result = _build_result(spec, options, tally, executor.info, wall_s, started_at,
                           system=system, cache=cache, interrupted=interrupted, aborted=aborted)
    if inputs.failure is not None and not interrupted:
        # The inputs, not the agent, ended the run: a usage error, after the summary.
        result.exit_code, result.exit_reason = ExitCode.USAGE, inputs.failure.message
    if options.on_progress:
        options.on_progress(Progress.of(tally, total, wall_s))
    return result


def _brief(value: Any, limit: int = 200) -> Any:
    """An input as reports show it: JSON-able, long text cut."""
    text = value if isinstance(value, str) else None
    if text is not None:
        return text if len(text) <= limit else text[:limit] + "..."
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    try:
        encoded = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        encoded = repr(value)
    return value if len(encoded) <= limit else encoded[:limit] + "..."


def _tasks(inputs: Iterable[Any], pending: dict[int, Any]) -> Iterator[Task]:
    for index, value in enumerate(inputs):
        pending[index] = value
        yield Task(index, value)


def _close(results: Iterator[TaskResult]) -> None:
    close = getattr(results, "close", None)
    if close is not None:
        close()


def _start_sampler(interval_s: float) -> Any:
    if interval_s <= 0:
        return None
    from agentperf.measure.sampler import BackgroundSampler

    sampler = BackgroundSampler(interval_s)
    sampler.start()
    return sampler


def _open_cache(options: BatchOptions, spec: WorkloadSpec, stack: ExitStack) -> Any:
    config = options.cache_config
    if config is None or not getattr(config, "enabled", False):
        return None
    from agentperf.cache.batch import BatchCache

    cache = stack.enter_context(BatchCache.open(config, spec.agent))
    if options.cache_clear:
        cache.clear()
    return cache


def _build_result(spec: WorkloadSpec, options: BatchOptions, tally: _Tally, info: Any,
                  wall_s: float, started_at: str, *, system: Any, cache: Any,
                  interrupted: bool, aborted: Any) -> BatchResult:
    latency_hist, service_hist = tally.latency, tally.service_time
    served_hist = tally.served_latency
    latency = latency_hist.summary()
    cache_stats = cache.stats() if cache else None
    health_input = _health_input(tally, latency, info, wall_s, system=system,
                                 cache=cache, cache_stats=cache_stats)
    from agentperf.analysis.gates import batch_verdict, run_batch_values
    from agentperf.analysis.thresholds import evaluate_thresholds

    health = evaluate(health_input, options.health_limits)
    values = run_batch_values(
        latency=latency_hist, done=tally.done, failed=tally.failed, timed_out=tally.timed_out,
        elapsed_s=wall_s, cache_hits=tally.cache_hits if cache else None,
        health_score=health.score,
        peak_memory=getattr(system, "process_rss_peak_bytes", None),
        service_time=service_hist, served_latency=served_hist, calls=tally.calls,
        call_failed=tally.call_failed)
    thresholds = evaluate_thresholds(options.thresholds, values)
    if aborted is not None:
        thresholds = [aborted if t.label == aborted.label else t for t in thresholds]
    verdict = batch_verdict(interrupted=interrupted, thresholds=thresholds,
                            failed=tally.failed, total=tally.done,
                            max_error_rate=spec.max_error_rate, aborted=aborted)
    return BatchResult(
        name=spec.name, source=spec.source, executor=info, total=tally.done,
        succeeded=tally.succeeded, failed=tally.failed, timed_out=tally.timed_out,
        failures=sorted(tally.failures.values(), key=lambda g: -g.count), wall_s=wall_s,
        throughput_per_s=tally.done / wall_s if wall_s > 0 else 0.0, latency=latency,
        latency_buckets=latency_hist.buckets(), cpu_time_s=tally.cpu_s or None,
        health=health, exit_code=verdict.exit_code, exit_reason=verdict.reason,
        gates=list(verdict.gates), started_at=started_at,
        agentperf_version=__version__, interrupted=interrupted,
        aborted=abort_reason(aborted, tally.done) if aborted is not None else None,
        output_path=str(options.output) if options.output else None, cache=cache_stats,
        system=system, thresholds=thresholds, context=dict(spec.context),
        warnings=list(info.notes), failed_inputs=tally.failed_inputs, agent_calls=tally.calls,
        reran_after_worker_loss=tally.reran,
        service_time=service_hist.summary(), served_latency=served_hist.summary(),
        measurement_note=tally.measurement_note(),
    )


def _health_input(tally: _Tally, latency: Any, info: Any, wall_s: float, *, system: Any,
                  cache: Any, cache_stats: Any) -> HealthInput:
    """What the health rules judge: the agent calls of this run, nothing else.

    Task figures count only tasks that called the agent. The process tree's CPU is
    agentperf's own plus the agent's; once the cache answered a task some of it went to
    reading the cache, so it is withheld then (task CPU time, measured around each
    call, still speaks for the agent).
    """
    system_data = system_input(system) if system else None
    if system_data is not None and tally.cache_hits:
        system_data = replace(system_data, process_cpu_percent_mean=None)
    return HealthInput(
        tasks=TaskHealthInput(
            total=tally.calls, failed=tally.call_failed, timed_out=tally.call_timed_out,
            mean_latency_s=latency.mean, p50_s=latency.p50, p99_s=latency.p99,
            mode=info.mode, workers=info.workers, cpu_per_wall=tally.cpu_per_wall,
            cpu_cores_used=tally.cpu_s / wall_s if tally.cpu_tasks and wall_s > 0 else None,
            cores=os.cpu_count() or 1, chunk_size=info.chunk_size, wall_s=wall_s),
        cache=cache_input(cache_stats, cache.repeated_fraction) if cache else None,
        system=system_data,
    )
