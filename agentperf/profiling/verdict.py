"""From raw passes to a ProfileResult: headline numbers, warnings, health and exit code.

Every warning says what was too short or too small and what to run instead, so a run
that measured nothing never prints zeros that look like measurements.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from agentperf import __version__
from agentperf.analysis.health import (
    HealthInput,
    HealthLimits,
    LeakSuspect,
    MemoryHealthInput,
    TaskHealthInput,
    evaluate,
    machine_warnings,
    system_input,
)
from agentperf.errors import ExitCode
from agentperf.measure.stats import summarize
from agentperf.measure.units import format_bytes
from agentperf.profiling.result import (
    CallRecord,
    LeakAnalysis,
    MemorySummary,
    Overhead,
    ProfileResult,
)
from agentperf.profiling.runner import PassesResult, ProfileOptions

if TYPE_CHECKING:
    from agentperf.measure.sampler import SamplerSummary

TIMER_FLOOR_S = 10e-6
MIN_TIMELINE_SAMPLES = 3
MISSED_PEAK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Gates:
    """The conditions that make a profile exit 1 (``None`` / False: not gated)."""

    fail_on_leak: bool = False
    max_peak_bytes: int | None = None  # per-call traced peak
    max_rss_bytes: int | None = None  # process high-water mark


def build_result(name: str, source: str | None, options: ProfileOptions, passes: PassesResult,
                 *, gates: Gates, limits: HealthLimits | None, started_at: datetime,
                 machine: SamplerSummary | None = None) -> ProfileResult:
    """``machine``: the system over the whole profile, for run warnings (it scores nothing:
    a profile is judged on its calls' time, errors and memory)."""
    timed = [c for c in passes.calls if c.phase == "timed"]
    traced = [c for c in passes.calls if c.phase == "traced"]
    memory = summarize_memory(timed, traced, passes)
    memory_per_input = passes.per_input
    times = [c.time_s for c in timed if c.ok]
    failures = sum(1 for c in timed + traced if not c.ok)  # the calls exit_code counts
    result = ProfileResult(
        name=name, source=source, iterations=options.iterations, warmup=options.warmup,
        trace_iterations=len(traced), frames=options.frames,
        group_by=options.group_by, calls=passes.calls,
        timing=summarize(times) if times else None, memory=memory,
        overhead=_overhead(timed, traced, passes, options.frames), sites=passes.sites,
        sites_call_index=passes.sites_call_index, sites_peak_bytes=passes.sites_peak_bytes,
        sites_captured_bytes=passes.sites_captured_bytes, leaks=passes.leaks,
        timeline=passes.timeline,
        line_profile=passes.line_profile, failures=failures, errors=passes.errors,
        per_input=memory_per_input,
        warnings=[], started_at=started_at.isoformat(timespec="seconds"),
        agentperf_version=__version__)
    result.warnings = warnings_for(result, options)
    result.health = evaluate(health_input(result, timed), limits)
    if machine is not None:
        result.health = replace(result.health, warnings=machine_warnings(
            system_input(machine), limits or HealthLimits()))
    result.exit_code, result.exit_reason = exit_code(result, gates)
    return result


def summarize_memory(timed: list[CallRecord], traced: list[CallRecord],
                     passes: PassesResult) -> MemorySummary:
    ok_traced = [c for c in traced if c.ok and c.traced_peak_bytes is not None]
    peaks = [c.traced_peak_bytes or 0 for c in ok_traced]
    nets = [c.net_bytes or 0 for c in ok_traced]
    transients = [max((c.traced_peak_bytes or 0) - max(c.net_bytes or 0, 0), 0)
                  for c in ok_traced]
    # The untraced calls only: the traced pass's snapshots hold memory of their own.
    untraced = [c.peak_rss_bytes or c.rss_after_bytes for c in timed]
    peak_rss = max(untraced, default=None)
    if peak_rss is None:
        peak_rss = passes.timeline.peak_hwm_bytes or passes.timeline.peak_sampled_bytes
    blocks = [c.heap_blocks_delta for c in timed if c.heap_blocks_delta is not None]
    inputs = [i for i in passes.per_input if i.ok]
    top_peak = max(inputs, key=lambda i: i.peak_bytes, default=None)
    top_kept = max(inputs, key=lambda i: i.retained_bytes, default=None)
    return MemorySummary(
        peak_bytes=max(peaks) if peaks else None,
        mean_peak_bytes=statistics.fmean(peaks) if peaks else None,
        mean_net_bytes=statistics.fmean(nets) if nets else None,
        transient_peak_bytes=max(transients) if transients else None,
        peak_rss_bytes=peak_rss,
        rss_growth_bytes=(timed[-1].rss_after_bytes - timed[0].rss_before_bytes)
        if timed else None,
        heap_blocks_per_call=statistics.fmean(blocks) if blocks else None,
        median_peak_bytes=statistics.median(i.peak_bytes for i in inputs) if inputs else None,
        peak_input=top_peak.label if top_peak else None,
        max_retained_bytes=top_kept.retained_bytes if top_kept else None,
        median_retained_bytes=statistics.median(i.retained_bytes for i in inputs)
        if inputs else None,
        max_retained_input=top_kept.label if top_kept else None,
        inputs_traced=len(passes.per_input), inputs_sampled=passes.inputs_sampled)


def _overhead(timed: list[CallRecord], traced: list[CallRecord], passes: PassesResult,
              frames: int) -> Overhead:
    plain = [c.time_s for c in timed if c.ok]
    with_tracing = [c.time_s for c in traced if c.ok]
    ratio = None
    if plain and with_tracing and statistics.median(plain) > 0:
        ratio = statistics.median(with_tracing) / statistics.median(plain)
    return Overhead(timed_pass_s=passes.timed_pass_s, traced_pass_s=passes.traced_pass_s,
                    ratio=ratio, frames=frames)


def warnings_for(result: ProfileResult, options: ProfileOptions) -> list[str]:
    out: list[str] = []
    timed_ok = [c for c in result.calls if c.phase == "timed" and c.ok]
    if not timed_ok:
        out.append("no timed call succeeded, so there is no time or memory to report; fix the "
                   "errors listed and run again")
    elif result.timing is not None and result.timing.median < TIMER_FLOOR_S:
        out.append(f"calls take {result.timing.median * 1e6:.1f} us, near the timer's "
                   "resolution: put more work in one call for reliable times")
    if result.leaks.verdict == "not enough data" and options.trace_iterations != 0:
        out.append(f"leak search inconclusive ({result.leaks.rule}); run with "
                   "--trace-iterations 12 or more")
    timeline = result.timeline
    if timeline is not None:
        if len(timeline.samples) < MIN_TIMELINE_SAMPLES:
            out.append(f"the profile lasted {timeline.duration_s * 1000:.0f} ms, under "
                       f"{MIN_TIMELINE_SAMPLES} sampling intervals of "
                       f"{timeline.interval_s * 1000:g} ms: the RSS timeline has "
                       f"{len(timeline.samples)} samples; use more --iterations or a smaller "
                       "--interval")
        hwm, sampled = timeline.peak_hwm_bytes, timeline.peak_sampled_bytes
        if hwm is not None and sampled is not None and hwm - sampled > MISSED_PEAK_BYTES:
            out.append(f"the RSS timeline (one sample every {timeline.interval_s * 1000:g} ms) "
                       f"peaked {(hwm - sampled) / 2**20:.1f} MiB below the kernel's "
                       "high-water mark: a short peak fell between samples; the peak RSS "
                       "figure includes it, a smaller --interval shows it on the timeline")
    peak, held = result.sites_peak_bytes, result.sites_captured_bytes
    if peak is not None and held is not None and peak > MISSED_PEAK_BYTES and held < peak / 2:
        out.append(f"the sites table was snapshotted at {held / 2**20:.1f} MiB of the call's "
                   f"{peak / 2**20:.1f} MiB peak: the peak lasted less than one sampling "
                   "interval with no function return while it lasted, so the largest "
                   "allocation may be missing from the table (the peak figure is exact)")
    if result.memory.peak_bytes == 0 and result.trace_iterations:
        out.append("the traced calls allocated nothing tracemalloc could see (C extensions "
                   "allocating outside Python's allocator are invisible to it); see the RSS "
                   "figures")
    return out


def health_input(result: ProfileResult, timed: list[CallRecord]) -> HealthInput:
    memory = result.memory
    peak = memory.peak_rss_bytes if memory.peak_rss_bytes is not None else memory.peak_bytes
    leaks = result.leaks
    suspects = tuple(LeakSuspect(s.location, s.bytes_per_iteration, s.share)
                     for s in leaks.suspects) if leaks.leaking else ()
    tasks = None
    if timed:
        summary = summarize([c.time_s for c in timed])
        # Every call the profile made counts, as in the exit reason ("N of M calls raised").
        calls = [c for c in result.calls if c.phase in ("timed", "traced")]
        tasks = TaskHealthInput(total=len(calls), failed=sum(1 for c in calls if not c.ok),
                                mean_latency_s=summary.mean, p50_s=summary.median,
                                p99_s=summary.p99, mode="sequential", command="profile")
    return HealthInput(tasks=tasks, memory=MemoryHealthInput(
        peak_bytes=peak or 0, leak_suspects=suspects,
        leak_bytes_per_call=(leaks.growth_per_call or 0.0) if leaks.leaking else 0.0,
        leak_rule=leaks.rule if leaks.leaking else "",
        transient_peak_bytes=memory.transient_peak_bytes or 0))


def exit_code(result: ProfileResult, gates: Gates) -> tuple[int, str]:
    reasons = []
    if gates.fail_on_leak and result.leaks.leaking:
        reasons.append(f"--fail-on-leak: {leak_words(result.leaks)}")
    peak = result.memory.peak_bytes
    if gates.max_peak_bytes is not None and peak is not None and peak > gates.max_peak_bytes:
        where = f" (input {result.memory.peak_input})" if result.memory.peak_input else ""
        reasons.append(f"--max-peak: a call peaked at {peak:,} B{where}, above "
                       f"{gates.max_peak_bytes:,} B")
    rss = result.memory.peak_rss_bytes
    if gates.max_rss_bytes is not None and rss is not None and rss > gates.max_rss_bytes:
        reasons.append(f"--max-rss: peak RSS {rss:,} B above {gates.max_rss_bytes:,} B")
    if reasons:
        return int(ExitCode.GATE_FAILED), "; ".join(reasons)
    if result.failures:
        total = sum(1 for c in result.calls if c.phase in ("timed", "traced"))
        return int(ExitCode.WORKLOAD_FAILED), f"{result.failures} of {total} calls raised"
    return int(ExitCode.OK), ""


def leak_words(leaks: LeakAnalysis) -> str:
    """The leak verdict in one line: the growth, then the site carrying it or none."""
    rate = format_bytes(leaks.growth_per_call or 0.0)
    if leaks.single_site and leaks.suspects:
        top = leaks.suspects[0]
        return (f"retained memory grows {rate} per call; {top.location} carries "
                f"{top.share:.0%} of it")
    names = ", ".join(f"{s.location} {s.share:.0%}" for s in leaks.suspects[:3]) or "none seen"
    return f"heap grows {rate} per call; no single site; top contributors {names}"


def now() -> datetime:
    return datetime.now(timezone.utc)
