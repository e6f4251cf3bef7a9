"""The RSS timeline as a picture: in the terminal (plotext) or in a file (.svg, .html, .txt).

PNG is not offered: it needs matplotlib, which agentperf does not depend on, and a
text file named .png would be a lie. The SVG and HTML charts are generated here, with
no script and no external resource, so they open anywhere.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from agentperf.errors import AgentperfError
from agentperf.profiling.result import Timeline

PLOT_FORMATS = (".svg", ".html", ".txt")
X_LABEL = "seconds (vertical lines: call starts)"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MiB = 1024 * 1024
_PHASE_COLOURS = {"warmup": "#d9d9d9", "timed": "#cfe2f3",
                  "traced": "#f4cccc", "traceback": "#ead1dc", "line": "#d9ead3",
                  "block": "#f4cccc"}


def check_plot_path(path: Path) -> None:
    """Fail before the profile runs when the file could not be written."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise AgentperfError(f"--plot-file {path}: unsupported format '{path.suffix}'; use "
                             ".svg or .html (a chart) or .txt (the terminal plot as text); "
                             "PNG would need matplotlib, which is not installed")
    if not path.parent.resolve().is_dir():
        raise AgentperfError(f"--plot-file {path}: directory {path.parent} does not exist")


def terminal_plot(timeline: Timeline, *, width: int = 100, height: int = 24,
                  colours: bool = True) -> str:
    """The timeline drawn with plotext, call starts as vertical lines.

    plotext 6 has a figure API; plotext 5 the module-level one. Both are supported,
    since ``pip install plotext`` may give either.
    """
    import plotext as plt

    xs = [t for t, _ in timeline.samples]
    ys = [rss / _MiB for _, rss in timeline.samples]
    starts = _boundaries(timeline)
    if not hasattr(plt, "plotsize"):
        fig = plt.figure
        fig.clear()
        fig.plot_size(width, height)
        fig.draw(fig.signal(xs, ys).lines(True).label("RSS (MiB)"))
        for start in starts:
            fig.line(start, orientation=1)
        fig.title(_title(timeline))
        fig.label(X_LABEL, axis=0)
        return str(fig.build().string(colorless=not colours))
    plt.clf()
    plt.plotsize(width, height)
    plt.plot(xs, ys, label="RSS (MiB)")
    for start in starts:
        plt.vline(start)
    plt.title(_title(timeline))
    plt.xlabel(X_LABEL)
    text = str(plt.build())
    return text if colours else _ANSI.sub("", text)


def _boundaries(timeline: Timeline, limit: int = 40) -> list[float]:
    """Every call start, or only where the phase changes when calls are too many to draw."""
    if len(timeline.marks) <= limit:
        return [m.start_s for m in timeline.marks]
    starts, phase = [], None
    for mark in timeline.marks:
        if mark.phase != phase:
            starts.append(mark.start_s)
            phase = mark.phase
    return starts


def _title(timeline: Timeline) -> str:
    hwm = timeline.peak_hwm_bytes
    peak = f", high-water mark {hwm / _MiB:.1f} MiB" if hwm else ""
    return f"RSS every {timeline.interval_s * 1000:g} ms{peak}"


def write_plot_file(timeline: Timeline, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        text = terminal_plot(timeline, width=120, height=30, colours=False)
    elif suffix == ".svg":
        text = svg_chart(timeline)
    elif suffix == ".html":
        text = _html_page(timeline)
    else:
        check_plot_path(path)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AgentperfError(f"--plot-file {path}: cannot write: {exc.strerror}") from None


def svg_chart(timeline: Timeline, width: int = 960, height: int = 360) -> str:
    left, right, top, bottom = 70, 20, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    duration = max(timeline.duration_s, max((t for t, _ in timeline.samples), default=0), 1e-9)
    values = [rss for _, rss in timeline.samples] or [0]
    top_value = max(max(values), timeline.peak_hwm_bytes or 0) * 1.05 or 1

    def x(t: float) -> float:
        return left + plot_w * t / duration

    def y(v: float) -> float:
        return top + plot_h * (1 - v / top_value)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="18" font-size="13">{html.escape(_title(timeline))}</text>']
    for mark in timeline.marks:
        colour = _PHASE_COLOURS.get(mark.phase, "#eeeeee")
        parts.append(f'<rect x="{x(mark.start_s):.1f}" y="{top}" height="{plot_h}" '
                     f'width="{max(x(mark.end_s) - x(mark.start_s), 0.5):.1f}" fill="{colour}">'
                     f'<title>{mark.phase} call {mark.index}</title></rect>')
    for i in range(6):
        value = top_value * i / 5
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" '
                     f'y2="{y(value):.1f}" stroke="#e0e0e0"/>'
                     f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
                     f'{value / _MiB:.0f} MiB</text>')
        t = duration * i / 5
        parts.append(f'<text x="{x(t):.1f}" y="{height - 22}" text-anchor="middle">'
                     f'{t:.2f}s</text>')
    if timeline.peak_hwm_bytes:
        hwm_y = y(timeline.peak_hwm_bytes)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{hwm_y:.1f}" y2="{hwm_y:.1f}" '
                     'stroke="#cc0000" stroke-dasharray="4 3"><title>high-water mark</title>'
                     '</line>')
    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in timeline.samples)
    parts.append(f'<polyline fill="none" stroke="#1f4e79" stroke-width="1.5" '
                 f'points="{points}"/>')
    parts.append(f'<text x="{left}" y="{height - 6}">shaded: calls by phase (blue timed, red '
                 'traced, grey warm-up); dashed: kernel high-water mark</text></svg>')
    return "\n".join(parts)


def _html_page(timeline: Timeline) -> str:
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>agentperf memory "
            "timeline</title></head><body>\n" + svg_chart(timeline) + "\n</body></html>\n")
