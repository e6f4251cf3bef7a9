"""The sampling schedule: calibrate, then take samples in rounds, in blocks of processes.

A round takes the i-th sample of every benchmark before the (i+1)-th of any, in a
shuffled order, so slow drift of the machine lands on every benchmark alike: that is
``--interleave``. A fixed pattern (A B A B, or even A B B A) lines up with periodic
interference from other programs and puts it all on one side; a random order spreads
it evenly.

With worker processes the rounds are cut into consecutive blocks, each in one
fresh interpreter that hosts every benchmark of the schedule, warmed up and then
sampled back to back, as pyperf runs its workers. Back to back matters: on the VM
of benchmarks/README.md, samples taken after an idle gap ran 1-10 % faster than
samples taken back to back (benchmarks/idle_gaps.py), so samples taken in turn
across idle workers measure a speed that sustained work never sees. One worker is
alive at a time, whatever K is.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, redirect_stdout
from datetime import datetime, timezone
from typing import Protocol

from agentperf import __version__
from agentperf.bench.environment import OthersCpu, collect_environment, load_average
from agentperf.bench.model import BenchmarkResult, BenchOptions, BenchSuite, Sample, TargetRecipe
from agentperf.bench.results import build_result, memory_figures
from agentperf.bench.target import Target

#: Called after each round with (benchmark names, samples done, samples wanted).
Progress = Callable[[Sequence[str], int, int], None]
MIN_SAMPLES_BEFORE_STOP = 2
SHARED_LOOPS_SPREAD = 4
#: Worker processes ``--processes auto`` uses for calls shorter than --min-time, as
#: pyperf does: the verdict's power grows with the number of workers, not of samples
#: (their spread is most of the variance). With 10, separate runs caught a 20 %
#: slowdown in 34-40 of 40 pairs (benchmarks/README.md).
AUTO_PROCESSES = 20


class Sampler(Protocol):
    """A :class:`Target` in this process, or a worker's handle on one."""

    def sample(self, loops: int, *, memory: bool) -> Sample: ...


def run_suite(recipes: Sequence[TargetRecipe], options: BenchOptions, *,
              interleave: bool = False, progress: Progress | None = None,
              loops: Mapping[str, int] | None = None) -> BenchSuite:
    """Benchmark every recipe; with ``interleave`` all of them in one alternating schedule.

    ``loops`` fixes the loop count of the benchmarks it names (a baseline's, so the
    two runs time the same measurement); the others are calibrated.
    """
    options.validate()
    environment = collect_environment()
    groups = [list(recipes)] if interleave else [[r] for r in recipes]
    results: list[BenchmarkResult] = []
    for group in groups:
        results.extend(measure(group, options, cpu_count=environment["cpu_count"],
                               progress=progress,
                               loops=[(loops or {}).get(r.name) for r in group]))
    return BenchSuite(benchmarks=results, environment=environment, options=options.to_dict(),
                      created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      agentperf_version=__version__)


def measure(recipes: Sequence[TargetRecipe], options: BenchOptions, *,
            cpu_count: int | None = None, progress: Progress | None = None,
            loops: Sequence[int | None] | None = None) -> list[BenchmarkResult]:
    """Sample ``recipes`` in one interleaved schedule and build their results."""
    # An agent's prints must not land in a --json or --md report on stdout.
    with redirect_stdout(sys.stderr), ExitStack() as local_targets:
        loads = [load_average()]
        local = [_local_target(recipe, options, local_targets) for recipe in recipes]
        min_time_ns = int(options.min_time_s * 1e9)
        fixed = list(loops) if loops is not None else [None] * len(recipes)
        counts = [n if n is not None else target.calibrate(min_time_ns)
                  for n, target in zip(fixed, local, strict=True)]
        counts = counts if any(n is not None for n in fixed) else _shared_loops(counts)
        processes = resolve_processes(options.processes, counts)
        schedule = _Schedule(recipes, options, counts, progress)
        others = OthersCpu()
        if processes == 0:
            schedule.run_in_process(local)
        else:
            local_targets.close()  # calibration only: samples come from fresh interpreters
            schedule.run_in_workers(processes)
        others_cpu = others.cpus()
        loads.append(load_average())
    measured_load = max((x for x in loads if x is not None), default=None)
    cpus = cpu_count or os.cpu_count()
    results = [build_result(recipe, samples, loops=n, load_average=measured_load,
                            cpu_count=cpus, stopped_early=schedule.stopped,
                            requested=options.samples, others_cpu=others_cpu)
               for recipe, samples, n in zip(recipes, schedule.taken, counts, strict=True)]
    for result in results:
        if result.recipe.measure == "memory":
            with redirect_stdout(sys.stderr):
                result.figures.update(memory_figures(result.recipe, options.samples))
    return results


