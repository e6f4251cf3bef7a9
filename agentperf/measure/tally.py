"""Running counts over task results, in constant memory whatever the number of tasks.

run-batch summarises a whole run with one; a monitor soak keeps one for the run and a
fresh one per sampling window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentperf.execution.base import TaskResult
from agentperf.measure.histogram import LatencyHistogram

MESSAGE_CHARS = 500  # an error message kept as an example is cut to this


@dataclass
class FailureGroup:
    """Failures of one exception type, with one example message."""

    type: str
    count: int
    example: str


@dataclass
class RetrySummary:
    """What the retry rule did over a run: how often, why, and how long tasks waited.

    ``by_cause`` counts retries by the error that led to each (``TaskError.label``, e.g.
    ``RateLimitError (HTTP 429)``); ``recovered`` counts retried tasks that then
    succeeded; ``not_retried`` counts failures that had tries left but whose error the
    rule does not retry (not in ``retry_on``).
    """

    tasks_retried: int = 0
    retries: int = 0
    wait_s: float = 0.0
    recovered: int = 0
    not_retried: int = 0
    by_cause: dict[str, int] = field(default_factory=dict)

    def add(self, result: TaskResult) -> None:
        record = result.retry
        if record is None:
            return
        if record.not_retried:
            self.not_retried += 1
        if not record.causes:
            return
        self.tasks_retried += 1
        self.retries += len(record.causes)
        self.wait_s += record.wait_s
        self.recovered += int(result.ok)
        for cause in record.causes:
            self.by_cause[cause] = self.by_cause.get(cause, 0) + 1


class TaskTally:
    """Counts, failures by type, the three latency histograms and agent-call CPU time.

    ``latency`` covers the tasks that called the agent, first try to completion;
    ``service_time`` the agent call alone (a retried task's last try); ``served_latency``
    every task, cache hits included. Tasks tried once land in one histogram that serves
    as both latency and service time, so the usual task costs one record, not two.
    """

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.timed_out = 0
        self.reran = 0  # results whose agent may have been called twice (a worker was lost)
        self.cache_hits = 0
        self.calls = 0  # tasks that called the agent in this run
        self.call_failed = 0  # of those, the ones that failed
        self.call_timed_out = 0  # and the ones that timed out
        self.cpu_s = 0.0
        self.cpu_wall_s = 0.0
        self.cpu_tasks = 0
        self._once = LatencyHistogram()  # calls tried once: latency == service time
        self._retried = LatencyHistogram()  # retried calls, first try to completion
        self._retried_service = LatencyHistogram()  # retried calls, last try alone
        self._not_called = LatencyHistogram()  # cache hits and shared results
        self.failures: dict[str, FailureGroup] = {}
        self.last_error: str | None = None
        self.retries = RetrySummary()

    def add(self, result: TaskResult) -> None:
        """Count one result. This runs once per task, so the usual task (called once,
        succeeded, no CPU reading) takes the shortest path: a few attribute reads and
        one append to a histogram's buffer."""
        self.done += 1
        if result.reran_after_worker_loss:
            self.reran += 1
        if result.retry is not None:
            self.retries.add(result)
        if result.cache_hit:
            self.cache_hits += 1
        elif result.attempts > 0:  # TaskResult.called_agent, inlined
            self.calls += 1
            if result.service_s is None:
                self._once.record(result.latency_s)
            else:
                self._retried.record(result.latency_s)
                self._retried_service.record(result.service_s)
            if result.cpu_s is not None:
                self.cpu_s += result.cpu_s
                self.cpu_wall_s += result.service_time_s or result.latency_s
                self.cpu_tasks += 1
            if not result.ok:
                self.call_failed += 1
                self.call_timed_out += int(result.timed_out)
                self._add_failure(result)
            return
        self._not_called.record(result.latency_s)
        if not result.ok:
            self._add_failure(result)

    @property
    def latency(self) -> LatencyHistogram:
        """Tasks that called the agent, from their first try's start to completion."""
        return LatencyHistogram.merged(self._once, self._retried)

    @property
    def service_time(self) -> LatencyHistogram:
        """The agent call alone (a retried task's last try)."""
        return LatencyHistogram.merged(self._once, self._retried_service)

    @property
    def served_latency(self) -> LatencyHistogram:
        """Every task, cache hits and shared results included: what callers experienced."""
        return LatencyHistogram.merged(self._once, self._retried, self._not_called)

    def _add_failure(self, result: TaskResult) -> None:
        self.failed += 1
        self.timed_out += int(result.timed_out)
        kind = result.error.type if result.error else "Unknown"
        message = (result.error.message if result.error else "")[:MESSAGE_CHARS]
        group = self.failures.get(kind)
        if group is None:
            self.failures[kind] = FailureGroup(kind, 1, message)
        else:
            group.count += 1
        if result.error:
            self.last_error = f"{kind}: {result.error.message}"[:MESSAGE_CHARS]

    def measurement_note(self) -> str | None:
        """A sentence for a run that measured no agent call (its latency is empty), else None."""
        if self.calls:
            return None
        if not self.done:
            return "no agent call was measured: no task ran"
        if self.cache_hits == self.done:
            return (f"no agent call was measured: all {self.done:,} tasks were served from "
                    "the cache")
        return f"no agent call was measured: none of the {self.done:,} tasks called the agent"

    @property
    def succeeded(self) -> int:
        return self.done - self.failed

    @property
    def failure_types(self) -> dict[str, int]:
        return {kind: group.count for kind, group in self.failures.items()}

    @property
    def cpu_per_wall(self) -> float | None:
        """Task CPU time over task wall time: about 1 when CPU-bound, about 0 when waiting."""
        return self.cpu_s / self.cpu_wall_s if self.cpu_tasks and self.cpu_wall_s > 0 else None
