"""``agentperf monitor``: watch the system, a process, a command or a workload soak."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from agentperf.cli.common import (
    DEBUG_OPTION,
    EXIT_CODES_HELP,
    JSON_OPTION,
    METAVAR_GATE,
    METAVAR_JSON,
    METAVAR_MODE,
    METAVAR_SECONDS,
    METAVAR_URL,
    METAVAR_WORKLOAD,
    PANEL_CACHE,
    PANEL_EXECUTION,
    PANEL_GATES,
    PANEL_REPORTS,
    PANEL_WATCH,
    PANEL_WORKLOAD,
    QUIET_OPTION,
    check_execution_options,
    check_writable,
    handle_errors,
    positive_seconds,
    stderr_console,
    stdout_console,
)
from agentperf.cli.help import AgentperfCommand
from agentperf.errors import AgentperfError

_COMMAND_KEY = "agentperf.monitor.command"
SUMMARY_WIDTH = 150

_HELP = (
    "Watch the system (default), a process tree (--pid), a command it starts "
    "(agentperf monitor -- CMD ARGS), or a WORKLOAD run continuously through the executor. "
    "Shows a live dashboard on a terminal and one line per interval otherwise, then a "
    "summary of every metric with its trend, the health score and recommendations.\n\n"
    "Runs for --minutes/--seconds, until the watched process ends, or until Ctrl-C "
    "(which prints the summary and exits 130).\n\n"
    "As a CI step: -t/--threshold and a spec's thresholds: gate a soak (exit 1); a soak "
    "whose error rate exceeds max_error_rate, or a -- COMMAND that exits non-zero, exits "
    "3 (the command's own exit code is in the summary and the JSON)."
)
_SUMMARY = "Watch the system, a process, a command or a workload soak; gate it in CI."


class _MonitorCommand(AgentperfCommand):
    """Keeps everything after ``--`` as the command to start, before Click sees it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta[_COMMAND_KEY] = args[cut + 1:]
            args = args[:cut]
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    app.command("monitor", help=_HELP, short_help=_SUMMARY, epilog=EXIT_CODES_HELP,
                cls=_MonitorCommand)(monitor_command)


_EXPORT_OPTION = typer.Option(
    None, "--export", "-e", rich_help_panel=PANEL_REPORTS,
    help="Write every sample to FILE.jsonl or FILE.csv as taken.")
_OUTPUT_OPTION = typer.Option(None, "--output", "-o", rich_help_panel=PANEL_REPORTS,
                              help="Also write the JSON summary to this file.")
_HTML_OPTION = typer.Option(None, "--report-html", rich_help_panel=PANEL_REPORTS,
                            help="Write a self-contained HTML report to this file.")
_INPUT_OPTION = typer.Option([], "--input", "-i", metavar=METAVAR_JSON,
                             rich_help_panel=PANEL_WORKLOAD,
                             help="One soak input as JSON (repeatable); for a dotted-path "
                                  "WORKLOAD.")
_INPUTS_OPTION = typer.Option(None, "--inputs", rich_help_panel=PANEL_WORKLOAD,
                              help="Soak inputs file: JSONL, JSON or CSV.")
_THRESHOLD_OPTION = typer.Option(
    [], "--threshold", "-t", metavar=METAVAR_GATE, rich_help_panel=PANEL_GATES,
    help="Gate like 'latency: p(95) < 500ms' (repeatable); exit 1 when one fails. latency, "
         "error_rate and throughput need a WORKLOAD; rss (peak) and cpu (mean percent) read "
         "the watched process tree.")


