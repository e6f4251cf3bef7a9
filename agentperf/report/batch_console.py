"""Rich renderables for a run-batch result: the terminal view and the HTML report's body.

Each function takes the report document (``json_report.batch_document``), already
redacted, so what the terminal shows is exactly what the files say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from agentperf.measure.units import format_bytes, format_duration
from agentperf.report.batch_summary import (
    Doc,
    as_document,
    summary_rows,
    summary_title,
    verdict_line,
)
from agentperf.report.serialize import nested_tables, scalar_rows
from agentperf.report.usage_view import (
    STREAM_STATS,
    TOKEN_STATS,
    streaming_note,
    streaming_rows,
    token_rows,
    usage_rows,
)

_BAR_WIDTH = 40
_STATUS_STYLE = {"healthy": "green", "needs_attention": "yellow", "critical": "red"}


def render_batch(console: Console, result: Any, *, quiet: bool = False) -> None:
    """Print the run-batch report (quiet: the summary and the verdict only)."""
    for renderable in batch_renderables(result, quiet=quiet):
        console.print(renderable)


def batch_renderables(result: Any, *, quiet: bool = False, full: bool = False,
                      gates: bool = True) -> list[RenderableType]:
    """The report's parts: compact for a terminal, ``full`` (every field) for HTML.

    ``gates`` False leaves out the gates table, for a page that shows it in its own markup.
    """
    doc = as_document(result)
    if quiet:
        return [summary_table(doc), verdict(doc)]
    detail: list[RenderableType | None] = (
        [histogram_table(doc), cache_tables(doc), system_table(doc), context_table(doc)]
        if full else [cache_summary(doc), system_summary(doc)])
    # Warnings (the machine's state among them) come before the gates and the health
    # score they qualify.
    parts: list[RenderableType | None] = [
        summary_table(doc), latency_table(doc), usage_table(doc), streaming_table(doc),
        failures_table(doc), *detail, warnings(doc),
        gates_table(doc) if gates else None, health_table(doc), recommendations(doc),
        verdict(doc),
    ]
    return [p for p in parts if p is not None]


def _table(title: str, *columns: str, numeric: tuple[int, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, title_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i in numeric else "left")
    return table


def summary_table(doc: Doc) -> Table:
    table = _table(summary_title(doc), "", "")
    table.show_header = False
    dropped = (doc.get("load") or {}).get("dropped")
    for name, value in summary_rows(doc):
        text = Text(value)
        if name == "load" and dropped:
            # each dropped start is a request the users of an open system would not get
            text.highlight_regex(r"[\d,]+ dropped", "bold red")
        table.add_row(name, text)
    return table


#: The three latency metrics, with the label the table shows (defined in the README).
_LATENCY_ROWS = (("latency", "latency"), ("service_time", "service"),
                 ("served_latency", "served"))


def latency_table(doc: Doc) -> RenderableType | None:
    """Latency of the agent calls; service time when retries made it differ, served
    latency when the cache answered some tasks. No call measured: the reason, in words."""
    latency = doc["latency"]
    if not latency["count"]:
        note = doc["tasks"].get("measurement_note")
        return Text(f"Latency: {note}", style="bold yellow") if note else None
    names = ("min", "mean", "p50", "p90", "p95", "p99", "max")
    title = "Latency (agent calls; served: every task)"
    if (doc.get("load") or {}).get("model") == "open":
        title = "Latency (from each scheduled start; service: the agent call alone)"
    table = _table(title, "", "n", *names,
                   numeric=tuple(range(1, len(names) + 2)))
    for key, label in _LATENCY_ROWS:
        data = doc.get(key) or latency
        if key != "latency" and (not data["count"] or data == latency):
            continue
        table.add_row(label, f"{data['count']:,}",
                      *(format_duration(data[f"{n}_s"]) for n in names))
    return table


def usage_table(doc: Doc) -> RenderableType | None:
    """Tokens per task and the run's cost, of the agent calls this run made."""
    usage = doc.get("usage")
    if not usage:
        return None
    facts = _table("Usage (LLM calls this run made)", "", "")
    facts.show_header = False
    for label, value in usage_rows(usage):
        facts.add_row(label, value)
    rows = token_rows(usage)
    if not rows:
        return facts
    tokens = _table("", "tokens per task", *TOKEN_STATS, numeric=tuple(range(1, 6)))
    for row in rows:
        tokens.add_row(*row)
    return Group(facts, tokens)


