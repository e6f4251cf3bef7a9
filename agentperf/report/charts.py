"""SVG charts from data: line/area, bar, histogram, strip and forest plots.

Every HTML report draws with this one module, so axes, ticks, units, legends and
tooltips look and behave the same everywhere. The output is plain inline SVG: no
script, no font or stylesheet to fetch, readable in any browser and when printed.
Text uses ``currentColor`` so a page's light or dark scheme carries into its charts.

Each chart is a ``<figure class="chart" data-kind=... data-series=N>``; each series is
one ``<g class="series">``, so a test can count what was drawn. Tooltips are ``<title>``
elements on aggregated points only (at most :data:`MAX_TIPS` per chart), which keeps a
2,000-point timeline chart small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from agentperf.measure.units import format_bytes, format_duration

WIDTH, HEIGHT = 640, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 30, 34
MAX_TIPS = 60
PALETTE = ("#3b7dd8", "#e8710a", "#1e9e50", "#d93025", "#9a4ee8", "#12a4af", "#d6379b", "#8a8f98")
_SECOND_SCALES = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"))
_BYTE_SCALES = ((1024.0**3, "GiB"), (1024.0**2, "MiB"), (1024.0, "KiB"), (1.0, "B"))
_COUNT_SCALES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))


@dataclass(frozen=True)
class Series:
    """One named line; a None value breaks the line (an interval with no data)."""

    name: str
    points: Sequence[tuple[float, float | None]]
    color: str | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Marker:
    """A labelled vertical (histogram, forest) or horizontal (line chart) reference line."""

    label: str
    value: float
    color: str = "#888"


@dataclass(frozen=True)
class Strip:
    """One row of a strip plot: samples, each with a colour group (a worker process)."""

    label: str
    values: Sequence[float]
    groups: Sequence[int] = ()
    center: float | None = None  # the median, drawn as a tick
    interval: tuple[float, float] | None = None  # its confidence interval


@dataclass(frozen=True)
class ForestRow:
    label: str
    estimate: float
    low: float
    high: float
    note: str = ""


@dataclass
class _Frame:
    """The plot area and the data ranges it maps."""

    x0: float
    x1: float
    y0: float
    y1: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    parts: list[str] = field(default_factory=list)

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (value - self.x0) / span * (self.width - self.left - RIGHT)

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.height - BOTTOM - (value - self.y0) / span * (self.height - TOP - BOTTOM)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering low..high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12 * power)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def scaled_ticks(
    low: float, high: float, unit: str, count: int = 5
) -> tuple[list[float], tuple[float, str]]:
    """Nice ticks in the unit a reader sees (10 MiB steps of bytes, not 9.54 MiB ones),
    and the scale their labels use."""
    scale = unit_scale(unit, max(abs(low), abs(high)))
    factor = scale[0]
    return [t * factor for t in nice_ticks(low / factor, high / factor, count)], scale


def _inside(ticks: Sequence[float], low: float, high: float) -> list[float]:
    slack = (high - low) * 1e-6
    return [t for t in ticks if low - slack <= t <= high + slack]


def unit_scale(unit: str, magnitude: float) -> tuple[float, str]:
    """The divisor and suffix that make ``magnitude`` read well in ``unit``."""
    magnitude = abs(magnitude)
    if unit == "s":
        return next(((f, n) for f, n in _SECOND_SCALES if magnitude >= f), _SECOND_SCALES[-1])
    if unit == "B":
        return next(((f, n) for f, n in _BYTE_SCALES if magnitude >= f), (1.0, "B"))
    if unit in ("", "/s"):
        factor, prefix = next(((f, n) for f, n in _COUNT_SCALES if magnitude >= f), (1.0, ""))
        return factor, prefix + unit
    return 1.0, unit


def format_tick(value: float, unit: str, scale: tuple[float, str] | None = None) -> str:
    """A tick label: the value in the axis's scale, with no more digits than it needs."""
    if unit == "ratio":
        return f"{value:.0%}" if abs(value) >= 0.1 or value == 0 else f"{value:.1%}"
    if unit == "x":
        return f"{value:g}x"
    if value == 0 and unit not in ("%", "x"):
        return "0"
    factor, suffix = scale or unit_scale(unit, value)
    text = f"{value / factor:.3g}"
    return f"{text} {suffix}" if unit in ("s", "B") else text + suffix


def format_value(value: float | None, unit: str) -> str:
    """A value in a tooltip or label, formatted the way every report prints it."""
    if value is None:
        return "no data"
    if unit == "s":
        return format_duration(value)
    if unit == "B":
        return format_bytes(value)
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "x":
        return f"{value:.3f}x"
    if unit == "/s":
        return f"{value:,.1f}/s"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def _open(kind: str, title: str, series: int, frame: _Frame) -> list[str]:
    return [
        f'<figure class="chart" data-kind="{kind}" data-series="{series}">',
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" '
        f'font-size="12"><title>{escape(title)}</title>',
        f'<text x="{frame.left}" y="16" font-size="13" font-weight="600" '
        f'fill="currentColor">{escape(title)}</text>',
    ]


