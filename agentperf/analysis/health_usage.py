"""Health rules on LLM usage: outputs cut at the token limit, a cache that saves no
tokens on repeated inputs, and inputs whose cost is far above the median.

Part of the one health engine (``health_rules.RULES`` lists them); each reads only
:class:`UsageHealthInput` and stays quiet when the run reported no usage.
"""

from __future__ import annotations

from typing import Any

from agentperf.analysis.health_model import Finding, HealthInput, HealthLimits, UsageHealthInput
from agentperf.measure.units import format_usd

#: Inputs a costly-input finding names, at most.
NAMED_INPUTS = 3


def usage_input(
    summary: Any, *, cache_on: bool, repeated_fraction: float
) -> UsageHealthInput | None:
    """What the usage rules read from a :class:`~agentperf.measure.usage_tally.UsageSummary`."""
    if summary is None:
        return None
    saved = summary.saved_by_cache
    tokens_saved = (saved.input_tokens + saved.output_tokens if saved else 0) if cache_on else None
    cost = summary.cost_usd
    return UsageHealthInput(
        tasks=summary.tasks,
        finished_tasks=summary.finished_tasks,
        cut_tasks=summary.cut_tasks,
        tokens_spent=int(summary.tokens.total),
        tokens_saved=tokens_saved,
        repeated_fraction=repeated_fraction,
        median_cost=cost.p50 if cost is not None and cost.count else None,
        priced_tasks=cost.count if cost is not None else 0,
        costly=tuple((c.index, c.input, c.cost_usd) for c in summary.costly_inputs),
    )


def cut_output_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    usage = data.usage
    if usage is None or usage.finished_tasks < limits.cut_min_tasks:
        return None
    share = usage.cut_tasks / usage.finished_tasks
    if share <= limits.cut_output_share:
        return None
    return Finding(
        "outputs_cut",
        f"{usage.cut_tasks:,} of {usage.finished_tasks:,} answers "
        f"({share:.0%}) stopped at the token limit (finish reason length / "
        "max_tokens)",
        share,
        limits.cut_output_share,
        10.0,
        "answers are truncated: raise max_tokens (max_output_tokens), ask for "
        "shorter answers in the prompt, or split the task",
        unit="ratio",
    )


def cache_saves_nothing_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    usage = data.usage
    if (
        usage is None
        or usage.tokens_saved is None
        or usage.tokens_saved > 0
        or usage.tokens_spent == 0
        or usage.repeated_fraction < limits.cache_min_repeated_fraction
    ):
        return None
    return Finding(
        "cache_saves_no_tokens",
        f"{usage.repeated_fraction:.0%} of inputs repeat "
        f"an earlier one, yet the cache saved 0 of the {usage.tokens_spent:,} "
        "tokens spent",
        0.0,
        float(usage.tokens_spent),
        10.0,
        "the cache answers none of the repeated LLM calls: check cache.key_fields "
        "(per-call ids or timestamps make every key new) and cache.ttl, and that "
        "failures are not what is repeated",
        unit="tokens",
    )


def costly_input_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    usage = data.usage
    if (
        usage is None
        or usage.median_cost is None
        or not usage.median_cost
        or usage.priced_tasks < limits.costly_min_tasks
    ):
        return None
    bound = usage.median_cost * limits.costly_input_ratio
    over = [(index, value, cost) for index, value, cost in usage.costly if cost > bound]
    if not over:
        return None
    worst = over[0][2] / usage.median_cost
    named = ", ".join(
        f"#{index} {_short(value)} ({format_usd(cost)})"
        for index, value, cost in over[:NAMED_INPUTS]
    )
    more = f" and {len(over) - NAMED_INPUTS} more" if len(over) > NAMED_INPUTS else ""
    median = format_usd(usage.median_cost)
    return Finding(
        "costly_inputs",
        f"{len(over)} input{'s' if len(over) > 1 else ''} cost "
        f"over {limits.costly_input_ratio:g}x the median {median} per task: "
        f"{named}{more}",
        round(worst, 2),
        limits.costly_input_ratio,
        5.0,
        "a few inputs dominate the bill: cap their context (retrieved documents, "
        "history), route them to a cheaper model, or cache them",
        unit="times",
    )


def _short(value: Any, limit: int = 40) -> str:
    """An input as a finding names it: text quoted, anything else as its repr, cut."""
    text = value if isinstance(value, str) else repr(value)
    text = text if len(text) <= limit else text[:limit] + "..."
    return repr(text) if isinstance(value, str) else text


USAGE_RULES = [cut_output_rule, cache_saves_nothing_rule, costly_input_rule]
USAGE_RULE_IDS = ("outputs_cut", "cache_saves_no_tokens", "costly_inputs")
