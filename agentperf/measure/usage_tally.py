"""A run's usage in constant memory: per-task token and cost distributions, stream timing,
what the cache saved, and the inputs that cost far more than the rest.

Only tasks that called the agent in this run count towards the totals and the gates; a
cache hit's stored usage counts under ``saved_by_cache`` alone.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from agentperf.execution.base import TaskResult
from agentperf.measure.histogram import (
    AmountHistogram,
    AmountSummary,
    LatencyHistogram,
    LatencySummary,
)
from agentperf.usage.pricing import Pricer
from agentperf.usage.recognize import is_cut

#: Costliest inputs kept for the outlier rule and the reports.
COSTLY_KEPT = 10
_NANO_USD = 1e-9


@dataclass
class CostSummary:
    """``total`` over the priced tasks; ``priced_by`` says how (spec prices or an estimate)."""

    total: float
    per_task_mean: float
    per_1k_inputs: float
    priced_by: str
    estimate: bool
    priced_tasks: int
    unpriced_tasks: int


@dataclass
class SavedByCache:
    """The usage stored with the cache entries that answered this run's hits."""

    hits_with_usage: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


@dataclass
class CostlyInput:
    index: int
    input: Any
    cost_usd: float


@dataclass
class UsageSummary:
    """Tokens and cost of the agent calls this run made (``tasks``: those reporting usage)."""

    tasks: int
    calls: int
    input_tokens: AmountSummary
    cached_input_tokens: AmountSummary
    cache_write_tokens: AmountSummary
    output_tokens: AmountSummary
    tokens: AmountSummary
    tokens_per_s: float | None
    output_tokens_per_s: float | None
    cost_usd: AmountSummary | None
    cost: CostSummary | None
    saved_by_cache: SavedByCache | None
    models: list[str]
    finished_tasks: int  # tasks whose calls gave a finish reason
    cut_tasks: int  # of those, the ones cut at the token limit
    costly_inputs: list[CostlyInput] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pricing_error: str | None = None


@dataclass
class StreamingSummary:
    """Streamed answers: ``ttft`` from the task's start (like latency), ``itl`` between chunks."""

    tasks: int
    chunks: int
    ttft: LatencySummary
    itl: LatencySummary
    chunks_per_s: float | None


