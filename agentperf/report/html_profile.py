"""The profile HTML report (``agentperf profile --report-html FILE``).

Rendered from the ``--json`` document (``to_jsonable(ProfileResult)``): the verdict and
the leak judgement first, then the RSS timeline, each input's peak and retained memory
(the one input that takes 10x the rest stands out), the top allocation sites, and the
leak suspects with the traced memory of every traced call against the fitted growth.
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
    health_html,
    page,
    paragraph,
    record_tables,
    table,
)
from agentperf.report.serialize import format_measure
from agentperf.report.svg import Marker, Series, bar_chart, line_chart

Doc = Mapping[str, Any]
MAX_TIMELINE_POINTS = 1500
MAX_BARS = 20


def render_profile_html(doc: Doc) -> str:
    sections = [
        Section("Summary", _cards(doc), id="summary"),
        Section("Leaks", _leaks(doc.get("leaks") or {}, doc.get("calls") or []), id="leaks"),
        Section("RSS over time", _timeline(doc.get("timeline")), id="rss"),
        Section("Memory per input", _inputs(doc.get("per_input") or []), id="inputs"),
        Section("Top allocation sites", _sites(doc), id="sites"),
        Section("Health", _health(doc), id="health"),
        Section(
            "Warnings",
            bullet_list([*doc.get("warnings", []), *doc.get("errors", [])], "warnings"),
            id="warnings",
        ),
        Section("Tracing overhead", record_tables(doc.get("overhead")), id="overhead"),
    ]
    meta = (
        f"{doc.get('source') or 'dotted path'} · {doc['iterations']} timed calls, "
        f"{doc['trace_iterations']} traced · started {doc.get('started_at', '')} · "
        f"agentperf {doc.get('agentperf_version', '')}"
    )
    return page(f"agentperf profile: {doc['name']}", meta, verdict(doc), sections)


def verdict(doc: Doc) -> Verdict:
    code = int(doc.get("exit_code") or 0)
    leaks = doc.get("leaks") or {}
    judged = f"leak check: {leaks.get('verdict', 'not checked')}"
    reason = doc.get("exit_reason") or ""
    detail = f": {reason}; {judged}" if reason else f": {judged}"
    if code:
        return Verdict("fail", f"FAILED (exit {code})", detail)
    tone = "warn" if leaks.get("verdict") == "leak" else "pass"
    return Verdict(tone, "PASSED (exit 0)", detail)


def _bytes(value: float | None) -> str:
    return format_bytes(value) if value is not None else "n/a"


def _cards(doc: Doc) -> str:
    memory, timing = doc.get("memory") or {}, doc.get("timing") or {}
    figures = [
        (_bytes(memory.get("peak_bytes")), "peak per call (traced)"),
        (_bytes(memory.get("mean_net_bytes")), "retained per call"),
        (_bytes(memory.get("peak_rss_bytes")), "peak RSS"),
        (_bytes(memory.get("rss_growth_bytes")), "RSS growth"),
    ]
    if timing.get("median") is not None:
        figures.append((format_duration(timing["median"]), "median call"))
    return cards(figures)


def _timeline(timeline: Doc | None) -> str:
    if not timeline or not timeline.get("samples"):
        return paragraph("No RSS timeline was sampled.")
    samples = timeline["samples"]
    step = -(-len(samples) // MAX_TIMELINE_POINTS)
    points = [(float(t), float(rss)) for t, rss in samples[::step]]
    markers = []
    if timeline.get("peak_hwm_bytes"):
        markers.append(Marker("kernel high-water mark", timeline["peak_hwm_bytes"], "#cf222e"))
    caption = (
        f"sampled every {format_duration(timeline['interval_s'])} "
        f"({len(samples):,} samples); the high-water mark catches peaks between them"
    )
    chart = line_chart(
        "RSS", [Series("rss", points)], y_unit="B", area=True, markers=markers, caption=caption
    )
    return chart_grid([chart])


def _inputs(inputs: Sequence[Doc]) -> str:
    if not inputs:
        return ""
    ranked = sorted(inputs, key=lambda i: -i["peak_bytes"])[:MAX_BARS]
    peaks = bar_chart(
        "Peak per input (traced)", [(i["label"], i["peak_bytes"]) for i in ranked], unit="B"
    )
    kept = sorted(inputs, key=lambda i: -i["retained_bytes"])[:MAX_BARS]
    retained = bar_chart(
        "Retained per input",
        [(i["label"], i["retained_bytes"]) for i in kept],
        unit="B",
        color="#e8710a",
    )
    rows = [
        [
            i["label"],
            Cell(format_bytes(i["peak_bytes"]), i["peak_bytes"]),
            Cell(format_bytes(i["retained_bytes"]), i["retained_bytes"]),
            "yes" if i.get("ok", True) else "failed",
        ]
        for i in inputs
    ]
    return chart_grid([peaks, retained]) + table(
        ["input", "peak", "retained", "ok"],
        rows,
        numeric=(1, 2),
        id="input-memory",
        filterable=True,
    )


def _sites(doc: Doc) -> str:
    sites = doc.get("sites") or []
    if not sites:
        return paragraph("No allocation site was captured.")
    chart = bar_chart(
        "Alive at the call's peak, by site",
        [(s["location"], s["size_bytes"]) for s in sites[:MAX_BARS]],
        unit="B",
    )
    rows = [
        [
            s["location"],
            Cell(format_bytes(s["size_bytes"]), s["size_bytes"]),
            Cell(f"{s['count']:,}", s["count"]),
            "yes" if s.get("user_code") else "no",
        ]
        for s in sites
    ]
    return chart_grid([chart]) + table(
        ["site", "size", "blocks", "your code"], rows, numeric=(1, 2), id="sites-table"
    )


def _leaks(leaks: Doc, calls: Sequence[Doc]) -> str:
    parts = [
        paragraph(
            f"Verdict: {leaks.get('verdict', 'not checked')}. {leaks.get('rule', '')}", "lead"
        )
    ]
    suspects = leaks.get("suspects") or []
    if suspects:
        rows = [
            [
                s["location"],
                Cell(f"{format_bytes(s['bytes_per_iteration'])}/call", s["bytes_per_iteration"]),
                Cell(f"{s['share']:.0%}", s["share"]),
                Cell(format_bytes(s["retained_bytes"]), s["retained_bytes"]),
            ]
            for s in suspects
        ]
        parts.append(
            table(
                ["suspect", "growth", "share", "retained"], rows, numeric=(1, 2, 3), id="suspects"
            )
        )
    parts.append(_growth_chart(leaks, calls))
    return "\n".join(p for p in parts if p)


def _growth_chart(leaks: Doc, calls: Sequence[Doc]) -> str:
    """Traced memory after each traced call, and the growth per call the leak rule fitted."""
    traced = [
        (float(i), float(c["traced_current_bytes"]))
        for i, c in enumerate(
            c
            for c in calls
            if c.get("phase") == "traced" and c.get("traced_current_bytes") is not None
        )
    ]
    if len(traced) < 2:
        return ""
    lines = [Series("traced memory", traced)]
    slope = leaks.get("growth_per_call")
    if slope is not None:
        mean_x = sum(x for x, _ in traced) / len(traced)
        mean_y = sum(y for _, y in traced) / len(traced)
        ends = [(x, mean_y + slope * (x - mean_x)) for x in (traced[0][0], traced[-1][0])]
        lines.append(
            Series(f"fitted growth {format_bytes(slope)}/call", ends, color="#cf222e", dashed=True)
        )
    return chart_grid(
        [
            line_chart(
                "Traced memory over traced calls",
                lines,
                x_unit="",
                y_unit="B",
                y_min=None,
                caption="x: traced call; the line has the slope the leak rule estimated",
            )
        ]
    )


def _health(doc: Doc) -> str:
    health = doc.get("health")
    if not health:
        return ""
    findings = [
        {
            **f,
            "value_text": format_measure(f.get("value"), f.get("unit", "")),
            "limit_text": format_measure(f.get("limit"), f.get("unit", "")),
        }
        for f in health.get("findings") or ()
    ]
    recommendations = [f["recommendation"] for f in findings if f.get("recommendation")]
    warnings = [
        w.get("message", "") if isinstance(w, Mapping) else str(w)
        for w in health.get("warnings") or ()
    ]
    return health_html(
        {**health, "findings": findings, "recommendations": recommendations}, warnings
    )
