"""The bench HTML report (``agentperf bench --report-html FILE``).

Rendered from the ``--json`` document (``bench_formats.to_json_document``): the gates
first when a comparison was gated, then a forest plot of each benchmark's new/base
ratio with its confidence interval against the 1x line and the ``--fail-if-slower``
line, then per benchmark every sample as a dot coloured by the worker process that
took it, with its time per call and CI, and the warnings the statistics raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentperf.measure.units import format_bytes, format_duration
from agentperf.report.html_page import (
    Cell,
    Section,
    Verdict,
    bullet_list,
    cards,
    chart_grid,
    gates_table,
    page,
    record_tables,
    table,
)
from agentperf.report.svg import ForestRow, Marker, Strip, forest_chart, strip_chart

Doc = Mapping[str, Any]


def render_bench_html(doc: Doc) -> str:
    """``doc`` is the bench JSON document (a run, or a comparison of saved runs)."""
    benchmarks = doc.get("benchmarks") or []
    comparison = doc.get("comparison")
    sections = [
        Section("Summary", _cards(doc), id="summary"),
        Section("Gates", _gates(doc), id="gates"),
        Section("Comparison", _comparison(comparison, doc.get("gates") or ()), id="comparison"),
        Section("Samples", _strips(benchmarks), id="samples"),
        Section("Benchmarks", _table(benchmarks), id="benchmarks"),
        Section("Warnings", bullet_list(_warnings(doc), "warnings"), id="warnings"),
        Section("Environment", record_tables(doc.get("environment")), id="environment"),
        Section("Options", record_tables(doc.get("options")), id="options"),
    ]
    names = ", ".join(b["name"] for b in benchmarks[:4]) + ("..." if len(benchmarks) > 4 else "")
    title = f"agentperf bench: {names or 'comparison'}"
    meta = f"created {doc.get('created_at', '')} · agentperf {doc.get('agentperf_version', '')}"
    return page(title, meta, verdict(doc), sections)


def verdict(doc: Doc) -> Verdict:
    gates = doc.get("gates") or []
    failed = [g for g in gates if g.get("failed")]
    if failed:
        return Verdict("fail", "FAILED (exit 1)", ": " + "; ".join(g["message"] for g in failed))
    if gates:
        return Verdict("pass", "PASSED (exit 0)", f": all {len(gates)} gates passed")
    count = len(doc.get("benchmarks") or [])
    warned = len(_warnings(doc))
    detail = f": {count} benchmark(s) measured, no gate set"
    if warned:
        detail += f"; {warned} warning(s), read them before trusting a figure"
    return Verdict("warn" if warned else "pass", "MEASURED (exit 0)", detail)


def _cards(doc: Doc) -> str:
    benchmarks = doc.get("benchmarks") or []
    samples = sum(len(b["samples"]) for b in benchmarks)
    processes = {(b["name"], s.get("process", 0)) for b in benchmarks for s in b["samples"]}
    figures = [
        (str(len(benchmarks)), "benchmarks"),
        (f"{samples:,}", "samples"),
        (str(len(processes)), "worker processes"),
    ]
    env = doc.get("environment") or {}
    if env.get("cpu_count"):
        figures.append((str(env["cpu_count"]), "CPUs"))
    return cards(figures)


def _gates(doc: Doc) -> str:
    gates = doc.get("gates") or []
    if not gates:
        return ""
    rows = [
        {
            "label": f"{g['benchmark']}: {g['metric']}",
            "observed_text": f"{g['change_pct']:+.1f}% (CI from {g['lower_bound_pct']:+.1f}%)",
            "limit_text": f"+{g['threshold_pct']:g}%",
            "passed": not g["failed"],
            "message": g["message"],
        }
        for g in gates
    ]
    return gates_table(rows)


def _comparison(comparison: Doc | None, gates: Sequence[Doc]) -> str:
    if not comparison:
        return ""
    parts = []
    for metric, unit_word in (("time", "slower"), ("memory", "more memory")):
        rows = [
            ForestRow(b["name"], m["ratio"], m["ci_low"], m["ci_high"], m["verdict"])
            for b in comparison["benchmarks"]
            if (m := b.get(metric))
        ]
        markers = [Marker("1x (no change)", 1.0)]
        limits = {g["threshold_pct"] for g in gates if g["metric"] == metric}
        markers += [Marker(f"+{pct:g}% gate", 1 + pct / 100, "#cf222e") for pct in sorted(limits)]
        parts.append(
            forest_chart(
                f"{metric.capitalize()}: new / base with CI",
                rows,
                markers=markers,
                caption=f"a bar wholly right of the gate line is {unit_word} than allowed",
            )
            if rows
            else ""
        )
    table_rows = []
    for b in comparison["benchmarks"]:
        t = b["time"]
        table_rows.append(
            [
                b["name"],
                Cell(format_duration(t["base_value"]), t["base_value"]),
                Cell(format_duration(t["new_value"]), t["new_value"]),
                Cell(f"{t['ratio']:.3f}x [{t['ci_low']:.3f}, {t['ci_high']:.3f}]", t["ratio"]),
                Cell(f"{t['p_value']:.3g}", t["p_value"]),
                t["verdict"],
                t.get("method", ""),
            ]
        )
    headers = ["benchmark", "base", "new", "ratio [CI]", "p", "verdict", "method"]
    return "\n".join(
        [chart_grid(parts), table(headers, table_rows, numeric=(1, 2, 3, 4), id="comparisons")]
    )


def _seconds(sample: Mapping[str, Any]) -> float:
    return sample["elapsed_ns"] / sample["loops"] / 1e9


def _strips(benchmarks: Sequence[Doc]) -> str:
    charts = []
    for b in benchmarks:
        derived = b["derived"]
        strip = Strip(
            b["name"],
            [_seconds(s) for s in b["samples"]],
            [int(s.get("process", 0)) for s in b["samples"]],
            derived["time_s"],
            tuple(derived["time_ci95"]),
        )
        charts.append(
            strip_chart(
                "seconds per call",
                [strip],
                caption=f"each dot a sample, coloured by worker process; bar: "
                f"{derived['time_of']} and its 95% CI",
            )
        )
    return chart_grid(charts)


def _table(benchmarks: Sequence[Doc]) -> str:
    rows = []
    for b in benchmarks:
        d = b["derived"]
        stats, (low, high) = d["stats"], d["time_ci95"]
        peak = (d.get("peak_bytes") or {}).get("median")
        rows.append(
            [
                b["name"],
                Cell(str(len(b["samples"])), len(b["samples"])),
                Cell(format_duration(d["time_s"]), d["time_s"]),
                f"{format_duration(low)} - {format_duration(high)}",
                Cell(f"{stats.get('cv', 0):.1%}", stats.get("cv")),
                Cell(f"{d['ops_per_s']:,.0f}/s", d["ops_per_s"]),
                Cell(format_bytes(peak) if peak is not None else "-", peak),
                str(len(d.get("warnings") or [])),
            ]
        )
    headers = ["benchmark", "samples", "time", "95% CI", "cv", "ops/s", "peak", "warnings"]
    return table(headers, rows, numeric=(1, 2, 4, 5, 6, 7), id="benchmark-table")


def _warnings(doc: Doc) -> list[str]:
    out = [
        f"{b['name']}: {w['message']}"
        for b in doc.get("benchmarks") or []
        for w in b["derived"].get("warnings") or []
    ]
    comparison = doc.get("comparison") or {}
    out += [w["message"] for w in comparison.get("warnings") or []]
    for b in comparison.get("benchmarks") or []:
        out += [f"{b['name']}: {w['message']}" for w in b.get("warnings") or []]
    return list(dict.fromkeys(out))  # a warning the comparison repeats is listed once
