"""What ``agentperf monitor`` shows while it runs.

On a terminal, a Rich Live dashboard redrawn each interval: current values with
sparklines of the recent history, per-core bars, the watched process, the soak's tasks
and the health score. Elsewhere (CI logs, pipes) one compact line per interval, so a
log stays greppable and a killed job still shows its last reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agentperf.measure.units import format_duration
from agentperf.report.serialize import format_measure

SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24
BAR_WIDTH = 24
_STATUS_STYLE = {"healthy": "green", "needs_attention": "yellow", "critical": "red"}


_UNIT_NAMES = {"%": "percent", "B": "bytes", "B/s": "bytes_per_s", "/s": "per_second",
               "s": "seconds", "ratio": "ratio"}


def format_value(value: float | None, unit: str) -> str:
    """A metric value in its sampler unit (``%``, ``B``, ``B/s``, ``/s``, ``s``, ``ratio``)."""
    if value is None:
        return "-"
    return format_measure(value, _UNIT_NAMES.get(unit, "count"))


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH, *,
              low: float | None = None, high: float | None = None) -> str:
    """The last ``width`` values as block characters, scaled to [low, high]."""
    points = list(values)[-width:]
    if not points:
        return ""
    lo = min(points) if low is None else low
    hi = max(points) if high is None else high
    if hi <= lo:
        return SPARK[0] * len(points)
    top = len(SPARK) - 1
    return "".join(SPARK[max(0, min(top, round((v - lo) / (hi - lo) * top)))] for v in points)


def bar(percent: float, width: int = BAR_WIDTH) -> Text:
    filled = max(0, min(width, round(percent / 100 * width)))
    style = "red" if percent >= 90 else "yellow" if percent >= 70 else "green"
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"),
                         f" {percent:5.1f}%")


class MonitorView(Protocol):
    def update(self, tick: Any) -> None: ...

    def close(self) -> None: ...


_SYSTEM_ROWS = (
    ("CPU", "cpu_percent"), ("busiest core", "cpu_busiest_core_percent"),
    ("load 1m", "load_1m"), ("memory", "memory_percent"),
    ("memory available", "memory_available_bytes"), ("swap used", "swap_used_bytes"),
    ("disk read", "disk_read_bytes_per_s"), ("disk write", "disk_write_bytes_per_s"),
    ("disk read ops", "disk_read_ops_per_s"), ("disk write ops", "disk_write_ops_per_s"),
    ("net sent", "net_sent_bytes_per_s"), ("net received", "net_recv_bytes_per_s"),
)
_PROCESS_ROWS = (
    ("CPU (100% = 1 core)", "process_cpu_percent"), ("RSS", "process_rss_bytes"),
    ("threads", "process_threads"), ("open files", "process_open_files"),
    ("context switches", "process_ctx_switches_per_s"), ("processes", "process_count"),
    ("read", "process_read_bytes_per_s"), ("write", "process_write_bytes_per_s"),
)
_TASK_ROWS = (
    ("throughput", "task_throughput_per_s"), ("latency p50", "task_latency_p50_s"),
    ("latency p95", "task_latency_p95_s"), ("error rate", "task_error_rate"),
    ("cache hit ratio", "task_cache_hit_ratio"),
)


class Dashboard:
    """The Rich Live view; ``series`` is the session's history (a ``SeriesSet``)."""

    def __init__(self, console: Console, *, target: str, interval_s: float, series: Any,
                 unit_of: Callable[[str], str]) -> None:
        self.console = console
        self.target = target
        self.interval_s = interval_s
        self.series = series
        self.unit_of = unit_of
        self._live = Live(Text(f"monitoring {target} ..."), console=console,
                          auto_refresh=False, transient=True, redirect_stdout=False,
                          redirect_stderr=False)
        self._live.start()

    def update(self, tick: Any) -> None:
        self._live.update(self.render(tick), refresh=True)

    def close(self) -> None:
        self._live.stop()

    def render(self, tick: Any) -> RenderableType:
        """System on the left; cores, the watched process and the tasks on the right."""
        sample = tick.sample
        right: list[RenderableType] = [self._cores(sample.cpu_per_core)]
        if sample.process is not None:
            right.append(self._table(f"Process tree of pid {sample.process.pid}",
                                     _PROCESS_ROWS, tick.metrics))
        if tick.tasks is not None:
            right.append(self._table("Workload tasks", _TASK_ROWS, tick.metrics))
        body = Table.grid(padding=(0, 2))
        body.add_column()
        body.add_column()
        body.add_row(self._table("System", _SYSTEM_ROWS, tick.metrics), Group(*right))
        return Group(self._header(tick), body, self._health(tick.health))

    def _header(self, tick: Any) -> Text:
        health = tick.health
        return Text.assemble(
            ("agentperf monitor ", "bold"), (self.target, "cyan"),
            f"  elapsed {format_duration(tick.sample.elapsed_s)}  sample {tick.index} "
            f"every {self.interval_s:g}s  health ",
            (f"{health.score:g}/100 {health.status}", _STATUS_STYLE.get(health.status, "")))

    def _table(self, title: str, rows: Sequence[tuple[str, str]],
               metrics: dict[str, float | None]) -> Table:
        table = Table(title=title, title_justify="left", box=box.SIMPLE, title_style="bold",
                      pad_edge=False)
        for column, justify in (("metric", "left"), ("now", "right"), ("min", "right"),
                                ("max", "right"), ("history", "left")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for label, name in rows:
            if metrics.get(name) is None:
                continue
            unit = self.unit_of(name)
            history = self.series.get(name)
            values = history.values(SPARK_WIDTH) if history is not None else []
            scale = {"low": 0.0, "high": 100.0} if unit == "%" else {}
            table.add_row(label, format_value(metrics[name], unit),
                          format_value(min(values), unit) if values else "-",
                          format_value(max(values), unit) if values else "-",
                          Text(sparkline(values, **scale), style="cyan"))
        return table

    @staticmethod
    def _cores(per_core: Sequence[float]) -> Table:
        table = Table(title="Per core", title_justify="left", box=None, title_style="bold",
                      show_header=False, pad_edge=False)
        table.add_column()
        table.add_column()
        for i, pct in enumerate(per_core):
            table.add_row(f"core {i}", bar(pct))
        return table

    @staticmethod
    def _health(health: Any) -> Text:
        text = Text()
        for warning in health.warnings:
            text.append(f"  ! {warning.code}: ", style="dim yellow")
            text.append(f"{warning.message}\n", style="dim")
        for finding in health.findings:
            text.append(f"  -{finding.points:g} {finding.rule}: ", style="yellow")
            text.append(f"{finding.message}\n")
        return text


class LineView:
    """One compact line per interval for logs and pipes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def update(self, tick: Any) -> None:
        self.console.print(format_line(tick), markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        return None


def format_line(tick: Any) -> str:
    m = tick.metrics
    s = tick.sample

    def v(name: str, unit: str) -> str:
        return format_value(m.get(name), unit)

    parts = [
        f"[{s.elapsed_s:7.1f}s]",
        f"cpu {v('cpu_percent', '%')} (top core {v('cpu_busiest_core_percent', '%')})",
        f"load {s.load_1m:.2f}",
        f"mem {v('memory_percent', '%')} avail {v('memory_available_bytes', 'B')}",
        f"swap {v('swap_used_bytes', 'B')}",
        f"disk r {v('disk_read_bytes_per_s', 'B/s')} w {v('disk_write_bytes_per_s', 'B/s')}",
        f"net tx {v('net_sent_bytes_per_s', 'B/s')} rx {v('net_recv_bytes_per_s', 'B/s')}",
    ]
    if s.process is not None:
        parts.append(f"| pid {s.process.pid} cpu {v('process_cpu_percent', '%')} "
                     f"rss {v('process_rss_bytes', 'B')} threads {s.process.threads} "
                     f"fds {s.process.open_files}")
    if tick.tasks is not None:
        parts.append(f"| tasks {v('task_throughput_per_s', '/s')} "
                     f"p95 {v('task_latency_p95_s', 's')} err {v('task_error_rate', 'ratio')}")
    parts.append(f"| health {tick.health.score:g}")
    return " ".join(parts)
