"""``agentperf run-batch``: every input through the executor, with cache, gates and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from agentperf.cli.common import (
    DEBUG_OPTION,
    EXIT_CODES_HELP,
    JSON_OPTION,
    QUIET_OPTION,
    handle_errors,
    stderr_console,
    stdout_console,
)
from agentperf.errors import ExitCode
from agentperf.execution.lifecycle import Shutdown


def register(app: typer.Typer) -> None:
    app.command("run-batch", help=_HELP, epilog=EXIT_CODES_HELP)(run_batch_command)


_HELP = (
    "Run every input of a workload through the parallel executor and report throughput, "
    "latency percentiles, errors, cache savings and a health score.\n\n"
    "SPEC is a YAML workload spec, or a dotted path (pkg.module:Agent) with --input/--inputs."
)


def _positive(value: float | None) -> float | None:
    """``--timeout 0`` would expire every task at once; the spec refuses it too."""
    if value is not None and value <= 0:
        raise typer.BadParameter("must be more than 0 (leave it out for no timeout)")
    return value


@handle_errors
def run_batch_command(
    spec: str = typer.Argument(..., metavar="SPEC", help="YAML spec file or dotted path."),
    input_: list[str] = typer.Option(
        [], "--input", "-i", help="One input as JSON (repeatable); for a dotted path."),
    inputs_file: Path | None = typer.Option(
        None, "--inputs", help="Inputs file: JSONL, JSON list or CSV."),
    mode: str | None = typer.Option(
        None, "--mode", "-m",
        help="sequential, threads, processes, asyncio, auto or dask."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="Worker count."),
    max_in_flight: int | None = typer.Option(
        None, "--max-in-flight", min=1, help="Most tasks pending at once."),
    timeout: float | None = typer.Option(
        None, "--timeout", callback=_positive,
        help="Per-task timeout in seconds, more than 0 (default: none)."),
    retries: int | None = typer.Option(None, "--retries", min=0, help="Retries per task."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address (tcp://HOST:8786) for --mode dask."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Results file (JSONL), written as tasks finish."),
    max_error_rate: float | None = typer.Option(
        None, "--max-error-rate", min=0, max=1,
        help="Fraction of failed tasks allowed before exit code 3 (default 0)."),
    threshold: list[str] = typer.Option(
        [], "--threshold", "-t", help="Gate like 'latency: p(95) < 500ms' (repeatable)."),
    cache: bool | None = typer.Option(
        None, "--cache/--no-cache",
        help="Put the cache in front of the agent (default: only when the spec has a "
             "cache: section); --no-cache overrides the spec."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Disk cache directory (turns the cache on)."),
    redis_url: str | None = typer.Option(
        None, "--redis-url", help="Add a Redis cache tier (turns the cache on)."),
    cache_clear: bool = typer.Option(False, "--cache-clear", help="Empty the cache first."),
    report_json: Path | None = typer.Option(None, "--report-json", help="JSON report file."),
    report_md: Path | None = typer.Option(None, "--report-md", help="Markdown report file."),
    junit_xml: Path | None = typer.Option(None, "--junit-xml", help="JUnit XML report file."),
    report_html: Path | None = typer.Option(None, "--report-html", help="HTML report file."),
    resume: bool = typer.Option(
        False, "--resume",
        help="Continue the batch in --output FILE: skip inputs with a successful row, run "
             "the rest, end with one row per input."),
    resume_anyway: bool = typer.Option(
        False, "--resume-anyway",
        help="--resume even if the inputs or the agent's code changed since FILE was "
             "written (rows of other inputs run again)."),
    sample_interval: float = typer.Option(
        0.5, "--sample-interval", min=0, help="System sampling interval (s); 0 turns it off."),
    json_: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    from agentperf.pipeline.batch import run_batch
    from agentperf.pipeline.batch_setup import prepare_batch

    plan = prepare_batch(
        spec, inputs=input_, inputs_file=str(inputs_file) if inputs_file else None,
        execution=dict(mode=mode, workers=workers, max_in_flight=max_in_flight,
                       timeout_s=timeout, retries=retries, scheduler=scheduler),
        output=output, max_error_rate=max_error_rate, thresholds=threshold,
        cache=dict(enabled=cache, dir=cache_dir, redis_url=redis_url),
        cache_clear=cache_clear, sample_interval_s=sample_interval,
        reports=dict(json=report_json, markdown=report_md, junit=junit_xml, html=report_html),
        resume=resume, resume_anyway=resume_anyway,
    )
    err = stderr_console()
    view = _progress(err, plan.spec.name, quiet or json_)
    plan.options.on_progress = view.update
    shutdown = plan.options.shutdown = Shutdown()
    # Installed for the whole command: a signal during the reports below is not lost.
    with shutdown.installed():
        try:
            result = run_batch(plan.spec, plan.options, adapter=plan.adapter)
        finally:
            view.close()
        _finish(plan, result, err, json_=json_, quiet=quiet)
    raise typer.Exit(130 if shutdown.requested else int(result.exit_code))


def _finish(plan: Any, result: Any, err: Any, *, json_: bool, quiet: bool) -> None:
    """Write the report files and print the summary."""
    # Report files are complete or absent: one of a run that ended on a usage error
    # (exit 2) would be a verdict on inputs that never all ran.
    if result.exit_code != ExitCode.USAGE:
        plan.exporters.write(result)
    for warning in plan.exporters.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    _render(result, json_=json_, quiet=quiet)


def _progress(console: Any, name: str, quiet: bool) -> Any:
    from agentperf.report.progress import progress_view

    return progress_view(console, name, quiet=quiet)


def _render(result: Any, *, json_: bool, quiet: bool) -> None:
    out = stdout_console()
    if json_:
        from agentperf.report.json_report import render_json

        typer.echo(render_json(result))
        return
    from agentperf.report.batch_console import render_batch

    render_batch(out, result, quiet=quiet)
