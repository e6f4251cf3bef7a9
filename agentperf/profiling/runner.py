"""The passes of a memory profile: warm-up, timed, traced, and optionally line by line.

tracemalloc slows allocation-heavy code about 5-8x with one frame and more with deep
tracebacks, so call times come from a pass with tracing off, and memory from its own,
shorter traced pass; the result reports what the tracing cost.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentperf.errors import AgentperfError, did_you_mean
from agentperf.measure import growth
from agentperf.profiling import leaks, lines, sites
from agentperf.profiling.heap import Heap
from agentperf.profiling.inputs import cycle_inputs, distinct_inputs, input_label
from agentperf.profiling.peaks import FLOOR_BYTES, PeakCapture
from agentperf.profiling.result import (
    AllocationSite,
    CallRecord,
    InputMemory,
    LeakAnalysis,
    LineProfile,
    Timeline,
)
from agentperf.profiling.rss import HighWaterMark, RssReader
from agentperf.profiling.screen import screen_heap
from agentperf.profiling.timeline import RssSampler
from agentperf.workload.adapters import NO_INPUT, AgentAdapter

DEFAULT_ITERATIONS = 20
DEFAULT_TRACE_ITERATIONS = 12
MAX_LEAK_CALLS = 96  # the leak search doubles its rounds while inconclusive, up to this
LINE_CALLS = 3
HOOK_BELOW_TICKS = 4  # calls shorter than this many sampling intervals get the profile hook


@dataclass(frozen=True)
class ProfileOptions:
    """How to profile; the CLI's options map one to one onto these fields."""

    iterations: int = DEFAULT_ITERATIONS
    warmup: int = 1
    trace_iterations: int | None = None  # leak search calls; None: 12, if the screen trips
    frames: int = 1
    group_by: str = "lineno"
    top: int = 10
    only_user_code: bool = False
    interval_s: float = 0.01
    include_children: bool = False
    line_function: str | None = None
    leak_min_bytes: float = leaks.DEFAULT_MIN_BYTES

    @property
    def traced_calls(self) -> int:
        """Traced calls of the leak search, when it runs (rounded up to whole rounds)."""
        if self.trace_iterations is not None:
            return self.trace_iterations
        return DEFAULT_TRACE_ITERATIONS

    def validate(self) -> None:
        if self.iterations < 1:
            raise AgentperfError(f"--iterations: must be at least 1, got {self.iterations}")
        if self.warmup < 0 or self.traced_calls < 0:
            raise AgentperfError("--warmup/--trace-iterations: must not be negative")
        if self.frames < 1:
            raise AgentperfError(f"--frames: must be at least 1, got {self.frames}")
        if self.group_by not in sites.GROUP_BY:
            raise AgentperfError(f"--group-by: unknown grouping '{self.group_by}'"
                                 f"{did_you_mean(self.group_by, sites.GROUP_BY)}; expected "
                                 f"one of {', '.join(sites.GROUP_BY)}")
        if self.top < 1:
            raise AgentperfError(f"--top: must be at least 1, got {self.top}")
        if self.interval_s <= 0:
            raise AgentperfError("--interval: must be more than 0")


@dataclass
class PassesResult:
    """The raw measurements; api.py turns them into a ProfileResult."""

    calls: list[CallRecord]
    sites: list[AllocationSite]
    sites_call_index: int | None
    leaks: LeakAnalysis
    timeline: Timeline
    line_profile: LineProfile | None
    timed_pass_s: float
    traced_pass_s: float
    errors: list[str]
    sites_peak_bytes: int | None = None  # the traced peak of the call the sites come from
    sites_captured_bytes: int | None = None  # how much of it the sites snapshot held
    per_input: list[InputMemory] = field(default_factory=list)
    inputs_sampled: bool = False


