"""The result of a memory profile: what ``agentperf profile`` renders and the library returns.

Plain dataclasses of JSON-able fields, so ``dataclasses.asdict`` is the JSON form. A
figure that could not be measured is ``None`` (never a zero that looks measured), and
``warnings`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentperf.measure.stats import Summary


@dataclass
class CallRecord:
    """One call of the workload, from the timed pass or the traced pass.

    Timed calls carry ``time_s`` and no tracemalloc figures; traced calls carry the
    tracemalloc figures (relative to the traced memory before the call) and their time
    is only used to report the tracing overhead.
    """

    index: int
    phase: str  # "timed" or "traced"
    ok: bool
    time_s: float
    rss_before_bytes: int
    rss_after_bytes: int
    peak_rss_bytes: int | None = None  # the process high-water mark during the call
    traced_current_bytes: int | None = None  # traced memory after the call
    traced_peak_bytes: int | None = None  # peak during the call, above the traced memory before
    net_bytes: int | None = None  # what the call retained: workload's traced bytes after gc
    heap_blocks_delta: int | None = None  # sys.getallocatedblocks() after minus before
    malloc_bytes_delta: int | None = None  # glibc malloc bytes in use after minus before
    error: str | None = None


@dataclass
class AllocationSite:
    """Memory allocated at one line (or one traceback) and alive at the call's peak."""

    location: str  # "path/to/file.py:123"
    filename: str
    lineno: int
    size_bytes: int
    count: int
    average_bytes: float
    user_code: bool
    traceback: list[str] = field(default_factory=list)  # oldest frame first
    folded_sites: int = 0  # library sites folded into this one by --only-user-code


@dataclass
class LeakSuspect:
    """A site that carries part of a leak: its growth over the traced calls, and share."""

    location: str
    filename: str
    lineno: int
    bytes_per_iteration: float  # the site's growth averaged over the traced calls
    share: float  # of the workload's traced growth, 0-1
    retained_bytes: int  # growth between the first and last checkpoint (compare_to)
    count_growth: int
    traceback: list[str] = field(default_factory=list)


@dataclass
class LeakAnalysis:
    """How the leak search ran, so a clean result can be told from an untested one."""

    checked: bool
    method: str  # "traced" (rounds of traced calls), "heap screen" (ruled out), "none"
    iterations: int
    checkpoints: int
    min_bytes_per_iteration: float
    candidates: int = 0
    suspects: list[LeakSuspect] = field(default_factory=list)  # the sites carrying a leak
    verdict: str = "not checked"  # "leak", "no leak", "not enough data", "not checked"
    rule: str = ""  # the growth rule and the figures that decided the verdict
    growth_per_call: float | None = None  # workload's retained bytes per call (estimate)
    growth_low: float | None = None  # its 99 % interval
    growth_high: float | None = None
    single_site: bool = False  # a leak that one site carries (>= 25 %); else contributors
    rounds: int = 0  # rounds of traced calls (one call of each traced input per round)
    round_length: int = 1
    traceback_frames: int = 1
    heap_growth_per_iteration: float | None = None  # untraced heap, per traced call
    dismissed: list[str] = field(default_factory=list)  # grew traced, not in the heap
    screen: str = ""  # what the untraced heap screen of the timed pass saw

    @property
    def leaking(self) -> bool:
        return self.verdict == "leak"


@dataclass
class CallMark:
    """When a call ran, in seconds since the timeline started."""

    index: int
    phase: str
    start_s: float
    end_s: float


@dataclass
class Timeline:
    """RSS sampled by a background thread across the whole profile."""

    interval_s: float
    achieved_interval_s: float | None
    include_children: bool
    samples: list[tuple[float, int]]  # (seconds since start, RSS bytes)
    marks: list[CallMark]
    peak_sampled_bytes: int | None
    peak_hwm_bytes: int | None  # kernel's high-water mark: catches peaks between samples
    traced_peak_bytes: int | None  # tracemalloc's peak, for comparison
    duration_s: float = 0.0


@dataclass
class LineRecord:
    lineno: int
    source: str
    mem_mib: float | None
    increment_mib: float | None
    occurrences: int


@dataclass
class LineProfile:
    """memory-profiler's per-line RSS for one function."""

    function: str
    filename: str
    calls: int
    lines: list[LineRecord]
    note: str


@dataclass
class InputMemory:
    """One traced call of one distinct input: its peak and what it kept."""

    label: str  # the input, shortened
    peak_bytes: int  # traced peak above the traced memory before the call
    retained_bytes: int  # traced bytes after the call (and a collection) minus before
    ok: bool = True


@dataclass
class MemorySummary:
    """The headline numbers, each ``None`` when nothing measured it."""

    peak_bytes: int | None  # largest traced per-call peak over every traced input
    mean_peak_bytes: float | None
    mean_net_bytes: float | None  # mean retained per traced call
    transient_peak_bytes: int | None  # largest (peak - retained) of a traced call
    peak_rss_bytes: int | None  # process high-water mark over the profile
    rss_growth_bytes: int | None  # RSS after the last timed call minus before the first
    heap_blocks_per_call: float | None  # fitted slope of allocated blocks over timed calls
    median_peak_bytes: float | None = None  # over the traced inputs
    peak_input: str | None = None  # the input whose call peaked highest
    max_retained_bytes: int | None = None
    median_retained_bytes: float | None = None
    max_retained_input: str | None = None
    inputs_traced: int = 0
    inputs_sampled: bool = False  # more distinct inputs than the limit: a seeded sample


@dataclass
class Overhead:
    """What tracing cost: traced call time against untraced call time."""

    timed_pass_s: float
    traced_pass_s: float
    ratio: float | None  # median traced call / median timed call
    frames: int


@dataclass
class ProfileResult:
    """Everything a memory profile measured and concluded."""

    name: str
    source: str | None
    iterations: int
    warmup: int
    trace_iterations: int
    frames: int
    group_by: str
    calls: list[CallRecord]
    timing: Summary | None
    memory: MemorySummary
    overhead: Overhead
    sites: list[AllocationSite]
    sites_call_index: int | None
    sites_peak_bytes: int | None  # traced peak of the call the sites table comes from
    sites_captured_bytes: int | None  # traced bytes when its snapshot was taken
    leaks: LeakAnalysis
    timeline: Timeline | None
    line_profile: LineProfile | None
    failures: int
    errors: list[str]
    warnings: list[str]
    per_input: list[InputMemory] = field(default_factory=list)
    health: Any = None  # agentperf.analysis.health.HealthReport
    exit_code: int = 0
    exit_reason: str = ""
    started_at: str = ""
    agentperf_version: str = ""
