"""The load shape of a run-batch: open or closed model, cycled inputs, and what it achieved.

run-batch asks here for the gate its executor consults (:func:`plan_load`), the task
stream when a duration, iterations or stages cycle the inputs (:func:`cycled`), the
default ``dropped`` gate of an open model (:func:`default_load_thresholds`) and the
``load`` section of its result (:func:`load_report`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agentperf.execution.gate import DEFAULT_OPEN_MAX_IN_FLIGHT, ArrivalSchedule, StartGate
from agentperf.execution.settings import ExecutionSettings

#: Metrics whose thresholds say how many dropped starts the spec allows.
DROPPED_METRICS = ("dropped", "dropped_rate")
DEFAULT_DROPPED_EXPRESSION = "count == 0"


@dataclass(frozen=True)
class LoadReport:
    """The ``load`` section of a run: how tasks were started and what that achieved.

    ``achieved_rate`` is starts per second from the first start to the last (a closed
    run without a gate: tasks finished per second of the run). ``limiter_wait_s`` adds
    up the time starts were held back by the rate limit (parent and workers).
    ``retries_by_cause`` is left for the retry policy to fill (None: not recorded).
    """

    model: str  # "open" or "closed"
    target_rate: float | None
    achieved_rate: float | None
    scheduled: int
    started: int
    dropped: int
    dropped_rate: float | None
    max_in_flight: int | None
    rate_limit: float | None
    rate_limit_shared: bool
    limiter_wait_s: float
    limiter_waits: int
    duration_s: float | None
    iterations: int | None
    retries_by_cause: dict[str, int] | None = None

    @property
    def shaped(self) -> bool:
        """Whether anything about this run's load was asked for (else the section is quiet)."""
        return (self.model == "open" or self.rate_limit is not None
                or self.duration_s is not None or self.iterations is not None)


def open_max_in_flight(settings: ExecutionSettings) -> int:
    """How many tasks an open model may hold scheduled but unfinished.

    ``max_in_flight`` when set; else the peak rate times ``timeout_s`` (the most that
    can be running when every task uses its whole timeout); else 1,000.
    """
    if settings.max_in_flight is not None:
        return settings.max_in_flight
    if settings.timeout_s is None:
        return DEFAULT_OPEN_MAX_IN_FLIGHT
    peak = ArrivalSchedule(settings.arrival_rate, settings.stages).peak_rate
    return max(1, round(peak * settings.timeout_s))


def plan_load(settings: ExecutionSettings) -> tuple[ExecutionSettings, StartGate | None]:
    """The settings to build the executor with, and the gate it consults (None: none)."""
    if settings.open_model:
        settings = replace(settings, max_in_flight=open_max_in_flight(settings))
    return settings, StartGate.from_settings(settings, settings.max_in_flight or 0)


def cycled(inputs: Iterable[Any], settings: ExecutionSettings) -> Iterable[Any]:
    """The inputs, cycled when a duration, iterations or stages bound the run.

    ``inputs`` is re-iterated for every pass (a file is read again, lazily), so memory
    stays flat; an input source that yields nothing ends the stream.
    """
    if not settings.cycled:
        return inputs
    stream = _forever(inputs)
    return itertools.islice(stream, settings.iterations) if settings.iterations else stream


def _forever(inputs: Iterable[Any]) -> Iterator[Any]:
    while True:
        produced = False
        for value in inputs:
            produced = True
            yield value
        if not produced or getattr(inputs, "failure", None) is not None:
            return


def total_tasks(settings: ExecutionSettings, count: int | None) -> int | None:
    """How many tasks the run will have, when known (iterations, or one pass)."""
    if settings.iterations is not None:
        return settings.iterations
    return None if settings.cycled else count


def default_load_thresholds(settings: ExecutionSettings, thresholds: Sequence[Any],
                            error: Any) -> list[Any]:
    """The default ``dropped: count == 0`` gate of an open model, unless the spec sets
    its own threshold on ``dropped`` or ``dropped_rate`` (how it allows drops)."""
    if not settings.open_model or any(t.metric in DROPPED_METRICS for t in thresholds):
        return list(thresholds)
    from agentperf.analysis.thresholds import MetricKind, parse_expression

    default = parse_expression("dropped", MetricKind.COUNT, DEFAULT_DROPPED_EXPRESSION,
                               error=error, key="thresholds.dropped")
    return [*thresholds, default]


def load_report(settings: ExecutionSettings, gate: StartGate | None, *, done: int,
                wall_s: float, worker_wait_s: float, worker_waits: int) -> LoadReport:
    """The ``load`` section from what the gate and the workers saw."""
    stats = gate.stats() if gate is not None else None
    if stats is None:
        achieved = done / wall_s if wall_s > 0 else None
        started, scheduled, dropped, wait_s, waits = done, done, 0, 0.0, 0
    else:
        achieved = gate.achieved_rate() if gate is not None else None
        started, scheduled, dropped = stats.started, stats.scheduled, stats.dropped
        wait_s, waits = stats.limiter_wait_s, stats.limiter_waits
    return LoadReport(
        model="open" if settings.open_model else "closed",
        target_rate=stats.target_rate if stats is not None else None,
        achieved_rate=achieved, scheduled=scheduled, started=started, dropped=dropped,
        dropped_rate=dropped / scheduled if settings.open_model and scheduled else None,
        max_in_flight=stats.max_in_flight if stats is not None else None,
        rate_limit=settings.rate_limit, rate_limit_shared=settings.rate_limit_redis is not None,
        limiter_wait_s=wait_s + worker_wait_s, limiter_waits=waits + worker_waits,
        duration_s=settings.duration_s, iterations=settings.iterations)
