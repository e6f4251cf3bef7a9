"""The result object of a run-batch, rendered by every reporter in ``report/``.

Plain dataclasses of JSON-able fields, so ``dataclasses.asdict`` is the JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentperf.analysis.gates import Gate
from agentperf.analysis.health import HealthReport, RunWarning
from agentperf.errors import ExitCode
from agentperf.execution.base import ExecutorInfo
from agentperf.measure.histogram import LatencySummary
from agentperf.measure.tally import FailureGroup, RetrySummary
from agentperf.measure.usage_tally import StreamingSummary, UsageSummary


@dataclass
class FailedInput:
    """One failed input, for JUnit test cases and the report tables."""

    index: int
    input: Any  # JSON-able, long strings cut
    error_type: str
    message: str
    timed_out: bool = False
    attempts: int = 1


@dataclass
class BatchResult:
    """Everything a run-batch measured and concluded.

    ``latency`` covers the tasks that called the agent (first try to completion),
    ``service_time`` the agent call alone, ``served_latency`` every task.
    """

    name: str
    source: str | None
    executor: ExecutorInfo
    total: int
    succeeded: int
    failed: int
    timed_out: int
    failures: list[FailureGroup]
    wall_s: float
    throughput_per_s: float
    latency: LatencySummary
    latency_buckets: list[tuple[float, float, int]]
    cpu_time_s: float | None
    health: HealthReport
    exit_code: ExitCode
    exit_reason: str
    started_at: str
    agentperf_version: str
    interrupted: bool = False
    aborted: str | None = None
    output_path: str | None = None
    cache: Any = None  # agentperf.cache stats dataclass, when the cache is on
    system: Any = None  # agentperf.measure.sampler summary, when sampled
    thresholds: list[Any] = field(default_factory=list)  # analysis.thresholds results
    context: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failed_inputs: list[FailedInput] = field(default_factory=list)  # the first MAX_FAILED_KEPT
    gates: list[Gate] = field(default_factory=list)  # what decided exit_code, for every report
    agent_calls: int | None = None  # tasks that called the agent (None: every task)
    service_time: LatencySummary | None = None  # the agent call alone (None: as latency)
    served_latency: LatencySummary | None = None  # every task, cache hits included
    measurement_note: str | None = None  # set when no agent call was measured
    #: Tasks run again after a worker process was lost while running them or holding
    #: their result: the agent may have been called twice for each.
    reran_after_worker_loss: int = 0
    #: How tasks were started (open or closed model, rates, drops, limiter waits).
    load: Any = None  # agentperf.pipeline.load.LoadReport
    timeline: Any = None  # agentperf.measure.timeline.Timeline: per-interval aggregates
    #: What the retry rule did: retries by cause, time waited, failures not retried.
    retries: RetrySummary = field(default_factory=RetrySummary)
    #: ``--resume``: what came from the earlier run (a ResumeInfo); None for a fresh run.
    resumed: Any = None
    #: Tokens and cost of this run's LLM calls (None: no call reported usage).
    usage: UsageSummary | None = None
    #: Time to first chunk and between chunks of streamed answers (None: none streamed).
    streaming: StreamingSummary | None = None

    @property
    def error_rate(self) -> float:
        return self.failed / self.total if self.total else 0.0

    @property
    def run_warnings(self) -> tuple[RunWarning, ...]:
        """The machine's state during the run (other processes' CPU, memory, swap, load):
        context for every figure above, never a deduction from ``health``."""
        return self.health.warnings
