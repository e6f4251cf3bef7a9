"""The monitor session: what is watched, for how long, and what the samples conclude.

The session samples on a fixed schedule and yields one :class:`MonitorTick` per
interval; the CLI draws it and exports it. It ends when the time is up, when the
watched process or command ends, or when the caller stops iterating (Ctrl-C); then
:meth:`MonitorSession.finish` returns the :class:`MonitorSummary`. Nothing here prints.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psutil

from agentperf.analysis.gates import (
    Gate,
    GateKind,
    error_rate_gate,
    monitor_values,
    monitor_verdict,
)
from agentperf.analysis.health import (
    HealthInput,
    HealthLimits,
    HealthReport,
    evaluate,
    system_input,
)
from agentperf.analysis.thresholds import ThresholdResult, evaluate_thresholds
from agentperf.errors import AgentperfError, ExitCode
from agentperf.measure.registry import FunctionMetrics, MetricsRegistry, default_registry
from agentperf.measure.sampler import (
    MIN_SPAN_S,
    Sample,
    SamplerSummary,
    SystemSampler,
    TickSchedule,
)
from agentperf.measure.sampler import unit_of as sampler_unit_of
from agentperf.measure.timeline import Timeline, TimelineRecorder
from agentperf.measure.timeseries import DEFAULT_HISTORY, SeriesSet, SeriesStats
from agentperf.pipeline.soak import TASK_UNITS, SoakSummary, TaskWindow, WorkloadSoak

#: How often a watched pid or a soak is checked for having ended between samples.
POLL_S = 0.25


@dataclass(frozen=True)
class MonitorConfig:
    """What to watch and how; exactly one of ``pid``, ``command`` or a soak, or none."""

    interval_s: float = 2.0
    duration_s: float | None = None
    pid: int | None = None
    command: tuple[str, ...] = ()
    include_children: bool = True
    history: int = DEFAULT_HISTORY
    window_s: float | None = None  # statistics and health over the last N seconds only
    limits: HealthLimits = field(default_factory=HealthLimits)
    max_error_rate: float | None = None  # a soak above it exits 3; None allows no failure
    thresholds: tuple[Any, ...] = ()  # analysis.thresholds.Threshold over MONITOR_METRICS
    threshold_notes: tuple[str, ...] = ()  # spec thresholds monitor cannot measure


@dataclass(frozen=True)
class MonitorTick:
    """One interval: the sample, the soak's tasks in it, and the health so far."""

    index: int
    sample: Sample
    tasks: TaskWindow | None
    metrics: dict[str, float | None]
    health: HealthReport
    totals: dict[str, int]  # counter deltas since the start, keyed by their rate metric


@dataclass
class MonitorSummary:
    """Everything a monitor run measured and concluded; JSON-able via ``asdict``."""

    target: str
    kind: str  # "system", "pid", "command" or "workload"
    started_at: str
    duration_s: float
    interval_s: float
    samples: int
    end_reason: str  # "time_up", "process_ended", "workload_ended" or "interrupted"
    metrics: list[SeriesStats]
    system: SamplerSummary
    health: HealthReport
    exit_code: ExitCode
    tasks: SoakSummary | None = None
    functions: list[FunctionMetrics] = field(default_factory=list)
    command_exit_code: int | None = None
    warnings: list[str] = field(default_factory=list)
    #: Per-interval aggregates of the whole run (tasks of a soak, CPU and RSS), bounded.
    timeline: Timeline | None = None
    #: The kept samples of every metric (the last ``history`` of each), for charts.
    series: SeriesSet | None = None
    reason: str = ""  # why the exit code is what it is, in one line
    gates: list[Gate] = field(default_factory=list)
    thresholds: list[ThresholdResult] = field(default_factory=list)


def unit_of(metric: str) -> str:
    """The unit of any metric a monitor tick carries."""
    return TASK_UNITS.get(metric) or sampler_unit_of(metric)


