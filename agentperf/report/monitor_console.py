"""The end of ``agentperf monitor``: every metric's statistics and trend, the health
score with each deduction, the issues and the recommendations.

Both the terminal summary and ``--json`` render :func:`monitor_document`, one redacted
dict, so they cannot disagree.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from agentperf import __version__
from agentperf.errors import ExitCode
from agentperf.measure.units import format_usd
from agentperf.report.batch_console import gates_table, health_table, recommendations, warnings
from agentperf.report.json_report import run_warnings
from agentperf.report.monitor_live import format_value
from agentperf.report.serialize import format_field, format_measure, to_jsonable

SCHEMA_VERSION = "1.1"  # 1.1: timeline
#: Per-core rows are left out of the terminal table beyond this many cores (JSON keeps them).
MAX_CORE_ROWS = 8
_TREND_STYLE = {"increasing": ("↑ increasing", "yellow"), "decreasing": ("↓ decreasing", "cyan"),
                "stable": ("→ stable", "dim")}
_END_REASONS = {
    "time_up": "the time was up", "process_ended": "the watched process ended",
    "workload_ended": "the workload stopped", "interrupted": "interrupted (Ctrl-C or SIGTERM)",
}


def monitor_document(summary: Any) -> dict[str, Any]:
    """The JSON summary of a :class:`~agentperf.pipeline.monitor.MonitorSummary`."""
    code = ExitCode(int(summary.exit_code))
    findings = []
    for finding in summary.health.findings:
        data = to_jsonable(finding)
        data["value_text"] = format_measure(finding.value, finding.unit)
        data["limit_text"] = format_measure(finding.limit, finding.unit)
        findings.append(data)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "monitor",
        "tool": {"name": "agentperf", "version": __version__},
        "target": to_jsonable(summary.target),
        "watching": summary.kind,
        "started_at": summary.started_at,
        "duration_s": summary.duration_s,
        "interval_s": summary.interval_s,
        "samples": summary.samples,
        "end_reason": summary.end_reason,
        "command_exit_code": summary.command_exit_code,
        "verdict": {"exit_code": int(code), "status": code.name.lower(),
                    "interrupted": code is ExitCode.INTERRUPTED,
                    "reason": _END_REASONS.get(summary.end_reason, summary.end_reason),
                    "detail": summary.reason},
        "gates": [to_jsonable(g) for g in summary.gates],
        "thresholds": [{**to_jsonable(t), "observed_text": t.observed_text}
                       for t in summary.thresholds],
        "metrics": {s.name: to_jsonable(s) for s in summary.metrics},
        "system": to_jsonable(summary.system),
        "tasks": _tasks(summary.tasks),
        "functions": [{**to_jsonable(f), "error_rate": f.error_rate}
                      for f in summary.functions],
        "health": {"score": float(summary.health.score), "status": summary.health.status,
                   "findings": findings,
                   "recommendations": [f["recommendation"] for f in findings]},
        "warnings": [w.message for w in summary.health.warnings] + list(summary.warnings),
        "run_warnings": run_warnings(summary.health),
        "timeline": summary.timeline.to_dict() if summary.timeline is not None else None,
    }


def _tasks(tasks: Any) -> dict[str, Any] | None:
    if tasks is None:
        return None
    data = to_jsonable(tasks)
    data["error_rate"] = tasks.error_rate
    data["cache_hit_ratio"] = tasks.cache_hit_ratio
    return data


def render_json(summary: Any) -> str:
    return json.dumps(monitor_document(summary), indent=2, ensure_ascii=False) + "\n"


def render_summary(console: Console, summary: Any, *, quiet: bool = False) -> None:
    doc = monitor_document(summary)
    parts: list[RenderableType | None] = [overview(doc)]
    if not quiet:
        parts += [metrics_table(doc), tasks_table(doc), functions_table(doc)]
    parts += [memory_growth(doc), warnings(doc), gates_table(doc), health_table(doc),
              recommendations(doc), verdict(doc)]
    for part in parts:
        if part is not None:
            console.print(part)


def _table(title: str, *columns: str, numeric: tuple[int, ...] = ()) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAVY, title_style="bold")
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i in numeric else "left")
    return table


def overview(doc: dict[str, Any]) -> Table:
    table = _table(f"monitor: {doc['target']}", "", "")
    table.show_header = False
    rows = [("watching", doc["watching"]), ("started", doc["started_at"]),
            ("duration", format_field("duration_s", doc["duration_s"])),
            ("samples", f"{doc['samples']} every {doc['interval_s']:g}s"),
            ("ended because", doc["verdict"]["reason"])]
    if doc["command_exit_code"] is not None:
        rows.append(("command exit code", str(doc["command_exit_code"])))
    for row in rows:
        table.add_row(*row)
    return table


def metrics_table(doc: dict[str, Any]) -> Table | None:
    metrics = doc["metrics"]
    if not metrics:
        return None
    table = _table("Metrics", "metric", "n", "min", "mean", "median", "max", "stdev", "p95",
                   "latest", "trend", numeric=tuple(range(1, 9)))
    cores = sum(1 for name in metrics if name.startswith("cpu_core"))
    for name, s in metrics.items():
        if name.startswith("cpu_core") and cores > MAX_CORE_ROWS:
            continue
        unit = s["unit"]
        trend, style = _TREND_STYLE.get(s["trend"], (s["trend"], ""))
        if s["trend"] != "stable":
            trend += f" {slope_text(s['slope_per_s'], unit)}/s"
        table.add_row(name, str(s["count"]), *(format_value(s[k], unit) for k in (
            "min", "mean", "median", "max", "stdev", "p95", "latest")), Text(trend, style=style))
    if cores > MAX_CORE_ROWS:
        table.caption = f"{cores} per-core rows omitted (see --json)"
    return table


def tasks_table(doc: dict[str, Any]) -> Table | None:
    tasks = doc["tasks"]
    if tasks is None:
        return None
    table = _table(f"Workload {tasks['name']}", "", "")
    table.show_header = False
    executor = tasks.get("executor") or {}
    latency = tasks["latency"]
    rows = [
        ("executor", f"{executor.get('mode', '?')}, {executor.get('workers', '?')} workers"),
        ("tasks", f"{tasks['total']:,} ({tasks['failed']:,} failed, "
                  f"{tasks['timed_out']:,} timed out)"),
        ("throughput", f"{tasks['throughput_per_s']:,.1f}/s"),
        ("latency", "  ".join(f"{k} {format_field(k + '_s', latency[k])}"
                              for k in ("p50", "p95", "p99", "max"))),
        ("error rate", f"{tasks['error_rate']:.2%}"),
        *((f"failed with {kind}", f"{count:,}") for kind, count in
          sorted(tasks["failure_types"].items(), key=lambda item: -item[1])),
        *((("last error", tasks["last_error"]),) if tasks["last_error"] else ()),
        ("cache hit ratio", "cache off" if tasks["cache_hit_ratio"] is None
         else f"{tasks['cache_hit_ratio']:.1%}"),
        *_usage_rows(tasks),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _usage_rows(tasks: dict[str, Any]) -> list[tuple[str, str]]:
    """Token and cost rates of the soak's LLM calls (none when no call reported usage)."""
    if tasks.get("input_tokens_per_s") is None:
        return []
    rows = [("tokens", f"{tasks['input_tokens_per_s']:,.1f} input + "
                       f"{tasks['output_tokens_per_s']:,.1f} output /s")]
    usage = tasks.get("usage") or {}
    cost = usage.get("cost")
    if tasks.get("cost_usd_per_hour") is not None and cost:
        label = "cost (estimate)" if cost.get("estimate") else "cost"
        rows.append((label, f"{format_usd(tasks['cost_usd_per_hour'])}/hour "
                            f"({format_usd(cost['total'])} in this soak, {cost['priced_by']})"))
    return rows


