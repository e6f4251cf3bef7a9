"""What the health engine reads and returns: inputs, limits, findings, warnings, the report.

Health judges a subject. For a workload (run-batch, profile, a soak, a watched pid or
command) the subject is what the workload did, and the machine around it (other
processes' CPU, system memory, swap, load) only yields :class:`RunWarning` s; for
``monitor`` of the system itself the machine is the subject and is scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

HEALTHY_ABOVE = 80
NEEDS_ATTENTION_ABOVE = 60
_MiB = 1024**2


@dataclass(frozen=True)
class TaskHealthInput:
    """What an executor run measured about the agent's tasks (``failed`` includes timeouts)."""

    total: int
    failed: int = 0
    timed_out: int = 0
    mean_latency_s: float = 0.0
    p50_s: float = 0.0
    p99_s: float = 0.0
    mode: str = ""
    workers: int = 1
    cpu_per_wall: float | None = None  # mean task CPU time / wall time: ~1 CPU-bound, ~0 I/O
    cpu_cores_used: float | None = None  # all task CPU time / run wall time (cores busy)
    cores: int | None = None  # CPUs of the machine; os.cpu_count() when None
    chunk_size: int = 1
    wall_s: float = 0.0  # the whole run's wall time
    command: str = "run-batch"  # what ran the tasks: advice names only options it has


@dataclass(frozen=True)
class CacheHealthInput:
    lookups: int
    hit_rate: float
    repeated_fraction: float  # share of lookups whose key had been seen before in the run


@dataclass(frozen=True)
class SystemHealthInput:
    """psutil samples summarised over the run (percents 0-100)."""

    samples: int
    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    busiest_core_percent_mean: float = 0.0
    memory_percent_max: float = 0.0
    swap_used_bytes: int = 0
    memory_growth_bytes_per_s: float = 0.0
    memory_growth_significant: bool = False  # the growth rule says "grows"
    memory_growth_verdict: str = "not enough data"  # "grows", "flat", "not enough data"
    memory_growth_rule: str = ""  # the rule and figures (measure/growth)
    cores: int = 1
    process_cpu_percent_mean: float | None = None  # the watched process tree, 100 = one core
    process_rss_peak_bytes: int | None = None  # the watched process tree's peak RSS
    memory_total_bytes: int = 0  # the machine's RAM
    load_1m_max: float | None = None
    growth_of_process: bool = False  # memory growth measured on the process tree's RSS
    cpu_measured: bool = True  # False: the run was too short for a CPU reading

    @property
    def own_cpu_percent(self) -> float | None:
        """The watched process tree's share of all the machine's cores, 0-100."""
        if self.process_cpu_percent_mean is None:
            return None
        return self.process_cpu_percent_mean / max(self.cores, 1)

    @property
    def own_memory_percent(self) -> float | None:
        """The watched process tree's peak RSS as a share of the machine's RAM, 0-100."""
        if self.process_rss_peak_bytes is None or self.memory_total_bytes <= 0:
            return None
        return 100.0 * self.process_rss_peak_bytes / self.memory_total_bytes


@dataclass(frozen=True)
class LeakSuspect:
    site: str  # "file.py:123"
    bytes_per_iteration: float
    share: float = 1.0  # of the leak's growth


@dataclass(frozen=True)
class MemoryHealthInput:
    peak_bytes: int
    leak_suspects: tuple[LeakSuspect, ...] = ()  # the sites carrying a leak, largest first
    leak_bytes_per_call: float = 0.0  # the leak verdict's growth; 0 when there is no leak
    leak_rule: str = ""  # the growth rule and figures that decided it
    transient_peak_bytes: int = 0  # peak during a call minus what the call retained


Subject = Literal["workload", "machine"]