class UsageTally:
    """Feeds on task results like :class:`~agentperf.measure.tally.TaskTally`."""

    def __init__(self, pricer: Pricer, brief: Any = None) -> None:
        self.pricer = pricer
        self._brief = brief or (lambda value: value)
        self.tasks = 0
        self.calls = 0
        self.input = AmountHistogram()
        self.cached = AmountHistogram()
        self.written = AmountHistogram()
        self.output = AmountHistogram()
        self.tokens = AmountHistogram()
        self.cost = AmountHistogram(_NANO_USD)
        self.unpriced = 0
        self.models: set[str] = set()
        self.finished = 0
        self.cut = 0
        self.saved_hits = 0
        self.saved_input = 0
        self.saved_output = 0
        self.saved_cost: float | None = 0.0
        self.ttft = LatencyHistogram()
        self.itl = LatencyHistogram()
        self.stream_tasks = 0
        self.chunks = 0
        self.stream_s = 0.0
        self._costly: list[tuple[float, int, Any]] = []

    def add(self, result: TaskResult, input_value: Any = None) -> None:
        usage = result.usage
        if usage is None:
            return
        if result.cache_hit:
            self._add_saved(result)
            return
        if not result.called_agent:
            return
        if usage.stream is not None:
            self._add_stream(result)
        if usage.finish_reasons:
            self.finished += 1
            self.cut += any(is_cut(r) for r in usage.finish_reasons)
        if not usage.has_tokens:
            return
        self.tasks += 1
        self.calls += sum(p.calls for p in usage.parts)
        self.models.update(usage.models)
        self.input.record(usage.input_tokens)
        self.cached.record(usage.cached_input_tokens)
        self.written.record(usage.cache_write_tokens)
        self.output.record(usage.output_tokens)
        self.tokens.record(usage.input_tokens + usage.output_tokens)
        cost = self.pricer.cost(usage)
        if cost is None:
            self.unpriced += 1
            return
        self.cost.record(cost)
        entry = (cost, -result.index, input_value)
        if len(self._costly) < COSTLY_KEPT:
            heapq.heappush(self._costly, (cost, -result.index, self._brief(input_value)))
        elif entry[:2] > self._costly[0][:2]:
            heapq.heapreplace(self._costly, (cost, -result.index, self._brief(input_value)))

    def _add_saved(self, result: TaskResult) -> None:
        usage = result.usage
        assert usage is not None
        if not usage.has_tokens:
            return
        self.saved_hits += 1
        self.saved_input += usage.input_tokens
        self.saved_output += usage.output_tokens
        cost = self.pricer.cost(usage)
        if cost is None or self.saved_cost is None:
            self.saved_cost = None
        else:
            self.saved_cost += cost

    def _add_stream(self, result: TaskResult) -> None:
        stream = result.usage.stream if result.usage else None
        if stream is None:
            return
        self.stream_tasks += 1
        self.chunks += stream.chunks
        self.stream_s += stream.call_s
        if stream.first_chunk_s is not None:
            # From the task's start, like latency: a retried task's earlier tries count.
            before_call = result.latency_s - (result.service_time_s or result.latency_s)
            self.ttft.record(before_call + stream.first_chunk_s)
        for gap in stream.gaps_s:
            self.itl.record(gap)

    def usage_values(self) -> dict[str, Any]:
        """The threshold values of the usage metrics (histograms: any p(N))."""
        cost = self.cost if self.pricer.error is None else None
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "tokens": self.tokens,
            "cost_usd": cost,
            "ttft": self.ttft,
            "itl": self.itl,
        }

    def summary(self, wall_s: float, inputs: int) -> UsageSummary | None:
        """None when no task reported usage and nothing was saved: the run had no LLM calls."""
        if not self.tasks and not self.saved_hits and not self.finished:
            return None
        priced = self.cost.count
        cost_summary = None
        if priced:
            total = self.cost.total
            cost_summary = CostSummary(
                total,
                total / priced,
                total / inputs * 1000 if inputs else 0.0,
                self.pricer.priced_by,
                self.pricer.estimate,
                priced,
                self.unpriced,
            )
        saved = (
            SavedByCache(
                self.saved_hits,
                self.saved_input,
                self.saved_output,
                self.saved_cost if self.saved_hits else None,
            )
            if self.saved_hits
            else None
        )
        tokens = self.tokens.total
        return UsageSummary(
            tasks=self.tasks,
            calls=self.calls,
            input_tokens=self.input.summary(),
            cached_input_tokens=self.cached.summary(),
            cache_write_tokens=self.written.summary(),
            output_tokens=self.output.summary(),
            tokens=self.tokens.summary(),
            tokens_per_s=tokens / wall_s if wall_s > 0 and self.tasks else None,
            output_tokens_per_s=self.output.total / wall_s if wall_s > 0 and self.tasks else None,
            cost_usd=self.cost.summary() if priced else None,
            cost=cost_summary,
            saved_by_cache=saved,
            models=sorted(self.models),
            finished_tasks=self.finished,
            cut_tasks=self.cut,
            costly_inputs=self.costly_inputs(),
            warnings=sorted(set(self.pricer.problems.values())),
            pricing_error=self.pricer.error,
        )

    def costly_inputs(self) -> list[CostlyInput]:
        return [
            CostlyInput(-neg_index, value, cost)
            for cost, neg_index, value in sorted(self._costly, reverse=True)
        ]

    def streaming(self) -> StreamingSummary | None:
        if not self.stream_tasks:
            return None
        return StreamingSummary(
            self.stream_tasks,
            self.chunks,
            self.ttft.summary(),
            self.itl.summary(),
            self.chunks / self.stream_s if self.stream_s > 0 else None,
        )