def _close(parts: list[str], caption: str = "") -> str:
    parts.append("</svg>")
    if caption:
        parts.append(f"<figcaption>{escape(caption)}</figcaption>")
    parts.append("</figure>")
    return "\n".join(parts)


def _y_axis(
    frame: _Frame, ticks: Sequence[float], unit: str, scale: tuple[float, str] | None = None
) -> list[str]:
    scale = scale or unit_scale(unit, max(abs(t) for t in ticks) if ticks else 1.0)
    out = []
    for tick in ticks:
        y = frame.y(tick)
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="currentColor" stroke-opacity=".15"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="currentColor">{escape(format_tick(tick, unit, scale))}</text>'
        )
    return out


def _x_axis(
    frame: _Frame, ticks: Sequence[float], unit: str, scale: tuple[float, str] | None = None
) -> list[str]:
    scale = scale or unit_scale(unit, max(abs(t) for t in ticks) if ticks else 1.0)
    base = frame.height - BOTTOM
    out = [
        f'<line x1="{frame.left}" x2="{frame.width - RIGHT}" y1="{base}" y2="{base}" '
        f'stroke="currentColor" stroke-opacity=".5"/>'
    ]
    for tick in ticks:
        x = frame.x(tick)
        out.append(
            f'<text x="{x:.1f}" y="{base + 15}" text-anchor="middle" '
            f'fill="currentColor">{escape(format_tick(tick, unit, scale))}</text>'
        )
    return out


def _legend(frame: _Frame, names: Sequence[tuple[str, str]]) -> list[str]:
    out, x = [], frame.width - RIGHT
    for name, color in reversed(names):
        x -= 18 + 6.5 * len(name)
        out.append(
            f'<g class="legend"><rect x="{x:.0f}" y="8" width="10" height="10" '
            f'fill="{color}"/><text x="{x + 14:.0f}" y="17" fill="currentColor">'
            f"{escape(name)}</text></g>"
        )
    return out


