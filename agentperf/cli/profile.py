"""``agentperf profile WORKLOAD``: memory per call, allocation sites, leaks, RSS timeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from agentperf.cli.common import (
    DEBUG_OPTION,
    EXIT_CODES_HELP,
    JSON_OPTION,
    METAVAR_DURATION,
    METAVAR_JSON,
    METAVAR_SIZE,
    METAVAR_WORKLOAD,
    PANEL_GATES,
    PANEL_MEASURE,
    PANEL_REPORTS,
    PANEL_WORKLOAD,
    QUIET_OPTION,
    check_writable,
    handle_errors,
    stdout_console,
)
from agentperf.cli.help import AgentperfCommand
from agentperf.errors import AgentperfError

_HELP = (
    "Memory profile of a workload (dotted path or YAML spec): time per call from an "
    "untraced pass; tracemalloc peak, retained bytes and allocation sites from a separate "
    "traced pass; leak suspects pinned to a line; an RSS timeline sampled in the background "
    "with call boundaries; optionally memory-profiler's line-by-line RSS (--line).\n\n"
    "Gates: --fail-on-leak, --max-peak SIZE, --max-rss SIZE exit 1 when violated."
)
TRACEBACK_FRAMES = 10
_SUMMARY = "Memory per call, allocation sites, leaks and an RSS timeline of a workload."
INPUT_OPTION = typer.Option([], "--input", "-i", metavar=METAVAR_JSON,
                            rich_help_panel=PANEL_WORKLOAD,
                            help="One input as JSON (repeatable); inputs are cycled.")
PLOT_FILE_OPTION = typer.Option(None, "--plot-file", rich_help_panel=PANEL_REPORTS,
                                help="Write the timeline to a .svg, .html or .txt file.")
OUTPUT_OPTION = typer.Option(None, "--output", "-o", rich_help_panel=PANEL_REPORTS,
                             help="Write the full result as JSON to this file.")
HTML_OPTION = typer.Option(None, "--report-html", rich_help_panel=PANEL_REPORTS,
                           help="Write a self-contained HTML report to this file.")


def register(app: typer.Typer) -> None:
    app.command("profile", help=_HELP, short_help=_SUMMARY, epilog=EXIT_CODES_HELP,
                cls=AgentperfCommand)(profile_command)


@handle_errors
def profile_command(
    workload: str = typer.Argument(..., metavar=METAVAR_WORKLOAD,
                                   help="Dotted path (pkg.module:agent) or YAML spec."),
    input_: list[str] = INPUT_OPTION,
    inputs_file: str | None = typer.Option(None, "--inputs", rich_help_panel=PANEL_WORKLOAD,
                                           metavar="PATH", help="Inputs file: JSONL, JSON, CSV."),
    iterations: int = typer.Option(20, "--iterations", "-n", min=1, rich_help_panel=PANEL_MEASURE,
        help="Timed calls (untraced)."),
    warmup: int = typer.Option(1, "--warmup", min=0, rich_help_panel=PANEL_MEASURE,
        help="Warm-up calls, not measured."),
    trace_iterations: int | None = typer.Option(
        None, "--trace-iterations", min=0, rich_help_panel=PANEL_MEASURE,
        help="Calls of the leak search, in whole rounds over the traced inputs (default "
        "12, at least 4 rounds; run only when the heap screen cannot rule growth out, "
        "unless given). 0: no traced pass."),
    frames: int | None = typer.Option(
        None, "--frames", min=1, rich_help_panel=PANEL_MEASURE,
            help="tracemalloc frames per allocation (default: 1, or "
        f"{TRACEBACK_FRAMES} with --group-by traceback)."),
    group_by: str = typer.Option("lineno", "--group-by", rich_help_panel=PANEL_MEASURE,
                                 help="Group allocation sites by 'lineno' or 'traceback'."),
    top: int = typer.Option(10, "--top", min=1, rich_help_panel=PANEL_MEASURE,
        help="Allocation sites to show."),
    only_user_code: bool = typer.Option(
        False, "--only-user-code", rich_help_panel=PANEL_MEASURE,
        help="Fold sites in the standard library and site-packages into your calling line."),
    interval: str = typer.Option("10ms", "--interval", rich_help_panel=PANEL_MEASURE,
                                 metavar=METAVAR_DURATION, help="RSS sampling interval."),
    include_children: bool = typer.Option(
        False, "--include-children", rich_help_panel=PANEL_MEASURE,
            help="Add child processes' RSS to the timeline."),
    line: str | None = typer.Option(
        None, "--line", rich_help_panel=PANEL_MEASURE, metavar="FUNCTION",
        help="Line-by-line RSS of this agent method (or pkg.module:function) via memory-profiler."),
    leak_threshold: str = typer.Option(
        "4KiB", "--leak-threshold", rich_help_panel=PANEL_GATES, metavar=METAVAR_SIZE,
        help="Least retained growth per call, averaged over the traced calls, for a leak."),
    fail_on_leak: bool = typer.Option(False, "--fail-on-leak", rich_help_panel=PANEL_GATES,
        help="Exit 1 on a leak suspect."),
    max_peak: str | None = typer.Option(
        None, "--max-peak", rich_help_panel=PANEL_GATES, metavar=METAVAR_SIZE,
            help="Exit 1 if a call's traced peak exceeds SIZE."),
    max_rss: str | None = typer.Option(
        None, "--max-rss", rich_help_panel=PANEL_GATES, metavar=METAVAR_SIZE,
            help="Exit 1 if the peak RSS exceeds SIZE."),
    plot: bool = typer.Option(False, "--plot", rich_help_panel=PANEL_REPORTS,
        help="Draw the RSS timeline in the terminal."),
    plot_file: Path | None = PLOT_FILE_OPTION,
    output: Path | None = OUTPUT_OPTION,
    report_html: Path | None = HTML_OPTION,
    json_: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    from agentperf.analysis.health import limits_from_mapping
    from agentperf.profiling.api import profile_memory
    from agentperf.report.profile_plot import check_plot_path
    from agentperf.workload.spec import load_workload

    group_by = "lineno" if group_by == "line" else group_by
    frames = frames if frames is not None else (TRACEBACK_FRAMES if group_by == "traceback"
                                                else 1)
    if plot_file is not None:
        check_plot_path(plot_file)
    check_writable(output, "--output")
    check_writable(report_html, "--report-html")
    gates = {"max_peak_bytes": _size(max_peak, "--max-peak"),
             "max_rss_bytes": _size(max_rss, "--max-rss")}
    spec = load_workload(workload, inputs=input_, inputs_file=inputs_file)
    limits = limits_from_mapping(spec.health, spec.error) if spec.health else None
    result = profile_memory(
        spec, iterations=iterations, warmup=warmup, trace_iterations=trace_iterations,
        frames=frames, group_by=group_by, top=top, only_user_code=only_user_code,
        interval=_interval(interval), include_children=include_children, line=line,
        leak_min_bytes=float(_size(leak_threshold, "--leak-threshold") or 0),
        fail_on_leak=fail_on_leak, health_limits=limits, **gates)
    _emit(result, json_=json_, quiet=quiet, plot=plot, plot_file=plot_file, output=output,
          report_html=report_html)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _emit(result: Any, *, json_: bool, quiet: bool, plot: bool, plot_file: Path | None,
          output: Path | None, report_html: Path | None = None) -> None:
    from agentperf.report.profile_plot import terminal_plot, write_plot_file

    document = None
    if json_ or output is not None or report_html is not None:
        from agentperf.report.serialize import to_jsonable

        data = to_jsonable(result)
        document = json.dumps(data, indent=2)
        if report_html is not None:
            from agentperf.outputs import write_atomic
            from agentperf.report.html_profile import render_profile_html

            write_atomic(report_html, render_profile_html(data))
    if output is not None and document is not None:
        output.write_text(document + "\n", encoding="utf-8")
    if plot_file is not None and result.timeline is not None:
        write_plot_file(result.timeline, plot_file)
    console = stdout_console()
    if json_:
        typer.echo(document)
        return
    from agentperf.report.profile_console import render_profile

    render_profile(console, result, quiet=quiet)
    if plot and result.timeline is not None:
        typer.echo(terminal_plot(result.timeline))
    for path in (plot_file, output, report_html):
        if path is not None and not quiet:
            console.print(f"[dim]wrote {path}[/]")


def _size(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    from agentperf.measure.units import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise AgentperfError(f"{option}: {exc}") from None


def _interval(text: str) -> float:
    from agentperf.measure.units import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise AgentperfError(f"--interval: {exc}") from None
    if seconds <= 0:
        raise AgentperfError("--interval: must be positive")
    return seconds
