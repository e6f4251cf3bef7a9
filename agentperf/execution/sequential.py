"""Sequential mode: one task at a time, in the caller's thread.

The baseline every other mode is compared with, and the mode for agents that must
run in the main thread. With a timeout the call runs on a single helper thread
instead, because a call in the caller's own thread cannot be abandoned at its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from time import perf_counter, thread_time

from agentperf.execution.attempts import (
    CPU_MIN_WALL_S,
    Retrier,
    Retry,
    RetryPolicy,
    honest_cpu,
    timed_call,
)
from agentperf.execution.base import (
    ExecutionSettings,
    ExecutorInfo,
    Task,
    TaskError,
    TaskResult,
    settled,
)
from agentperf.execution.gate import StartGate, paced
from agentperf.execution.lifecycle import GeneratorExecutor
from agentperf.execution.threads import ThreadExecutor
from agentperf.workload.adapters import AgentAdapter

WORKER_NAME = "main"


class SequentialExecutor(GeneratorExecutor):
    """Calls the agent inline, retrying with backoff; pending tasks are always at most 1."""

    def __init__(self, adapter: AgentAdapter, settings: ExecutionSettings, *,
                 reason: str = "", gate: StartGate | None = None) -> None:
        self.info = ExecutorInfo(mode="sequential", workers=1, max_in_flight=1, reason=reason)
        self._adapter = adapter
        self._retrier = Retrier(RetryPolicy.from_settings(settings))
        self._gate = gate

    def _iterate(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        call = self._adapter.call
        measure_cpu = not self._adapter.is_async  # an event loop's CPU is not the agent's
        cpu_clock = measure_cpu
        for task in paced(self._gate, tasks):
            if (done := settled(task)) is not None:
                yield done
                continue
            # timed_call, inlined: this loop is the baseline, so every microsecond shows.
            # Calling timed_call here cost 0.4-0.6 us more per no-op task (1.5 vs 1.2 us
            # best, 2.2 vs 1.8 median; 15 interleaved rounds of 100,000, load ~9, 2 cores);
            # in proc_worker.run_chunk the same swap cost under 0.1 us, so it calls it.
            t0 = perf_counter()
            c0 = thread_time() if cpu_clock else 0.0
            try:
                output = call(task.input)
            except (Exception, SystemExit) as exc:
                cpu = thread_time() - c0 if cpu_clock else None
                latency = perf_counter() - t0
                yield self._retry(task, TaskError.from_exception(exc), latency,
                                  honest_cpu(cpu, latency), t0)
                continue
            cpu = thread_time() - c0 if cpu_clock else None
            latency = perf_counter() - t0
            cpu_clock = measure_cpu and latency >= CPU_MIN_WALL_S
            if cpu is not None and not cpu_clock:
                cpu = None
            yield TaskResult(task.index, True, output, None, latency, cpu, 1, False,
                             WORKER_NAME)

    def _retry(self, task: Task, error: TaskError, latency: float,
               cpu: float | None, started: float) -> TaskResult:
        """Rule on a failed task, trying it again after each wait the rule asks for."""
        retrier, measure_cpu = self._retrier, not self._adapter.is_async
        result = TaskResult(task.index, False, None, error, latency, cpu, 1, False, WORKER_NAME)
        step = retrier.step(task, result, started)
        while type(step) is Retry:
            time.sleep(step.delay_s)
            ok, output, failure, latency, cpu = timed_call(self._adapter.call, task.input,
                                                           measure_cpu)
            result = TaskResult(task.index, ok, output, failure, latency, cpu, step.attempt,
                                False, WORKER_NAME)
            step = retrier.step(task, result)
        return step


def sequential_executor(adapter: AgentAdapter, settings: ExecutionSettings, *,
                        reason: str = "", gate: StartGate | None = None) -> GeneratorExecutor:
    """The inline executor, or a one-thread pool when a per-task timeout must be enforced.

    In an open model scheduled starts queue for the one thread, so its window is the
    open model's ``max_in_flight``, not 1.
    """
    if settings.timeout_s is None:
        return SequentialExecutor(adapter, settings, reason=reason, gate=gate)
    window = gate.max_in_flight if gate is not None and gate.schedule is not None else 1
    return ThreadExecutor(adapter, settings, mode="sequential", workers=1,
                          max_in_flight=window, reason=reason, gate=gate)