@dataclass(frozen=True)
class UsageHealthInput:
    """What the usage rules read: finish reasons, tokens spent and saved, costly inputs.

    ``costly`` lists (input index, input as reports show it, cost in USD), costliest
    first; ``median_cost`` is the median per-task cost (None when nothing was priced).
    """

    tasks: int
    finished_tasks: int
    cut_tasks: int
    tokens_spent: int
    tokens_saved: int | None  # None: no cache
    repeated_fraction: float
    median_cost: float | None
    priced_tasks: int
    costly: tuple[tuple[int, Any, float], ...] = ()


@dataclass(frozen=True)
class HealthInput:
    """Whatever a command measured; absent parts simply skip their rules.

    ``subject`` says what is judged: a "workload" is scored on its tasks, its cache and
    its own process tree (``system.process_*``), and the rest of ``system`` becomes run
    warnings; the "machine" (``monitor`` with nothing to watch) is scored on ``system``.
    """

    tasks: TaskHealthInput | None = None
    cache: CacheHealthInput | None = None
    system: SystemHealthInput | None = None
    memory: MemoryHealthInput | None = None
    subject: Subject = "workload"
    usage: UsageHealthInput | None = None


@dataclass(frozen=True)
class HealthLimits:
    """Rule limits; the defaults are the guide's. Overridden by a spec's ``health:``."""

    cpu_percent: tuple[float, float, float] = (70.0, 80.0, 90.0)
    memory_percent: tuple[float, float, float] = (75.0, 85.0, 95.0)
    slow_latency_s: float = 5.0
    error_rate: float = 0.01
    timeout_rate: float = 0.0
    tail_latency_ratio: float = 5.0
    tail_latency_min_s: float = 0.1
    tail_latency_min_tasks: int = 20
    cache_min_lookups: int = 20
    cache_min_repeated_fraction: float = 0.1
    cache_hit_share_of_repeats: float = 0.5
    swap_used_bytes: int = 100 * _MiB
    memory_growth_bytes_per_s: float = 64 * 1024.0
    memory_growth_min_span_s: float = 20.0  # after the warm-up quarter of the run
    memory_growth_min_samples: int = 12
    cpu_bound_core_fraction: float = 0.75
    io_bound_cpu_ratio: float = 0.2
    io_bound_max_workers: int = 8
    io_bound_min_latency_s: float = 0.005
    io_bound_idle_cpu_percent: float = 30.0
    dispatch_task_s: float = 0.01
    dispatch_min_utilization: float = 0.5
    dispatch_min_tasks: int = 50
    peak_memory_bytes: int = 1024 * _MiB
    leak_bytes_per_iteration: float = 0.0
    transient_peak_bytes: int = 100 * _MiB
    others_cpu_percent: float = 50.0  # other processes' share of all cores: a run warning
    load_per_core: float = 1.0  # load average not explained by the run, per core: a warning
    cut_output_share: float = 0.05  # outputs cut at the token limit, of those with a reason
    cut_min_tasks: int = 10
    costly_input_ratio: float = 10.0  # a task's cost over the median that names its input
    costly_min_tasks: int = 20
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    value: float
    limit: float
    points: float
    recommendation: str
    unit: str = ""  # of value and limit: percent, seconds, ratio, times, bytes, bytes_per_s, cores


@dataclass(frozen=True)
class RunWarning:
    """A condition of the machine during a workload's run: it explains, it never costs points.

    ``evidence`` holds the figures the message quotes (percents 0-100 of all cores, bytes,
    load averages), so a report can show or compare them without parsing the text.
    """

    code: str
    message: str
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthReport:
    score: float
    status: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    warnings: tuple[RunWarning, ...] = field(default_factory=tuple)

    @property
    def recommendations(self) -> list[str]:
        return [f.recommendation for f in self.findings]


Rule = Callable[[HealthInput, HealthLimits], "Finding | None"]
WarningRule = Callable[[SystemHealthInput, HealthLimits], "RunWarning | None"]


def status_for(score: float) -> str:
    if score > HEALTHY_ABOVE:
        return "healthy"
    if score > NEEDS_ATTENTION_ABOVE:
        return "needs_attention"
    return "critical"
