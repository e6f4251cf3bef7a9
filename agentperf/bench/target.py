"""One benchmarked callable, rebuilt from its recipe and timed in this process.

The same class serves the parent process and every ``--processes`` worker, so a
sample means the same thing wherever it was taken.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agentperf.bench.calibrate import find_loops
from agentperf.bench.model import Sample, TargetRecipe
from agentperf.errors import AgentperfError, ExitCode
from agentperf.usage.metering import Metered
from agentperf.usage.pricing import Pricer
from agentperf.workload.adapters import NO_INPUT, takes_input
from agentperf.workload.spec import load_workload

MAX_INPUTS = 10_000  # inputs kept in memory and cycled; a benchmark needs variety, not volume


class Target:
    """Times ``loops`` calls of one agent or kernel.

    Async agents run on one event loop owned by this object for its whole life;
    each sample is one coroutine that awaits the agent ``loops`` times and reads the
    clock inside the running loop, so no sample pays for starting a loop.
    """

    def __init__(self, recipe: TargetRecipe, *, no_gc: bool = False, process: int = 0) -> None:
        spec = load_workload(recipe.reference, inputs=recipe.inputs,
                             inputs_file=recipe.inputs_file, cwd=Path(recipe.cwd))
        self.recipe = recipe
        self.no_gc = no_gc
        self.process = process
        self.adapter = spec.build_agent()
        self._inputs = list(itertools.islice(iter(spec.inputs), MAX_INPUTS)) or [NO_INPUT]
        self._direct = self.adapter.protocol == "callable" and not takes_input(self.adapter)
        self._loop = asyncio.new_event_loop() if self.adapter.is_async else None
        self._pricer = Pricer.create(spec.pricing)
        self._last: Any = None  # the last call's output: its usage is read after the clock

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()

    def calibrate(self, min_time_ns: int) -> int:
        return find_loops(self.time, min_time_ns)

    def sample(self, loops: int, *, memory: bool) -> Sample:
        counting = self.recipe.measure in ("cpu", "io")
        io_before = _io_counters() if self.recipe.measure == "io" else None
        cpu_before = time.process_time_ns()
        elapsed = self.time(loops)
        cpu = time.process_time_ns() - cpu_before if counting else None
        io_after = _io_counters() if io_before is not None else None
        io = [a - b for a, b in zip(io_after, io_before, strict=True)] \
            if io_before is not None and io_after is not None else [None, None, None]
        usage = self._last.usage if type(self._last) is Metered else None
        self._last = None
        peak = self.peak_memory() if memory else None
        tokens = usage is not None and usage.has_tokens
        return Sample(loops=loops, elapsed_ns=elapsed, peak_bytes=peak,
                      max_rss_bytes=max_rss_bytes(), process=self.process, cpu_ns=cpu,
                      read_bytes=io[0], write_bytes=io[1], syscalls=io[2],
                      input_tokens=usage.input_tokens if tokens else None,
                      output_tokens=usage.output_tokens if tokens else None,
                      cost_usd=self._pricer.cost(usage) if tokens else None,
                      cost_estimated=self._pricer.estimate)

    def time(self, loops: int) -> int:
        """Nanoseconds for ``loops`` calls, by ``time.perf_counter_ns``."""
        gc_was_enabled = gc.isenabled()
        if self.no_gc:
            gc.collect()
            gc.disable()
        try:
            if self._loop is not None:
                return self._loop.run_until_complete(self._atime(loops))
            return self._time(loops)
        except AgentperfError:
            raise
        except Exception as exc:
            raise self._failure(exc) from exc
        finally:
            if self.no_gc and gc_was_enabled:
                gc.enable()

    def peak_memory(self) -> int:
        """Peak traced bytes above the starting point during one call."""
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            try:
                if self._loop is not None:
                    self._loop.run_until_complete(self._atime(1))
                else:
                    self._time(1)
            except Exception as exc:
                raise self._failure(exc) from exc
            return max(tracemalloc.get_traced_memory()[1] - start, 0)
        finally:
            if not was_tracing:
                tracemalloc.stop()

    def _items(self, loops: int) -> Iterator[Any]:
        if len(self._inputs) == 1:
            return itertools.repeat(self._inputs[0], loops)
        return itertools.islice(itertools.cycle(self._inputs), loops)

    def _time(self, loops: int) -> int:
        clock = time.perf_counter_ns
        if self._direct:
            fn: Callable[[], Any] = self.adapter.agent
            it = itertools.repeat(None, loops)
            t0 = clock()
            for _ in it:
                fn()
            return clock() - t0
        call = self.adapter.call
        items = self._items(loops)
        out = None
        t0 = clock()
        for item in items:
            out = call(item)
        elapsed = clock() - t0
        self._last = out
        return elapsed

    async def _atime(self, loops: int) -> int:
        clock = time.perf_counter_ns
        if self._direct:
            afn: Callable[[], Any] = self.adapter.agent
            it = itertools.repeat(None, loops)
            t0 = clock()
            for _ in it:
                await afn()
            return clock() - t0
        acall = self.adapter.acall
        items = self._items(loops)
        out = None
        t0 = clock()
        for item in items:
            out = await acall(item)
        elapsed = clock() - t0
        self._last = out
        return elapsed

    def _failure(self, exc: BaseException) -> AgentperfError:
        hint = "a benchmark needs calls that succeed"
        if isinstance(exc, TypeError) and self._inputs == [NO_INPUT]:
            hint = "it was called without input; pass --input or --inputs if it needs one"
        return AgentperfError(
            f"{self.recipe.name}: the agent raised {type(exc).__name__}: {exc} during the "
            f"benchmark ({hint})", exit_code=ExitCode.WORKLOAD_FAILED)


def _io_counters() -> tuple[int, int, int] | None:
    """(bytes read, bytes written, read + write calls) of this process, where psutil knows."""
    import psutil

    try:
        counters = psutil.Process().io_counters()
    except (AttributeError, psutil.Error, OSError):
        return None
    # Linux's read_chars/write_chars count bytes through read/write calls, cached or
    # not; read_bytes/write_bytes only what reached storage, which page-cached I/O never does.
    return (getattr(counters, "read_chars", counters.read_bytes),
            getattr(counters, "write_chars", counters.write_bytes),
            counters.read_count + counters.write_count)


def max_rss_bytes() -> int | None:
    """The process's peak resident set size (asv's ``peakmem``), where the OS reports it."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
