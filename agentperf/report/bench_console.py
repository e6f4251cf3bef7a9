"""The terminal view of a bench run: results, warnings, comparison, gates."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentperf.analysis.compare import INCONCLUSIVE, SAME, GateResult, SuiteComparison
from agentperf.bench.model import BenchSuite
from agentperf.measure.units import format_bytes
from agentperf.report.bench_formats import (
    figures_text,
    format_interval,
    format_p,
    format_time,
    histogram_lines,
    peak_text,
    rate_text,
    time_methods,
)

_VERDICT_STYLE = {"faster": "green", "less memory": "green", "slower": "red",
                  "more memory": "red", SAME: "dim", INCONCLUSIVE: "yellow"}


def render_suite(console: Console, suite: BenchSuite, *, hist: bool = False,
                 show_warnings: bool = True) -> None:
    table = Table(title="agentperf bench (time per call)", title_justify="left")
    table.add_column("Benchmark", no_wrap=True)
    for column in ("Time", "95% CI", "CV", "Rate", "Peak mem", "Samples"):
        table.add_column(column, justify="right")
    for b in suite.benchmarks:
        s = b.stats
        cv_style = "yellow" if any(w.code == "unstable" for w in b.warnings) else ""
        table.add_row(
            escape(b.name), format_time(b.center), format_interval(*b.ci),
            f"[{cv_style}]{s.cv:.1%}[/]" if cv_style else f"{s.cv:.1%}",
            rate_text(b), peak_text(b), f"{s.count}x{b.loops:,}")
    console.print(table)
    console.print(f"[dim]time: {escape(time_methods(suite))} (95% CI beside it); samples "
                  "are count x loops[/]")
    rss = [b.max_rss_bytes for b in suite.benchmarks if b.max_rss_bytes]
    if rss:
        console.print(f"[dim]max RSS {format_bytes(max(rss))}; peak mem is the tracemalloc "
                      "peak of one call[/]")
    for b in suite.benchmarks:
        if b.figures:
            console.print(f"{escape(b.name)}: {escape(figures_text(b))}")
        if hist:
            console.print(f"[bold]{escape(b.name)}[/] samples (time per call):")
            for line in histogram_lines(b.times):
                console.print(f"  {line}", markup=False)
        if show_warnings:
            for w in b.warnings:
                console.print(f"[yellow]⚠[/] {escape(b.name)}: {escape(w.message)}")


def _short(verdict: str) -> str:
    return "n.s." if verdict == SAME else verdict


def render_comparison(console: Console, comparison: SuiteComparison,
                      gates: Sequence[GateResult] = ()) -> None:
    title = "comparison (ratio = new / base, geometric means)"
    if comparison.base_source or comparison.new_source:
        base, new = comparison.base_source or "this run", comparison.new_source or "this run"
        title += f": {base} -> {new}"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("Benchmark", overflow="fold", min_width=10)
    level = comparison.benchmarks[0].time.confidence if comparison.benchmarks else 0.95
    for column in ("Base", "New", f"Ratio, {level:.4g} CI", "p"):
        table.add_column(column, justify="right")
    table.add_column("Verdict", overflow="fold")
    with_memory = any(pair.memory is not None for pair in comparison.benchmarks)
    if with_memory:
        table.add_column("Mem Δ", justify="right")
    for pair in comparison.benchmarks:
        t = pair.time
        style = _VERDICT_STYLE.get(t.verdict, "")
        row = [escape(pair.name), format_time(t.base_value), format_time(t.new_value),
               f"{t.ratio:.3f}x ({t.change_pct:+.1f}%)\n[{t.ci_low:.3f}-{t.ci_high:.3f}]",
               format_p(t.p_value), f"[{style}]{_short(t.verdict)}[/]"]
        if with_memory:
            memory = ""
            if pair.memory is not None:
                m = pair.memory
                change = f"{m.change_pct:+.1f}%" if math.isfinite(m.ratio) else _short(m.verdict)
                memory = f"[{_VERDICT_STYLE.get(m.verdict, '')}]{change}[/]"
            row.append(memory)
        table.add_row(*row)
    console.print(table)
    noise = (f"; against a one-run baseline, changes within +-{comparison.run_noise:.0%} "
             "are not called (--run-noise)" if comparison.run_noise else "")
    console.print(f"[dim]n.s. = {SAME} at alpha {comparison.alpha:g}; base/new are "
                  f"geometric means per call over the test's observations{noise}[/]")
    for pair in comparison.benchmarks:
        reason = f"; {pair.time.verdict}: {pair.time.reason}" if pair.time.reason else ""
        console.print(f"[dim]{escape(pair.name)}: {escape(pair.time.method)}"
                      f"{escape(reason)}[/]")
    if comparison.only_in_base:
        console.print(f"[dim]only in the baseline: {escape(', '.join(comparison.only_in_base))}[/]")
    if comparison.only_in_new:
        console.print(f"[dim]only in the new run: {escape(', '.join(comparison.only_in_new))}[/]")
    for w in comparison.warnings:
        console.print(f"[yellow]⚠[/] {escape(w.message)}")
    for gate in gates:
        mark = "[bold red]FAIL[/]" if gate.failed else "[green]ok[/]"
        console.print(f"{mark} {escape(gate.message)}")