def resolve_processes(requested: int | None, loops: Sequence[int]) -> int:
    """``None`` is auto: worker processes when any call is shorter than --min-time.

    Such a call runs in a loop, and a microsecond-scale function moves by several
    percent with the state of the process it runs in (memory layout, what ran
    before), so one process is one draw of that state; a call that fills a sample
    alone gains nothing from isolation and would pay a warm-up per worker.
    """
    if requested is not None:
        return requested
    return AUTO_PROCESSES if max(loops) > 1 else 0


def block_sizes(samples: int, processes: int) -> list[int]:
    """Samples per worker block: as even as possible, never an empty block."""
    blocks = max(1, min(processes, samples))
    return [(b + 1) * samples // blocks - b * samples // blocks for b in range(blocks)]


def _shared_loops(loops: list[int]) -> list[int]:
    """Interleaved benchmarks of similar speed use one loop count.

    A sample's length decides how likely a scheduler preemption lands in it and how
    much one preemption adds per call; with equal loops, A and B samples are
    exchangeable and an A/A comparison is as likely to come out slower as faster.
    """
    if len(loops) > 1 and max(loops) <= SHARED_LOOPS_SPREAD * min(loops):
        return [max(loops)] * len(loops)
    return loops


class _Schedule:
    """Takes the samples of one measure() call and remembers what it took."""

    def __init__(self, recipes: Sequence[TargetRecipe], options: BenchOptions,
                 loops: list[int], progress: Progress | None) -> None:
        self.recipes = recipes
        self.options = options
        self.loops = loops
        self.progress = progress
        self.taken: list[list[Sample]] = [[] for _ in recipes]
        self.stopped = False
        self._deadline = time.monotonic() + options.max_time_s if options.max_time_s else None
        self._order = list(range(len(recipes)))
        self._shuffle = random.Random().shuffle

    def run_in_process(self, targets: Sequence[Sampler]) -> None:
        self._warm_up(targets)
        self._rounds(targets, self.options.samples)

    def run_in_workers(self, processes: int) -> None:
        from agentperf.bench.isolation import Worker

        for block, size in enumerate(block_sizes(self.options.samples, processes)):
            with Worker(self.recipes, no_gc=self.options.no_gc, process=block) as worker:
                targets = [worker.target(i) for i in range(len(self.recipes))]
                self._warm_up(targets)
                if not self._rounds(targets, size):
                    return

    def _warm_up(self, samplers: Sequence[Sampler]) -> None:
        for _ in range(self.options.warmup):
            for sampler, loops in zip(samplers, self.loops, strict=True):
                sampler.sample(loops, memory=False)

    def _rounds(self, samplers: Sequence[Sampler], count: int) -> bool:
        """Take ``count`` rounds; False once --max-time has stopped the run."""
        names = [r.name for r in self.recipes]
        for _ in range(count):
            self._shuffle(self._order)
            for index in self._order:
                self.taken[index].append(samplers[index].sample(
                    self.loops[index], memory=self.options.memory))
            done = len(self.taken[0])
            if self.progress is not None:
                self.progress(names, done, self.options.samples)
            if self._deadline is not None and time.monotonic() >= self._deadline \
                    and MIN_SAMPLES_BEFORE_STOP <= done < self.options.samples:
                self.stopped = True
                return False
        return True


def _local_target(recipe: TargetRecipe, options: BenchOptions, stack: ExitStack) -> Target:
    target = Target(recipe, no_gc=options.no_gc)
    stack.callback(target.close)
    return target