class MonitorSession:
    """Use as a context manager; iterate :meth:`ticks`, then call :meth:`finish`."""

    def __init__(self, config: MonitorConfig, *, soak: WorkloadSoak | None = None,
                 registry: MetricsRegistry | None = None) -> None:
        if config.interval_s <= 0:
            raise AgentperfError("--interval: must be more than 0")
        if sum(bool(x) for x in (config.pid, config.command, soak)) > 1:
            raise AgentperfError("monitor: watch one thing: a WORKLOAD, --pid or -- COMMAND")
        self.config = config
        self.soak = soak
        self.registry = registry or default_registry()
        self.series = SeriesSet(config.history, unit_of)
        self.timeline = soak.timeline if soak is not None else TimelineRecorder()
        self.latest: MonitorTick | None = None
        self.end_reason = "interrupted"
        self._proc: subprocess.Popen[bytes] | None = None
        self._sampler: SystemSampler | None = None
        self._count = 0
        self._started_at = ""
        self._start = 0.0
        self._soak_summary: SoakSummary | None = None

    @property
    def kind(self) -> str:
        if self.soak is not None:
            return "workload"
        if self.config.command:
            return "command"
        return "pid" if self.config.pid else "system"

    @property
    def target(self) -> str:
        if self.soak is not None:
            return f"workload {self.soak.spec.name}"
        if self.config.command:
            return " ".join(self.config.command)
        return f"pid {self.config.pid}" if self.config.pid else "system"

    def __enter__(self) -> MonitorSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        pid = self.config.pid
        if self.config.command:
            self._proc = _spawn(self.config.command)
            pid = self._proc.pid
        elif self.soak is not None:
            pid = os.getpid()
        try:
            self._sampler = SystemSampler(pid=pid, include_children=self.config.include_children)
        except psutil.NoSuchProcess:
            if self._proc is None:
                raise AgentperfError(f"--pid {pid}: no such process") from None
            self._sampler = SystemSampler()  # the command exited at once: system only
        except psutil.AccessDenied:
            raise AgentperfError(f"--pid {pid}: permission denied to read it") from None
        if self.soak is not None:
            self.soak.start()  # restarts the soak's timeline
        else:
            self.timeline.restart()
        self._start = time.monotonic()

    def ticks(self) -> Iterator[MonitorTick]:
        """One tick per interval until the time is up or the watched thing ends."""
        deadline = self._start + self.config.duration_s if self.config.duration_s else None
        schedule = TickSchedule(self.config.interval_s, self._start)
        while True:
            next_at = schedule.next_at
            ended = self._wait_until(min(next_at, deadline) if deadline else next_at)
            if ended:
                self.end_reason = ended
                return
            if deadline is not None and time.monotonic() >= deadline - 1e-3:
                yield self._tick()
                self.end_reason = "time_up"
                return
            yield self._tick()
            schedule.advance()

    def _wait_until(self, when: float) -> str | None:
        """Sleep until ``when``; return why monitoring ended if it did meanwhile."""
        while True:
            remaining = when - time.monotonic()
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=max(remaining, 0))
                    return "process_ended"
                except subprocess.TimeoutExpired:
                    return None
            if self._sampler is not None and not self._sampler.process_alive():
                return "process_ended"
            if self.soak is not None and self.soak.finished:
                return "workload_ended"
            if remaining <= 0:
                return None
            time.sleep(min(remaining, POLL_S if self.config.pid or self.soak else remaining))

    def _tick(self) -> MonitorTick:
        assert self._sampler is not None
        sample = self._sampler.sample()
        window = self.soak.take_window() if self.soak is not None else None
        metrics = sample.metrics()
        if window is not None:
            metrics.update(window.metrics())
        self.series.record(sample.elapsed_s, metrics)
        self.timeline.add_sample(sample)
        self._count += 1
        tick = MonitorTick(index=self._count, sample=sample, tasks=window, metrics=metrics,
                           health=self.health(), totals=self._sampler.totals())
        self.latest = tick
        return tick

    def system_summary(self) -> SamplerSummary:
        assert self._sampler is not None
        limits = self.config.limits
        return SamplerSummary.from_series(
            self.series, interval_s=self.config.interval_s, cores=self._sampler.cores,
            window_s=self.config.window_s,
            growth_min_span_s=limits.memory_growth_min_span_s,
            growth_min_samples=limits.memory_growth_min_samples,
            growth_threshold=limits.memory_growth_bytes_per_s)

    def soak_summary(self) -> SoakSummary | None:
        if self.soak is None:
            return None
        return self._soak_summary or self.soak.summary()

    def health(self) -> HealthReport:
        """The system is judged only when it is what is watched; a workload, a pid or a
        command is judged on its own process tree, and the machine gives run warnings."""
        soak = self.soak_summary()
        data = HealthInput(
            system=system_input(self.system_summary()),
            tasks=soak.health_input() if soak is not None and soak.total else None,
            cache=soak.cache_health_input() if soak is not None else None,
            usage=soak.usage_health_input() if soak is not None else None,
            subject="machine" if self.kind == "system" else "workload")
        return evaluate(data, self.config.limits)

    def finish(self, *, interrupted: bool = False) -> MonitorSummary:
        """Stop what the session started and summarise; safe to call once per session."""
        if interrupted:
            self.end_reason = "interrupted"
        if self._count == 0 and self._sampler is not None and not interrupted:
            # A run shorter than one interval still reports one sample, over a span long
            # enough for the kernel's 10 ms CPU-time ticks to mean something.
            time.sleep(max(0.0, self._start + MIN_SPAN_S - time.monotonic()))
            self._tick()
        if self.soak is not None and self._soak_summary is None:
            self._soak_summary = self.soak.stop()
        command_exit = self._stop_command()
        soak = self._soak_summary
        warnings = list(self.config.threshold_notes)
        if soak is not None and soak.error:
            warnings.append(f"the workload stopped: {soak.error}")
        if soak is not None and soak.executor is not None:
            warnings.extend(soak.executor.notes)
        system = self.system_summary()
        thresholds = evaluate_thresholds(self.config.thresholds,
                                         monitor_values(tasks=soak, system=system))
        failure, gates = self._workload_gates(soak, command_exit)
        verdict = monitor_verdict(interrupted=interrupted, thresholds=thresholds,
                                  workload_failure=failure, extra_gates=gates)
        return MonitorSummary(
            target=self.target, kind=self.kind, started_at=self._started_at,
            duration_s=round(time.monotonic() - self._start, 3),
            interval_s=self.config.interval_s, samples=self._count,
            end_reason=self.end_reason,
            metrics=list(self.series.stats(self.config.window_s).values()),
            system=system, health=self.health(), exit_code=verdict.exit_code, tasks=soak,
            functions=list(self.registry.snapshot().values()), command_exit_code=command_exit,
            warnings=warnings, reason=verdict.reason, gates=list(verdict.gates),
            thresholds=thresholds, timeline=self.timeline.snapshot(), series=self.series)

    def _workload_gates(self, soak: SoakSummary | None,
                        command_exit: int | None) -> tuple[str, list[Gate]]:
        """Why the watched command or soak failed (empty if it did not), and its gates.

        A command that ends by itself with a non-zero code failed (exit 3, its code in
        the summary); one the monitor stopped when the time was up did not.
        """
        if command_exit is not None and self.end_reason == "process_ended":
            failed = command_exit != 0
            text = f"exit code {command_exit}"
            message = f"the command {'failed with' if failed else 'ended with'} {text}"
            gate = Gate(GateKind.WORKLOAD, "command succeeded", not failed,
                        float(command_exit), text, message)
            return (message if failed else ""), [gate]
        if soak is None:
            return "", []
        if soak.error:
            message = f"the workload stopped: {soak.error}"
            return message, [Gate(GateKind.WORKLOAD, "workload kept running", False, None,
                                  "stopped", message)]
        # As in run-batch: without max_error_rate, no failure is allowed.
        gate = error_rate_gate(soak.failed, soak.total, self.config.max_error_rate)
        return ("" if gate.passed else gate.message), [gate]

    def _stop_command(self) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def close(self) -> None:
        if self.soak is not None and self._soak_summary is None:
            self._soak_summary = self.soak.stop()
        self._stop_command()


