"""``agentperf bench``: calibrated benchmarks, baselines and significance-tested gates.

``agentperf bench [WORKLOAD]`` runs benchmarks (the ``run`` subcommand is implied);
``agentperf bench compare A.json B.json`` compares two saved runs. Both share the
gate and output options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agentperf.cli.common import (
    DEBUG_OPTION,
    EXIT_CODES_HELP,
    JSON_OPTION,
    METAVAR_DURATION,
    METAVAR_JSON,
    METAVAR_PCT,
    METAVAR_WORKLOAD,
    PANEL_GATES,
    PANEL_MEASURE,
    PANEL_OUTPUT,
    PANEL_REPORTS,
    PANEL_WORKLOAD,
    QUIET_OPTION,
    check_writable,
    handle_errors,
    stderr_console,
    stdout_console,
)
from agentperf.cli.help import AgentperfCommand, AgentperfGroup
from agentperf.errors import AgentperfError, ExitCode, did_you_mean

TYPES = ("cpu", "memory", "io", "agent", "all")


class _BenchGroup(AgentperfGroup):
    """Runs ``run`` unless the first word is another subcommand, so ``bench WORKLOAD`` works."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(cls=_BenchGroup, add_completion=False, pretty_exceptions_enable=False)

_SHORT_HELP = (
    "Calibrated benchmarks with honest statistics, baselines and significance-tested "
    "regression gates; 'bench compare A.json B.json' compares saved runs."
)
_RUN_HELP = (
    "Benchmark a workload (WORKLOAD: dotted path or YAML spec) or a built-in kernel set "
    "(--type cpu, memory, io or all): warm-up, loop calibration to --min-time per sample, "
    "--samples samples, a time per call with its 95% CI (each worker process one "
    "observation), memory per sample, and warnings "
    "when the result is noisy.\n\n"
    "Compare with a saved run (--compare FILE, reusing its loop count and settings) or a "
    "candidate in the same invocation (--interleave CANDIDATE: one sample of each per "
    "round, in a shuffled order, compared paired); --fail-if-slower PCT exits 1 only when "
    "a benchmark is significantly slower by more than PCT.\n\n"
    "Compare two saved runs: agentperf bench compare BASE.json NEW.json"
)

WorkloadArg = Annotated[str | None, typer.Argument(
    metavar=METAVAR_WORKLOAD, help="Dotted path (pkg.module:agent) or YAML spec.")]
TypeOpt = Annotated[str | None, typer.Option(
    "--type", metavar="TYPE", rich_help_panel=PANEL_WORKLOAD,
        help="With WORKLOAD: agent (default: time per call), cpu (+ CPU time), "
                         "memory (+ peak and retained memory per call, RSS) or io (+ time "
                         "waiting, bytes and syscalls). Without: the built-in machine-probe "
                         "kernels cpu, memory, io or all.")]
InputOpt = Annotated[list[str] | None, typer.Option(
    "--input", "-i", metavar=METAVAR_JSON, rich_help_panel=PANEL_WORKLOAD,
    help="One input as JSON (repeatable); inputs are cycled.")]
InputsFileOpt = Annotated[Path | None, typer.Option(
    "--inputs", rich_help_panel=PANEL_WORKLOAD, help="Inputs file: JSONL, JSON list or CSV.")]
InterleaveOpt = Annotated[str | None, typer.Option(
    "--interleave", metavar="CANDIDATE", rich_help_panel=PANEL_GATES,
    help="Run WORKLOAD and CANDIDATE in one schedule: every round takes one sample of "
         "each, in a shuffled order; compare them paired, round by round (or worker by "
         "worker).")]
SamplesOpt = Annotated[int, typer.Option("--samples", "-n", min=1, rich_help_panel=PANEL_MEASURE,
                                         help="Timed samples.")]
WarmupOpt = Annotated[int, typer.Option("--warmup", min=0, rich_help_panel=PANEL_MEASURE,
                                        help="Warm-up samples, discarded.")]