def functions_table(doc: dict[str, Any]) -> Table | None:
    functions = doc["functions"]
    if not functions:
        return None
    table = _table("Measured functions (@measure)", "function", "calls", "failed", "p50", "p95",
                   "max", "RSS change mean", numeric=(1, 2, 3, 4, 5, 6))
    for f in functions:
        lat = f["latency"]
        mean_rss = f["rss_change_total_bytes"] / f["calls"] if f["calls"] else 0
        table.add_row(f["name"], f"{f['calls']:,}", f"{f['failures']:,}",
                      format_value(lat["p50"], "s"), format_value(lat["p95"], "s"),
                      format_value(lat["max"], "s"), format_value(mean_rss, "B"))
    return table


def slope_text(slope: float, unit: str) -> str:
    """A trend's slope with its sign, never "-0%": small slopes keep two digits."""
    if unit == "%":
        return f"{slope:+.2g}%" if abs(slope) < 0.01 else f"{slope:+.2f}%"
    text = format_value(slope, unit)
    return text if text.startswith("-") else f"+{text}"


def memory_growth(doc: dict[str, Any]) -> Text | None:
    """The memory-growth rule's verdict, including "not enough data", with its rule."""
    system = doc.get("system") or {}
    verdict_ = system.get("memory_growth_verdict")
    if verdict_ is None:
        return None
    style = {"grows": "yellow", "flat": "green"}.get(verdict_, "dim")
    return Text.assemble(("memory growth: ", "bold"), (verdict_, style),
                         f" - {system.get('memory_growth_rule', '')}")


def verdict(doc: dict[str, Any]) -> Text:
    result = doc["verdict"]
    code = result["exit_code"]
    style = "bold green" if code == 0 else "bold yellow" if result["interrupted"] else "bold red"
    text = Text.assemble(("MONITOR ENDED", style), f" (exit {code}): {result['reason']}")
    if doc["gates"] and result["detail"]:
        text.append(f"; {result['detail']}")
    return text