@handle_errors
def monitor_command(
    ctx: typer.Context,
    workload: str | None = typer.Argument(
        None, metavar=METAVAR_WORKLOAD, help="YAML spec or dotted path to soak while monitoring."),
    minutes: float | None = typer.Option(None, "--minutes", min=0, rich_help_panel=PANEL_WATCH,
                                         help="Run this long (adds to --seconds)."),
    seconds: float | None = typer.Option(None, "--seconds", "-s", min=0,
                                         rich_help_panel=PANEL_WATCH, help="Run this long."),
    interval: float = typer.Option(2.0, "--interval", callback=positive_seconds,
                                   metavar=METAVAR_SECONDS, rich_help_panel=PANEL_WATCH,
                                   help="Seconds between samples, more than 0."),
    pid: int | None = typer.Option(None, "--pid", "-p", rich_help_panel=PANEL_WATCH,
                                   help="Watch this process and children."),
    no_children: bool = typer.Option(False, "--no-children", rich_help_panel=PANEL_WATCH,
                                     help="Watch the process alone, not its children."),
    history: int = typer.Option(1000, "--history", min=3, rich_help_panel=PANEL_WATCH,
                                help="Samples kept per metric."),
    window: float | None = typer.Option(
        None, "--window", min=0, metavar=METAVAR_SECONDS, rich_help_panel=PANEL_WATCH,
        help="Statistics and trends over the last SECONDS only (default: every kept sample)."),
    export: Path | None = _EXPORT_OPTION,
    prometheus_port: int | None = typer.Option(
        None, "--prometheus-port", min=0, max=65535, rich_help_panel=PANEL_REPORTS,
        help="Serve current values for Prometheus on 127.0.0.1:PORT/metrics."),
    output: Path | None = _OUTPUT_OPTION,
    report_html: Path | None = _HTML_OPTION,
    plain: bool = typer.Option(False, "--plain", rich_help_panel=PANEL_REPORTS,
                               help="One line per interval even on a terminal."),
    input_: list[str] = _INPUT_OPTION,
    inputs_file: Path | None = _INPUTS_OPTION,
    mode: str | None = typer.Option(None, "--mode", "-m", metavar=METAVAR_MODE,
                                    rich_help_panel=PANEL_EXECUTION,
                                    help="Soak executor mode (as run-batch)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", metavar=METAVAR_URL, rich_help_panel=PANEL_EXECUTION,
        help="Dask scheduler address (tcp://HOST:8786) for --mode dask."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1,
                                       rich_help_panel=PANEL_EXECUTION, help="Soak workers."),
    timeout: float | None = typer.Option(
        None, "--timeout", callback=positive_seconds, metavar=METAVAR_SECONDS,
        rich_help_panel=PANEL_EXECUTION, help="Per-task timeout in seconds, more than 0."),
    cache: bool | None = typer.Option(
        None, "--cache/--no-cache", rich_help_panel=PANEL_CACHE,
        help="Soak through the cache (default: only when the spec has a cache: section)."),
    threshold: list[str] = _THRESHOLD_OPTION,
    cpu_limits: str | None = typer.Option(
        None, "--cpu-limits", metavar="PCTS", rich_help_panel=PANEL_GATES,
        help="Health CPU tiers in percent (default 70,80,90)."),
    memory_limits: str | None = typer.Option(
        None, "--memory-limits", metavar="PCTS", rich_help_panel=PANEL_GATES,
        help="Health memory tiers in percent (default 75,85,95)."),
    slow_latency: float | None = typer.Option(
        None, "--slow-latency", min=0, metavar=METAVAR_SECONDS, rich_help_panel=PANEL_GATES,
        help="Soak latency in seconds above which agents are slow."),
    max_error_rate: float | None = typer.Option(
        None, "--max-error-rate", min=0, max=1, rich_help_panel=PANEL_GATES,
        help="Soak error rate above which exit is 3 (default: the spec's; none set, no "
             "failure is allowed, as in run-batch)."),
    json_: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    from agentperf.pipeline.monitor import (
        MonitorConfig,
        MonitorSession,
        monitor_thresholds,
        prepare_soak,
    )

    command = tuple(ctx.meta.get(_COMMAND_KEY) or ())
    if sum(bool(x) for x in (workload, pid, command)) > 1:
        raise AgentperfError("monitor: watch one thing: a WORKLOAD, --pid PID or -- COMMAND")
    soak = None
    limits = None
    execution = dict(mode=mode, workers=workers, timeout_s=timeout, scheduler=scheduler)
    check_execution_options(execution)
    if workload:
        soak, limits, spec_error_rate = prepare_soak(
            workload, execution=execution, inputs=input_,
            inputs_file=str(inputs_file) if inputs_file else None, cache=cache)
        max_error_rate = spec_error_rate if max_error_rate is None else max_error_rate
    thresholds, notes = monitor_thresholds(soak.spec if soak else None, threshold)
    config = MonitorConfig(
        interval_s=interval, duration_s=_duration(minutes, seconds), pid=pid, command=command,
        include_children=not no_children, history=history, window_s=window or None,
        limits=_limits(limits, cpu_limits, memory_limits, slow_latency),
        max_error_rate=max_error_rate, thresholds=tuple(thresholds),
        threshold_notes=tuple(notes))
    console = stderr_console() if json_ else stdout_console()
    with ExitStack() as stack:
        exporter = _open_exporter(export, stack)
        check_writable(output, "--output")
        check_writable(report_html, "--report-html")
        session = MonitorSession(config, soak=soak)
        if prometheus_port is not None:
            from agentperf.report.prometheus import PrometheusServer

            server = PrometheusServer(session, prometheus_port)
            stack.callback(server.close)
            if not quiet:
                stderr_console().print(f"serving Prometheus metrics on {server.url}")
        stack.enter_context(session)
        view = None if quiet else _view(console, session, plain)
        interrupted = _run(session, view, exporter)
        summary = session.finish(interrupted=interrupted)
    _report(summary, json_=json_, output=output)
    if report_html is not None:
        from agentperf.outputs import write_atomic
        from agentperf.report.html_monitor import render_monitor_html

        write_atomic(report_html, render_monitor_html(summary))
    raise typer.Exit(int(summary.exit_code))


def _run(session: Any, view: Any, exporter: Any) -> bool:
    """Feed every tick to the export and the view; True when stopped by Ctrl-C or SIGTERM."""
    try:
        with _sigterm_as_interrupt():
            for tick in session.ticks():
                if exporter is not None:
                    exporter.write(tick.sample.timestamp, tick.metrics)
                if view is not None:
                    view.update(tick)
    except KeyboardInterrupt:
        return True
    finally:
        if view is not None:
            view.close()
    return False


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) ends the monitor like Ctrl-C: summary, then exit 130."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _duration(minutes: float | None, seconds: float | None) -> float | None:
    if minutes is None and seconds is None:
        return None
    total = (minutes or 0.0) * 60 + (seconds or 0.0)
    if total <= 0:
        raise AgentperfError("--minutes/--seconds: must add up to more than 0")
    return total