def streaming_table(doc: Doc) -> Table | None:
    streaming = doc.get("streaming")
    if not streaming:
        return None
    table = _table(f"Streaming ({streaming_note(streaming)})", "", "n", *STREAM_STATS,
                   numeric=tuple(range(1, 7)))
    for row in streaming_rows(streaming):
        table.add_row(*row)
    return table


def histogram_table(doc: Doc) -> Table | None:
    buckets = doc["latency_histogram"]
    if not buckets:
        return None
    peak = max(b["count"] for b in buckets) or 1
    table = _table("Latency histogram", "from", "to", "tasks", "", numeric=(0, 1, 2))
    for bucket in buckets:
        bar = "█" * round(_BAR_WIDTH * bucket["count"] / peak)
        table.add_row(format_duration(bucket["low_s"]), format_duration(bucket["high_s"]),
                      f"{bucket['count']:,}", Text(bar, style="cyan"))
    return table


def failures_table(doc: Doc) -> Table | None:
    if not doc["failures"]:
        return None
    table = _table("Failures by type", "type", "count", "example", numeric=(1,))
    for group in doc["failures"]:
        table.add_row(Text(group["type"]), f"{group['count']:,}", Text(group["example"]))
    hidden = doc["tasks"]["failed"] - len(doc["failed_inputs"])
    for item in doc["failed_inputs"][:10]:
        table.add_row(Text(f"  input #{item['index']}"), Text(item["error_type"]),
                      Text(item["message"]))
    if doc["failed_inputs"] and hidden > 0:
        table.caption = (f"{hidden:,} more failed input{'s are' if hidden > 1 else ' is'} "
                         "in the results file")
    return table


def cache_tables(doc: Doc) -> RenderableType | None:
    return _generic("Cache", doc.get("cache"))


def system_table(doc: Doc) -> RenderableType | None:
    return _generic("System", doc.get("system"))


def cache_summary(doc: Doc) -> Table | None:
    """What the cache saved, and each tier's hits and latency, in a few rows."""
    cache = doc.get("cache")
    if not cache:
        return None
    table = _table("Cache", "", "")
    table.show_header = False
    table.add_row("calls avoided", f"{cache['calls_avoided']:,} of {cache['lookups']:,} "
                  f"lookups ({cache['hit_rate']:.1%}), served by:")
    for tier in cache.get("tiers", []):
        state = "" if tier.get("available", True) else ", unavailable"
        table.add_row(f"  {tier['name']}", f"{tier['hits']:,} hits, {tier['misses']:,} misses, "
                      f"get {format_duration(tier['get_mean_s'])}{state}")
    table.add_row("  shared in flight", f"{cache['single_flight_waits']:,} (a duplicate's "
                  "call answered them)")
    table.add_row("agent time saved", format_duration(cache["time_saved_s"]))
    skipped = cache.get("skipped_unserializable", 0)
    if skipped:
        table.add_row("not cached", f"{skipped:,} ({', '.join(cache.get('skip_reasons', {}))})")
    if cache.get("fingerprint"):
        sources = cache.get("fingerprint_sources") or []
        what = ", ".join(sources) if len(sources) <= 3 else f"{len(sources)} sources"
        table.add_row("code fingerprint", Text(f"{cache['fingerprint']} ({what})"))
    return table


