"""``agentperf run-batch``: every input through the executor, with cache, gates and reports."""

from __future__ import annotations

import sys
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
    METAVAR_SPEC,
    METAVAR_URL,
    PANEL_CACHE,
    PANEL_EXECUTION,
    PANEL_GATES,
    PANEL_OUTPUT,
    PANEL_REPORTS,
    PANEL_WORKLOAD,
    QUIET_OPTION,
    check_execution_options,
    handle_errors,
    owns_process,
    positive_seconds,
    stderr_console,
    stdout_console,
)
from agentperf.cli.help import AgentperfCommand
from agentperf.errors import ExitCode


def register(app: typer.Typer) -> None:
    app.command("run-batch", help=_HELP, short_help=_SUMMARY, epilog=EXIT_CODES_HELP,
                cls=AgentperfCommand)(run_batch_command)


_SUMMARY = "Run every input of a workload through the executor; gate it in CI."

_HELP = (
    "Run every input of a workload through the parallel executor and report throughput, "
    "latency percentiles, errors, cache savings and a health score.\n\n"
    "SPEC is a YAML workload spec, or a dotted path (pkg.module:Agent) with --input/--inputs."
)


@handle_errors
def run_batch_command(
    spec: str = typer.Argument(..., metavar=METAVAR_SPEC, help="YAML spec file or dotted path."),
    input_: list[str] = typer.Option(
        [], "--input", "-i", metavar=METAVAR_JSON, rich_help_panel=PANEL_WORKLOAD,
        help="One input as JSON (repeatable); for a dotted path."),
    inputs_file: Path | None = typer.Option(
        None, "--inputs", rich_help_panel=PANEL_WORKLOAD,
        help="Inputs file: JSONL, JSON list or CSV."),
    mode: str | None = typer.Option(
        None, "--mode", "-m", metavar=METAVAR_MODE, rich_help_panel=PANEL_EXECUTION,
        help="sequential, threads, processes, asyncio, auto or dask."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1,
                                       rich_help_panel=PANEL_EXECUTION, help="Worker count."),
    max_in_flight: int | None = typer.Option(
        None, "--max-in-flight", min=1, rich_help_panel=PANEL_EXECUTION,
        help="Most tasks pending at once."),
    timeout: float | None = typer.Option(
        None, "--timeout", callback=positive_seconds, metavar=METAVAR_SECONDS,
        rich_help_panel=PANEL_EXECUTION,
        help="Per-task timeout in seconds, more than 0 (default: none)."),
    retries: int | None = typer.Option(None, "--retries", min=0,
                                       rich_help_panel=PANEL_EXECUTION, help="Retries per task."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", metavar=METAVAR_URL, rich_help_panel=PANEL_EXECUTION,
        help="Dask scheduler address (tcp://HOST:8786) for --mode dask."),
    output: Path | None = typer.Option(
        None, "--output", "-o", rich_help_panel=PANEL_REPORTS,
        help="Results file (JSONL), written as tasks finish."),
    max_error_rate: float | None = typer.Option(
        None, "--max-error-rate", min=0, max=1, rich_help_panel=PANEL_GATES,
        help="Fraction of failed tasks allowed before exit code 3 (default 0)."),
    threshold: list[str] = typer.Option(
        [], "--threshold", "-t", metavar=METAVAR_GATE, rich_help_panel=PANEL_GATES,
        help="Gate like 'latency: p(95) < 500ms' (repeatable); exit 1 when one fails."),
    cache: bool | None = typer.Option(
        None, "--cache/--no-cache", rich_help_panel=PANEL_CACHE,
        help="Put the cache in front of the agent (default: only when the spec has a "
             "cache: section); --no-cache overrides the spec."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", rich_help_panel=PANEL_CACHE,
        help="Disk cache directory (turns the cache on)."),
    redis_url: str | None = typer.Option(
        None, "--redis-url", metavar=METAVAR_URL, rich_help_panel=PANEL_CACHE,
        help="Add a Redis cache tier (turns the cache on)."),
    cache_clear: bool = typer.Option(False, "--cache-clear", rich_help_panel=PANEL_CACHE,
                                     help="Empty the cache first."),
    report_json: Path | None = typer.Option(None, "--report-json", rich_help_panel=PANEL_REPORTS,
                                            help="JSON report file."),
    report_md: Path | None = typer.Option(None, "--report-md", rich_help_panel=PANEL_REPORTS,
                                          help="Markdown report file."),
    junit_xml: Path | None = typer.Option(None, "--junit-xml", rich_help_panel=PANEL_REPORTS,
                                          help="JUnit XML report file."),
    report_html: Path | None = typer.Option(None, "--report-html", rich_help_panel=PANEL_REPORTS,
                                            help="HTML report file."),
    resume: bool = typer.Option(
        False, "--resume", rich_help_panel=PANEL_REPORTS,
        help="Continue the batch in --output FILE: skip inputs with a successful row, run "
             "the rest, end with one row per input."),
    resume_anyway: bool = typer.Option(
        False, "--resume-anyway", rich_help_panel=PANEL_REPORTS,
        help="--resume even if the inputs or the agent's code changed since FILE was "
             "written (rows of other inputs run again)."),
    sample_interval: float = typer.Option(
        0.5, "--sample-interval", min=0, metavar=METAVAR_SECONDS, rich_help_panel=PANEL_OUTPUT,
        help="System sampling interval in seconds; 0 turns it off."),
    json_: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    from agentperf.pipeline.batch_setup import prepare_batch

    execution = dict(mode=mode, workers=workers, max_in_flight=max_in_flight,
                     timeout_s=timeout, retries=retries, scheduler=scheduler)
    check_execution_options(execution)
    plan = prepare_batch(
        spec, inputs=input_, inputs_file=str(inputs_file) if inputs_file else None,
        execution=execution,
        output=output, max_error_rate=max_error_rate, thresholds=threshold,
        cache=dict(enabled=cache, dir=cache_dir, redis_url=redis_url),
        cache_clear=cache_clear, sample_interval_s=sample_interval,
        reports=dict(json=report_json, markdown=report_md, junit=junit_xml, html=report_html),
        resume=resume, resume_anyway=resume_anyway,
    )
    from agentperf.execution.lifecycle import Shutdown
    from agentperf.pipeline.batch import run_batch

    view = _progress(plan.spec.name, quiet or json_)
    plan.options.on_progress = view.update
    plan.options.freeze_startup = owns_process()
    shutdown = plan.options.shutdown = Shutdown()
    # Installed for the whole command: a signal during the reports below is not lost.
    with shutdown.installed():
        try:
            result = run_batch(plan.spec, plan.options, adapter=plan.adapter)
        finally:
            view.close()
        _finish(plan, result, json_=json_, quiet=quiet)
    raise typer.Exit(130 if shutdown.requested else int(result.exit_code))


def _finish(plan: Any, result: Any, *, json_: bool, quiet: bool) -> None:
    """Write the report files and print the summary."""
    # Report files are complete or absent: one of a run that ended on a usage error
    # (exit 2) would be a verdict on inputs that never all ran.
    if result.exit_code != ExitCode.USAGE:
        plan.exporters.write(result)
    if plan.exporters.warnings:
        err = stderr_console()
        for warning in plan.exporters.warnings:
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    _render(result, json_=json_, quiet=quiet)


def _progress(name: str, quiet: bool) -> Any:
    from agentperf.report.progress import NullProgressView, progress_view

    return NullProgressView() if quiet else progress_view(stderr_console(), name, quiet=False)


def _render(result: Any, *, json_: bool, quiet: bool) -> None:
    if json_:
        from agentperf.report.json_report import render_json

        typer.echo(render_json(result))
        return
    if quiet and not sys.stdout.isatty():
        # To a log or a pipe: plain lines, no Rich to import, nothing wrapped at 80 columns.
        from agentperf.report.batch_summary import as_document, plain_summary

        typer.echo(plain_summary(as_document(result)))
        return
    from agentperf.report.batch_console import render_batch

    render_batch(stdout_console(), result, quiet=quiet)