MinTimeOpt = Annotated[str, typer.Option(
    "--min-time", metavar=METAVAR_DURATION, rich_help_panel=PANEL_MEASURE,
    help="Least duration of one sample (100ms, 0.5s, ...), more than 0.")]
MaxTimeOpt = Annotated[str | None, typer.Option(
    "--max-time", metavar=METAVAR_DURATION, rich_help_panel=PANEL_MEASURE,
    help="Stop taking samples after this long (per benchmark).")]
ProcessesOpt = Annotated[str, typer.Option(
    "--processes", metavar="K|auto", rich_help_panel=PANEL_MEASURE,
    help="Take samples in K fresh worker interpreters, one after another (0: this "
         "process; auto: 20 when a call is shorter than --min-time, else 0).")]
NoGcOpt = Annotated[bool, typer.Option(
    "--no-gc", rich_help_panel=PANEL_MEASURE, help="Disable the garbage collector while timing.")]
MemoryOpt = Annotated[bool, typer.Option(
    "--memory/--no-memory", rich_help_panel=PANEL_MEASURE,
        help="Trace the peak memory of one call per sample.")]
SaveOpt = Annotated[Path | None, typer.Option(
    "--save", rich_help_panel=PANEL_REPORTS,
        help="Write every raw sample and the environment to this JSON file.")]
AppendOpt = Annotated[bool, typer.Option(
    "--append", rich_help_panel=PANEL_REPORTS,
        help="With --save: add this run to the file's runs instead of replacing "
                     "them; --compare uses the spread between a baseline's runs.")]
CompareOpt = Annotated[Path | None, typer.Option(
    "--compare", rich_help_panel=PANEL_GATES, help="Compare with a baseline written by --save.")]
FailSlowerOpt = Annotated[str | None, typer.Option(
    "--fail-if-slower", metavar=METAVAR_PCT, rich_help_panel=PANEL_GATES,
    help="Exit 1 if a benchmark is significantly slower by more than PCT (e.g. 5%).")]
FailMemoryOpt = Annotated[str | None, typer.Option(
    "--fail-if-more-memory", metavar=METAVAR_PCT, rich_help_panel=PANEL_GATES,
    help="Exit 1 if a benchmark's peak memory per call is significantly higher by more "
         "than PCT.")]
AlphaOpt = Annotated[float, typer.Option(
    "--alpha", rich_help_panel=PANEL_GATES,
        help="Significance level; with several benchmarks, the false-discovery "
                    "rate (Benjamini-Hochberg).")]
RunNoiseOpt = Annotated[str, typer.Option(
    "--run-noise", metavar=METAVAR_PCT, rich_help_panel=PANEL_GATES,
    help="Against a baseline of one run: do not call a change whose interval reaches "
         "within +-PCT, which separate runs of unchanged code can differ by (0: judge on "
         "this run's precision alone). A baseline of several runs (--append) measures it "
         "instead.")]
MdOpt = Annotated[bool, typer.Option("--md", rich_help_panel=PANEL_OUTPUT,
                                     help="Print Markdown tables on stdout instead.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", rich_help_panel=PANEL_REPORTS,
    help="Write the full JSON result (what --json prints) to this file.")]
CsvOpt = Annotated[Path | None, typer.Option("--csv", rich_help_panel=PANEL_REPORTS,
                                             help="Write a CSV summary to this file.")]
HtmlOpt = Annotated[Path | None, typer.Option(
    "--report-html", rich_help_panel=PANEL_REPORTS,
    help="Write a self-contained HTML report to this file.")]
GabOpt = Annotated[Path | None, typer.Option(
    "--export-gab", rich_help_panel=PANEL_REPORTS,
        help="Write github-action-benchmark customSmallerIsBetter JSON to this file.")]
HistOpt = Annotated[bool, typer.Option(
    "--hist", rich_help_panel=PANEL_OUTPUT,
        help="Show a text histogram of each benchmark's samples.")]
