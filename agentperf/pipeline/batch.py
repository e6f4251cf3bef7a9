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
    usage_input,
)
from agentperf.errors import ExitCode
from agentperf.execution.base import Task, TaskResult
from agentperf.execution.lifecycle import Shutdown
from agentperf.measure.collector import freeze_startup
from agentperf.measure.histogram import LatencyHistogram
from agentperf.measure.tally import MESSAGE_CHARS, TaskTally
from agentperf.measure.timeline import TaskWindow, TimelineRecorder
from agentperf.measure.usage_tally import UsageTally
from agentperf.pipeline.execution import (
    create_workload_executor,
    open_workload_cache,
    run_tasks,
)
from agentperf.pipeline.load import (
    LoadReport,
    cycled,
    default_load_thresholds,
    load_report,
    plan_load,
    total_tasks,
)
from agentperf.pipeline.results import BatchResult, FailedInput
from agentperf.pipeline.results_file import ResultsWriter
from agentperf.redact import Redactor
from agentperf.usage.pricing import Pricer
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
    time_left_s: float | None = None  # a run bounded by execution.duration
    resumed: int = 0  # of ``done``, rows taken from the earlier run (--resume)
    usage: dict[str, Any] | None = None  # the usage metrics' values (tokens, cost, ttft)

    @classmethod
    def of(cls, tally: TaskTally, total: int | None, elapsed_s: float,
           duration_s: float | None = None, resumed: int = 0) -> Progress:
        left = max(duration_s - elapsed_s, 0.0) if duration_s is not None else None
        usage = tally.usage.usage_values() if isinstance(tally, _Tally) else None
        return cls(tally.done, total, tally.failed, tally.timed_out, tally.cache_hits,
                   elapsed_s, tally.latency, tally.service_time, tally.served_latency,
                   tally.calls, tally.call_failed, left, resumed, usage)

    @property
    def rate(self) -> float:
        """Tasks per second of this run (rows of an earlier run took no time here)."""
        done = self.done - self.resumed
        return done / self.elapsed_s if self.elapsed_s > 0 else 0.0


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
    #: The agent's code fingerprint, written in every results row (``--resume`` checks it).
    code_fingerprint: str | None = None
    #: ``--resume``: an :class:`~agentperf.pipeline.resume.ResumePlan` for ``output``.
    resume: Any = None
    #: Freeze the start-up's objects as the clock starts (:mod:`agentperf.measure.collector`):
    #: only for a process that ends with the run, as the CLI's does.
    freeze_startup: bool = False