def _color(index: int, given: str | None = None) -> str:
    return given or PALETTE[index % len(PALETTE)]


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
) -> str:
    """Lines (or stacked-free filled areas) over a shared x axis, e.g. time since start."""
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


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    unit: str = "",
    caption: str = "",
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars, largest first as given; labels on the left."""
    if not bars:
        return f'<p class="nodata">{escape(title)}: nothing to show.</p>'
    height = TOP + BOTTOM + 20 * len(bars)
    xticks, xscale = scaled_ticks(0.0, max(v for _, v in bars) or 1.0, unit)
    frame = _Frame(0.0, xticks[-1], 0.0, 1.0, height=height, left=260)
    parts = _open("bar", title, 1, frame) + _x_axis(frame, xticks, unit, xscale)
    parts.append('<g class="series" data-name="bars">')
    for i, (label, value) in enumerate(bars):
        y = TOP + 20 * i
        parts.append(
            f'<text x="{frame.left - 6}" y="{y + 13}" text-anchor="end" '
            f'fill="currentColor">{escape(_cut(label, 40))}</text>'
            f'<rect x="{frame.left}" y="{y + 3}" height="14" fill="{color}" '
            f'width="{max(frame.x(value) - frame.left, 1):.1f}"><title>'
            f"{escape(label)}: {escape(format_value(value, unit))}</title></rect>"
        )
    parts.append("</g>")
    return _close(parts, caption)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


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


def strip_chart(
    title: str,
    strips: Sequence[Strip],
    *,
    unit: str = "s",
    caption: str = "",
    group_label: str = "process",
) -> str:
    """One row per strip: every sample as a dot coloured by group, the median and its CI."""
    values = [v for s in strips for v in s.values]
    if not values:
        return f'<p class="nodata">{escape(title)}: no sample.</p>'
    xticks, xscale = scaled_ticks(min(values), max(values), unit, 6)
    height = TOP + BOTTOM + 34 * len(strips)
    frame = _Frame(xticks[0], xticks[-1], 0.0, 1.0, height=height, left=200)
    parts = _open("strip", title, len(strips), frame) + _x_axis(frame, xticks, unit, xscale)
    for row, strip in enumerate(strips):
        mid = TOP + 34 * row + 17
        parts.append(
            f'<g class="series" data-name="{escape(strip.label)}">'
            f'<text x="{frame.left - 6}" y="{mid + 4}" text-anchor="end" '
            f'fill="currentColor">{escape(_cut(strip.label, 30))}</text>'
        )
        for i, value in enumerate(strip.values):
            group = strip.groups[i] if i < len(strip.groups) else 0
            jitter = ((i * 7919) % 17 - 8) * 1.2
            parts.append(
                f'<circle cx="{frame.x(value):.1f}" cy="{mid + jitter:.1f}" r="2.5" '
                f'fill="{_color(group)}" fill-opacity=".7"/>'
            )
        if strip.interval:
            lo, hi = (frame.x(v) for v in strip.interval)
            parts.append(
                f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{mid}" y2="{mid}" '
                f'stroke="currentColor" stroke-width="3"/>'
            )
        if strip.center is not None:
            x = frame.x(strip.center)
            tip = f"{strip.label}: median {format_value(strip.center, unit)}"
            if strip.interval:
                tip += (
                    f", CI {format_value(strip.interval[0], unit)} - "
                    f"{format_value(strip.interval[1], unit)}"
                )
            parts.append(
                f'<rect x="{x - 1.5:.1f}" y="{mid - 12}" width="3" height="24" '
                f'fill="currentColor"><title>{escape(tip)}</title></rect>'
            )
        parts.append("</g>")
    groups = sorted({g for s in strips for g in s.groups})
    if len(groups) > 1:
        parts += _legend(frame, [(f"{group_label} {g + 1}", _color(g)) for g in groups[:8]])
    return _close(parts, caption)


_RATIO_TICKS = (
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    0.8,
    0.9,
    1.0,
    1.1,
    1.25,
    1.5,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
)


def ratio_ticks(low: float, high: float, count: int = 7) -> list[float]:
    """Round ratios for a log axis from ``low`` to ``high``: 1, then outwards, each at
    least 1/count of the axis from the last so labels never overprint."""
    gap = math.log10(high / low) / count
    ticks = [1.0]
    for side in (
        sorted(t for t in _RATIO_TICKS if t > 1),
        sorted((t for t in _RATIO_TICKS if t < 1), reverse=True),
    ):
        last = 1.0
        for t in side:
            if low <= t <= high and abs(math.log10(t / last)) >= gap:
                ticks.append(t)
                last = t
    return sorted(ticks)


def forest_chart(
    title: str,
    rows: Sequence[ForestRow],
    *,
    unit: str = "x",
    markers: Sequence[Marker] = (),
    caption: str = "",
) -> str:
    """One estimate with its interval per row, against reference lines (1x, the gate).

    The axis is logarithmic: a ratio of 0.5 and one of 2 are the same distance from 1.
    """
    if not rows:
        return f'<p class="nodata">{escape(title)}: nothing was compared.</p>'
    values = [v for r in rows for v in (r.low, r.high, r.estimate) if v > 0]
    values += [m.value for m in markers] + [1.0]
    low, high = min(values) / 1.05, max(values) * 1.05
    top = TOP + 14  # room for the reference lines' labels under the title
    height = top + BOTTOM + 26 * len(rows)
    frame = _Frame(math.log10(low), math.log10(high), 0.0, 1.0, height=height, left=200)

    def x(value: float) -> float:
        return frame.x(math.log10(min(max(value, low), high)))

    base = height - BOTTOM
    parts = _open("forest", title, len(rows), frame)
    parts.append(
        f'<line x1="{frame.left}" x2="{frame.width - RIGHT}" y1="{base}" y2="{base}" '
        f'stroke="currentColor" stroke-opacity=".5"/>'
    )
    for tick in ratio_ticks(low, high):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{base + 15}" text-anchor="middle" '
            f'fill="currentColor">{escape(format_tick(tick, unit))}</text>'
        )
    for m in markers:
        at = x(m.value)
        left_of = m.value <= 1  # 1x labelled on its left, a gate above 1 on its right
        anchor, label_x = (' text-anchor="end"', at - 3) if left_of else ("", at + 3)
        parts.append(
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{top - 6}" y2="{base}" '
            f'stroke="{m.color}" stroke-dasharray="5 3"/><text x="{label_x:.1f}" '
            f'y="{top - 8}" fill="{m.color}"{anchor}>{escape(m.label)}</text>'
        )
    for i, r in enumerate(rows):
        mid = top + 26 * i + 13
        tip = (
            f"{r.label}: {format_value(r.estimate, unit)} "
            f"[{format_value(r.low, unit)} - {format_value(r.high, unit)}] {r.note}"
        ).strip()
        parts.append(
            f'<g class="series" data-name="{escape(r.label)}">'
            f'<text x="{frame.left - 6}" y="{mid + 4}" text-anchor="end" '
            f'fill="currentColor">{escape(_cut(r.label, 30))}</text>'
            f'<line x1="{x(r.low):.1f}" x2="{x(r.high):.1f}" y1="{mid}" '
            f'y2="{mid}" stroke="currentColor" stroke-width="2"/>'
            f'<rect x="{x(r.estimate) - 4:.1f}" y="{mid - 4}" width="8" '
            f'height="8" fill="{PALETTE[0]}"><title>{escape(tip)}</title></rect></g>'
        )
    return _close(parts, caption)
