"""The sampling schedule: calibrate, warm up, then take samples round-robin.

Round-robin is what makes ``--processes`` and ``--interleave`` one mechanism: the
i-th sample of every benchmark is taken before the (i+1)-th of any, on worker
``i mod K``, so slow drift of the machine lands on every benchmark alike. Within a
round the order is shuffled: a fixed pattern (A B A B, or even A B B A) lines up with
periodic interference from other programs and puts it all on one side, which a
random order spreads evenly.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, redirect_stdout
from datetime import datetime, timezone
from typing import Protocol

from agentperf import __version__
from agentperf.bench.environment import collect_environment, load_average
from agentperf.bench.model import BenchmarkResult, BenchOptions, BenchSuite, Sample, TargetRecipe
from agentperf.bench.results import build_result
from agentperf.bench.target import Target

#: Called after each round with (benchmark names, samples done, samples wanted).
Progress = Callable[[Sequence[str], int, int], None]
MIN_SAMPLES_BEFORE_STOP = 2
SHARED_LOOPS_SPREAD = 4


class Sampler(Protocol):
    def calibrate(self, min_time_ns: int) -> int: ...

    def sample(self, loops: int, *, memory: bool) -> Sample: ...

    def close(self) -> None: ...


def run_suite(recipes: Sequence[TargetRecipe], options: BenchOptions, *,
              interleave: bool = False, progress: Progress | None = None) -> BenchSuite:
    """Benchmark every recipe; with ``interleave`` all of them in one alternating schedule."""
    options.validate()
    environment = collect_environment()
    groups = [list(recipes)] if interleave else [[r] for r in recipes]
    results: list[BenchmarkResult] = []
    for group in groups:
        results.extend(measure(group, options, cpu_count=environment["cpu_count"],
                               progress=progress))
    return BenchSuite(benchmarks=results, environment=environment, options=options.to_dict(),
                      created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      agentperf_version=__version__)


def measure(recipes: Sequence[TargetRecipe], options: BenchOptions, *,
            cpu_count: int | None = None, progress: Progress | None = None,
            ) -> list[BenchmarkResult]:
    """Sample ``recipes`` in one interleaved schedule and build their results."""
    with ExitStack() as stack:
        # An agent's prints must not land in a --json or --md report on stdout.
        stack.enter_context(redirect_stdout(sys.stderr))
        samplers = [open_samplers(recipe, options, stack) for recipe in recipes]
        loads = [load_average()]
        min_time_ns = int(options.min_time_s * 1e9)
        loops = _shared_loops([group[0].calibrate(min_time_ns) for group in samplers])
        for _ in range(options.warmup):
            for group, n in zip(samplers, loops, strict=True):
                for sampler in group:
                    sampler.sample(n, memory=False)
        taken, stopped = _sample_rounds(samplers, loops, options, [r.name for r in recipes],
                                        progress)
        loads.append(load_average())
    measured_load = max((x for x in loads if x is not None), default=None)
    cpus = cpu_count or os.cpu_count()
    return [build_result(recipe, samples, loops=n, load_average=measured_load, cpu_count=cpus,
                         stopped_early=stopped, requested=options.samples)
            for recipe, samples, n in zip(recipes, taken, loops, strict=True)]


def _shared_loops(loops: list[int]) -> list[int]:
    """Interleaved benchmarks of similar speed use one loop count.

    A sample's length decides how likely a scheduler preemption lands in it and how
    much one preemption adds per call; with equal loops, A and B samples are
    exchangeable and an A/A comparison is as likely to come out slower as faster.
    """
    if len(loops) > 1 and max(loops) <= SHARED_LOOPS_SPREAD * min(loops):
        return [max(loops)] * len(loops)
    return loops


def _sample_rounds(samplers: list[list[Sampler]], loops: list[int], options: BenchOptions,
                   names: list[str], progress: Progress | None) -> tuple[list[list[Sample]], bool]:
    taken: list[list[Sample]] = [[] for _ in samplers]
    deadline = time.monotonic() + options.max_time_s if options.max_time_s else None
    order = list(range(len(samplers)))
    shuffle = random.Random().shuffle
    for i in range(options.samples):
        shuffle(order)
        for index in order:
            group = samplers[index]
            taken[index].append(group[i % len(group)].sample(loops[index],
                                                              memory=options.memory))
        if progress is not None:
            progress(names, i + 1, options.samples)
        if deadline is not None and time.monotonic() >= deadline \
                and i + 1 >= MIN_SAMPLES_BEFORE_STOP and i + 1 < options.samples:
            return taken, True
    return taken, False


def open_samplers(recipe: TargetRecipe, options: BenchOptions, stack: ExitStack) -> list[Sampler]:
    """In-process target, or ``options.processes`` fresh worker interpreters."""
    if options.processes <= 0:
        target = Target(recipe, no_gc=options.no_gc)
        stack.callback(target.close)
        return [target]
    from agentperf.bench.isolation import WorkerSampler

    samplers: list[Sampler] = []
    for index in range(options.processes):
        worker = WorkerSampler(recipe, no_gc=options.no_gc, process=index)
        stack.callback(worker.close)
        samplers.append(worker)
    return samplers
