"""Charts of a run's ``timeline`` (schema 1.2): the same views for run-batch and monitor soaks.

Reads the column-wise timeline of the JSON report, so a chart shows exactly what the
JSON holds; an interval with no data is a gap in the line, never a drop to zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentperf.report.html_page import Section, chart_grid
from agentperf.report.svg import Marker, Series, line_chart

#: Threshold statistics a latency line shows a limit for.
_LATENCY_LINES = {"p(50)": "p50_s", "med": "p50_s", "p(95)": "p95_s", "p(99)": "p99_s"}


def _points(
    series: Mapping[str, list[Any]], name: str, *, gaps: bool = True
) -> list[tuple[float, float | None]]:
    """(t, value) pairs; ``gaps`` False joins across intervals with no sample, for readings
    taken at the sampler's own pace (CPU, RSS) rather than per interval."""
    points = list(zip(series["t_s"], series.get(name) or [], strict=False))
    return points if gaps else [(t, v) for t, v in points if v is not None]


def _has(series: Mapping[str, list[Any]], name: str) -> bool:
    return any(v is not None for v in series.get(name) or [])


def latency_markers(thresholds: Sequence[Mapping[str, Any]]) -> list[Marker]:
    """Duration thresholds on a percentile as horizontal limit lines."""
    out = []
    for t in thresholds:
        if t.get("kind") == "duration" and t.get("limit") is not None:
            stat = str(t.get("expression", "")).split("<")[0].strip().replace(" ", "")
            if stat in _LATENCY_LINES or stat.startswith("p("):
                out.append(Marker(f"limit {t.get('expression')}", float(t["limit"]), "#cf222e"))
    return out


def timeline_sections(
    timeline: Mapping[str, Any] | None, thresholds: Sequence[Mapping[str, Any]] = ()
) -> list[Section]:
    """Throughput, latency percentiles, in-flight and failures, CPU and RSS over time."""
    if not timeline or not timeline.get("points"):
        return [Section("Over time", '<p class="nodata">No timeline was recorded.</p>')]
    s = timeline["series"]
    every = f"one point per {timeline['interval_s']:g} s interval ({timeline['points']} points)"
    charts = []
    if _has(s, "completed"):
        charts.append(
            line_chart(
                "Throughput",
                [Series("tasks/s", _points(s, "throughput_per_s"))],
                y_unit="/s",
                area=True,
                caption=every,
            )
        )
    if _has(s, "p50_s"):
        charts.append(
            line_chart(
                "Latency percentiles per interval",
                [Series(name, _points(s, f"{name}_s")) for name in ("p50", "p95", "p99")],
                y_unit="s",
                markers=latency_markers(thresholds),
                caption="from a 5%-bucket sketch per interval; the headline figures above come "
                "from the run's full histogram",
            )
        )
    if _has(s, "in_flight") or _has(s, "failed"):
        charts.append(
            line_chart(
                "In flight and failures",
                [
                    Series("in flight", _points(s, "in_flight")),
                    Series("failed", _points(s, "failed"), color="#cf222e"),
                    Series("cache hits", _points(s, "cache_hits"), color="#1e9e50"),
                ],
                y_unit="",
            )
        )
    if _has(s, "cpu_percent"):
        cpu = _points(s, "cpu_percent", gaps=False)
        charts.append(line_chart("Machine CPU", [Series("cpu", cpu)], y_unit="%", area=True))
    if _has(s, "rss_bytes"):
        charts.append(
            line_chart(
                "RSS of the process tree",
                [Series("rss", _points(s, "rss_bytes", gaps=False))],
                y_unit="B",
                area=True,
                caption="the largest sample of each interval sampled",
            )
        )
    return [Section("Over time", chart_grid(charts), id="timeline")]