class Profiler:
    """Runs the passes over one agent; one instance profiles once."""

    def __init__(self, adapter: AgentAdapter, inputs: Iterable[Any] | None,
                 options: ProfileOptions, search_paths: tuple[str, ...] = ()) -> None:
        options.validate()
        self.adapter = adapter
        self.options = options
        self.search_paths = search_paths
        self._inputs = cycle_inputs(inputs)
        self._source = inputs
        self.per_input: list[InputMemory] = []
        self.inputs_sampled = False
        self._reader = RssReader(include_children=False)
        self._hwm = HighWaterMark()
        self._capture: PeakCapture | None = None
        self._sampler = RssSampler(options.interval_s, options.include_children,
                                   on_tick=self._tick)
        self.calls: list[CallRecord] = []
        self.errors: list[str] = []
        self._heap = Heap()
        self._floor = (0, 0)
        self._last_heap_growth: int | None = None
        self._leak_index = 0
        self._leak_round_base = 0
        self.capture_peak_bytes: int | None = None
        self.captured_bytes: int | None = None

    def run(self) -> PassesResult:
        if tracemalloc.is_tracing():
            raise AgentperfError("tracemalloc is already tracing in this process (-X "
                                 "tracemalloc or PYTHONTRACEMALLOC); agentperf needs it for "
                                 "its own traced pass")
        line_function = self._line_function()
        self._sampler.start()
        try:
            self._calibrate()
            self._calls("warmup", self.options.warmup, self._plain_call)
            started = time.perf_counter()
            self._calls("timed", self.options.iterations, self._timed_call)
            timed_s = time.perf_counter() - started
            started = time.perf_counter()
            found_sites, sites_index, leak_analysis = self._traced_pass()
            traced_s = time.perf_counter() - started
            line_profile = None
            if line_function is not None:
                calls = min(LINE_CALLS, self.options.iterations)
                line_profile = lines.profile_lines(
                    line_function, lambda n: self._calls("line", n, self._plain_call), calls)
        finally:
            if tracemalloc.is_tracing():
                tracemalloc.stop()
            self._sampler.stop()
            self._reader.close()
        peak_hwm = self._peak_hwm()
        traced_peaks = [c.traced_peak_bytes for c in self.calls if c.traced_peak_bytes is not None]
        timeline = self._sampler.timeline(peak_hwm_bytes=peak_hwm,
                                          traced_peak_bytes=max(traced_peaks, default=None))
        return PassesResult(self.calls, found_sites, sites_index, leak_analysis, timeline,
                            line_profile, timed_s, traced_s, self.errors,
                            self.capture_peak_bytes, self.captured_bytes, self.per_input,
                            self.inputs_sampled)

    def _line_function(self) -> Callable[..., Any] | None:
        name = self.options.line_function
        if not name:
            return None
        return lines.resolve_function(name, self.adapter.agent, self.search_paths)

    def _traced_pass(self) -> tuple[list[AllocationSite], int | None, LeakAnalysis]:
        """One traced call of every distinct input (peaks and what each kept), one call
        of the heaviest input for the sites table (the same call when there is one input),
        then the leak search's rounds unless
        the heap screen ruled growth out (``--trace-iterations`` always runs them)."""
        opts = self.options
        if opts.trace_iterations == 0:
            return [], None, LeakAnalysis(checked=False, method="none", iterations=0,
                                          checkpoints=0,
                                          min_bytes_per_iteration=opts.leak_min_bytes)
        inputs, self.inputs_sampled = distinct_inputs(self._source)
        timed = [c for c in self.calls if c.phase == "timed"]
        found = screen_heap(timed, opts.leak_min_bytes,
                            1 if self.inputs_sampled else len(inputs))
        tracemalloc.start(opts.frames)
        if len(inputs) > 1:
            for data in inputs:
                self._input_call(data)
            heaviest = max(range(len(inputs)), key=lambda i: self.per_input[i].peak_bytes)
            before, peak = self._capture_call(inputs[heaviest])
        else:  # one input: the sites call is its traced call
            before, peak = self._capture_call(inputs[0])
            record = self.calls[-1]
            self.per_input.append(InputMemory(input_label(inputs[0]),
                                              record.traced_peak_bytes or 0,
                                              record.net_bytes or 0, record.ok))
        if found.suspicious or opts.trace_iterations is not None:
            analysis = self._leak_search(inputs, found.judged)
        else:
            analysis = LeakAnalysis(checked=True, method="heap screen", iterations=len(timed),
                                    checkpoints=0, min_bytes_per_iteration=opts.leak_min_bytes,
                                    traceback_frames=opts.frames, verdict="no leak",
                                    rule=found.reason, growth_per_call=found.bytes_per_call)
        analysis.screen = found.reason
        tracemalloc.stop()
        # Grouped only now, untraced: grouping under tracemalloc runs several times slower.
        found_sites = sites.top_sites(peak, before, group_by=opts.group_by, top=opts.top,
                                      only_user_code=opts.only_user_code)
        return found_sites, 0, analysis

    def _input_call(self, data: Any) -> None:
        record = self._traced_call(len(self.per_input) + 1, data)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - (record.traced_current_bytes or 0) \
            + (record.net_bytes or 0)
        self.per_input.append(InputMemory(input_label(data), record.traced_peak_bytes or 0,
                                          kept, record.ok))
        self.calls.append(record)

    def _leak_search(self, inputs: list[Any], screen: growth.Growth | None) -> LeakAnalysis:
        """Rounds of traced calls; by default, while the verdict is "no leak" but the
        interval still reaches the threshold (a leak in steps, on some calls only), the
        rounds are doubled, up to MAX_LEAK_CALLS calls."""
        opts = self.options
        rounds = -(-opts.traced_calls // len(inputs))
        if opts.trace_iterations is None:
            rounds = max(rounds, growth.MIN_BATCHES)  # an explicit count is taken as asked
        tracker = leaks.LeakTracker(opts.group_by, opts.leak_min_bytes, len(inputs))
        self._leak_round_base = tracker.checkpoint()
        self._leak_index = len(self.per_input) + 1
        done = 0
        while True:
            self._leak_rounds(tracker, inputs, rounds - done)
            done = rounds
            analysis = tracker.analyse(screen)
            inconclusive = (analysis.verdict == "no leak"
                            and (analysis.growth_high or 0.0) >= opts.leak_min_bytes)
            if (opts.trace_iterations is not None or not inconclusive
                    or 2 * rounds * len(inputs) > MAX_LEAK_CALLS):
                break
            rounds *= 2
        analysis.traceback_frames = opts.frames
        del tracker  # drop the snapshots before any further tracing
        if analysis.suspects and opts.frames < leaks.TRACEBACK_FRAMES:
            leaks.attach_tracebacks(
                analysis.suspects, lambda n: self._calls("traceback", n, self._plain_call))
            analysis.traceback_frames = leaks.TRACEBACK_FRAMES
        return analysis

    def _leak_rounds(self, tracker: leaks.LeakTracker, inputs: list[Any], rounds: int) -> None:
        for _ in range(rounds):
            heap: int | None = 0
            for data in inputs:
                record = self._traced_call(self._leak_index, data)
                self._leak_index += 1
                heap = None if heap is None or self._last_heap_growth is None \
                    else heap + self._last_heap_growth
                self.calls.append(record)
            now_retained = tracker.checkpoint(heap)
            record.net_bytes = now_retained - self._leak_round_base
            self._leak_round_base = now_retained

    def _capture_call(self, data: Any) -> tuple[tracemalloc.Snapshot, tracemalloc.Snapshot]:
        """The first traced call: its per-call figures, and snapshots before it and near
        its peak for the sites table.

        It also warms the traced pass up, so lazy first-call allocations under tracing do
        not reach the leak search's baseline. The profile hook only pays for itself on
        calls shorter than a few sampling ticks; longer ones are watched by the ticks.
        """
        before = tracemalloc.take_snapshot()
        timed = [c for c in self.calls if c.phase == "timed" and c.ok]
        times = [c.time_s for c in timed]
        short = not times or statistics.median(times) < HOOK_BELOW_TICKS * self.options.interval_s
        # Snapshots cost time in proportion to the heap: start near a quarter of the RSS the
        # untraced calls needed, so a large call takes a handful of snapshots, not dozens.
        rises = [c.peak_rss_bytes - c.rss_before_bytes for c in timed if c.peak_rss_bytes]
        floor = max(FLOOR_BYTES, int(statistics.median(rises) / 4)) if rises else FLOOR_BYTES
        capture = PeakCapture(hook=short, floor_bytes=floor)
        rss_before = self._reader.own_rss()
        self._hwm.reset()
        start = self._sampler.now()
        self._capture = capture
        started = time.perf_counter()
        with capture:
            error = self._invoke(data)
        elapsed = time.perf_counter() - started
        self._capture = None
        self._sampler.mark(0, "traced", start, self._sampler.now())
        after = tracemalloc.get_traced_memory()[0]
        self.calls.append(CallRecord(
            index=0, phase="traced", ok=error is None, time_s=elapsed,
            rss_before_bytes=rss_before, rss_after_bytes=self._reader.own_rss(),
            peak_rss_bytes=self._hwm.read(), traced_current_bytes=after,
            traced_peak_bytes=capture.peak_bytes, net_bytes=after - capture.base_bytes,
            error=error))
        self.capture_peak_bytes = capture.peak_bytes
        if capture.snapshot is None:
            self.captured_bytes = max(after - capture.base_bytes, 0)
            return before, tracemalloc.take_snapshot()
        self.captured_bytes = capture.captured_bytes
        return before, capture.snapshot

    def _tick(self) -> None:
        capture = self._capture
        if capture is not None:
            capture.check()

    def _calls(self, phase: str, count: int,
               one: Callable[[int, str], CallRecord | None]) -> None:
        for index in range(count):
            record = one(index, phase)
            if record is not None:
                self.calls.append(record)

    def _plain_call(self, index: int, phase: str) -> None:
        start = self._sampler.now()
        self._invoke(next(self._inputs))
        self._sampler.mark(index, phase, start, self._sampler.now())

    def _timed_call(self, index: int, phase: str = "timed") -> CallRecord:
        return self._measured_call(next(self._inputs), index, phase)

    def _calibrate(self) -> None:
        """Measure what the measuring itself leaves on the heap, with a no-op for the agent."""
        real, self._invoke = self._invoke, lambda data: None  # type: ignore[method-assign]
        self._floor = (0, 0)
        try:
            trials = [self._measured_call(NO_INPUT, -1, "calibrate") for _ in range(5)]
        finally:
            self._invoke = real  # type: ignore[method-assign]
        self._floor = (min(t.heap_blocks_delta or 0 for t in trials),
                       min(t.malloc_bytes_delta or 0 for t in trials))

    def _measured_call(self, data: Any, index: int, phase: str) -> CallRecord:
        rss_before = self._reader.own_rss()
        self._hwm.reset()
        mark = self._sampler.now()
        heap_before = self._heap.read()
        started = time.perf_counter()
        error = self._invoke(data)
        elapsed = time.perf_counter() - started
        heap_after = self._heap.read()
        if phase != "calibrate":
            self._sampler.mark(index, phase, mark, self._sampler.now())
        malloc = None
        if heap_after.malloc_bytes is not None and heap_before.malloc_bytes is not None:
            malloc = heap_after.malloc_bytes - heap_before.malloc_bytes - self._floor[1]
        return CallRecord(index=index, phase=phase, ok=error is None, time_s=elapsed,
                          rss_before_bytes=rss_before, rss_after_bytes=self._reader.own_rss(),
                          peak_rss_bytes=self._hwm.read(),
                          heap_blocks_delta=heap_after.blocks - heap_before.blocks
                          - self._floor[0], malloc_bytes_delta=malloc, error=error)

    def _traced_call(self, index: int, data: Any) -> CallRecord:
        rss_before = self._reader.own_rss()
        self._hwm.reset()
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
        mark = self._sampler.now()
        heap_before = self._heap.read()
        started = time.perf_counter()
        error = self._invoke(data)
        elapsed = time.perf_counter() - started
        self._last_heap_growth = self._heap.read().minus(heap_before)
        traced_after, traced_peak = tracemalloc.get_traced_memory()
        self._sampler.mark(index, "traced", mark, self._sampler.now())
        return CallRecord(index=index, phase="traced", ok=error is None, time_s=elapsed,
                          rss_before_bytes=rss_before, rss_after_bytes=self._reader.own_rss(),
                          peak_rss_bytes=self._hwm.read(), traced_current_bytes=traced_after,
                          traced_peak_bytes=max(traced_peak - traced_before, 0),
                          net_bytes=traced_after - traced_before, error=error)

    def _invoke(self, data: Any) -> str | None:
        try:
            self.adapter.call(data)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if message not in self.errors and len(self.errors) < 10:
                self.errors.append(message)
            return message
        return None

    def _peak_hwm(self) -> int | None:
        self._hwm.read()
        peak = self._hwm.overall
        self._hwm.close()
        return peak
