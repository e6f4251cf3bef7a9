"""The one health engine: every command's measurements in, a score and advice out.

Each rule looks at one part of :class:`HealthInput`, and when it fires it returns a
:class:`Finding` carrying the measured value, the limit, the points it costs and one
concrete recommendation, so a reader can trace every lost point to a number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

HEALTHY_ABOVE = 80
NEEDS_ATTENTION_ABOVE = 60


@dataclass(frozen=True)
class TaskHealthInput:
    """What an executor run measured about the agent's tasks."""

    total: int
    failed: int = 0
    timed_out: int = 0
    mean_latency_s: float = 0.0
    p50_s: float = 0.0
    p99_s: float = 0.0
    mode: str = ""
    workers: int = 1
    cpu_per_wall: float | None = None  # mean task CPU time / wall time: ~1 CPU-bound, ~0 I/O


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
    memory_growth_significant: bool = False
    cores: int = 1


@dataclass(frozen=True)
class LeakSuspect:
    site: str  # "file.py:123"
    bytes_per_iteration: float


@dataclass(frozen=True)
class MemoryHealthInput:
    peak_bytes: int
    leak_suspects: tuple[LeakSuspect, ...] = ()
    transient_peak_bytes: int = 0  # peak during a call minus what the call retained


@dataclass(frozen=True)
class HealthInput:
    """Whatever a command measured; absent parts simply skip their rules."""

    tasks: TaskHealthInput | None = None
    cache: CacheHealthInput | None = None
    system: SystemHealthInput | None = None
    memory: MemoryHealthInput | None = None


@dataclass(frozen=True)
class HealthLimits:
    """Rule limits; the defaults are the guide's. Overridden by a spec's ``health:``."""

    cpu_percent: tuple[float, float, float] = (70.0, 80.0, 90.0)
    memory_percent: tuple[float, float, float] = (75.0, 85.0, 95.0)
    slow_latency_s: float = 5.0
    error_rate: float = 0.01


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    value: float
    limit: float
    points: float
    recommendation: str


@dataclass(frozen=True)
class HealthReport:
    score: float
    status: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def recommendations(self) -> list[str]:
        return [f.recommendation for f in self.findings]


Rule = Callable[[HealthInput, HealthLimits], "Finding | None"]


def status_for(score: float) -> str:
    if score > HEALTHY_ABOVE:
        return "healthy"
    if score > NEEDS_ATTENTION_ABOVE:
        return "needs_attention"
    return "critical"


def evaluate(data: HealthInput, limits: HealthLimits | None = None) -> HealthReport:
    limits = limits or HealthLimits()
    findings = tuple(f for rule in RULES if (f := rule(data, limits)) is not None)
    score = max(0.0, 100.0 - sum(f.points for f in findings))
    return HealthReport(score=round(score, 1), status=status_for(score), findings=findings)


def _tiered(value: float, tiers: tuple[float, float, float], points: tuple[float, float, float]
            ) -> tuple[float, float] | None:
    """Points for the highest tier ``value`` exceeds, with that tier's limit."""
    for limit, cost in sorted(zip(tiers, points, strict=True), reverse=True):
        if value > limit:
            return cost, limit
    return None


def cpu_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    if data.system is None or data.system.samples == 0:
        return None
    hit = _tiered(data.system.cpu_percent_mean, limits.cpu_percent, (5, 10, 20))
    if hit is None:
        return None
    points, limit = hit
    return Finding("cpu_high", f"mean CPU {data.system.cpu_percent_mean:.0f}% above {limit:.0f}%",
                   data.system.cpu_percent_mean, limit, points,
                   "CPU is the bottleneck: cut per-call work, cache repeated calls, or spread "
                   "the batch over more cores or machines (--mode processes / dask)")


def memory_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    if data.system is None or data.system.samples == 0:
        return None
    hit = _tiered(data.system.memory_percent_max, limits.memory_percent, (5, 15, 25))
    if hit is None:
        return None
    points, limit = hit
    return Finding("memory_high",
                   f"peak memory use {data.system.memory_percent_max:.0f}% above {limit:.0f}%",
                   data.system.memory_percent_max, limit, points,
                   "memory is nearly exhausted: lower --workers or --max-in-flight, stream "
                   "inputs and outputs, and profile the agent with 'agentperf profile'")


def slow_agent_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    tasks = data.tasks
    if tasks is None or tasks.total == 0 or tasks.mean_latency_s <= limits.slow_latency_s:
        return None
    points = min(15.0, 5.0 * tasks.mean_latency_s / limits.slow_latency_s)
    return Finding("slow_agent", f"mean latency {tasks.mean_latency_s:.2f}s above "
                   f"{limits.slow_latency_s:g}s", tasks.mean_latency_s, limits.slow_latency_s,
                   round(points, 1),
                   "agents are slow: cache repeated calls, batch requests, or run more calls "
                   "concurrently (--mode asyncio with a higher --max-in-flight)")


def error_rate_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    tasks = data.tasks
    if tasks is None or tasks.total == 0:
        return None
    rate = tasks.failed / tasks.total
    if rate <= limits.error_rate:
        return None
    points = min(30.0, 10.0 + 100.0 * rate)
    return Finding("error_rate", f"{tasks.failed} of {tasks.total} tasks failed ({rate:.1%})",
                   rate, limits.error_rate, round(points, 1),
                   "look at the failures by type in the results file; add retries "
                   "(--retries) for transient errors and fix the deterministic ones")


RULES: list[Rule] = [cpu_rule, memory_rule, slow_agent_rule, error_rate_rule]


def limits_from_mapping(raw: Mapping[str, Any], error: Callable[[str, str], Exception]
                        ) -> HealthLimits:
    """Build limits from a spec's ``health:`` section; ``error(message, key)`` makes the exception."""
    known = {f.name: f for f in fields(HealthLimits)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise error(f"unknown health limit{hint}", f"health.{key}")
        default = getattr(HealthLimits(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or len(value) != len(default):
                raise error(f"expected a list of {len(default)} numbers", f"health.{key}")
            value = tuple(float(v) for v in value)
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            raise error("expected a number", f"health.{key}")
        values[key] = value
    return HealthLimits(**values)
