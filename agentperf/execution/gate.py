"""When a task may start: the open model's schedule and the run's rate limit, in one gate.

Every backend asks the same :class:`StartGate` before it hands out a new task: the
shared feed (threads, processes, sequential with a timeout) asks without blocking
(:meth:`StartGate.ready`, then :meth:`StartGate.next_at` to know how long to wait for
results meanwhile); sequential, asyncio and auto's probe wait their turn
(:func:`paced`, :meth:`StartGate.delay`); Dask's parent gates what it submits. One
implementation, so a schedule means the same thing in every mode.

Open model (k6's arrival-rate executors, wrk2's coordinated-omission correction): slot
``k`` is due at ``origin + at(k)`` whatever the completions. A due task may wait for
a free worker, and its latency counts from its slot, not from when a worker took it.
At most ``max_in_flight`` tasks may be scheduled but unfinished; a slot that comes due
beyond that is dropped (k6's ``dropped_iterations``): it consumes the slot, not an input.

Rate limit: a token bucket in GCRA form (one "theoretical arrival time"), ``burst``
starts at once and then one every ``1 / rate`` seconds. Time a start spent held back by
the limiter is added up for the summary.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from time import perf_counter

from agentperf.execution.base import Task, TaskResult
from agentperf.execution.settings import ExecutionSettings, Stage

#: Without a timeout an open model keeps at most this many tasks scheduled but unfinished.
DEFAULT_OPEN_MAX_IN_FLIGHT = 1000
_MANY = sys.maxsize


class ArrivalSchedule:
    """Intended start offsets (seconds from the run's origin) of an open model.

    A constant ``rate``, or ``stages`` ramping linearly from ``rate`` (0 when unset) to
    each target in turn. ``end_s`` (a duration) stops the schedule; stages stop it at
    their end. Slots are asked for in increasing order, so a cursor walks the stages.
    """

    def __init__(self, rate: float | None, stages: tuple[Stage, ...] = (),
                 end_s: float | None = None) -> None:
        self.rate = rate or 0.0
        self.end_s = end_s
        self._segments: list[tuple[float, float, float, float, float]] = []
        start_t = start_n = 0.0
        begin = self.rate
        for stage in stages:  # (t0, n0, rate at t0, rate at t1, duration)
            self._segments.append((start_t, start_n, begin, stage.target, stage.duration_s))
            start_t += stage.duration_s
            start_n += (begin + stage.target) / 2 * stage.duration_s
            begin = stage.target
        if stages:
            self.end_s = start_t if end_s is None else min(end_s, start_t)
        self._cursor = 0

    @property
    def peak_rate(self) -> float:
        return max([self.rate] + [seg[3] for seg in self._segments])

    def at(self, k: int) -> float | None:
        """The offset of slot ``k`` (0-based), or None when the schedule has ended first."""
        t = self._staged(k) if self._segments else k / self.rate
        if t is None or (self.end_s is not None and t >= self.end_s):
            return None
        return t

    def _staged(self, k: int) -> float | None:
        segments = self._segments
        while self._cursor < len(segments):
            t0, n0, a, b, span = segments[self._cursor]
            n1 = n0 + (a + b) / 2 * span
            if k < n1 - 1e-9:
                return t0 + _ramp_time(k - n0, a, b, span)
            self._cursor += 1
        return None

    def target_rate(self, offset_s: float) -> float:
        """The scheduled rate at ``offset_s`` seconds into the run."""
        for t0, _, a, b, span in self._segments:
            if offset_s < t0 + span:
                return a + (b - a) * max(offset_s - t0, 0.0) / span
        return self._segments[-1][3] if self._segments else self.rate


def _ramp_time(n: float, a: float, b: float, span: float) -> float:
    """Seconds into a ramp from rate ``a`` to ``b`` over ``span`` until ``n`` starts."""
    if abs(b - a) < 1e-12:
        return n / a
    half_slope = (b - a) / (2 * span)
    return (-a + math.sqrt(max(a * a + 4 * half_slope * n, 0.0))) / (2 * half_slope)


class TokenBucket:
    """A token bucket as GCRA: ``burst`` starts at once, then one per ``1 / rate`` s."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self._tat = -math.inf  # theoretical arrival time of the next conforming start

    def free_at(self, now: float) -> float:
        """When the next start conforms (``now`` or later)."""
        return max(now, self._tat - self.tolerance)

    def take(self, now: float) -> float:
        """Reserve the next start; return when it may happen (``now`` if at once)."""
        at = self.free_at(now)
        self._tat = max(self._tat, now) + self.interval
        return at


@dataclass(frozen=True)
class LoadStats:
    """What the gate saw: for the run's ``load`` section and its thresholds."""

    model: str  # "open" or "closed"
    target_rate: float | None  # starts per second asked for (the peak of stages)
    scheduled: int  # slots that came due (started or dropped)
    started: int
    dropped: int
    max_in_flight: int | None
    rate_limit: float | None
    limiter_wait_s: float  # starts held back by the limiter, added up
    limiter_waits: int  # starts the limiter held back


class StartGate:
    """The schedule and the limiter of one run; used from one thread (the dispatcher)."""

    def __init__(self, schedule: ArrivalSchedule | None, bucket: TokenBucket | None,
                 max_in_flight: int, *, end_s: float | None = None,
                 rate_limit: float | None = None) -> None:
        self.schedule = schedule
        self.bucket = bucket
        self.max_in_flight = max_in_flight
        self.origin: float | None = None
        self._end_s = end_s  # a duration without a schedule: no start after it
        self._rate_limit = rate_limit
        self._slot = 0
        self._next_offset = schedule.at(0) if schedule else None
        self.started = self.dropped = 0
        self.scheduled: dict[int, float] = {}  # task index -> its slot (perf_counter)
        self._blocked_since: float | None = None
        self.limiter_wait_s = 0.0
        self.limiter_waits = 0
        self._first_start: float | None = None
        self._last_start = 0.0

    @classmethod
    def from_settings(cls, settings: ExecutionSettings, max_in_flight: int
                      ) -> StartGate | None:
        """The gate ``settings`` ask for, or None for a closed run without a limit."""
        schedule = (ArrivalSchedule(settings.arrival_rate, settings.stages, settings.duration_s)
                    if settings.open_model else None)
        local_limit = settings.rate_limit if settings.rate_limit_redis is None else None
        bucket = TokenBucket(local_limit, settings.burst) if local_limit else None
        if schedule is None and bucket is None and settings.duration_s is None:
            return None
        return cls(schedule, bucket, max_in_flight, end_s=settings.duration_s,
                   rate_limit=settings.rate_limit)

    def begin(self, now: float | None = None) -> None:
        """Start the clock (at the first use, unless called earlier)."""
        if self.origin is None:
            self.origin = perf_counter() if now is None else now

    @property
    def ended(self) -> bool:
        """No start may come any more (the schedule or the duration is over)."""
        if self.schedule is not None:
            return self._next_offset is None
        if self._end_s is not None and self.origin is not None:
            return perf_counter() - self.origin >= self._end_s
        return False

    def ready(self, now: float, in_flight: int) -> int:
        """How many new tasks may start now; ``in_flight`` are taken and unfinished.

        Due slots beyond ``max_in_flight`` scheduled-but-unfinished tasks are dropped here.
        """
        self.begin(now)
        room = _MANY
        if self.schedule is not None:
            room = self._due(now, in_flight)
        elif self.ended:
            return 0
        if room and self.bucket is not None and self.bucket.free_at(now) > now:
            if self._blocked_since is None:
                self._blocked_since = now
            return 0
        return room if self.bucket is None else min(room, 1)

    def _due(self, now: float, in_flight: int) -> int:
        assert self.origin is not None and self.schedule is not None
        elapsed = now - self.origin
        due = 0
        offset = self._next_offset
        slot = self._slot
        while offset is not None and offset <= elapsed:
            due += 1
            offset = self.schedule.at(slot + due)
            if due > self.max_in_flight * 2 + 1024:  # far behind: count the rest next time
                break
        excess = in_flight + due - self.max_in_flight
        if excess > 0:
            drop = min(excess, due)
            self.dropped += drop
            self._slot += drop
            self._next_offset = self.schedule.at(self._slot)
            due -= drop
        return due

    def release(self, task: Task, now: float) -> None:
        """``task`` starts now (after :meth:`ready` allowed it): stamp its slot, take a token."""
        self.started += 1
        if self._first_start is None:
            self._first_start = now
        self._last_start = now
        if self.schedule is not None:
            assert self.origin is not None and self._next_offset is not None
            self.scheduled[task.index] = self.origin + self._next_offset
            self._slot += 1
            self._next_offset = self.schedule.at(self._slot)
        if self.bucket is not None:
            self.bucket.take(now)
            if self._blocked_since is not None:
                self.limiter_wait_s += now - self._blocked_since
                self.limiter_waits += 1
                self._blocked_since = None

    def next_at(self, now: float) -> float | None:
        """The next time after ``now`` at which :meth:`ready` may allow a start by the
        clock alone (a slot or a token comes due); None when only a finished task can
        (due slots waiting for room) or the schedule is over."""
        if self.origin is None:
            return None
        if self.schedule is not None:
            if self._next_offset is None:
                return None
            at = self.origin + self._next_offset
        else:
            at = now
        if self.bucket is not None:
            at = max(at, self.bucket.free_at(now))
        if at > now:
            return at
        if self.schedule is None and self._end_s is not None:
            end = self.origin + self._end_s
            return end if end > now else None
        return None

    def delay(self, now: float, in_flight: int) -> float | None:
        """Seconds to wait before the next start; 0 to start now; None: no more starts."""
        if self.ready(now, in_flight):
            return 0.0
        if self.ended:
            return None
        at = self.next_at(now)
        return max(at - now, 0.0) if at is not None else 0.001

    def settle(self, result: TaskResult, now: float) -> TaskResult:
        """In an open model, count ``result``'s latency from its slot (no coordinated
        omission); the agent's own time stays as its service time."""
        slot = self.scheduled.pop(result.index, None) if self.scheduled else None
        if slot is not None and result.called_agent:
            result.service_s = result.service_time_s
            result.latency_s = max(now - slot, result.latency_s)
        return result

    def achieved_rate(self) -> float | None:
        """Starts per second from the first start to the last (None: fewer than two)."""
        if self._first_start is None or self.started < 2:
            return None
        span = self._last_start - self._first_start
        return (self.started - 1) / span if span > 0 else None

    def stats(self) -> LoadStats:
        schedule = self.schedule
        return LoadStats(
            model="open" if schedule is not None else "closed",
            target_rate=schedule.peak_rate if schedule is not None else None,
            scheduled=self.started + self.dropped if schedule is not None else self.started,
            started=self.started, dropped=self.dropped,
            max_in_flight=self.max_in_flight if schedule is not None else None,
            rate_limit=self._rate_limit, limiter_wait_s=self.limiter_wait_s,
            limiter_waits=self.limiter_waits)


def paced(gate: StartGate | None, tasks: Iterable[Task]) -> Iterator[Task]:
    """``tasks`` released one at a time as the gate allows, sleeping in between.

    For consumers that run one task at a time (sequential mode, auto's probe): nothing
    else is in flight when the next one is asked for. Closing the paced stream leaves
    ``tasks`` open (auto hands the rest of it to the backend it picks).
    """
    stream = iter(tasks)
    return stream if gate is None else _paced(gate, stream)


def _paced(gate: StartGate, stream: Iterator[Task]) -> Iterator[Task]:
    while True:
        now = perf_counter()
        wait = gate.delay(now, 0)
        if wait is None:
            return
        if wait > 0:
            time.sleep(wait)
            continue
        task = next(stream, None)
        if task is None:
            return
        gate.release(task, perf_counter())
        yield task