class _Tally(TaskTally):
    """The run's counts, plus the first failed inputs for the reports."""

    def __init__(self, pricing: Any = None) -> None:
        super().__init__()
        self.failed_inputs: list[FailedInput] = []
        self.usage = UsageTally(Pricer.create(pricing), _brief)

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
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tally = _Tally(spec.pricing)
    resume = options.resume
    earlier = resume.fold(tally) if resume is not None else 0
    pending: dict[int, Any] = {}
    settings, gate = plan_load(spec.execution)
    duration_s = settings.duration_s
    # count() validates an input file not validated yet
    total = total_tasks(settings, spec.inputs.count())
    inputs = spec.inputs.guarded()
    worker_waits = _WorkerWaits()
    interrupted = False
    aborted: Any = None  # the ThresholdResult that stopped the run
    cache = None
    shutdown = options.shutdown or Shutdown()
    results: Iterator[TaskResult] | None = None
    window: TaskWindow | None = None
    sampler: Any = None
    start: float | None = None
    timeline = TimelineRecorder()
    with ExitStack() as stack:
        writer = _writer(options, spec, stack) if options.output else None
        executor = create_workload_executor(spec, adapter, options.cache_config,
                                            settings=settings, gate=gate)
        try:
            # Imported before processes' workers start up, which it then overlaps.
            sampler_type = _sampler_type(options.sample_interval_s)
            with shutdown.armed():  # a stop during start-up is an interrupted run too
                stack.enter_context(executor)
                cache = open_workload_cache(spec, options.cache_config, stack,
                                            clear=options.cache_clear)
                # The clock starts once workers and caches are up: a LocalCluster's
                # seconds of start-up are not the workload's throughput.
                if options.freeze_startup:
                    freeze_startup()
                sampler = _start_sampler(sampler_type, options.sample_interval_s, timeline)
                start = time.perf_counter()
                if gate is not None:
                    gate.begin(start)
                timeline.restart()
                tasks = _tasks(cycled(inputs, settings), pending,
                               resume.skip if resume is not None else None)
                results = run_tasks(executor, cache, tasks)
                last_progress = start
                abort = abort_check(options.thresholds, cache_enabled=cache is not None)
                if options.on_progress:
                    options.on_progress(Progress.of(tally, total, 0.0, duration_s, earlier))
                # Once per task: names bound here, the usual (successful) task takes
                # the shortest path; a failed one is also listed for the reports.
                shielded, take, count = shutdown.shielded(), pending.pop, tally.add
                clock, add_usage = time.perf_counter, tally.usage.add
                window = TaskWindow(timeline, tally, start)
                add_latency = window.latencies.append
                for result in results:
                    if gate is not None:
                        gate.settle(result, clock())
                    if result.limiter_wait_s:
                        worker_waits.add(result)
                    with shielded:  # counted and written, or neither
                        input_value = take(result.index, None)
                        count(result)
                        if not result.ok:
                            tally.keep_failed(result, input_value)
                        if result.usage is not None:
                            add_usage(result, input_value)
                        if result.called_agent:
                            add_latency(result.latency_s)
                        if writer:
                            writer.write(result, input_value)
                    if shutdown.requested:
                        break
                    now = clock()
                    if now >= window.next_at:
                        window.flush(now, len(pending) + 1)  # the last one was in flight
                    if now - last_progress >= PROGRESS_EVERY_S:
                        last_progress = now
                        snapshot = Progress.of(tally, total, now - start, duration_s, earlier)
                        if options.on_progress:
                            options.on_progress(snapshot)
                        if abort and (stop := abort(snapshot)) is not None:
                            aborted = stop
                            break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if window is not None:
                window.flush(time.perf_counter(), None)
            if results is not None:
                _close(results)
            # not the pools' or cluster's shutdown
            wall_s = time.perf_counter() - start if start is not None else 0.0
            system = sampler.stop() if sampler else None
    interrupted = interrupted or shutdown.requested
    if resume is not None and writer is not None:
        resume.compact()  # one row per input, whether the run finished or was stopped
    load = load_report(settings, gate, done=tally.done, wall_s=wall_s,
                       worker_wait_s=worker_waits.seconds, worker_waits=worker_waits.count)
    result = _build_result(spec, options, tally, executor.info, wall_s, started_at,
                           system=system, cache=cache, interrupted=interrupted, aborted=aborted,
                           load=load, earlier=earlier)
    result.timeline = timeline.snapshot()
    if inputs.failure is not None and not interrupted:
        # The inputs, not the agent, ended the run: a usage error, after the summary.
        result.exit_code, result.exit_reason = ExitCode.USAGE, inputs.failure.message
    elif result.usage is not None and result.usage.pricing_error and not interrupted:
        # Only the counts can show a price is missing: a spec error, found after the run.
        where = f"{spec.source}: " if spec.source else ""
        result.exit_code = ExitCode.USAGE
        result.exit_reason = f"{where}{result.usage.pricing_error}"
    if options.on_progress:
        options.on_progress(Progress.of(tally, total, wall_s, duration_s, earlier))
    return result


