"""Auto mode: run the first few tasks as probes to see what the agent is, then pick.

The probe calls are real tasks and their results are yielded like any other. A sync
agent that may end up in processes (more than one core) is probed in the worker
processes, started before the run's clock like any processes run: an agent that kills
its process on some input then fails that task instead of killing agentperf, and if
processes win, the probe's workers carry on without a second start-up. Other agents
(async, or one core) are probed in-process, where they will run anyway.

Each probe call's peak memory is measured too (in whichever process it runs), and the
workers of the chosen mode are capped so that their estimated peak stays within the
memory budget (see :mod:`agentperf.execution.memory`). A mode named in the spec with
``execution.memory_budget`` set runs through this executor as well, its mode forced:
probed, capped, then run.

The choice: an async agent goes to asyncio, unless a probe call blocked its event loop
(see :mod:`agentperf.execution.loopwatch`), which asyncio can neither time out nor run
alongside other calls: that one goes to threads. A sync agent that keeps the CPU busy
for more than :data:`CPU_BOUND_RATIO` of its wall time goes to processes (when there
is more than one core to use); any other sync agent (waiting on I/O, a model, a
network) goes to threads.

CPU share is CPU time over the wall time the call was *able* to run: on a busy machine
a CPU-bound call spends much of its wall time waiting for a core, which is not waiting
for I/O. Linux reports that run-queue wait per thread (``/proc/thread-self/schedstat``);
elsewhere the plain CPU/wall ratio is used.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from time import perf_counter
from typing import Any

from agentperf.execution.asyncio_backend import AsyncioExecutor
from agentperf.execution.base import (
    ExecutionSettings,
    ExecutorInfo,
    Task,
    TaskResult,
    default_workers,
)
from agentperf.execution.gate import StartGate, paced
from agentperf.execution.lifecycle import GeneratorExecutor
from agentperf.execution.loopwatch import BLOCK_THRESHOLD_S, Stepped
from agentperf.execution.memory import (
    CallPeak,
    MemoryEstimate,
    estimate,
    memory_budget,
    worker_cost,
)
from agentperf.execution.processes import ProcessExecutor, WorkerBuildError
from agentperf.execution.sequential import sequential_executor
from agentperf.execution.threads import ThreadExecutor
from agentperf.workload.adapters import AgentAdapter, AgentRef

PROBE_CALLS = 3
#: Probing stops early once it has taken this long: three slow LLM calls in a row
#: would otherwise delay the parallel run by three call times.
PROBE_BUDGET_S = 0.5
CPU_BOUND_RATIO = 0.7


@dataclass(frozen=True)
class Probe:
    """What the probe calls showed."""

    calls: int
    cpu_s: float
    wall_s: float
    is_async: bool
    run_queue_s: float = 0.0  # of wall_s, time spent runnable but waiting for a CPU
    loop_block_s: float = 0.0  # an async agent's longest step between two awaits
    peak_call_bytes: int | None = None  # the largest memory rise of one call
    worker_baseline_bytes: int | None = None  # a worker process's RSS before calls

    @property
    def cpu_ratio(self) -> float | None:
        """CPU time over the time the calls could run; None for an async agent."""
        able = self.wall_s - self.run_queue_s
        if self.is_async or self.wall_s <= 0:
            return None
        return min(self.cpu_s / max(able, self.cpu_s, 1e-9), 1.0)


def choose_mode(probe: Probe, cpus: int | None = None) -> tuple[str, str]:
    """(mode, reason) for the rest of the run."""
    cpus = cpus or os.cpu_count() or 1
    head = f"auto: {probe.calls} probe call{'s' if probe.calls != 1 else ''}"
    if probe.is_async and probe.loop_block_s > BLOCK_THRESHOLD_S:
        return "threads", (f"{head}, async agent blocked its event loop for "
                           f"{probe.loop_block_s:.1f}s between two awaits -> threads")
    if probe.is_async:
        return "asyncio", f"{head}, async agent -> asyncio"
    ratio = probe.cpu_ratio or 0.0
    share = f"CPU {ratio:.0%} of wall"
    if probe.run_queue_s >= 0.001:
        share += f" ({probe.run_queue_s * 1000:.0f} ms waiting for a core excluded)"
    if ratio > CPU_BOUND_RATIO:
        if cpus > 1:
            return "processes", f"{head}, {share}, sync CPU-bound -> processes"
        return "threads", f"{head}, {share}, sync CPU-bound but 1 core -> threads"
    return "threads", f"{head}, {share}, sync -> threads"


class AutoExecutor(GeneratorExecutor):
    """Probes (in workers or in-process), then hands the rest of the stream to the chosen
    backend."""

    def __init__(self, agent: AgentRef, adapter: AgentAdapter | None,
                 settings: ExecutionSettings, *, forced: str | None = None,
                 gate: StartGate | None = None) -> None:
        """``forced``: the mode to run after probing (a spec's mode with a memory budget);
        ``adapter`` may then be None for processes, whose probe runs in the workers."""
        self.info = ExecutorInfo(mode=forced or "auto", workers=1, max_in_flight=1,
                                 reason=f"{forced or 'auto'}: not started")
        self._agent = agent
        self._adapter = adapter
        self._settings = settings
        self._forced = forced
        self._gate = gate
        self._budget = memory_budget(settings.memory_budget)
        self._workers: ProcessExecutor | None = None
        self.probe: Probe | None = None

    def start(self) -> None:
        """Start the worker processes that probe a sync agent (see the module docstring);
        fall back to probing in-process when the agent raises while a worker builds it."""
        if self._workers is not None or not self._probes_in_workers():
            return
        # A forced mode probes on one worker: the cap may allow fewer than asked for, and
        # each worker's own memory (a model loaded per process) is part of what is capped.
        size = 1 if self._forced else self._settings.workers
        workers = ProcessExecutor(self._agent,
                                  replace(self._settings, mode="processes", workers=size),
                                  report_memory=False)
        try:
            workers.start()
        except WorkerBuildError:
            if self._forced:
                raise
            return
        self._workers = workers

    def _probes_in_workers(self) -> bool:
        if self._forced is not None:
            return self._forced == "processes"
        assert self._adapter is not None
        return not self._adapter.is_async and (os.cpu_count() or 1) >= 2

    def close(self) -> None:
        super().close()
        self._close_workers()

    def _close_workers(self) -> None:
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def _iterate(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        stream = iter(tasks)
        try:
            # The probe runs one call at a time, each released by the gate in turn.
            probe, info = yield from self._probe(paced(self._gate, stream))
            self.probe = probe
            first = next(stream, None)
            if first is None:
                self.info = replace(info, reason=f"auto: all {probe.calls} inputs ran as "
                                    f"probe calls ({info.mode})")
                return
            if self._forced:
                mode, reason = self._forced, (
                    f"{self._forced}: {probe.calls} probe call{'s' if probe.calls != 1 else ''}"
                    " measured memory for execution.memory_budget")
            else:
                mode, reason = choose_mode(probe)
            backend = self._backend(mode, reason, probe)
            self.info = backend.info
            try:
                with backend:
                    yield from backend.run(_chain(first, stream))
            finally:
                self.info = backend.info  # what the backend learnt while running (notes)
        finally:
            self._close_workers()

    def _probe(self, stream: Iterator[Task]
               ) -> Generator[TaskResult, None, tuple[Probe, ExecutorInfo]]:
        """Run the probe calls, yielding their results; return what they showed and the
        executor that ran them."""
        cpu = wall = 0.0
        calls = 0
        started = perf_counter()
        clock = RunQueueClock()
        workers = self._workers
        prober: GeneratorExecutor | None = None
        steps: list[Stepped] = []
        meter: CallPeak | None = None
        if workers is not None:
            results: Iterator[TaskResult] = workers.probe(_probe_tasks(stream, started))
        else:
            assert self._adapter is not None
            meter = _meter()
            adapter = clock.wrap(_watch_loop(self._adapter, steps))
            prober = sequential_executor(_metered(adapter, meter),
                                         replace(self._settings, mode="sequential"))
            results = prober.run(_probe_tasks(stream, started))
        try:
            for result in results:
                calls += 1
                wall += result.latency_s
                cpu += result.cpu_s if result.cpu_s is not None else result.latency_s
                yield result
        finally:
            clock.close()
            if prober is not None:
                prober.close()
            if meter is not None:
                meter.close()
        waited = workers.run_queue_s() if workers is not None else clock.waited_s
        blocked = max((call.longest_so_far() for call in steps), default=0.0)
        peak, baseline = _probe_memory(workers, meter)
        is_async = self._adapter.is_async if self._adapter is not None else False
        probe = Probe(calls, cpu, wall, is_async, waited, blocked, peak, baseline)
        info = workers.info if workers is not None else prober.info  # type: ignore[union-attr]
        return probe, info

    def _backend(self, mode: str, reason: str, probe: Probe) -> GeneratorExecutor:
        settings = replace(self._settings, mode=mode)
        found = self._memory_cap(mode, settings, probe)
        if found is not None:
            settings = replace(settings, workers=found.running)
            if found.exceeded:
                reason += f"; {found.note}"
        backend = self._make(mode, settings, reason, found)
        backend.info = replace(backend.info, memory=found)
        return backend

    def _make(self, mode: str, settings: ExecutionSettings, reason: str,
              found: MemoryEstimate | None) -> GeneratorExecutor:
        if mode == "processes":
            if self._workers is not None:
                workers, self._workers = self._workers, None
                workers.resize(found.running if found is not None
                               else settings.workers or default_workers("processes"))
                workers.gate = self._gate
                return workers.with_reason(reason)
            return ProcessExecutor(self._agent, settings, reason=reason, report_memory=False,
                                   gate=self._gate)
        assert self._adapter is not None
        if mode == "asyncio":
            return AsyncioExecutor(self._adapter, settings, reason=reason, gate=self._gate)
        self._close_workers()  # before the threads start: their CPU is the run's
        return ThreadExecutor(self._adapter, settings, reason=reason, gate=self._gate)

    def _memory_cap(self, mode: str, settings: ExecutionSettings,
                    probe: Probe) -> MemoryEstimate | None:
        """The estimate for ``mode``'s workers, capped to the budget; None if unmeasured."""
        if probe.peak_call_bytes is None:
            return None
        if mode == "processes":
            requested = settings.workers or default_workers("processes")
            baseline = probe.worker_baseline_bytes or 0
        else:  # calls in this process: its own memory is already out of what is available
            requested = settings.workers or default_workers(mode)
            if mode == "asyncio" and settings.max_in_flight:
                requested = min(requested, settings.max_in_flight)
            baseline = None
        return estimate(self._budget, probe.peak_call_bytes, baseline, requested, apply=True)


class RunQueueClock:
    """Adds up the run-queue wait of the threads that make the probe calls."""

    PATH = "/proc/thread-self/schedstat"

    def __init__(self) -> None:
        self.waited_s = 0.0
        self._local = threading.local()
        self._fds: list[int] = []

    def wrap(self, adapter: AgentAdapter) -> AgentAdapter:
        """The same agent, with the calling thread's run-queue wait read around each call."""
        call = adapter.call

        def measured(value: Any) -> Any:
            before = self._read()
            try:
                return call(value)
            finally:
                after = self._read()
                if before is not None and after is not None:
                    self.waited_s += after - before

        return AgentAdapter(measured, is_async=False, protocol=adapter.protocol,
                            name=adapter.name, agent=adapter.agent)

    def _read(self) -> float | None:
        fd = getattr(self._local, "fd", None)
        if fd is None:
            try:
                fd = os.open(self.PATH, os.O_RDONLY)  # kept open: a re-open costs ~25 us
            except OSError:
                fd = -1
            else:
                self._fds.append(fd)
            self._local.fd = fd
        if fd < 0:
            return None
        try:
            return int(os.pread(fd, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


def _meter() -> CallPeak | None:
    try:
        meter = CallPeak()
    except Exception:  # no /proc: memory is not measured, nothing is capped
        return None
    if not meter.available:
        meter.close()
        return None
    return meter


def _metered(adapter: AgentAdapter, meter: CallPeak | None) -> AgentAdapter:
    """A sync adapter whose calls (made one at a time) have their peak memory measured."""
    if meter is None:
        return adapter
    return AgentAdapter(meter.wrap(adapter.call), is_async=False, protocol=adapter.protocol,
                        name=adapter.name, agent=adapter.agent)


def _probe_memory(workers: ProcessExecutor | None,
                  meter: CallPeak | None) -> tuple[int | None, int | None]:
    """(largest call peak, worker baseline) of the probe calls; None where unmeasured."""
    if workers is not None:
        cost = worker_cost(workers.memory_readings())
        return (cost[0], cost[1]) if cost else (None, None)
    return (meter.peak if meter is not None else None), None


def _watch_loop(adapter: AgentAdapter, steps: list[Stepped]) -> AgentAdapter:
    """An async agent whose probe calls are stepped (kept in ``steps``); others as they are.

    A probe call abandoned at its timeout may still be in its blocking step when the
    mode is chosen; :meth:`Stepped.longest_so_far` counts that step as it stands.
    """
    function = adapter.coroutine_function
    if function is None:
        return adapter

    async def watched(value: Any) -> Any:
        steps.append(call := Stepped(function(value)))
        return await call

    return AgentAdapter(watched, is_async=True, protocol=adapter.protocol, name=adapter.name,
                        agent=adapter.agent)


def _probe_tasks(stream: Iterator[Task], started: float) -> Iterator[Task]:
    for count, task in enumerate(stream, 1):
        yield task
        if count >= PROBE_CALLS or perf_counter() - started >= PROBE_BUDGET_S:
            return


def _chain(first: Task, rest: Iterator[Task]) -> Iterator[Task]:
    yield first
    yield from rest