def system_summary(doc: Doc) -> Table | None:
    """CPU and memory while the batch ran, from the background sampler."""
    system = doc.get("system")
    if not system or not system.get("samples"):
        return None
    table = _table("System during the run", "", "")
    table.show_header = False
    table.add_row("samples", f"{system['samples']} every "
                  f"{format_duration(system['interval_s'])}")
    cpu = system.get("cpu_samples", system["samples"])
    own_cpu = f", CPU mean {system['process_cpu_percent_mean']:.0f}%" if cpu else ""
    if cpu:
        table.add_row("CPU", f"mean {system['cpu_percent_mean']:.0f}%, max "
                      f"{system['cpu_percent_max']:.0f}%, busiest core "
                      f"{system['busiest_core_percent_mean']:.0f}% ({system['cores']} cores)")
    else:
        table.add_row("CPU", Text(f"not measured: {system.get('note', '')}"))
    table.add_row("memory", f"max {system['memory_percent_max']:.0f}% used")
    table.add_row("this process tree", "RSS peak "
                  f"{format_bytes(system['process_rss_peak_bytes'])}{own_cpu}")
    return table


def context_table(doc: Doc) -> RenderableType | None:
    context = doc.get("context") or {}
    if not context:
        return None
    table = _table("Context", "key", "value")
    for key, value in context.items():
        table.add_row(Text(key), Text(str(value)))
    return table


def _generic(title: str, data: Mapping[str, Any] | None) -> RenderableType | None:
    """Any stats dataclass: its scalar fields as rows, its per-name records as tables."""
    if not data:
        return None
    parts: list[RenderableType] = []
    rows = scalar_rows(data)
    if rows:
        table = _table(title, "", "")
        table.show_header = False
        for name, value in rows:
            table.add_row(name, Text(value))
        parts.append(table)
    for sub_title, head, sub_rows in nested_tables(data):
        table = _table(f"{title}: {sub_title}", *head, numeric=tuple(range(1, len(head))))
        for row in sub_rows:
            table.add_row(*(Text(cell) for cell in row))
        parts.append(table)
    return Group(*parts) if parts else None


def gates_table(doc: Doc) -> Table | None:
    """Every gate behind the exit code: thresholds, max_error_rate, an abort, an interrupt."""
    if not doc["gates"]:
        return None
    table = _table("Gates", "gate", "observed", "result", "note", numeric=(1,))
    for gate in doc["gates"]:
        result = Text("PASS", style="green") if gate["passed"] else Text("FAIL", style="bold red")
        note = gate["note"] + (" (abort on fail)" if gate["abort_on_fail"] else "")
        table.add_row(Text(gate["label"]), Text(gate["observed_text"]), result,
                      Text(note.strip()))
    return table


def health_table(doc: Doc) -> Table:
    health = doc["health"]
    style = _STATUS_STYLE.get(health["status"], "")
    table = _table(f"Health {health['score']:g}/100 ({health['status']})", "rule", "measured",
                   "limit", "points", "finding", numeric=(1, 2, 3))
    table.title_style = f"bold {style}"
    for finding in health["findings"]:
        table.add_row(finding["rule"], finding["value_text"], finding["limit_text"],
                      f"-{finding['points']:g}", Text(finding["message"]))
    if not health["findings"]:
        table.caption = "no rule fired"
    return table


def recommendations(doc: Doc) -> RenderableType | None:
    items = doc["health"]["recommendations"]
    if not items:
        return None
    text = Text("Recommendations\n", style="bold")
    for i, item in enumerate(items, 1):
        text.append(f"  {i}. {item}\n")
    return text


def warnings(doc: Doc) -> RenderableType | None:
    if not doc["warnings"]:
        return None
    text = Text("Warnings\n", style="bold yellow")
    for item in doc["warnings"]:
        text.append(f"  - {item}\n")
    return text


def verdict(doc: Doc) -> Text:
    line = verdict_line(doc)
    text = Text.assemble((line.word, line.style), line.detail)
    if line.aborted:
        text.append(f"\nstopped early: {line.aborted}", style="yellow")
    return text
