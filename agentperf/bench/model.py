"""What a benchmark was asked to do, what it measured, and what that means.

Plain dataclasses of JSON-able fields: a saved baseline is these, and every
reporter reads these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.measure.stats import Summary

KINDS = ("cpu", "memory", "io", "agent")


@dataclass(frozen=True)
class BenchOptions:
    """How samples are taken; the defaults follow pyperf (100 ms per sample, 1 warm-up)."""

    samples: int = 20
    warmup: int = 1
    min_time_s: float = 0.1
    max_time_s: float | None = None
    processes: int | None = None  # None: auto; 0: in this process; K: K fresh interpreters
    no_gc: bool = False
    memory: bool = True

    def validate(self) -> None:
        checks = (
            (self.samples >= 1, "--samples must be at least 1"),
            (self.warmup >= 0, "--warmup must not be negative"),
            (self.min_time_s > 0, "--min-time must be positive"),
            (self.max_time_s is None or self.max_time_s > 0, "--max-time must be positive"),
            (self.processes is None or self.processes >= 0,
             "--processes must be auto or a number of processes (0: this process)"),
        )
        for ok, message in checks:
            if not ok:
                raise AgentperfError(message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples, "warmup": self.warmup, "min_time_s": self.min_time_s,
            "max_time_s": self.max_time_s,
            "processes": "auto" if self.processes is None else self.processes,
            "no_gc": self.no_gc, "memory": self.memory,
        }


@dataclass(frozen=True)
class TargetRecipe:
    """How to rebuild one benchmarked callable in any process; never a live object.

    ``ops_per_call`` turns calls per second into the kernel's own operations per
    second; ``bytes_per_op`` (per call) gives a throughput in bytes per second.
    """

    name: str
    kind: str
    reference: str
    inputs: tuple[str, ...] = ()
    inputs_file: str | None = None
    cwd: str = "."
    ops_per_call: int = 1
    op_unit: str = "call"
    bytes_per_op: int | None = None
    description: str = ""
    measure: str = ""  # a workload's --type cpu, memory or io: what is measured beside time

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "reference": self.reference,
            "inputs": list(self.inputs), "inputs_file": self.inputs_file, "cwd": self.cwd,
            "ops_per_call": self.ops_per_call, "op_unit": self.op_unit,
            "bytes_per_op": self.bytes_per_op, "description": self.description,
            "measure": self.measure,
        }


@dataclass(frozen=True)
class Sample:
    """One timed sample: ``loops`` calls in ``elapsed_ns``, and that sample's memory.

    ``peak_bytes`` is the tracemalloc peak of one call, taken in a separate pass so
    tracing never slows the timed loop; ``max_rss_bytes`` is the process high-water mark.
    """

    loops: int
    elapsed_ns: int
    peak_bytes: int | None = None
    max_rss_bytes: int | None = None
    process: int = 0  # the worker process (block) that took it; 0 in this process
    run: int = 0  # which run of a baseline that holds several (--save FILE --append)
    cpu_ns: int | None = None  # user + system CPU of the process during the timed loop
    read_bytes: int | None = None  # storage I/O during the timed loop (psutil, where known)
    write_bytes: int | None = None
    syscalls: int | None = None  # read and write system calls during the timed loop
    #: LLM usage of the sample's last call (None: it reported none). One call per sample
    #: is read, after the clock stops, so reading usage never slows the timed loop.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # that call's cost, when it could be priced
    cost_estimated: bool = False  # priced from genai-prices' data, not the spec's prices

    @property
    def seconds_per_call(self) -> float:
        return self.elapsed_ns / self.loops / 1e9


@dataclass(frozen=True)
class BenchWarning:
    """A finding the user can act on: a stable ``code`` and a message with the fix."""

    code: str
    message: str


@dataclass
class BenchmarkResult:
    """The raw samples of one benchmark and the statistics derived from them.

    Times are seconds per call. The derived fields are always recomputed from
    ``samples`` (also when a baseline is loaded), so every figure traces to a sample.
    """

    recipe: TargetRecipe
    samples: list[Sample]
    loops: int
    load_average: float | None
    stopped_early: bool
    stats: Summary
    ci: tuple[float, float]
    outliers: list[int]
    ops_per_s: float
    bytes_per_s: float | None
    peak_bytes: Summary | None
    max_rss_bytes: int | None
    warnings: list[BenchWarning] = field(default_factory=list)
    #: The time per call the run reports (``ci`` is its interval): with worker processes
    #: the geometric mean of each worker's mean, every worker one observation, as its
    #: comparison uses; with one process, the median of the samples.
    center: float = math.nan
    center_method: str = "median"
    #: Per-call figures of --type cpu, memory or io on a workload, by name (see README).
    figures: dict[str, float] = field(default_factory=dict)
    cpu_count: int | None = None  # of the machine it ran on, to read load_average against
    others_cpu: float | None = None  # CPUs other programs used during the run, on average

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def times(self) -> list[float]:
        return [s.seconds_per_call for s in self.samples]

    @property
    def peaks(self) -> list[float] | None:
        values = [s.peak_bytes for s in self.samples if s.peak_bytes is not None]
        return [float(v) for v in values] if len(values) == len(self.samples) else None


@dataclass
class BenchSuite:
    """One invocation's benchmarks with the environment they ran in."""

    benchmarks: list[BenchmarkResult]
    environment: dict[str, Any]
    options: dict[str, Any]
    created_at: str
    agentperf_version: str
    source: str | None = None  # the baseline file this suite was read from

    def by_name(self) -> dict[str, BenchmarkResult]:
        return {b.name: b for b in self.benchmarks}


def process_log_means(samples: Sequence[Sample]) -> list[float]:
    """Each worker process's mean log time per call, in the order the workers ran.

    A process is the unit of independence: its samples share its speed (memory
    layout, hash seed), so one process is one observation.
    """
    groups: dict[tuple[int, int], list[float]] = {}
    for sample in samples:
        groups.setdefault((sample.run, sample.process), []).append(
            math.log(max(sample.seconds_per_call, 1e-12)))
    return [sum(v) / len(v) for v in groups.values()]
