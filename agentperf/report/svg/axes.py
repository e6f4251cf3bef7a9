"""Axes, scales, ticks, units, legends and the figure wrapper every chart shares."""

from __future__ import annotations

import math
import re
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
class Band:
    """A shaded span of x behind a line chart (a call, a phase), with a tooltip."""

    start: float
    end: float
    color: str
    label: str = ""


def standalone(figure: str) -> str:
    """The ``<svg>`` of a chart's figure on its own, sized, for a .svg file."""
    start, end = figure.index("<svg"), figure.rindex("</svg>") + len("</svg>")
    svg = figure[start:end]
    match = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    size = f'width="{match[1]}" height="{match[2]}" ' if match else ""
    return svg.replace("<svg ", f"<svg {size}", 1)


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
        x -= 20 + 7.2 * len(name)  # about 7 px a character at 12 px
        out.append(
            f'<g class="legend"><rect x="{x:.0f}" y="8" width="10" height="10" '
            f'fill="{color}"/><text x="{x + 14:.0f}" y="17" fill="currentColor">'
            f"{escape(name)}</text></g>"
        )
    return out


def _color(index: int, given: str | None = None) -> str:
    return given or PALETTE[index % len(PALETTE)]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]