class _WorkerWaits:
    """Time workers' own limiter (Dask with ``rate_limit_redis``) held tasks back."""

    __slots__ = ("count", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0

    def add(self, result: TaskResult) -> None:
        """A task the limiter held back (the loop calls this only for those)."""
        self.seconds += result.limiter_wait_s
        self.count += 1


def _writer(options: BatchOptions, spec: WorkloadSpec, stack: ExitStack) -> ResultsWriter:
    """The results file; a resumed run appends to the earlier run's rows."""
    assert options.output is not None
    resume = options.resume
    writer = ResultsWriter(options.output,
                           Redactor.from_context(spec.context, options.cache_config),
                           code=options.code_fingerprint, append=resume is not None)
    if resume is not None:
        resume.prepare_file()
    return stack.enter_context(writer)


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


def _tasks(inputs: Iterable[Any], pending: dict[int, Any],
           skip: Callable[[int], bool] | None = None) -> Iterator[Task]:
    for index, value in enumerate(inputs):
        if skip is not None and skip(index):
            continue  # a successful row of the earlier run (--resume)
        pending[index] = value
        yield Task(index, value)


def _close(results: Iterator[TaskResult]) -> None:
    close = getattr(results, "close", None)
    if close is not None:
        close()


def _sampler_type(interval_s: float) -> Any:
    if interval_s <= 0:
        return None
    from agentperf.measure.sampler import BackgroundSampler

    return BackgroundSampler


def _start_sampler(sampler_type: Any, interval_s: float, timeline: TimelineRecorder) -> Any:
    if sampler_type is None:
        return None
    sampler = sampler_type(interval_s, on_sample=timeline.add_sample)
    sampler.start()
    return sampler


def _build_result(spec: WorkloadSpec, options: BatchOptions, tally: _Tally, info: Any,
                  wall_s: float, started_at: str, *, system: Any, cache: Any,
                  interrupted: bool, aborted: Any, load: LoadReport,
                  earlier: int = 0) -> BatchResult:
    latency_hist, service_hist = tally.latency, tally.service_time
    served_hist = tally.served_latency
    latency = latency_hist.summary()
    cache_stats = cache.stats() if cache else None
    resume = options.resume
    usage = tally.usage.summary(wall_s, tally.done)
    earlier_cpu_s = resume.folded_cpu_s if resume is not None else 0.0
    # In an open model latency includes waiting for a worker at the rate asked for: the
    # health rules judge the agent on its own calls (service time) instead.
    judged = service_hist.summary() if load.model == "open" else latency
    health_input = _health_input(tally, judged, info, wall_s, system=system, cache=cache,
                                 cache_stats=cache_stats, earlier_cpu_s=earlier_cpu_s,
                                 usage=usage)
    from agentperf.analysis.gates import batch_verdict, run_batch_values
    from agentperf.analysis.thresholds import evaluate_thresholds

    health = evaluate(health_input, options.health_limits)
    values = run_batch_values(
        latency=latency_hist, done=tally.done, failed=tally.failed, timed_out=tally.timed_out,
        elapsed_s=wall_s, cache_hits=tally.cache_hits if cache else None,
        health_score=health.score,
        peak_memory=getattr(system, "process_rss_peak_bytes", None),
        service_time=service_hist, served_latency=served_hist, calls=tally.calls,
        call_failed=tally.call_failed, load=load, resumed=earlier,
        usage=tally.usage.usage_values())
    wanted = default_load_thresholds(spec.execution, options.thresholds, spec.error)
    thresholds = evaluate_thresholds(wanted, values)
    if aborted is not None:
        thresholds = [aborted if t.label == aborted.label else t for t in thresholds]
    verdict = batch_verdict(interrupted=interrupted, thresholds=thresholds,
                            failed=tally.failed, total=tally.done,
                            max_error_rate=spec.max_error_rate, aborted=aborted)
    return BatchResult(
        name=spec.name, source=spec.source, executor=info, total=tally.done,
        succeeded=tally.succeeded, failed=tally.failed, timed_out=tally.timed_out,
        failures=sorted(tally.failures.values(), key=lambda g: -g.count), wall_s=wall_s,
        throughput_per_s=(tally.done - earlier) / wall_s if wall_s > 0 else 0.0, latency=latency,
        latency_buckets=latency_hist.buckets(), cpu_time_s=tally.cpu_s or None,
        health=health, exit_code=verdict.exit_code, exit_reason=verdict.reason,
        gates=list(verdict.gates), started_at=started_at,
        agentperf_version=__version__, interrupted=interrupted,
        aborted=abort_reason(aborted, tally.done) if aborted is not None else None,
        output_path=str(options.output) if options.output else None, cache=cache_stats,
        system=system, thresholds=thresholds, context=dict(spec.context),
        warnings=list(info.notes), failed_inputs=tally.failed_inputs, agent_calls=tally.calls,
        reran_after_worker_loss=tally.reran, retries=tally.retries,
        service_time=service_hist.summary(), served_latency=served_hist.summary(),
        measurement_note=tally.measurement_note(), load=load,
        resumed=resume.info() if resume is not None else None,
        usage=usage, streaming=tally.usage.streaming(),
    )


def _health_input(tally: _Tally, latency: Any, info: Any, wall_s: float, *, system: Any,
                  cache: Any, cache_stats: Any, earlier_cpu_s: float = 0.0,
                  usage: Any = None) -> HealthInput:
    """What the health rules judge: the agent calls of this run, nothing else.

    Task figures count only tasks that called the agent. The process tree's CPU is
    agentperf's own plus the agent's; once the cache answered a task some of it went to
    reading the cache, so it is withheld then (task CPU time, measured around each
    call, still speaks for the agent). Cores used are this run's: the CPU time of rows
    resumed from an earlier run (``earlier_cpu_s``) was not spent in ``wall_s``.
    """
    system_data = system_input(system) if system else None
    if system_data is not None and tally.cache_hits:
        system_data = replace(system_data, process_cpu_percent_mean=None)
    return HealthInput(
        tasks=TaskHealthInput(
            total=tally.calls, failed=tally.call_failed, timed_out=tally.call_timed_out,
            mean_latency_s=latency.mean, p50_s=latency.p50, p99_s=latency.p99,
            mode=info.mode, workers=info.workers, cpu_per_wall=tally.cpu_per_wall,
            cpu_cores_used=((tally.cpu_s - earlier_cpu_s) / wall_s
                            if tally.cpu_tasks and wall_s > 0 else None),
            cores=os.cpu_count() or 1, chunk_size=info.chunk_size, wall_s=wall_s),
        cache=cache_input(cache_stats, cache.repeated_fraction) if cache else None,
        system=system_data,
        usage=usage_input(usage, cache_on=cache is not None,
                          repeated_fraction=cache.repeated_fraction if cache else 0.0),
    )