def _limits(base: Any, cpu: str | None, memory: str | None, slow: float | None) -> Any:
    from agentperf.analysis.health import HealthLimits

    limits = base or HealthLimits()
    overrides: dict[str, Any] = {}
    if cpu is not None:
        overrides["cpu_percent"] = _tiers(cpu, "--cpu-limits")
    if memory is not None:
        overrides["memory_percent"] = _tiers(memory, "--memory-limits")
    if slow is not None:
        overrides["slow_latency_s"] = slow
    return replace(limits, **overrides)


def _tiers(text: str, option: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or list(values) != sorted(values):
        raise AgentperfError(f"{option}: expected three rising percents like 70,80,90, "
                             f"got '{text}'")
    return values  # type: ignore[return-value]


def _open_exporter(path: Path | None, stack: ExitStack) -> Any:
    if path is None:
        return None
    from agentperf.report.sample_export import open_exporter

    exporter = open_exporter(path)
    stack.callback(exporter.close)
    return exporter


def _view(console: Any, session: Any, plain: bool) -> Any:
    from agentperf.pipeline.monitor import unit_of
    from agentperf.report.monitor_live import Dashboard, LineView

    if plain or not console.is_terminal:
        return LineView(console)
    return Dashboard(console, target=session.target, interval_s=session.config.interval_s,
                     series=session.series, unit_of=unit_of)


def _report(summary: Any, *, json_: bool, output: Path | None) -> None:
    from agentperf.report.monitor_console import render_json, render_summary

    text = render_json(summary) if json_ or output else ""
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if json_:
        typer.echo(text, nl=False)
    else:
        # -q drops the live view only: a CI log still gets every table of the summary.
        render_summary(_summary_console(), summary)


def _summary_console() -> Any:
    """stdout; wide enough off a terminal that the metrics table does not fold in CI logs."""
    console = stdout_console()
    if not console.is_terminal:
        console.width = max(console.width, SUMMARY_WIDTH)
    return console
