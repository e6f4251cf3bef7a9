"""Timing one attempt of a task, and the rule for trying it again.

Every local backend times a call the same way and retries by the same rule, so a
latency from threads mode means what it means in processes mode, and a flaky agent is
retried identically whichever backend runs it.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter, thread_time
from typing import Any

from agentperf.execution.base import (
    TIMEOUT_ERROR,
    WORKER_DIED_ERROR,
    ExecutionSettings,
    RetryRecord,
    Task,
    TaskError,
    TaskResult,
)
from agentperf.execution.settings import RETRY_ANY, RETRY_DEFAULT

#: A call shorter than this gets no CPU time (cpu_s None), and makes the next call on
#: the same worker skip its CPU-clock reads: reading the thread CPU clock is a system
#: call of about 0.7 us, so on a shorter call the reading would mostly measure the
#: clock itself, while costing a no-op agent half its dispatch time. Any longer call
#: turns the reads back on for the next one.
CPU_MIN_WALL_S = 20e-6

#: One attempt's outcome: (ok, output, error, wall seconds, thread CPU seconds or None).
Outcome = tuple[bool, Any, "TaskError | None", float, "float | None"]

#: The default cap on the wait between two tries (``execution.max_backoff_s``).
MAX_BACKOFF_S = 5.0

#: Class names (the error's class or any base) the default rule retries: our own
#: per-task timeout and a lost worker process, and timeouts and connection errors as
#: the standard library, requests, httpx, aiohttp and the openai/anthropic SDKs name them.
DEFAULT_RETRY_ON = frozenset({
    TIMEOUT_ERROR, WORKER_DIED_ERROR, "TimeoutError", "ConnectionError", "Timeout",
    "TimeoutException", "NetworkError", "APITimeoutError", "APIConnectionError",
    "ClientConnectionError", "ServerTimeoutError",
})

_RANDOM = random.Random()


def retryable_status(status: int | None) -> bool:
    """HTTP 429 (too many requests) and 5xx (server errors) are worth another try."""
    return status is not None and (status == 429 or 500 <= status <= 599)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` further tries after the first, for errors ``retry_on`` names.

    The wait after failed try ``n`` is ``backoff_s * 2**(n-1)`` capped at
    ``max_backoff_s`` (``doubling``), or a uniform draw below that (``exponential``:
    full jitter, so clients that failed together do not retry together), and never
    less than the Retry-After the error carries. ``retry_on`` holds class names (their
    last dotted part), ``*`` for any error, ``default`` for :data:`DEFAULT_RETRY_ON`
    plus HTTP 429/5xx; None means ``default``. ``rng`` draws the jitter (seed it in tests).
    """

    retries: int = 0
    backoff_s: float = 0.05
    backoff: str = "doubling"
    max_backoff_s: float = MAX_BACKOFF_S
    retry_on: frozenset[str] | None = None
    rng: random.Random | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: ExecutionSettings,
                      rng: random.Random | None = None) -> RetryPolicy:
        names = settings.retry_on
        return cls(retries=settings.retries, backoff_s=settings.backoff_s,
                   backoff=settings.backoff, max_backoff_s=settings.max_backoff_s,
                   retry_on=None if names is None else frozenset(
                       name.rsplit(".", 1)[-1] for name in names),
                   rng=rng)

    def should_retry(self, attempt: int, error: TaskError | None = None) -> bool:
        """Whether a task whose try number ``attempt`` (1-based) failed with ``error``
        gets another; with no error given, only whether tries remain."""
        return attempt <= self.retries and (error is None or self.retries_error(error))

    def retries_error(self, error: TaskError) -> bool:
        """Whether ``error`` is one ``retry_on`` asks to retry."""
        on = self.retry_on
        if on is not None:
            if RETRY_ANY in on or error.type in on or not on.isdisjoint(error.kinds):
                return True
            if RETRY_DEFAULT not in on:
                return False
        return (error.type in DEFAULT_RETRY_ON or not DEFAULT_RETRY_ON.isdisjoint(error.kinds)
                or retryable_status(error.status))

    def delay(self, attempt: int, error: TaskError | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` before the next one."""
        cap = min(self.backoff_s * 2.0 ** min(attempt - 1, 64), self.max_backoff_s)
        wait = (self.rng or _RANDOM).uniform(0.0, cap) if self.backoff == "exponential" else cap
        asked = error.retry_after_s if error is not None else None
        return wait if asked is None else max(wait, asked)


@dataclass(frozen=True, slots=True)
class Retry:
    """The rule's answer "try again": try number ``attempt``, ``delay_s`` from now (``at``,
    on the ``perf_counter`` clock)."""

    attempt: int
    delay_s: float
    at: float


class _Track:
    """A task being retried: when its first try began, why and how long it waited."""

    __slots__ = ("causes", "first_start", "wait_s")

    def __init__(self, first_start: float) -> None:
        self.first_start = first_start
        self.causes: list[str] = []
        self.wait_s = 0.0


class Retrier:
    """The one place that decides, after each try, whether a task is retried or finished.

    Every backend asks :meth:`step` after a try and only carries out the answer in its
    own way (sleeping inline, scheduling on its feed, ``asyncio.sleep``). The retrier
    remembers each task it retried, so the finished result's ``latency_s`` spans every
    try and wait and its :class:`RetryRecord` lists why it was retried.
    """

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = perf_counter) -> None:
        self.policy = policy
        self._clock = clock
        self._tracks: dict[int, _Track] = {}  # id(task) -> its retry state

    def step(self, task: Task, result: TaskResult, started: float | None = None
             ) -> Retry | TaskResult:
        """After a try (``result``, whose ``attempts`` is the try's number, begun at
        ``started``; default: its latency ago): a :class:`Retry`, or the final result."""
        now = self._clock()
        tracks = self._tracks
        track = tracks.get(id(task)) if tracks else None
        error = result.error
        if not result.ok and self.policy.should_retry(result.attempts, error):
            if track is None:
                first = started if started is not None else now - result.latency_s
                track = tracks[id(task)] = _Track(first)
            delay = self.policy.delay(result.attempts, error)
            track.causes.append(error.label if error is not None else "Unknown")
            track.wait_s += delay
            return Retry(result.attempts + 1, delay, now + delay)
        if track is not None:
            del tracks[id(task)]
        return self._finish(result, track, now)

    def _finish(self, result: TaskResult, track: _Track | None, now: float) -> TaskResult:
        refused = (not result.ok and result.error is not None
                   and self.policy.should_retry(result.attempts))
        if track is None and not refused:
            return result
        if track is not None:
            finish_retried(result, track.first_start, now)
            result.retry = RetryRecord(tuple(track.causes), track.wait_s, refused)
        else:
            result.retry = RetryRecord(not_retried=True)
        return result

    def clear(self) -> None:
        self._tracks.clear()


def timed_call(call: Callable[[Any], Any], value: Any, cpu: bool = True) -> Outcome:
    """Run one sync attempt, measuring wall time and (with ``cpu``) this thread's CPU time.

    The CPU clock reads sit inside the wall clock reads, so the CPU window is part of
    the wall window and ``cpu_s`` cannot exceed ``latency_s`` by more than clock error
    (read the other way round, each CPU-bound call showed the two CPU-clock system
    calls as CPU above its wall time). ``SystemExit`` from an agent is captured like
    any failure: in a worker thread an uncaught one would end the thread silently and
    its task would never report.
    """
    if not cpu:  # the common case for tiny calls: no clock but the wall clock
        t0 = perf_counter()
        try:
            output = call(value)
        except (Exception, SystemExit) as exc:
            return False, None, TaskError.from_exception(exc), perf_counter() - t0, None
        return True, output, None, perf_counter() - t0, None
    t0 = perf_counter()
    c0 = thread_time()
    try:
        output = call(value)
    except (Exception, SystemExit) as exc:
        used = thread_time() - c0
        wall = perf_counter() - t0
        return False, None, TaskError.from_exception(exc), wall, honest_cpu(used, wall)
    used = thread_time() - c0
    wall = perf_counter() - t0
    return True, output, None, wall, used if wall >= CPU_MIN_WALL_S else None


def honest_cpu(cpu_s: float | None, wall_s: float) -> float | None:
    """``cpu_s``, or None for a call so short that the clock reads dominate it."""
    return cpu_s if cpu_s is not None and wall_s >= CPU_MIN_WALL_S else None


def finish_retried(result: TaskResult, first_start: float | None, now: float) -> TaskResult:
    """Make a retried task's ``latency_s`` span every try and backoff; the call is kept
    as ``service_s``. A task tried once (``first_start`` None) is left as it is."""
    if first_start is not None and result.attempts > 1:
        result.service_s = result.latency_s
        result.latency_s = max(now - first_start, result.latency_s)
    return result


def timeout_error(timeout_s: float) -> TaskError:
    return TaskError(TIMEOUT_ERROR, f"no result within the {timeout_s:g} s timeout")


def timeout_result(task: Task, attempt: int, timeout_s: float, elapsed_s: float,
                   worker: str | None) -> TaskResult:
    return TaskResult(task.index, False, None, timeout_error(timeout_s), elapsed_s, None,
                      attempt, True, worker)


def worker_died_error(worker: str, exitcode: int | None) -> TaskError:
    return TaskError(WORKER_DIED_ERROR,
                     f"worker {worker} {describe_exit(exitcode)} while running this task")


def describe_exit(exitcode: int | None) -> str:
    """``exited with code 3`` or ``was killed by SIGKILL``, from a process exit code."""
    if exitcode is None:
        return "stopped responding"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name}"
    return f"exited with code {exitcode}"
