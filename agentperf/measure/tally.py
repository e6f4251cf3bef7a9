"""Running counts over task results, in constant memory whatever the number of tasks.

run-batch summarises a whole run with one; a monitor soak keeps one for the run and a
fresh one per sampling window.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentperf.execution.base import TaskResult
from agentperf.measure.histogram import LatencyHistogram

MESSAGE_CHARS = 500  # an error message kept as an example is cut to this


@dataclass
class FailureGroup:
    """Failures of one exception type, with one example message."""

    type: str
    count: int
    example: str


class TaskTally:
    """Counts, failures by type, agent-call latency (cache hits apart) and CPU time."""

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.timed_out = 0
        self.reran = 0  # results whose agent may have been called twice (a worker was lost)
        self.cache_hits = 0
        self.cpu_s = 0.0
        self.cpu_wall_s = 0.0
        self.cpu_tasks = 0
        self.latency = LatencyHistogram()
        self.failures: dict[str, FailureGroup] = {}
        self.last_error: str | None = None

    def add(self, result: TaskResult) -> None:
        self.done += 1
        if result.reran_after_worker_loss:
            self.reran += 1
        if result.cache_hit:
            self.cache_hits += 1
        else:
            self.latency.record(result.latency_s)
            if result.cpu_s is not None:
                self.cpu_s += result.cpu_s
                self.cpu_wall_s += result.latency_s
                self.cpu_tasks += 1
        if not result.ok:
            self._add_failure(result)

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
