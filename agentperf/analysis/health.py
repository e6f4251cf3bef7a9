"""The one health engine: every command's measurements in, a score and advice out.

Each rule (``health_rules``) looks at one part of :class:`HealthInput`, and when it fires
it returns a :class:`Finding` carrying the measured value, the limit, the points it costs
and one concrete recommendation, so a reader can trace every lost point to a number.
Parts a command did not measure are None and their rules stay quiet.

A workload is scored only on what it did; the state of the machine it ran on comes back
as :class:`RunWarning` s (``health_warnings``) in the same report, costing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from agentperf.analysis.health_model import (
    HEALTHY_ABOVE,
    NEEDS_ATTENTION_ABOVE,
    CacheHealthInput,
    Finding,
    HealthInput,
    HealthLimits,
    HealthReport,
    LeakSuspect,
    MemoryHealthInput,
    Rule,
    RunWarning,
    SystemHealthInput,
    TaskHealthInput,
    UsageHealthInput,
    status_for,
)
from agentperf.analysis.health_rules import RULE_IDS, RULES
from agentperf.analysis.health_usage import usage_input
from agentperf.analysis.health_warnings import WARNING_CODES, machine_warnings
from agentperf.errors import did_you_mean
from agentperf.measure.units import parse_bytes, parse_duration

__all__ = [
    "HEALTHY_ABOVE",
    "NEEDS_ATTENTION_ABOVE",
    "RULES",
    "RULE_IDS",
    "WARNING_CODES",
    "CacheHealthInput",
    "Finding",
    "HealthInput",
    "HealthLimits",
    "HealthReport",
    "LeakSuspect",
    "MemoryHealthInput",
    "Rule",
    "RunWarning",
    "SystemHealthInput",
    "TaskHealthInput",
    "UsageHealthInput",
    "cache_input",
    "evaluate",
    "limits_from_mapping",
    "machine_warnings",
    "status_for",
    "system_input",
    "usage_input",
]


def evaluate(data: HealthInput, limits: HealthLimits | None = None) -> HealthReport:
    limits = limits or HealthLimits()
    findings = tuple(f for rule in RULES if (f := rule(data, limits)) is not None
                     and f.rule not in limits.disabled)
    score = max(0.0, 100.0 - sum(f.points for f in findings))
    warnings = machine_warnings(data.system, limits) if data.subject == "workload" else ()
    return HealthReport(score=round(score, 1), status=status_for(score), findings=findings,
                        warnings=warnings)


def limits_from_mapping(raw: Mapping[str, Any], error: Callable[[str, str], Exception]
                        ) -> HealthLimits:
    """Build limits from a spec's ``health:`` section; ``error(message, key)`` makes the exception.

    Byte limits take sizes (``512MB``), ``_s`` limits take durations (``500ms``), and
    ``disabled`` lists rule ids and run-warning codes to switch off.
    """
    known = {f.name for f in fields(HealthLimits)}
    defaults = HealthLimits()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"health.{key}"
        if key not in known:
            hint = did_you_mean(str(key), sorted(known))
            raise error(f"unknown health limit{hint}", where)
        values[key] = _limit_value(key, value, getattr(defaults, key), error, where)
    return HealthLimits(**values)


def _limit_value(key: str, value: Any, default: Any, error: Callable[[str, str], Exception],
                 where: str) -> Any:
    if key == "disabled":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise error("expected a list of rule ids", where)
        known = (*RULE_IDS, *WARNING_CODES)
        unknown = [v for v in value if v not in known]
        if unknown:
            raise error(f"unknown rule '{unknown[0]}'; rules and warnings: {', '.join(known)}",
                        where)
        return tuple(value)
    if isinstance(default, tuple):
        if (not isinstance(value, list) or len(value) != len(default)
                or not all(_is_number(v) for v in value)):
            raise error(f"expected a list of {len(default)} numbers", where)
        return tuple(float(v) for v in value)
    try:
        if key.endswith("_bytes") and isinstance(value, str):
            return parse_bytes(value)
        if key.endswith("_s") and isinstance(value, str):
            return parse_duration(value)
    except ValueError as exc:
        raise error(str(exc), where) from None
    if not _is_number(value):
        raise error("expected a number", where)
    if isinstance(default, int) and value != int(value):
        raise error("expected a whole number", where)
    return type(default)(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def system_input(summary: Any) -> SystemHealthInput:
    """What the rules read from a :class:`~agentperf.measure.sampler.SamplerSummary`."""
    # A run shorter than the sampler's shortest span has memory, swap and load, no CPU.
    cpu_measured = getattr(summary, "cpu_samples", summary.samples) > 0
    return SystemHealthInput(
        cpu_measured=cpu_measured,
        samples=summary.samples, cpu_percent_mean=summary.cpu_percent_mean,
        cpu_percent_max=summary.cpu_percent_max,
        busiest_core_percent_mean=summary.busiest_core_percent_mean,
        memory_percent_max=summary.memory_percent_max,
        swap_used_bytes=summary.swap_used_max_bytes,
        memory_growth_bytes_per_s=summary.memory_growth_bytes_per_s or 0.0,
        memory_growth_significant=summary.memory_growth_verdict == "grows",
        memory_growth_verdict=summary.memory_growth_verdict,
        memory_growth_rule=summary.memory_growth_rule, cores=summary.cores,
        process_cpu_percent_mean=(summary.process_cpu_percent_mean
                                  if summary.process_samples and cpu_measured else None),
        process_rss_peak_bytes=summary.process_rss_peak_bytes if summary.process_samples
        else None,
        memory_total_bytes=summary.memory_total_bytes, load_1m_max=summary.load_1m_max,
        growth_of_process=summary.process_samples > 0,
    )


def cache_input(stats: Any, repeated_fraction: float) -> CacheHealthInput:
    """What the rules read from a cache's stats and how often its keys repeated."""
    return CacheHealthInput(lookups=stats.lookups, hit_rate=stats.hit_rate,
                            repeated_fraction=repeated_fraction)