def _spawn(command: Sequence[str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(list(command))
    except FileNotFoundError:
        raise AgentperfError(f"{command[0]}: command not found") from None
    except PermissionError:
        raise AgentperfError(f"{command[0]}: command not executable") from None


def prepare_soak(reference: str, *, execution: dict[str, Any] | None = None,
                 inputs: Sequence[str] = (), inputs_file: str | None = None,
                 cache: bool | None = None) -> tuple[WorkloadSoak, HealthLimits, float | None]:
    """Load and check a workload for a soak before anything runs.

    The cache is on only when the spec has a ``cache:`` section (or ``cache`` is True),
    as in run-batch: the inputs cycle, so a default-on cache would turn every pass after
    the first into cache hits and the soak would measure the cache instead of the agent.
    """
    from dataclasses import replace

    from agentperf.analysis.health import limits_from_mapping
    from agentperf.cache.config import cache_for_workload
    from agentperf.workload.spec import load_workload

    spec = load_workload(reference, inputs=inputs, inputs_file=inputs_file)
    spec = replace(spec, execution=spec.execution.with_overrides(**(execution or {})))
    limits = limits_from_mapping(spec.health, spec.error)
    cache_config = cache_for_workload(spec, cache=cache)
    soak = WorkloadSoak(spec, spec.build_agent(), cache_config=cache_config)
    return soak, limits, spec.max_error_rate


def monitor_thresholds(spec: Any, cli: Sequence[str]) -> tuple[list[Any], list[str]]:
    """The spec's ``thresholds:`` and ``-t`` options as monitor gates, checked before a run.

    A spec written for run-batch may gate metrics a soak does not measure (health_score,
    peak_memory, ...): those are not applied, and the returned notes say so in the
    summary rather than silently. A metric neither command knows, and any ``-t`` on a
    metric monitor does not measure, is a usage error (exit 2), never a passing gate.
    """
    from agentperf.analysis.gates import MONITOR_METRICS
    from agentperf.analysis.thresholds import RUN_BATCH_METRICS, parse_thresholds

    section = dict(spec.thresholds) if spec is not None else {}
    notes = [f"thresholds.{name}: monitor does not measure {name}, so it was not applied "
             "(run-batch does)" for name in section
             if name not in MONITOR_METRICS and name in RUN_BATCH_METRICS]
    section = {k: v for k, v in section.items() if k in MONITOR_METRICS
               or k not in RUN_BATCH_METRICS}
    error = spec.error if spec is not None else _option_error
    return parse_thresholds(section, cli, metrics=MONITOR_METRICS, error=error), notes


def _option_error(message: str, key: str) -> Exception:
    return AgentperfError(f"{key}: {message}")