BaseArg = Annotated[Path, typer.Argument(metavar="BASE.json", help="Baseline written by --save.")]
NewArg = Annotated[Path, typer.Argument(metavar="NEW.json", help="New run written by --save.")]


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench", help=_SHORT_HELP, epilog=EXIT_CODES_HELP,
                  short_help="Calibrated benchmarks, baselines and significance-tested gates.")


@bench_app.command("run", help=_RUN_HELP, epilog=EXIT_CODES_HELP, cls=AgentperfCommand)
@handle_errors
def run_command(
    ctx: typer.Context,
    workload: WorkloadArg = None,
    type_: TypeOpt = None,
    input_: InputOpt = None,
    inputs_file: InputsFileOpt = None,
    interleave: InterleaveOpt = None,
    samples: SamplesOpt = 20,
    warmup: WarmupOpt = 1,
    min_time: MinTimeOpt = "100ms",
    max_time: MaxTimeOpt = None,
    processes: ProcessesOpt = "auto",
    no_gc: NoGcOpt = False,
    memory: MemoryOpt = True,
    save: SaveOpt = None,
    append: AppendOpt = False,
    compare: CompareOpt = None,
    fail_if_slower: FailSlowerOpt = None,
    fail_if_more_memory: FailMemoryOpt = None,
    alpha: AlphaOpt = 0.05,
    run_noise: RunNoiseOpt = "5%",
    json_: bool = JSON_OPTION,
    md: MdOpt = False,
    output: OutputOpt = None,
    csv_file: CsvOpt = None,
    report_html: HtmlOpt = None,
    export_gab: GabOpt = None,
    hist: HistOpt = False,
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    from agentperf.bench.model import BenchOptions
    from agentperf.bench.runner import run_suite

    options = BenchOptions(
        samples=samples, warmup=warmup, min_time_s=parse_duration(min_time, "--min-time"),
        max_time_s=parse_duration(max_time, "--max-time") if max_time else None,
        processes=_processes(processes), no_gc=no_gc, memory=memory)
    options.validate()
    gates = _gate_settings(fail_if_slower, fail_if_more_memory, alpha)
    noise = _run_noise(run_noise)
    _check_output_flags(json_, md)
    recipes = _recipes(workload, type_, input_ or [], inputs_file, interleave)
    if any(v is not None for v in gates.values()) and not (compare or interleave):
        raise AgentperfError("--fail-if-slower/--fail-if-more-memory: need --compare FILE or "
                             "--interleave CANDIDATE")
    if compare and interleave:
        raise AgentperfError("--compare/--interleave: use one, not both")
    if append and not save:
        raise AgentperfError("--append: needs --save FILE")
    baseline = _load_baseline(compare, [r.name for r in recipes])
    earlier = _load_earlier(save) if append else None
    for path, option in ((save, "--save"), (output, "--output"), (csv_file, "--csv"),
                         (export_gab, "--export-gab"), (report_html, "--report-html")):
        check_writable(path, option)
    loops: dict[str, int] = {}
    notes: list[Any] = []
    reference = baseline or earlier
    if reference is not None:
        options, loops, notes = _reuse_settings(ctx, options, reference,
                                                [r.name for r in recipes])
    with _Progress(enabled=not (quiet or json_ or md)) as progress:
        suite = run_suite(recipes, options, interleave=interleave is not None,
                          progress=progress, loops=loops)
    comparison = None
    if baseline is not None:
        from agentperf.analysis.compare import compare_suites

        comparison = compare_suites(baseline, suite, alpha=alpha, run_noise=noise)
        comparison.warnings[:0] = notes
    if earlier is not None:
        from agentperf.bench.baseline import append_run

        suite = append_run(earlier, suite)
    elif interleave:
        from agentperf.analysis.compare import compare_pair

        comparison = compare_pair(suite.benchmarks[0], suite.benchmarks[1], alpha=alpha)
    _finish(suite, comparison, gates, save=save, output=output, csv_file=csv_file,
            export_gab=export_gab, json_=json_, md=md, hist=hist, quiet=quiet,
            report_html=report_html)


@bench_app.command("compare", epilog=EXIT_CODES_HELP, cls=AgentperfCommand)
@handle_errors
def compare_command(
    base: BaseArg,
    new: NewArg,
    fail_if_slower: FailSlowerOpt = None,
    fail_if_more_memory: FailMemoryOpt = None,
    alpha: AlphaOpt = 0.05,
    run_noise: RunNoiseOpt = "5%",
    output: OutputOpt = None,
    json_: bool = JSON_OPTION,
    md: MdOpt = False,
    report_html: HtmlOpt = None,
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> None:
    """Compare two saved runs benchmark by benchmark: each worker process is one
    observation; ratio, CI and verdict come from one t test on log times (the spread
    between a baseline's appended runs is a floor); the same gates as a run."""
    from agentperf.analysis.compare import compare_suites, evaluate_gates
    from agentperf.bench.baseline import load_suite

    gates = _gate_settings(fail_if_slower, fail_if_more_memory, alpha)
    noise = _run_noise(run_noise)
    _check_output_flags(json_, md)
    check_writable(report_html, "--report-html")
    check_writable(output, "--output")
    base_suite, new_suite = load_suite(base), load_suite(new)
    comparison = compare_suites(base_suite, new_suite, alpha=alpha, run_noise=noise)
    if not comparison.benchmarks:
        raise AgentperfError(f"{base} and {new} have no benchmark in common ("
                             f"{_names(base_suite.by_name())} vs {_names(new_suite.by_name())})")
    results = evaluate_gates(comparison, **gates)
    if report_html:
        from agentperf.report.bench_formats import to_json_document
        from agentperf.report.html_bench import render_bench_html

        _write(report_html, render_bench_html(to_json_document(new_suite, comparison, results)))
    if json_ or output:
        import json

        from agentperf.report.bench_formats import comparison_document

        document = json.dumps(comparison_document(comparison, results), indent=2)
        if output:
            _write(output, document + "\n")
    if json_:
        typer.echo(document)
    elif md:
        from agentperf.report.bench_formats import comparison_markdown

        typer.echo(comparison_markdown(comparison, results), nl=False)
    else:
        from agentperf.report.bench_console import render_comparison

        render_comparison(stdout_console(), comparison, results)
    _exit_for_gates(results, quiet=quiet)


def _finish(suite: Any, comparison: Any, gates: dict[str, float | None], *, save: Path | None,
            output: Path | None, csv_file: Path | None, export_gab: Path | None, json_: bool,
            md: bool, hist: bool, quiet: bool, report_html: Path | None = None) -> None:
    from agentperf.analysis.compare import evaluate_gates
    from agentperf.bench.baseline import save_suite
    from agentperf.report import bench_formats as formats

    results = evaluate_gates(comparison, **gates) if comparison is not None else []
    if save:
        save_suite(suite, save)
    if csv_file:
        _write(csv_file, formats.to_csv(suite))
    if export_gab:
        _write(export_gab, formats.to_github_action_benchmark(suite))
    if report_html:
        from agentperf.report.html_bench import render_bench_html

        _write(report_html, render_bench_html(formats.to_json_document(suite, comparison,
                                                                        results)))
    document = formats.to_json(suite, comparison, results) if json_ or output else ""
    if output:
        _write(output, document + "\n")
    if json_:
        typer.echo(document)
    elif md:
        typer.echo(formats.to_markdown(suite, comparison, results), nl=False)
    else:
        from agentperf.report.bench_console import render_comparison, render_suite

        console = stdout_console()
        render_suite(console, suite, hist=hist, show_warnings=not quiet)
        if comparison is not None:
            render_comparison(console, comparison, results)
        if save and not quiet:
            stderr_console().print(f"saved {len(suite.benchmarks)} benchmark(s) to {save}")
    _exit_for_gates(results, quiet=quiet)


def _exit_for_gates(results: Any, *, quiet: bool) -> None:
    """Exit 1 with the shared one-line reason when a gate failed."""
    from agentperf.analysis.gates import decide_exit_code

    failures = [g.message for g in results if g.failed]
    code, reason = decide_exit_code(False, [], 0, len(results), gate_failures=failures)
    if code != ExitCode.OK:
        if not quiet:
            stderr_console().print(reason, markup=False, soft_wrap=True)
        raise typer.Exit(int(code))


def _recipes(workload: str | None, type_: str | None, inputs: list[str],
             inputs_file: Path | None, interleave: str | None) -> list[Any]:
    from agentperf.bench.kernels import KERNELS, kernel_recipes

    kind = type_ or ("agent" if workload else "cpu")
    if kind not in TYPES:
        raise AgentperfError(f"--type: unknown type '{kind}'{did_you_mean(kind, TYPES)}; "
                             f"expected one of {', '.join(TYPES)}")
    if workload and kind == "all":
        raise AgentperfError("--type: all runs the built-in kernels and takes no WORKLOAD; "
                             "use --type cpu, memory or io with a WORKLOAD")
    if kind == "agent" and not workload:
        raise AgentperfError("--type: agent needs a WORKLOAD (dotted path or YAML spec)")
    if interleave and not workload:
        raise AgentperfError("--interleave: needs a baseline WORKLOAD to alternate with")
    if (inputs or inputs_file) and not workload:
        raise AgentperfError("--input/--inputs: apply to a WORKLOAD only")
    if not workload:
        kinds = [k for k in KERNELS] if kind == "all" else [kind]
        return [r for k in kinds for r in kernel_recipes(k)]
    measure = "" if kind == "agent" else kind
    recipes = [_agent_recipe(workload, inputs, inputs_file, measure)]
    if interleave:
        recipes.append(_agent_recipe(interleave, inputs, inputs_file, measure))
        if recipes[0].name == recipes[1].name:
            from dataclasses import replace

            same = recipes[0].description == recipes[1].description
            recipes = [replace(r, name=f"{r.name} [{side}]" if same else r.description)
                       for r, side in zip(recipes, ("baseline", "candidate"), strict=True)]
    return recipes


def _agent_recipe(reference: str, inputs: list[str], inputs_file: Path | None,
                  measure: str = "") -> Any:
    from agentperf.bench.model import TargetRecipe
    from agentperf.workload.spec import load_workload

    cwd = Path.cwd()
    file_arg = str(inputs_file) if inputs_file else None
    spec = load_workload(reference, inputs=inputs, inputs_file=file_arg, cwd=cwd)
    return TargetRecipe(name=spec.name, kind="agent", reference=reference, inputs=tuple(inputs),
                        inputs_file=file_arg, cwd=str(cwd), description=spec.agent.target,
                        measure=measure)


def _load_baseline(path: Path | None, names: list[str]) -> Any:
    """Read the baseline before measuring, so a bad file fails in a second, not after."""
    if path is None:
        return None
    from agentperf.bench.baseline import load_suite

    baseline = load_suite(path)
    if not set(names) & set(baseline.by_name()):
        raise AgentperfError(f"{path}: no benchmark in common with this run (baseline has "
                             f"{_names(baseline.by_name())}; this run has {_names(names)})")
    return baseline


def _load_earlier(path: Path | None) -> Any:
    """The runs already in a --save --append file (none when it does not exist yet)."""
    if path is None or not path.exists():
        return None
    from agentperf.bench.baseline import load_suite

    return load_suite(path)


#: Options a comparison takes from the baseline unless given on the command line.
_REUSED = ("samples", "warmup", "min_time", "no_gc", "processes")


def _reuse_settings(ctx: Any, options: Any, baseline: Any,
                    names: list[str]) -> tuple[Any, dict[str, int], list[Any]]:
    """The baseline's loop counts and settings, so both runs take the same measurement.

    An option given on the command line wins, and the comparison says it differs.
    """
    from dataclasses import replace

    from agentperf.bench.baseline import baseline_loops, baseline_processes
    from agentperf.bench.model import BenchWarning

    saved = baseline.options
    known = baseline.by_name()
    common = [known[n] for n in names if n in known]
    wanted = {"samples": saved.get("samples"), "warmup": saved.get("warmup"),
              "min_time_s": saved.get("min_time_s"), "no_gc": saved.get("no_gc"),
              "processes": baseline_processes(common[0]) if common else None}
    changes: dict[str, Any] = {}
    notes: list[Any] = []
    for option, field_name in zip(_REUSED, ("samples", "warmup", "min_time_s", "no_gc",
                                            "processes"), strict=True):
        value = wanted[field_name]
        if value is None or value == getattr(options, field_name):
            continue
        # by name: Typer may carry its own copy of click's ParameterSource enum
        if getattr(ctx.get_parameter_source(option), "name", "") == "COMMANDLINE":
            notes.append(BenchWarning(
                "settings-differ", f"--{option.replace('_', '-')} differs from the "
                f"baseline's ({getattr(options, field_name)} vs {value}), so the two runs "
                "are not the same measurement"))
        else:
            changes[field_name] = value
    loops = {r.name: baseline_loops(r) for r in common}
    return replace(options, **changes), loops, notes


def _names(names: Any) -> str:
    return ", ".join(sorted(names)) or "none"


def _gate_settings(slower: str | None, more_memory: str | None,
                   alpha: float) -> dict[str, float | None]:
    if not 0 < alpha < 1:
        raise AgentperfError(f"--alpha: must be between 0 and 1, got {alpha:g}")
    return {"fail_if_slower_pct": parse_percent(slower, "--fail-if-slower"),
            "fail_if_more_memory_pct": parse_percent(more_memory, "--fail-if-more-memory")}


def _run_noise(text: str) -> float:
    value = parse_percent(text, "--run-noise")
    assert value is not None
    return value / 100


def _check_output_flags(json_: bool, md: bool) -> None:
    if json_ and md:
        raise AgentperfError("--json/--md: choose one")


def parse_percent(text: str | None, option: str) -> float | None:
    """``5%``, ``5`` or ``2.5%`` to a percentage."""
    if text is None:
        return None
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise AgentperfError(f"{option}: expected a percentage like 5%, got '{text}'") from None
    if value < 0:
        raise AgentperfError(f"{option}: must not be negative, got '{text}'")
    return value


def parse_duration(text: str, option: str) -> float:
    """``100ms``, ``0.5s``, ``250us`` or plain seconds to seconds."""
    from agentperf.measure.units import parse_duration as seconds_of

    try:
        seconds = seconds_of(text)
    except ValueError as exc:
        raise AgentperfError(f"{option}: {exc}") from None
    if seconds <= 0:
        raise AgentperfError(f"{option}: must be positive, got '{text}'")
    return seconds


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AgentperfError(f"{path}: cannot write: {exc.strerror}") from None


def _processes(value: str) -> int | None:
    if value.strip().lower() == "auto":
        return None
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise AgentperfError(f"--processes: expected auto or a number of processes, got "
                             f"{value!r}")
    return count


class _Progress:
    """A transient progress line on stderr while sampling, only on a terminal."""

    def __init__(self, *, enabled: bool) -> None:
        self._console = stderr_console()
        self._enabled = enabled and self._console.is_terminal
        self._status: Any = None

    def __enter__(self) -> Any:
        if not self._enabled:
            return None
        self._status = self._console.status("calibrating...")
        self._status.__enter__()
        return self._update

    def _update(self, names: Any, done: int, total: int) -> None:
        self._status.update(f"{', '.join(names)}: sample {done}/{total}")

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)
