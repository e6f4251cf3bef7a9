"""The monitor HTML report (``agentperf monitor --report-html FILE``).

Rendered from :func:`~agentperf.report.monitor_console.monitor_document` (the JSON
summary) plus the kept samples of every metric, so its figures are the terminal's: the
verdict and health first, the soak's timeline when a workload ran, then every metric
over time with its fitted trend, the process tree's figures and the @measure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentperf.report.html_page import (
    Cell,
    Section,
    Verdict,
    cards,
    chart_grid,
    health_html,
    page,
    record_tables,
    table,
)
from agentperf.report.html_timeline import timeline_sections
from agentperf.report.monitor_console import monitor_document
from agentperf.report.serialize import format_field
from agentperf.report.svg import Series, line_chart

#: A metric chart keeps at most this many points (neighbours averaged): enough for the
#: eye at 600 px, and a week-long --history stays a small file.
MAX_CHART_POINTS = 400
#: The tree's own figures, shown as their own table.
PROCESS_PREFIX = "process_"
_UNITS = {"B": "B", "%": "%", "/s": "/s", "B/s": "B", "s": "s", "ratio": "ratio"}


def render_monitor_html(summary: Any) -> str:
    doc = monitor_document(summary)
    series = getattr(summary, "series", None)
    metrics: Mapping[str, Any] = doc["metrics"]
    sections = [
        Section("Summary", _cards(doc), id="summary"),
        Section("Health", health_html(doc["health"], doc.get("warnings") or ()), id="health"),
    ]
    if doc.get("tasks"):
        sections += timeline_sections(doc.get("timeline"))
    sections += [
        Section("Metrics over time", _metric_charts(metrics, series), id="metrics-over-time"),
        Section("Process tree", _metric_table(metrics, process=True), id="process-tree"),
        Section("Metrics", _metric_table(metrics, process=False), id="metrics"),
        Section("Workload", record_tables(_flat_tasks(doc.get("tasks"))), id="tasks"),
        Section("Functions (@measure)", _functions(doc.get("functions") or ()), id="functions"),
    ]
    title = f"agentperf monitor: {doc['target']}"
    meta = (
        f"watching {doc['watching']} · {doc['samples']} samples every {doc['interval_s']:g} s "
        f"· started {doc['started_at']} · agentperf {doc['tool']['version']}"
    )
    return page(title, meta, verdict(doc), sections)


def verdict(doc: Mapping[str, Any]) -> Verdict:
    """The exit code decides pass or fail; a health score below healthy is a warning."""
    v, health = doc["verdict"], doc["health"]
    if v["exit_code"] != 0:
        word = "INTERRUPTED" if v["interrupted"] else "FAILED"
        tone = "warn" if v["interrupted"] else "fail"
    else:
        word, tone = "PASSED", "pass" if health["status"] == "healthy" else "warn"
    detail = f": {v['reason']}; health {health['score']:.0f}/100 ({health['status']})"
    return Verdict(tone, f"{word} (exit {v['exit_code']})", detail.replace("_", " "))


def _cards(doc: Mapping[str, Any]) -> str:
    figures = [
        (format_field("duration_s", doc["duration_s"]), "monitored"),
        (f"{doc['samples']:,}", "samples"),
        (f"{doc['health']['score']:.0f}/100", "health score"),
    ]
    tasks = doc.get("tasks")
    if tasks:
        latency = tasks.get("latency") or {}
        figures += [
            (f"{tasks['total']:,}", "tasks"),
            (format_field("throughput_per_s", tasks["throughput_per_s"]), "throughput"),
            (format_field("p95_s", latency.get("p95") if latency.get("count") else None), "p95"),
            (f"{tasks['error_rate']:.2%}", "error rate"),
        ]
    return cards(figures)


def _flat_tasks(tasks: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The soak summary with its latency spread into fields, for one table."""
    if not tasks:
        return None
    flat = {k: v for k, v in tasks.items() if k not in ("latency", "executor")}
    latency = tasks.get("latency") or {}
    if latency.get("count"):
        flat.update({f"latency_{k}_s": v for k, v in latency.items() if k != "count"})
    return flat


def _unit(stats: Mapping[str, Any]) -> str:
    return _UNITS.get(stats.get("unit", ""), "")


def _downsample(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_CHART_POINTS:
        return list(points)
    size = -(-len(points) // MAX_CHART_POINTS)
    out = []
    for i in range(0, len(points), size):
        chunk = points[i : i + size]
        out.append((chunk[0][0], sum(v for _, v in chunk) / len(chunk)))
    return out


def _trend(points: Sequence[tuple[float, float]], stats: Mapping[str, Any]) -> Series:
    """The fitted least-squares line through the points, dashed."""
    ts = [t for t, _ in points]
    t_mean = sum(ts) / len(ts)
    y_mean = sum(v for _, v in points) / len(points)
    slope = float(stats.get("slope_per_s") or 0.0)
    ends = [(t, y_mean + slope * (t - t_mean)) for t in (ts[0], ts[-1])]
    return Series(f"trend: {stats.get('trend', '')}", ends, color="#8a8f98", dashed=True)


def _metric_charts(metrics: Mapping[str, Any], series: Any) -> str:
    if series is None:
        return ""
    charts = []
    for name, stats in metrics.items():
        kept = series.get(name)
        if kept is None or not len(kept) or name.startswith("cpu_core"):
            continue
        points = _downsample(list(kept))
        lines = [Series("value", points)]
        if len(points) >= 3:
            lines.append(_trend(points, stats))
        caption = f"trend {stats.get('trend', '')} (p = {stats.get('trend_p_value', 1):.2g})"
        charts.append(
            line_chart(name.replace("_", " "), lines, y_unit=_unit(stats), caption=caption)
        )
    return chart_grid(charts)


def _metric_table(metrics: Mapping[str, Any], *, process: bool) -> str:
    rows = []
    for name, s in metrics.items():
        if name.startswith(PROCESS_PREFIX) != process:
            continue
        rows.append(
            [
                name,
                *(
                    Cell(format_field(name, s.get(k)), s.get(k))
                    for k in ("latest", "mean", "min", "max", "p95")
                ),
                s.get("trend", ""),
            ]
        )
    headers = ["metric", "latest", "mean", "min", "max", "p95", "trend"]
    table_id = "process-metrics" if process else "all-metrics"
    return table(headers, rows, numeric=(1, 2, 3, 4, 5), id=table_id, filterable=not process)


def _functions(functions: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for f in functions:
        latency = f.get("latency") or {}
        rows.append(
            [
                f.get("name", ""),
                Cell(f"{f.get('calls', 0):,}", f.get("calls", 0)),
                Cell(f"{f.get('error_rate', 0):.1%}", f.get("error_rate", 0)),
                *(
                    Cell(format_field("s", latency.get(k)), latency.get(k))
                    for k in ("mean", "p95", "max")
                ),
            ]
        )
    return table(
        ["function", "calls", "errors", "mean", "p95", "max"], rows, numeric=(1, 2, 3, 4, 5)
    )
