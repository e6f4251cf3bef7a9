"""The Usage and Streaming parts of the run-batch report, for every format.

``usage_document`` and ``streaming_document`` build the JSON sections; ``usage_rows``,
``token_rows`` and ``streaming_rows`` turn those sections into the rows the terminal,
Markdown, JUnit and HTML renderers show, so every format carries the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentperf.measure.units import format_duration, format_usd

_TOKEN_STATS = ("total", "mean", "p50", "p95", "max")
_STREAM_STATS = ("p50", "p90", "p95", "p99", "max")
TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("cached_input_tokens", "cached input"),
    ("cache_write_tokens", "cache write"),
    ("output_tokens", "output"),
)


def usage_document(usage: Any, clean: Any) -> dict[str, Any] | None:
    """``usage`` of the JSON report (None: no agent call reported usage)."""
    if usage is None:
        return None
    doc: dict[str, Any] = {"tasks": usage.tasks, "calls": usage.calls}
    for key, _ in TOKEN_KINDS:
        doc[key] = _amounts(getattr(usage, key), usage.tasks)
    doc["tokens_per_s"] = usage.tokens_per_s
    doc["output_tokens_per_s"] = usage.output_tokens_per_s
    cost = usage.cost
    doc["cost_usd"] = (
        None
        if cost is None
        else {
            "total": cost.total,
            "per_task_mean": cost.per_task_mean,
            "per_1k_inputs": cost.per_1k_inputs,
            "priced_by": cost.priced_by,
            "estimate": cost.estimate,
            "priced_tasks": cost.priced_tasks,
            "unpriced_tasks": cost.unpriced_tasks,
            "p50": usage.cost_usd.p50 if usage.cost_usd else None,
            "p95": usage.cost_usd.p95 if usage.cost_usd else None,
            "max": usage.cost_usd.max if usage.cost_usd else None,
        }
    )
    saved = usage.saved_by_cache
    doc["saved_by_cache"] = (
        None
        if saved is None
        else {
            "hits": saved.hits_with_usage,
            "input_tokens": saved.input_tokens,
            "output_tokens": saved.output_tokens,
            "cost_usd": saved.cost_usd,
        }
    )
    doc["models"] = list(usage.models)
    doc["finish"] = {"tasks": usage.finished_tasks, "cut_at_token_limit": usage.cut_tasks}
    doc["costly_inputs"] = [clean(c) for c in usage.costly_inputs]
    doc["warnings"] = [clean(w) for w in usage.warnings]
    doc["pricing_error"] = usage.pricing_error
    return doc


def _amounts(summary: Any, tasks: int) -> dict[str, Any]:
    if not tasks:
        return dict.fromkeys(_TOKEN_STATS)
    return {
        name: float(getattr(summary, name)) if name == "mean" else int(getattr(summary, name))
        for name in _TOKEN_STATS
    }


def streaming_document(streaming: Any) -> dict[str, Any] | None:
    """``streaming`` of the JSON report (None: no agent streamed its answer)."""
    if streaming is None:
        return None
    return {
        "tasks": streaming.tasks,
        "chunks": streaming.chunks,
        "chunks_per_s": streaming.chunks_per_s,
        "ttft_s": _durations(streaming.ttft),
        "itl_s": _durations(streaming.itl),
    }


def _durations(summary: Any) -> dict[str, Any]:
    count = int(summary.count)
    data: dict[str, Any] = {"count": count}
    for name in _STREAM_STATS:
        data[name] = float(getattr(summary, name)) if count else None
    return data


def token_rows(usage: Mapping[str, Any]) -> list[list[str]]:
    """(tokens, total, mean, p50, p95, max) per kind, for the tasks that reported usage."""
    rows = []
    for key, label in TOKEN_KINDS:
        data = usage[key]
        if data["total"] is None or (key == "cache_write_tokens" and not data["total"]):
            continue
        rows.append([label, *(_number(data[s]) for s in _TOKEN_STATS)])
    return rows


def usage_rows(usage: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The Usage section's key figures in words: calls, rates, cost, cache savings."""
    rows = [("tasks with usage", f"{usage['tasks']:,} ({usage['calls']:,} LLM calls)")]
    if usage["models"]:
        rows.append(("models", ", ".join(usage["models"])))
    if usage["tokens_per_s"] is not None:
        rows.append(
            (
                "tokens per second",
                f"{usage['tokens_per_s']:,.1f} ({usage['output_tokens_per_s']:,.1f} output)",
            )
        )
    cost = usage["cost_usd"]
    if cost is not None:
        label = "cost (estimate)" if cost["estimate"] else "cost"
        text = (
            f"{format_usd(cost['total'])} total, {format_usd(cost['per_task_mean'])} per "
            f"task, {format_usd(cost['per_1k_inputs'])} per 1,000 inputs; priced by "
            f"{cost['priced_by']}"
        )
        if cost["unpriced_tasks"]:
            text += f"; {cost['unpriced_tasks']:,} tasks not priced"
        rows.append((label, text))
    saved = usage["saved_by_cache"]
    if saved is not None:
        money = "" if saved["cost_usd"] is None else f", {format_usd(saved['cost_usd'])}"
        rows.append(
            (
                "saved by cache",
                f"{saved['input_tokens']:,} input + "
                f"{saved['output_tokens']:,} output tokens{money} "
                f"({saved['hits']:,} hits)",
            )
        )
    finish = usage["finish"]
    if finish["tasks"]:
        rows.append(
            (
                "cut at token limit",
                f"{finish['cut_at_token_limit']:,} of {finish['tasks']:,} answers",
            )
        )
    rows.extend(("warning", w) for w in usage["warnings"])
    if usage.get("pricing_error"):
        rows.append(("pricing error", usage["pricing_error"]))
    return rows


def streaming_rows(streaming: Mapping[str, Any]) -> list[list[str]]:
    """(metric, n, p50, p90, p95, p99, max) for ttft and itl."""
    rows = []
    for key, label in (("ttft_s", "ttft"), ("itl_s", "itl")):
        data = streaming[key]
        if data["count"]:
            rows.append(
                [label, f"{data['count']:,}", *(format_duration(data[s]) for s in _STREAM_STATS)]
            )
    return rows


def streaming_note(streaming: Mapping[str, Any]) -> str:
    rate = streaming["chunks_per_s"]
    text = f"{streaming['tasks']:,} streamed answers, {streaming['chunks']:,} chunks"
    return text + (f", {rate:,.1f} chunks/s while streaming" if rate else "")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


STREAM_STATS = _STREAM_STATS
TOKEN_STATS = _TOKEN_STATS
