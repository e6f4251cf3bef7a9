"""The terminal view of a memory profile: summary, sites, leaks, timeline, lines, health."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentperf.measure.units import format_bytes, format_duration
from agentperf.profiling.result import LineProfile, ProfileResult, Timeline

NOT_MEASURED = "[dim]n/a[/]"


def render_profile(console: Console, result: ProfileResult, *, quiet: bool = False) -> None:
    console.print(summary_table(result))
    if not quiet:
        if result.sites:
            console.print(sites_table(result))
        if len(result.per_input) > 1:
            console.print(inputs_table(result))
        if result.leaks.suspects:
            console.print(leaks_table(result))
        if result.line_profile is not None:
            render_lines(console, result.line_profile)
    render_leak_verdict(console, result)
    if result.timeline is not None and not quiet:
        console.print(timeline_text(result.timeline))
    render_health(console, result)
    for message in result.errors:
        console.print(f"[red]✗[/] {escape(message)}")
    for warning in result.warnings:
        console.print(f"[yellow]⚠[/] {escape(warning)}")
    if result.exit_reason:
        style = "red" if result.exit_code else "green"
        console.print(f"[{style}]exit {result.exit_code}: {escape(result.exit_reason)}[/]")


def _bytes(value: float | None) -> str:
    return NOT_MEASURED if value is None else format_bytes(value)


def summary_table(result: ProfileResult) -> Table:
    table = Table(title=f"agentperf profile: {escape(result.name)}", title_justify="left",
                  show_header=False)
    table.add_column("What", style="bold")
    table.add_column("Value")
    table.add_column("How", style="dim")
    timed = sum(1 for c in result.calls if c.phase == "timed")
    table.add_row("calls", f"{timed} timed, {result.trace_iterations} traced, "
                  f"{result.warmup} warm-up", "timing and tracing in separate passes; one "
                  "traced call per input, one for the sites, then the leak search's rounds")
    if result.timing is not None:
        t = result.timing
        table.add_row("time per call", f"median {format_duration(t.median)}  p95 "
                      f"{format_duration(t.p95)}  max {format_duration(t.max)}",
                      "untraced pass")
    else:
        table.add_row("time per call", NOT_MEASURED, "no timed call succeeded")
    m = result.memory
    inputs = f"{m.inputs_traced} input(s){' (a sample)' if m.inputs_sampled else ''}"
    where = f", input {escape(m.peak_input)}" if m.peak_input and m.inputs_traced > 1 else ""
    table.add_row("peak per call", f"max {_bytes(m.peak_bytes)}{where}; median "
                  f"{_bytes(m.median_peak_bytes)}",
                  f"tracemalloc peak above the heap before the call, over {inputs}")
    kept = (f", max {_bytes(m.max_retained_bytes)} (input {escape(m.max_retained_input)})"
            if m.max_retained_input and m.inputs_traced > 1 else "")
    table.add_row("retained per call", f"median {_bytes(m.median_retained_bytes)}{kept}",
                  "traced heap after the call and a collection, minus before")
    table.add_row("transient peak", _bytes(m.transient_peak_bytes),
                  "peak minus what the call kept")
    table.add_row("peak RSS", _bytes(m.peak_rss_bytes),
                  "kernel high-water mark (VmHWM) during the untraced calls")
    table.add_row("RSS growth", _bytes(m.rss_growth_bytes), "over the timed pass")
    o = result.overhead
    ratio = overhead_words(o.ratio)
    table.add_row("tracing overhead", f"{ratio}; timed pass {format_duration(o.timed_pass_s)}, "
                  f"traced pass {format_duration(o.traced_pass_s)}",
                  f"tracemalloc with {o.frames} frame(s)")
    return table


def overhead_words(ratio: float | None) -> str:
    """"2.5x slower", or "no slower" when tracing did not cost measurable time."""
    if ratio is None:
        return NOT_MEASURED
    if ratio < 1.05:
        return f"no slower per call (traced/untraced {ratio:.2f})"
    return f"{ratio:.1f}x slower per call"


def inputs_table(result: ProfileResult) -> Table:
    table = Table(title="memory per input (one traced call each)", title_justify="left")
    table.add_column("Input", overflow="fold")
    table.add_column("Peak", justify="right")
    table.add_column("Retained", justify="right")
    for item in result.per_input:
        table.add_row(escape(item.label), format_bytes(item.peak_bytes),
                      format_bytes(item.retained_bytes) if item.ok else "[red]raised[/]")
    return table


def sites_table(result: ProfileResult) -> Table:
    title = (f"top allocation sites by {'traceback' if result.group_by == 'traceback' else 'line'}"
             " (alive at the peak of one traced call)")
    table = Table(title=title, title_justify="left")
    table.add_column("Site", overflow="fold")
    # No "average block": a 50 MiB buffer and its small header would read as two 25 MiB.
    for column in ("Size", "Blocks"):
        table.add_column(column, justify="right")
    table.add_column("Code")
    for site in result.sites:
        where = escape(site.location)
        if result.group_by == "traceback" and len(site.traceback) > 1:
            where = "\n".join(escape(f) for f in reversed(site.traceback))
        kind = "yours" if site.user_code else "library"
        if site.folded_sites:
            kind += f" (+{site.folded_sites} folded)"
        table.add_row(where, format_bytes(site.size_bytes), f"{site.count:,}", kind)
    return table


def leaks_table(result: ProfileResult) -> Table:
    leaks = result.leaks
    title = ("sites carrying the leak" if leaks.single_site
             else "top contributors (no single site carries the leak)")
    table = Table(title=title, title_justify="left")
    table.add_column("Site", overflow="fold")
    table.add_column("Per call", justify="right")
    table.add_column("Share", justify="right")
    table.add_column("Grew", justify="right")
    table.add_column("Traceback (innermost first)", overflow="fold")
    for s in leaks.suspects:
        table.add_row(escape(s.location), f"+{format_bytes(s.bytes_per_iteration)}",
                      f"{s.share:.0%}", f"{format_bytes(s.retained_bytes)} "
                      f"({s.count_growth:+,} blocks)",
                      escape("\n".join(reversed(s.traceback))))
    return table


def render_leak_verdict(console: Console, result: ProfileResult) -> None:
    from agentperf.profiling.verdict import leak_words

    leaks = result.leaks
    if leaks.verdict == "not checked":
        console.print("[yellow]leaks: not checked[/] (--trace-iterations 0)")
    elif leaks.verdict == "not enough data":
        console.print(f"[yellow]leaks: not enough data[/] - {escape(leaks.rule)}")
    elif leaks.leaking:
        console.print(f"[red]leak:[/] {escape(leak_words(leaks))}")
        console.print(f"  [dim]rule: {escape(leaks.rule)}[/]")
    elif leaks.method == "heap screen":
        console.print(f"[green]leaks: none[/] over {leaks.iterations} untraced calls, so no "
                      "traced search was needed (--trace-iterations N forces one)")
        console.print(f"  [dim]rule: {escape(leaks.rule)}[/]")
    else:
        console.print(f"[green]leaks: none[/] over {leaks.iterations} traced calls in "
                      f"{leaks.rounds} rounds")
        console.print(f"  [dim]rule: {escape(leaks.rule)}[/]")
    if leaks.dismissed:
        console.print(f"  [dim]not leaks: {escape(', '.join(leaks.dismissed[:3]))} grew only "
                      "in tracemalloc's view: they replace memory allocated before tracing "
                      "(a bounded cache)[/]")


def timeline_text(timeline: Timeline) -> str:
    achieved = timeline.achieved_interval_s
    spacing = f" (achieved {achieved * 1000:.1f} ms)" if achieved else ""
    children = ", children included" if timeline.include_children else ""
    return (f"RSS timeline: {len(timeline.samples)} samples every "
            f"{timeline.interval_s * 1000:g} ms{spacing} over "
            f"{format_duration(timeline.duration_s)}{children}; sampled peak "
            f"{_bytes(timeline.peak_sampled_bytes)}, high-water mark "
            f"{_bytes(timeline.peak_hwm_bytes)}, tracemalloc peak "
            f"{_bytes(timeline.traced_peak_bytes)} (use --plot to see it)")


def render_lines(console: Console, profile: LineProfile) -> None:
    table = Table(title=f"line by line: {escape(profile.function)} ({escape(profile.filename)}, "
                  f"{profile.calls} calls)", title_justify="left")
    table.add_column("Line", justify="right")
    table.add_column("Mem usage", justify="right")
    table.add_column("Increment", justify="right")
    table.add_column("Occurrences", justify="right")
    table.add_column("Source", overflow="fold")
    for line in profile.lines:
        usage = f"{line.mem_mib:.1f} MiB" if line.mem_mib is not None else ""
        inc = f"{line.increment_mib:+.1f} MiB" if line.increment_mib is not None else ""
        table.add_row(str(line.lineno), usage, inc, str(line.occurrences or ""),
                      escape(line.source))
    console.print(table)
    console.print(f"[dim]{escape(profile.note)}[/]")


def render_health(console: Console, result: ProfileResult) -> None:
    health = result.health
    if health is None:
        return
    for warning in health.warnings:  # the machine's state: context for the score below
        console.print(f"[yellow]⚠[/] {escape(warning.message)}")
    style = {"healthy": "green", "needs_attention": "yellow"}.get(health.status, "red")
    console.print(f"health: [{style}]{health.score:g}/100 {health.status}[/]")
    for finding in health.findings:
        console.print(f"  -{finding.points:g} {escape(finding.message)}")
        console.print(f"    [dim]→ {escape(finding.recommendation)}[/]")
