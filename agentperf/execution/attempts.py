"""Timing one attempt of a task, and the rule for trying it again.

Every local backend times a call the same way and retries by the same rule, so a
latency from threads mode means what it means in processes mode, and a flaky agent is
retried identically whichever backend runs it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter, thread_time
from typing import Any

from agentperf.execution.base import (
    TIMEOUT_ERROR,
    WORKER_DIED_ERROR,
    ExecutionSettings,
    Task,
    TaskError,
    TaskResult,
)

#: Backoff doubles per attempt but never waits longer than this between two tries.
MAX_BACKOFF_S = 5.0

#: A call shorter than this gets no CPU time (cpu_s None), and makes the next call on
#: the same worker skip its CPU-clock reads: reading the thread CPU clock is a system
#: call of about 0.7 us, so on a shorter call the reading would mostly measure the
#: clock itself, while costing a no-op agent half its dispatch time. Any longer call
#: turns the reads back on for the next one.
CPU_MIN_WALL_S = 20e-6

#: One attempt's outcome: (ok, output, error, wall seconds, thread CPU seconds or None).
Outcome = tuple[bool, Any, "TaskError | None", float, "float | None"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` further tries after the first, waiting ``backoff_s * 2**(attempt-1)``."""

    retries: int = 0
    backoff_s: float = 0.05

    @classmethod
    def from_settings(cls, settings: ExecutionSettings) -> RetryPolicy:
        return cls(retries=settings.retries, backoff_s=settings.backoff_s)

    def should_retry(self, attempt: int) -> bool:
        """Whether a task whose try number ``attempt`` (1-based) failed gets another."""
        return attempt <= self.retries

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` before the next one."""
        return min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)


def timed_call(call: Callable[[Any], Any], value: Any, cpu: bool = True) -> Outcome:
    """Run one sync attempt, measuring wall time and (with ``cpu``) this thread's CPU time.

    The CPU clock reads sit inside the wall clock reads, so the CPU window is part of
    the wall window and ``cpu_s`` cannot exceed ``latency_s`` by more than clock error
    (read the other way round, each CPU-bound call showed the two CPU-clock system
    calls as CPU above its wall time). ``SystemExit`` from an agent is captured like
    any failure: in a worker thread an uncaught one would end the thread silently and
    its task would never report.
    """
    t0 = perf_counter()
    c0 = thread_time() if cpu else 0.0
    try:
        output = call(value)
    except (Exception, SystemExit) as exc:
        used = thread_time() - c0 if cpu else None
        wall = perf_counter() - t0
        return False, None, TaskError.from_exception(exc), wall, honest_cpu(used, wall)
    used = thread_time() - c0 if cpu else None
    wall = perf_counter() - t0
    return True, output, None, wall, honest_cpu(used, wall)


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
