"""Library entry points: ``profile_memory`` for a workload, ``profile_block`` for a code block.

Both return the :class:`ProfileResult` the ``agentperf profile`` command renders. This
module is the profile pipeline: it sits on top, so it may use the health engine.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agentperf.analysis.health import HealthLimits, evaluate
from agentperf.errors import AgentperfError
from agentperf.profiling import sites, verdict
from agentperf.profiling.peaks import PeakCapture
from agentperf.profiling.result import (
    CallRecord,
    LeakAnalysis,
    Overhead,
    ProfileResult,
)
from agentperf.profiling.rss import HighWaterMark, RssReader
from agentperf.profiling.runner import PassesResult, ProfileOptions, Profiler
from agentperf.profiling.timeline import RssSampler
from agentperf.workload.adapters import AgentAdapter, build_adapter
from agentperf.workload.spec import WorkloadSpec, load_workload

_NOT_GIVEN: Any = object()


def profile_memory(target: Any, *, inputs: Iterable[Any] | None = _NOT_GIVEN,
                   iterations: int = 20, warmup: int = 1, trace_iterations: int | None = None,
                   frames: int = 1, group_by: str = "lineno", top: int = 10,
                   only_user_code: bool = False, interval: float = 0.01,
                   include_children: bool = False, line: str | None = None,
                   leak_min_bytes: float = 4096.0, fail_on_leak: bool = False,
                   max_peak_bytes: int | None = None, max_rss_bytes: int | None = None,
                   health_limits: HealthLimits | None = None, name: str | None = None
                   ) -> ProfileResult:
    """Profile the memory of ``target``: a callable, an agent object, an AgentAdapter,
    a WorkloadSpec, or a reference string (dotted path or YAML spec file).

    ``inputs`` are cycled across calls; by default a spec's inputs, else no input.
    """
    spec = load_workload(target) if isinstance(target, str) else target
    options = ProfileOptions(
        iterations=iterations, warmup=warmup, trace_iterations=trace_iterations,
        frames=frames, group_by=group_by, top=top, only_user_code=only_user_code,
        interval_s=interval, include_children=include_children, line_function=line,
        leak_min_bytes=leak_min_bytes)
    adapter, default_inputs, search_paths, source = _adapt(spec)
    label = name or (spec.name if isinstance(spec, WorkloadSpec) else adapter.name)
    from agentperf.measure.sampler import SpanSampler

    started = verdict.now()
    # No thread: tracemalloc would trace a sampler's allocations. The run's own share is
    # this process, with its children as for the RSS figures.
    machine = SpanSampler(include_children=include_children)
    passes = Profiler(adapter, default_inputs if inputs is _NOT_GIVEN else inputs, options,
                      search_paths).run()
    gates = verdict.Gates(fail_on_leak, max_peak_bytes, max_rss_bytes)
    return verdict.build_result(label, source, options, passes, gates=gates,
                                limits=health_limits, started_at=started,
                                machine=machine.stop())


def _adapt(target: Any) -> tuple[AgentAdapter, Iterable[Any] | None, tuple[str, ...],
                                 str | None]:
    if isinstance(target, WorkloadSpec):
        return (target.build_agent(), target.inputs, target.agent.search_paths,
                target.source)
    if isinstance(target, AgentAdapter):
        return target, None, (), None
    if target is None:
        raise AgentperfError("profile_memory needs a callable, an agent or a workload")
    return build_adapter(target), None, (), None


@dataclass
class BlockProfile:
    """Filled in when the ``with profile_block()`` block ends: read ``.result``."""

    name: str
    result: ProfileResult | None = None


@contextmanager
def profile_block(name: str = "block", *, frames: int = 1, group_by: str = "lineno",
                  top: int = 10, only_user_code: bool = False, interval: float = 0.01,
                  include_children: bool = False,
                  health_limits: HealthLimits | None = None) -> Iterator[BlockProfile]:
    """Profile one block of code: its traced peak, what it kept, sites at its peak, RSS.

    The block runs once and traced, so its time includes the tracing overhead and there
    is no leak search (that needs repeated calls: use :func:`profile_memory`). An
    exception in the block is recorded in the result and re-raised.
    """
    options = ProfileOptions(iterations=1, warmup=0, trace_iterations=1, frames=frames,
                             group_by=group_by, top=top, only_user_code=only_user_code,
                             interval_s=interval, include_children=include_children)
    options.validate()
    if tracemalloc.is_tracing():
        raise AgentperfError("tracemalloc is already tracing in this process")
    holder = BlockProfile(name)
    reader, hwm = RssReader(), HighWaterMark()
    capture = PeakCapture()
    sampler = RssSampler(interval, include_children, on_tick=capture.check)
    started_at = verdict.now()
    sampler.start()
    tracemalloc.start(frames)
    before = tracemalloc.take_snapshot()
    rss_before = reader.own_rss()
    hwm.reset()
    start_mark = sampler.now()
    started = time.perf_counter()
    error: str | None = None
    try:
        with capture:
            yield holder
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        elapsed = time.perf_counter() - started
        traced_after = tracemalloc.get_traced_memory()[0]
        traced_before = capture.base_bytes
        sampler.mark(0, "block", start_mark, sampler.now())
        peak = capture.snapshot or tracemalloc.take_snapshot()
        captured = capture.captured_bytes if capture.snapshot else traced_after - traced_before
        tracemalloc.stop()
        found = sites.top_sites(peak, before, group_by=group_by, top=top,
                                only_user_code=only_user_code)
        del peak, before
        sampler.stop()
        rss_after = reader.own_rss()
        reader.close()
        peak_rss = hwm.read()
        hwm.close()
        record = CallRecord(index=0, phase="traced", ok=error is None, time_s=elapsed,
                            rss_before_bytes=rss_before, rss_after_bytes=rss_after,
                            peak_rss_bytes=peak_rss, traced_current_bytes=traced_after,
                            traced_peak_bytes=capture.peak_bytes,
                            net_bytes=traced_after - traced_before, error=error)
        holder.result = _block_result(name, options, record, found, captured, sampler,
                                      health_limits, started_at)


def _block_result(name: str, options: ProfileOptions, record: CallRecord, found: list[Any],
                  captured: int, sampler: RssSampler, limits: HealthLimits | None,
                  started_at: Any) -> ProfileResult:
    timeline = sampler.timeline(peak_hwm_bytes=record.peak_rss_bytes,
                                traced_peak_bytes=record.traced_peak_bytes)
    passes = PassesResult(calls=[record], sites=found, sites_call_index=0,
                          sites_peak_bytes=record.traced_peak_bytes,
                          sites_captured_bytes=captured,
                          leaks=LeakAnalysis(checked=False, method="none", iterations=0,
                                             checkpoints=0,
                                             min_bytes_per_iteration=0.0),
                          timeline=timeline, line_profile=None, timed_pass_s=0.0,
                          traced_pass_s=record.time_s,
                          errors=[record.error] if record.error else [])
    result = verdict.build_result(name, None, options, passes, gates=verdict.Gates(),
                                  limits=limits, started_at=started_at)
    result.iterations, result.warmup = 0, 0
    result.overhead = Overhead(timed_pass_s=0.0, traced_pass_s=record.time_s, ratio=None,
                               frames=options.frames)
    result.warnings = [w for w in result.warnings if not w.startswith(("leak search",
                                                                        "no timed call"))]
    result.warnings.append("a block runs once, traced: its time includes the tracing "
                           "overhead, and leaks need repeated calls (use profile_memory)")
    result.health = evaluate(verdict.health_input(result, []), limits)
    return result


__all__ = ["BlockProfile", "profile_block", "profile_memory"]
