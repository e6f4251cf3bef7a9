"""Charts with one row per item: bars, strip plots of samples, forest plots of ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from agentperf.report.svg.axes import (
    BOTTOM,
    PALETTE,
    RIGHT,
    TOP,
    Marker,
    _close,
    _color,
    _cut,
    _Frame,
    _legend,
    _open,
    _x_axis,
    format_tick,
    format_value,
    scaled_ticks,
)


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
