"""The run-batch HTML report (``--report-html``): one self-contained page.

Rendered from the JSON report document (``json_report.batch_document``), so the page
says what the JSON, Markdown and JUnit files say: the verdict and every gate first
(observed against limit), then the run over time, the latency distribution, failures
with example inputs, health and machine warnings, cache savings, token usage and cost
when the run recorded them, and the run's details.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentperf.measure.units import format_duration
from agentperf.report.batch_summary import as_document
from agentperf.report.html_page import (
    Cell,
    Section,
    Verdict,
    cards,
    chart_grid,
    gates_table,
    health_html,
    page,
    paragraph,
    record_tables,
    table,
)
from agentperf.report.html_timeline import timeline_sections
from agentperf.report.svg import Marker, histogram_chart

Doc = Mapping[str, Any]
#: Sections other helpers add to the JSON report; each renders when present.
USAGE_KEYS = ("usage", "tokens", "cost")


def render_html(result: Any) -> str:
    doc = as_document(result)
    sections = [
        Section("Summary", _summary(doc), id="summary"),
        Section("Gates", gates_table(_gates_with_limits(doc)), id="gates"),
        *timeline_sections(doc.get("timeline"), doc.get("thresholds") or ()),
        Section("Latency", _latency(doc), id="latency"),
        Section("Failures", _failures(doc), id="failures"),
        Section("Health", health_html(doc["health"], doc.get("warnings") or ()), id="health"),
        Section("Cache", _cache(doc), id="cache"),
        *[
            Section(key.capitalize(), record_tables(doc[key]), id=key)
            for key in USAGE_KEYS
            if isinstance(doc.get(key), Mapping)
        ],
        Section("System during the run", record_tables(doc.get("system")), id="system"),
        Section("Run", _details(doc), id="run"),
    ]
    return page(f"agentperf run-batch: {doc['name']}", _meta(doc), verdict(doc), sections)


def verdict(doc: Doc) -> Verdict:
    v = doc["verdict"]
    word, tone = ("PASSED", "pass") if v["passed"] else ("FAILED", "fail")
    if v["interrupted"]:
        word, tone = "INTERRUPTED", "warn"
    detail = f": {v['reason']}"
    if v.get("aborted"):
        detail += f" Stopped early: {v['aborted']}"
    return Verdict(tone, f"{word} (exit {v['exit_code']})", detail)


def _meta(doc: Doc) -> str:
    ex = doc["executor"]
    return (
        f"{doc.get('source') or 'dotted path'} · {ex['mode']}, {ex['workers']} workers, "
        f"max {ex['max_in_flight']} in flight · started {doc['started_at']} · "
        f"agentperf {doc['tool']['version']}"
    )


def _gates_with_limits(doc: Doc) -> list[dict[str, Any]]:
    limits = {
        f"{t['metric']}: {t['expression']}": t.get("limit_text", "")
        for t in doc.get("thresholds") or ()
    }
    return [{**g, "limit_text": limits.get(g["label"], "")} for g in doc["gates"]]


def _summary(doc: Doc) -> str:
    """The headline figures, one card each."""
    tasks, lat = doc["tasks"], doc["latency"]
    figures = [
        (f"{tasks['total']:,}", "tasks"),
        (format_duration(tasks["wall_s"] or 0.0), "wall time"),
        (f"{tasks['throughput_per_s']:,.1f}/s", "throughput"),
        (f"{tasks['error_rate']:.2%}", "error rate"),
        (f"{doc['health']['score']:.0f}/100", "health score"),
    ]
    if lat["count"]:
        figures[3:3] = [(format_duration(lat[f"{p}_s"]), p) for p in ("p50", "p95", "p99")]
    return cards(figures) + paragraph(tasks.get("measurement_note") or "")


def _latency(doc: Doc) -> str:
    lat = doc["latency"]
    if not lat["count"]:
        return paragraph(doc["tasks"].get("measurement_note") or "No latency was measured.")
    names = ("min", "mean", "p50", "p90", "p95", "p99", "max")
    rows = []
    for key, label in (
        ("latency", "agent calls"),
        ("service_time", "service"),
        ("served_latency", "served"),
    ):
        data = doc.get(key) or lat
        if key == "latency" or (data["count"] and data != lat):
            rows.append(
                [
                    label,
                    Cell(f"{data['count']:,}", data["count"]),
                    *(Cell(format_duration(data[f"{n}_s"]), data[f"{n}_s"]) for n in names),
                ]
            )
    markers = [
        Marker(p, lat[f"{p}_s"], c)
        for p, c in (("p50", "#1e9e50"), ("p95", "#e8710a"), ("p99", "#cf222e"))
    ]
    buckets = [(b["low_s"], b["high_s"], b["count"]) for b in doc["latency_histogram"]]
    return "\n".join(
        [
            table(["", "n", *names], rows, numeric=tuple(range(1, 9))),
            chart_grid([histogram_chart("Latency histogram", buckets, unit="s", markers=markers)]),
        ]
    )


def _failures(doc: Doc) -> str:
    groups = doc.get("failures") or []
    if not groups:
        return paragraph("No task failed.")
    by_type = table(
        ["type", "count", "example"],
        [[g["type"], Cell(f"{g['count']:,}", g["count"]), g["example"]] for g in groups],
        numeric=(1,),
        id="failure-types",
    )
    inputs = doc.get("failed_inputs") or []
    example = table(
        ["input #", "type", "message", "attempts", "input"],
        [
            [
                Cell(str(f["index"]), f["index"]),
                f["error_type"],
                f["message"],
                str(f.get("attempts", 1)),
                _brief(f.get("input")),
            ]
            for f in inputs
        ],
        id="failed-inputs",
        numeric=(0, 3),
        filterable=True,
    )
    note = (
        f"The first {len(inputs):,} failed inputs; the results file (--output) has all."
        if inputs
        else ""
    )
    return "\n".join(
        [
            "<h3>Failures by type</h3>",
            by_type,
            "<h3>Failed inputs</h3>" if inputs else "",
            example,
            paragraph(note),
        ]
    )


def _brief(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _cache(doc: Doc) -> str:
    cache = doc.get("cache")
    if not cache:
        return paragraph("The cache was off for this run.")
    figures = [
        (f"{cache.get('hit_rate', 0):.1%}", "hit rate"),
        (f"{cache.get('calls_avoided', 0):,}", "calls avoided"),
        (format_duration(cache.get("time_saved_s") or 0.0), "time saved"),
    ]
    return cards(figures) + record_tables(cache)


def _details(doc: Doc) -> str:
    executor = {k: v for k, v in doc["executor"].items() if k != "extra"}
    parts = [record_tables(executor)]
    if doc.get("context"):
        parts += ["<h3>Context</h3>", record_tables(doc["context"])]
    return "\n".join(parts)
