"""The RSS timeline as a picture: in the terminal (plotext) or in a file (.svg, .html, .txt).

PNG is not offered: it needs matplotlib, which agentperf does not depend on, and a
text file named .png would be a lie. The SVG and HTML charts are generated here, with
no script and no external resource, so they open anywhere.
"""

from __future__ import annotations

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


def rss_chart(timeline: Timeline) -> str:
    """The RSS timeline as a chart figure: calls shaded by phase, the high-water mark
    dashed. Drawn by the one chart package every HTML report uses."""
    from agentperf.report.svg import Band, Marker, Series, line_chart

    bands = [Band(m.start_s, m.end_s, _PHASE_COLOURS.get(m.phase, "#eeeeee"),
                  f"{m.phase} call {m.index}") for m in timeline.marks]
    markers = ([Marker("high-water mark", timeline.peak_hwm_bytes, "#cc0000")]
               if timeline.peak_hwm_bytes else [])
    points = [(float(t), float(v)) for t, v in timeline.samples]
    return line_chart(_title(timeline), [Series("rss", points, color="#1f4e79")], y_unit="B",
                      markers=markers, bands=bands,
                      caption="shaded: calls by phase (blue timed, red traced, grey warm-up); "
                              "dashed: kernel high-water mark")


def svg_chart(timeline: Timeline) -> str:
    """The chart as a standalone .svg file."""
    from agentperf.report.svg import standalone

    return standalone(rss_chart(timeline))


def _html_page(timeline: Timeline) -> str:
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>agentperf memory "
            "timeline</title></head><body>\n" + rss_chart(timeline) + "\n</body></html>\n")
