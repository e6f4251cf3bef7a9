"""The HTML report: one self-contained page, no scripts, no external assets.

The body is the terminal view itself (the Rich tables, exported with inline styles),
preceded by the verdict and an SVG latency histogram with p50 / p95 / p99 marked, so
an uploaded CI artifact opens in any browser and shows what the job log showed.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console

from agentperf.measure.units import format_duration
from agentperf.report.batch_console import as_document, batch_renderables

_WIDTH, _HEIGHT, _PAD = 720, 220, 40
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
.verdict {{ font-size: 1.2em; font-weight: bold; padding: .5em 1em; border-radius: 4px; }}
.passed {{ background: #e6f4ea; color: #137333; }}
.failed {{ background: #fce8e6; color: #a50e0e; }}
pre.rich {{ font-family: Menlo, Consolas, monospace; font-size: 13px; line-height: 1.3;
           background: #fff; }}
svg text {{ font: 11px sans-serif; fill: #444; }}
table.gates {{ border-collapse: collapse; }}
table.gates th, table.gates td {{ text-align: left; padding: .2em .8em;
                                 border-bottom: 1px solid #ddd; }}
td.pass {{ color: #137333; font-weight: bold; }}
td.fail {{ color: #a50e0e; font-weight: bold; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="verdict {verdict_class}">{verdict}</p>
<h2>Gates</h2>
{gates}
<h2>Latency histogram</h2>
{histogram}
<h2>Report</h2>
{body}
</body>
</html>
"""


def render_html(result: Any) -> str:
    doc = as_document(result)
    verdict = doc["verdict"]
    word = "PASSED" if verdict["passed"] else "FAILED"
    if verdict["interrupted"]:
        word = "INTERRUPTED"
    return _PAGE.format(
        title=html.escape(f"agentperf run-batch: {doc['name']}"),
        verdict_class="passed" if verdict["passed"] else "failed",
        verdict=html.escape(f"{word} (exit {verdict['exit_code']}): {verdict['reason']}"
                            + (f" Stopped early: {verdict['aborted']}" if verdict["aborted"]
                               else "")),
        gates=gates_html(doc["gates"]),
        histogram=histogram_svg(doc["latency_histogram"], doc["latency"]),
        body=_rich_body(doc),
    )


def gates_html(gates: Sequence[Mapping[str, Any]]) -> str:
    """The gate list as a plain table, the same rows the JSON, Markdown and JUnit reports have."""
    if not gates:
        return "<p>No gate.</p>"
    rows = ["<tr><th>gate</th><th>observed</th><th>result</th><th>detail</th></tr>"]
    for gate in gates:
        result = "pass" if gate["passed"] else "fail"
        rows.append(f'<tr><td>{html.escape(gate["label"])}</td>'
                    f'<td>{html.escape(gate["observed_text"])}</td>'
                    f'<td class="{result}">{result.upper()}</td>'
                    f'<td>{html.escape(gate["message"])}</td></tr>')
    return '<table class="gates">\n' + "\n".join(rows) + "\n</table>"


def _rich_body(doc: Mapping[str, Any]) -> str:
    console = Console(record=True, width=120, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor")
    for renderable in batch_renderables(doc, full=True, gates=False):
        console.print(renderable)
    return console.export_html(inline_styles=True, code_format='<pre class="rich">{code}</pre>')


def histogram_svg(buckets: Sequence[Mapping[str, Any]], latency: Mapping[str, Any]) -> str:
    """Bars of task counts per latency bucket, with vertical p50 / p95 / p99 markers."""
    if not buckets:
        return "<p>No task latency was recorded.</p>"
    low, high = buckets[0]["low_s"], buckets[-1]["high_s"]
    span = (high - low) or 1.0
    peak = max(b["count"] for b in buckets) or 1
    plot_w, plot_h = _WIDTH - 2 * _PAD, _HEIGHT - 2 * _PAD
    bar_w = plot_w / len(buckets)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
             f'role="img" aria-label="latency histogram" class="histogram">']
    for i, bucket in enumerate(buckets):
        h = plot_h * bucket["count"] / peak
        x, y = _PAD + i * bar_w, _PAD + plot_h - h
        tip = (f"{format_duration(bucket['low_s'])} - {format_duration(bucket['high_s'])}: "
               f"{bucket['count']} tasks")
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="#4a90d9"><title>{html.escape(tip)}</title></rect>')
    markers = (("p50", "#137333"), ("p95", "#e37400"), ("p99", "#a50e0e"))
    for i, (name, color) in enumerate(markers):
        value = latency.get(f"{name}_s", 0.0)
        x = _PAD + plot_w * min(max((value - low) / span, 0.0), 1.0)
        label_y = 12 + 11 * i  # staggered: close percentiles must not overprint
        parts.append(f'<line x1="{x:.1f}" y1="{label_y + 2}" x2="{x:.1f}" y2="{_PAD + plot_h}" '
                     f'stroke="{color}" stroke-dasharray="4 2"/>'
                     f'<text x="{x + 3:.1f}" y="{label_y}">{name} '
                     f'{html.escape(format_duration(value))}</text>')
    axis_y = _PAD + plot_h + 16
    parts.append(f'<text x="{_PAD}" y="{axis_y}">{html.escape(format_duration(low))}</text>'
                 f'<text x="{_WIDTH - _PAD}" y="{axis_y}" text-anchor="end">'
                 f'{html.escape(format_duration(high))}</text>'
                 f'<text x="{_PAD - 6}" y="{_PAD + 4}" text-anchor="end">{peak}</text>'
                 f'<line x1="{_PAD}" y1="{_PAD + plot_h}" x2="{_WIDTH - _PAD}" '
                 f'y2="{_PAD + plot_h}" stroke="#888"/></svg>')
    return "\n".join(parts)
