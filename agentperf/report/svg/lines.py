"""Charts over a continuous x: lines and areas (timelines), and histograms."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from agentperf.report.svg.axes import (
    BOTTOM,
    HEIGHT,
    MAX_TIPS,
    PALETTE,
    RIGHT,
    TOP,
    WIDTH,
    Band,
    Marker,
    Series,
    _close,
    _color,
    _Frame,
    _inside,
    _legend,
    _open,
    _x_axis,
    _y_axis,
    format_value,
    nice_ticks,
    scaled_ticks,
)


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_unit: str = "s",
    y_unit: str = "",
    area: bool = False,
    markers: Sequence[Marker] = (),
    caption: str = "",
    y_min: float | None = 0.0,
    bands: Sequence[Band] = (),
) -> str:
    """Lines (or filled areas) over a shared x axis, e.g. time since start; ``bands``
    shade spans of x behind them."""
    xs = [x for s in series for x, y in s.points if y is not None]
    ys = [y for s in series for _, y in s.points if y is not None] + [m.value for m in markers]
    if not xs:
        return f'<p class="nodata">{escape(title)}: no data was recorded.</p>'
    low = min(ys) if y_min is None else min(y_min, min(ys))
    yticks, yscale = scaled_ticks(low, max(ys), y_unit)
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1.0  # one point: an axis one unit wide, not zero
    xticks, xscale = scaled_ticks(x0, x1, x_unit, 6)
    xticks = _inside(xticks, x0, x1)
    frame = _Frame(x0, x1, yticks[0], yticks[-1])
    parts = _open("area" if area else "line", title, len(series), frame)
    parts += [_band(frame, b) for b in bands]
    parts += _y_axis(frame, yticks, y_unit, yscale) + _x_axis(frame, xticks, x_unit, xscale)
    for i, s in enumerate(series):
        parts.append(_series_path(frame, s, _color(i, s.color), area))
    for m in markers:
        y = frame.y(m.value)
        parts.append(
            f'<line x1="{frame.left}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{m.color}" stroke-dasharray="5 3"/><text x="{frame.left + 4}" '
            f'y="{y - 4:.1f}" fill="{m.color}">{escape(m.label)}</text>'
        )
    parts += _line_tips(frame, series, x_unit, y_unit)
    parts += _legend(frame, [(s.name, _color(i, s.color)) for i, s in enumerate(series)])
    return _close(parts, caption)


def _band(frame: _Frame, band: Band) -> str:
    x = frame.x(max(band.start, frame.x0))
    width = max(frame.x(min(band.end, frame.x1)) - x, 0.5)
    return (
        f'<rect class="band" x="{x:.1f}" y="{TOP}" width="{width:.1f}" '
        f'height="{frame.height - TOP - BOTTOM}" fill="{band.color}" fill-opacity=".5">'
        f"<title>{escape(band.label)}</title></rect>"
    )


def _series_path(frame: _Frame, s: Series, color: str, area: bool) -> str:
    runs: list[list[str]] = [[]]
    for x, y in s.points:
        if y is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(f"{frame.x(x):.1f},{frame.y(y):.1f}")
    dash = ' stroke-dasharray="6 4"' if s.dashed else ""
    out = [f'<g class="series" data-name="{escape(s.name)}">']
    base = frame.y(frame.y0)
    for run in filter(None, runs):
        if area:
            first, last = run[0].split(",")[0], run[-1].split(",")[0]
            out.append(
                f'<polygon points="{first},{base:.1f} {" ".join(run)} {last},{base:.1f}" '
                f'fill="{color}" fill-opacity=".25" stroke="none"/>'
            )
        if len(run) == 1:  # a lone interval between gaps: a dot, or it would not show
            x, y = run[0].split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{color}"/>')
            continue
        out.append(
            f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" '
            f'stroke-width="1.6"{dash}/>'
        )
    out.append("</g>")
    return "".join(out)


def _line_tips(frame: _Frame, series: Sequence[Series], x_unit: str, y_unit: str) -> list[str]:
    """Invisible columns, one per aggregated span of x, whose <title> lists each series."""
    span = (frame.x1 - frame.x0) or 1.0
    bins = min(MAX_TIPS, max(len(s.points) for s in series))
    width = span / bins
    out = ['<g class="tips">']
    for b in range(bins):
        lo, hi = frame.x0 + b * width, frame.x0 + (b + 1) * width
        lines = [f"{format_value(lo, x_unit)} - {format_value(hi, x_unit)}"]
        for s in series:
            vals = [y for x, y in s.points if y is not None and lo <= x < hi + (b == bins - 1)]
            if vals:
                lines.append(
                    f"{s.name}: {format_value(sum(vals) / len(vals), y_unit)} mean, "
                    f"{format_value(max(vals), y_unit)} max"
                )
        x = frame.x(lo)
        out.append(
            f'<rect x="{x:.1f}" y="{TOP}" width="{frame.x(hi) - x:.1f}" '
            f'height="{HEIGHT - TOP - BOTTOM}" fill="transparent">'
            f"<title>{escape(chr(10).join(lines))}</title></rect>"
        )
    out.append("</g>")
    return out


def histogram_chart(
    title: str,
    buckets: Sequence[tuple[float, float, int]],
    *,
    unit: str = "s",
    markers: Sequence[Marker] = (),
    caption: str = "",
) -> str:
    """Counts per value bucket, with labelled vertical markers (p50, p95, p99)."""
    if not buckets:
        return f'<p class="nodata">{escape(title)}: no value was recorded.</p>'
    yticks = nice_ticks(0, max(c for _, _, c in buckets) or 1)
    xticks, xscale = scaled_ticks(buckets[0][0], buckets[-1][1], unit, 6)
    frame = _Frame(buckets[0][0], buckets[-1][1], 0.0, yticks[-1])
    parts = _open("histogram", title, 1, frame) + _y_axis(frame, yticks, "")
    parts += _x_axis(frame, _inside(xticks, frame.x0, frame.x1), unit, xscale)
    parts.append('<g class="series" data-name="count">')
    for low, high, count in buckets:
        x, y = frame.x(low), frame.y(count)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(frame.x(high) - x - 1, 1):.1f}" '
            f'height="{frame.y(0) - y:.1f}" fill="{PALETTE[0]}"><title>'
            f"{escape(format_value(low, unit))} - {escape(format_value(high, unit))}: "
            f"{count:,}</title></rect>"
        )
    parts.append("</g>")
    for i, m in enumerate(markers):
        x = frame.x(min(max(m.value, frame.x0), frame.x1))
        right = x > frame.width * 0.7  # a label near the right edge goes left of its line
        anchor = ' text-anchor="end"' if right else ""
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + 12 * i}" '
            f'y2="{frame.y(0):.1f}" stroke="{m.color}" stroke-dasharray="4 2"/>'
            f'<text x="{x - 3 if right else x + 3:.1f}" y="{TOP + 9 + 12 * i}" '
            f'fill="{m.color}"{anchor}>'
            f"{escape(m.label)} {escape(format_value(m.value, unit))}</text>"
        )
    return _close(parts, caption)
