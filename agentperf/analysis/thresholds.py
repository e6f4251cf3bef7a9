"""k6-style pass/fail thresholds: parsed and checked before a run, evaluated after it.

A threshold reads like k6's (``latency: ["p(95) < 500ms"]``) but, unlike k6, a
threshold on a metric the command does not measure, or an expression that does not
parse, is a spec error before anything runs (k6 silently passes it, k6 #1526). The
module knows metric *kinds*, not metrics: each command passes its own catalogue
(``RUN_BATCH_METRICS`` here; bench, profile and monitor may declare theirs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from agentperf.errors import SpecError, did_you_mean
from agentperf.measure.units import (
    DURATION_UNITS,
    PER_SECOND_UNITS,
    SIZE_UNITS,
    format_bytes,
    format_duration,
    format_usd,
    parse_duration,
    unit_factor,
)

__all__ = [
    "NOT_OBSERVED",
    "NO_OBSERVATIONS",
    "RUN_BATCH_METRICS",
    "MetricKind",
    "Progress",
    "Tally",
    "Threshold",
    "ThresholdResult",
    "can_still_pass",
    "check_abort",
    "evaluate_thresholds",
    "format_value",
    "parse_expression",
    "parse_thresholds",
]


class MetricKind(str, Enum):
    """How a metric is measured, which statistics it offers and which units fit it."""

    DURATION = "duration"  # a trend in seconds: avg, min, med, max, p(N); bare numbers are ms
    RATE = "rate"  # a fraction of events, 0..1 (or %)
    THROUGHPUT = "throughput"  # events per second (/s, /m, /h)
    SCORE = "score"  # a plain number such as the 0-100 health score
    BYTES = "bytes"  # a peak or total in bytes; never decreases during a run
    COUNT = "count"  # a counter; never decreases during a run
    TOKENS = "tokens"  # per-task token counts: total, avg, min, med, max, p(N)
    USD = "usd"  # per-task cost in US dollars: total, avg, min, med, max, p(N)


#: Kinds whose values are per-task amounts with a sum (``total``) besides the trend.
AMOUNT_KINDS = (MetricKind.TOKENS, MetricKind.USD)


RUN_BATCH_METRICS: Mapping[str, MetricKind] = {
    "latency": MetricKind.DURATION,
    "service_time": MetricKind.DURATION,
    "served_latency": MetricKind.DURATION,
    "error_rate": MetricKind.RATE,
    "throughput": MetricKind.THROUGHPUT,
    "health_score": MetricKind.SCORE,
    "cache_hit_rate": MetricKind.RATE,
    "peak_memory": MetricKind.BYTES,
    "timeouts": MetricKind.COUNT,
    "failed": MetricKind.COUNT,
    # the load section (open model, rate limit): starts dropped and starts per second
    "dropped": MetricKind.COUNT,
    "dropped_rate": MetricKind.RATE,
    "achieved_rate": MetricKind.THROUGHPUT,
    "input_tokens": MetricKind.TOKENS,
    "output_tokens": MetricKind.TOKENS,
    "tokens": MetricKind.TOKENS,
    "cost_usd": MetricKind.USD,
    "ttft": MetricKind.DURATION,
    "itl": MetricKind.DURATION,
}

#: The note of a threshold whose metric had nothing to observe: it fails, never reads 0.
NO_OBSERVATIONS = "no observations"


class _NotObserved:
    """The value of a metric that was measured but saw nothing yet (no task ran)."""

    def __repr__(self) -> str:
        return "NOT_OBSERVED"


NOT_OBSERVED = _NotObserved()

_TREND_STATS = ("avg", "min", "med", "max")
_STAT_ALIASES = {"mean": "avg", "median": "med", "p50": "med"}
#: The statistic each kind accepts (None: the expression may omit it).
_SCALAR_STATS = {
    MetricKind.RATE: ("rate",),
    MetricKind.THROUGHPUT: ("rate",),
    MetricKind.SCORE: ("value",),
    MetricKind.BYTES: ("value",),
    MetricKind.COUNT: ("count",),
}
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_EXPRESSION = re.compile(
    r"""^\s*(?P<stat>[A-Za-z_]+\d*(?:\(\s*[0-9.]+\s*\))?)?\s*
        (?P<op><=|>=|==|!=|<|>)\s*
        (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*
        (?P<unit>[A-Za-z/%]+)?\s*$""",
    re.VERBOSE,
)
_PERCENTILE = re.compile(r"^p\(?\s*([0-9.]+)\s*\)?$")
_CLI_FORM = re.compile(r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<expr>.+)$")


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold; ``limit`` is in the metric's base unit (s, bytes, /s, 0..1)."""

    metric: str
    expression: str
    kind: MetricKind
    statistic: str | None
    op: str
    limit: float
    abort_on_fail: bool = False
    delay_abort_eval_s: float = 0.0

    def check(self, observed: float) -> bool:
        return _OPS[self.op](observed, self.limit)


@dataclass(frozen=True)
class ThresholdResult:
    """A threshold against what was measured; ``observed`` None means not measured (failed)."""

    metric: str
    expression: str
    observed: float | None
    passed: bool
    abort_on_fail: bool = False
    kind: str = MetricKind.SCORE.value
    limit: float = 0.0
    note: str = ""

    @property
    def observed_text(self) -> str:
        return format_value(MetricKind(self.kind), self.observed)

    @property
    def label(self) -> str:
        return f"{self.metric}: {self.expression}"


@dataclass(frozen=True)
class Tally:
    """A rate metric as counts, so a partial run can bound the final rate.

    ``seen`` is how many tasks the rate is over (for ``error_rate``, the tasks that
    called the agent); with none seen the rate is None: not observed, never 0.
    """

    events: int
    seen: int

    @property
    def rate(self) -> float | None:
        return self.events / self.seen if self.seen else None


@dataclass(frozen=True)
class Progress:
    """Where a run is, for :func:`can_still_pass`: tasks done, tasks expected, time spent.

    Any object with these three attributes will do (the pipeline's own snapshot does).
    """

    done: int
    total: int | None = None
    elapsed_s: float = 0.0


ErrorFactory = Callable[[str, str], Exception]


def parse_thresholds(spec_section: Mapping[str, Any], cli: Sequence[str], *,
                     metrics: Mapping[str, MetricKind], error: ErrorFactory,
                     cli_error: ErrorFactory | None = None) -> list[Threshold]:
    """Parse the spec's ``thresholds:`` and repeatable ``--threshold`` options.

    ``error(message, key)`` builds the exception for the spec (the spec's own, with file
    and line); ``cli_error`` the one for ``--threshold`` values (default: a
    :class:`SpecError` naming the option, not the spec file). Everything is checked
    here, before the run, so a typo never turns into a silently passing gate.
    """
    cli_error = cli_error or _option_error
    parsed: list[Threshold] = []
    for metric, items in spec_section.items():
        key = f"thresholds.{metric}"
        kind = _metric_kind(str(metric), metrics, error, key)
        if isinstance(items, (str, dict)):
            items = [items]
        if not isinstance(items, list):
            raise error("expected a list of expressions such as [\"p(95) < 500ms\"]", key)
        for i, item in enumerate(items):
            parsed.append(_spec_item(str(metric), kind, item, error, f"{key}[{i}]"))
    for raw in cli:
        match = _CLI_FORM.match(raw)
        if not match:
            raise cli_error(f"'{raw}': expected 'METRIC: EXPRESSION', e.g. "
                            "'latency: p(95) < 500ms'", "--threshold")
        metric = match["metric"]
        kind = _metric_kind(metric, metrics, cli_error, "--threshold")
        parsed.append(parse_expression(metric, kind, match["expr"].strip(),
                                       error=cli_error, key="--threshold"))
    return parsed


def _option_error(message: str, key: str) -> Exception:
    return SpecError(message, key=key)


def _metric_kind(metric: str, metrics: Mapping[str, MetricKind], error: ErrorFactory,
                 key: str) -> MetricKind:
    if metric in metrics:
        return metrics[metric]
    hint = did_you_mean(metric, list(metrics))
    raise error(f"unknown metric '{metric}'{hint}; this command measures "
                f"{', '.join(sorted(metrics))}", key)


def _spec_item(metric: str, kind: MetricKind, item: Any, error: ErrorFactory,
               key: str) -> Threshold:
    if isinstance(item, str):
        return parse_expression(metric, kind, item, error=error, key=key)
    if not isinstance(item, dict):
        raise error("expected an expression string or {threshold: ..., abort_on_fail: ...}", key)
    allowed = {"threshold", "abort_on_fail", "abortOnFail", "delay_abort_eval", "delayAbortEval"}
    unknown = sorted(set(map(str, item)) - allowed)
    if unknown:
        raise error(f"unknown key '{unknown[0]}'; expected threshold, abort_on_fail, "
                    "delay_abort_eval", key)
    expression = item.get("threshold")
    if not isinstance(expression, str):
        raise error("missing 'threshold' expression string", key)
    abort = item.get("abort_on_fail", item.get("abortOnFail", False))
    if not isinstance(abort, bool):
        raise error("abort_on_fail must be true or false", key)
    delay_raw = item.get("delay_abort_eval", item.get("delayAbortEval", 0))
    try:
        delay = parse_duration(delay_raw, bare_unit="s")
    except ValueError as exc:
        raise error(f"delay_abort_eval: {exc}", key) from None
    threshold = parse_expression(metric, kind, expression, error=error, key=key)
    return replace(threshold, abort_on_fail=abort, delay_abort_eval_s=delay)


def parse_expression(metric: str, kind: MetricKind, expression: str, *, error: ErrorFactory,
                     key: str) -> Threshold:
    """Parse ``[statistic] OP NUMBER[unit]`` for a metric of ``kind``."""
    match = _EXPRESSION.match(expression)
    if not match:
        raise error(f"malformed threshold '{expression}': expected [statistic] OP value[unit], "
                    "e.g. 'p(95) < 500ms', 'rate < 0.01', '> 50/s'", key)
    try:
        statistic = _statistic(kind, match["stat"])
        limit = _limit(kind, float(match["num"]), match["unit"])
    except ValueError as exc:
        raise error(f"threshold '{expression}' on {metric}: {exc}", key) from None
    return Threshold(metric=metric, expression=" ".join(expression.split()), kind=kind,
                     statistic=statistic, op=match["op"], limit=limit)


def _statistic(kind: MetricKind, raw: str | None) -> str | None:
    if kind is MetricKind.DURATION or kind in AMOUNT_KINDS:
        amount = kind in AMOUNT_KINDS
        if raw is None:
            raise ValueError(f"a {'per-task amount' if amount else 'duration'} needs a "
                             f"statistic: {'total, ' if amount else ''}avg, min, med, max or "
                             "p(N)")
        name = raw.replace(" ", "").lower()
        name = _STAT_ALIASES.get(name, name)
        if name in _TREND_STATS or (amount and name == "total"):
            return name
        pct = _PERCENTILE.match(name)
        if pct and name.startswith("p"):
            value = float(pct[1])
            if 0 < value <= 100:
                return f"p({value:g})"
            raise ValueError("a percentile must be between 0 and 100")
        raise ValueError(f"unknown statistic '{raw}' (expected avg, min, med, max or p(N))")
    if raw is None:
        return None
    if raw.lower() in _SCALAR_STATS[kind]:
        return raw.lower()
    raise ValueError(f"unknown statistic '{raw}' for a {kind.value} metric "
                     f"(expected {' or '.join(_SCALAR_STATS[kind])}, or none)")


def _limit(kind: MetricKind, number: float, unit: str | None) -> float:
    """The number in the metric's base unit; a unit that does not fit is an error."""
    if kind is MetricKind.DURATION:
        return number * unit_factor(unit or "ms", DURATION_UNITS, "a duration (us, ms, s, m, h)")
    if kind is MetricKind.BYTES:
        return number * unit_factor(unit or "B", SIZE_UNITS, "a size (B, KB, MB, GB)")
    if kind is MetricKind.THROUGHPUT:
        return number * unit_factor(unit or "/s", PER_SECOND_UNITS, "a throughput (/s, /m, /h)")
    if kind is MetricKind.RATE:
        if unit == "%":
            return number / 100
        if unit is None:
            if not 0 <= number <= 1:
                raise ValueError("a rate is a fraction between 0 and 1 (or use %)")
            return number
        raise ValueError(f"unit '{unit}' does not fit a rate (use a fraction or %)")
    if unit is not None:
        raise ValueError(f"unit '{unit}' does not fit a {kind.value} metric (use a plain number)")
    return number




def evaluate_thresholds(thresholds: Sequence[Threshold], values: Mapping[str, Any]
                        ) -> list[ThresholdResult]:
    """Each threshold against the measured values.

    ``values`` maps a metric to a number, a :class:`Tally` (rates), or for durations an
    object with ``value(statistic)`` (``LatencySummary``) and/or ``percentile(pct)``
    (``LatencyHistogram``: any p(N)). A metric without a value fails with a note:
    a gate on something that was not measured must not pass silently. One notion of
    empty for every statistic: a histogram with no sample, a rate over no task or
    :data:`NOT_OBSERVED` fails with the note :data:`NO_OBSERVATIONS`.
    """
    return [_evaluate(t, values) for t in thresholds]


def _evaluate(threshold: Threshold, values: Mapping[str, Any]) -> ThresholdResult:
    raw = values.get(threshold.metric)
    observed, note = _observe(threshold, raw)
    passed = observed is not None and threshold.check(observed)
    return ThresholdResult(metric=threshold.metric, expression=threshold.expression,
                           observed=observed, passed=passed,
                           abort_on_fail=threshold.abort_on_fail, kind=threshold.kind.value,
                           limit=threshold.limit, note=note)


def _observe(threshold: Threshold, raw: Any) -> tuple[float | None, str]:
    if raw is None:
        return None, "not measured in this run"
    if raw is NOT_OBSERVED:
        return None, NO_OBSERVATIONS
    if isinstance(raw, Tally):
        rate = raw.rate
        return (None, NO_OBSERVATIONS) if rate is None else (rate, "")
    if (threshold.kind is MetricKind.DURATION or threshold.kind in AMOUNT_KINDS) and \
            not isinstance(raw, (int, float)):
        return _trend_value(raw, threshold.statistic or "avg")
    value = float(raw)
    return (None, "no valid measurement") if math.isnan(value) else (value, "")


def _trend_value(source: Any, statistic: str) -> tuple[float | None, str]:
    if getattr(source, "count", 1) == 0:
        return None, NO_OBSERVATIONS
    pct = _PERCENTILE.match(statistic) if statistic.startswith("p") else None
    if pct and hasattr(source, "percentile"):
        value = source.percentile(float(pct[1]))
        return (None, NO_OBSERVATIONS) if value is None else (float(value), "")
    summary = source.summary() if hasattr(source, "summary") else source
    if getattr(summary, "count", 1) == 0:
        return None, NO_OBSERVATIONS
    name = {"avg": "mean", "med": "p50"}.get(statistic, statistic)
    if pct:
        name = f"p{float(pct[1]):g}"
    try:
        value = summary.value(name)
    except (AttributeError, KeyError):
        return None, f"{statistic} is not available from the summary (p50/p90/p95/p99 are)"
    return (None, NO_OBSERVATIONS) if value is None else (float(value), "")


def can_still_pass(threshold: Threshold, value: Any, progress: Progress) -> bool:
    """Whether a threshold may still pass when the run ends, judged from partial values.

    Definitive where the metric allows it: counts and byte peaks only grow and latency
    ``max`` only rises (``min`` only falls), so an upper bound once crossed stays crossed;
    a :class:`Tally` rate with a known total is bounded by the best case of the tasks
    still to come. Every other case follows k6: the threshold is judged on the partial
    data, once ``delay_abort_eval`` has elapsed. Nothing observed yet never aborts: the
    tasks still to come may observe it (at the end it fails with "no observations").
    """
    result = _evaluate(threshold, {threshold.metric: value})
    if result.observed is None or result.passed:
        return True
    upper = threshold.op in ("<", "<=")
    lower = threshold.op in (">", ">=")
    if threshold.kind in (MetricKind.COUNT, MetricKind.BYTES) or threshold.statistic in (
            "max", "total"):
        return not upper
    if threshold.statistic == "min":
        return not lower
    if isinstance(value, Tally) and progress.total and (upper or lower):
        # Each task still to come may add one to ``seen`` (it may also be a cache hit,
        # which adds nothing; the bound below is then only looser).
        remaining = max(progress.total - progress.done, 0)
        best_events = value.events if upper else value.events + remaining
        return threshold.check(best_events / (value.seen + remaining))
    return progress.elapsed_s < threshold.delay_abort_eval_s


def check_abort(thresholds: Sequence[Threshold], values: Mapping[str, Any],
                progress: Progress) -> ThresholdResult | None:
    """The first ``abort_on_fail`` threshold that can no longer pass, or None to go on."""
    for threshold in thresholds:
        if not threshold.abort_on_fail:
            continue
        value = values.get(threshold.metric)
        if not can_still_pass(threshold, value, progress):
            result = _evaluate(threshold, {threshold.metric: value})
            return replace(result, note=f"aborted after {progress.done} tasks")
    return None


def format_value(kind: MetricKind, value: float | None) -> str:
    """A measured value in the unit a reader expects for its kind."""
    if value is None:
        return "n/a"
    if kind is MetricKind.DURATION:
        return format_duration(value)
    if kind is MetricKind.BYTES:
        return format_bytes(value)
    if kind is MetricKind.THROUGHPUT:
        return f"{value:,.1f}/s"
    if kind is MetricKind.RATE:
        return f"{value:.2%}"
    if kind in (MetricKind.COUNT, MetricKind.TOKENS):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    if kind is MetricKind.USD:
        return format_usd(value)
    return f"{value:g}"
