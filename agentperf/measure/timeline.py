"""Per-interval aggregates of a run of any length, in bounded memory.

A run-batch or a monitor soak records every finished task and every system sample into a
:class:`TimelineRecorder`. Time is cut into fixed intervals; each interval keeps counts
(completions, failures, cache hits), the most tasks in flight, the mean CPU and the
largest RSS sampled, and a :class:`CoarseSketch` of its task latencies. When the run
outgrows ``max_points`` intervals, neighbours are merged pairwise and the interval
doubles, so a week-long soak keeps the same ~2,000 points as a one-minute run.

Why a coarse sketch and not the run's HDR histogram: an HDR histogram at 3 significant
digits is tens of kilobytes; 2,000 of them would be the memory leak this tool looks for.
A log-bucketed sketch with 5% relative width answers p50/p95/p99 to within ~5% in about
2 kB, which is what a chart needs (the run's headline percentiles still come from HDR).
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Relative width of a sketch bucket: a percentile is reported to within about half this.
SKETCH_GROWTH = 1.05
_SKETCH_MIN_S = 1e-6
_SKETCH_MAX_S = 3600.0
_LOG_GROWTH = math.log(SKETCH_GROWTH)
SKETCH_BUCKETS = int(math.log(_SKETCH_MAX_S / _SKETCH_MIN_S) / _LOG_GROWTH) + 2
DEFAULT_MAX_POINTS = 2000
#: The first interval; it doubles each time the run outgrows ``max_points`` of them.
DEFAULT_INTERVAL_S = 0.1
COLUMNS = (
    "t_s",
    "completed",
    "failed",
    "cache_hits",
    "throughput_per_s",
    "in_flight",
    "p50_s",
    "p95_s",
    "p99_s",
    "cpu_percent",
    "rss_bytes",
)


class CoarseSketch:
    """Counts of values in log buckets 5% wide, from 1 us to 1 h; mergeable by addition.

    Buckets are allocated on the first value (an idle interval costs a few bytes).
    """

    __slots__ = ("_counts", "count")

    def __init__(self) -> None:
        self._counts: array[int] | None = None
        self.count = 0

    def add(self, seconds: float) -> None:
        if self._counts is None:
            self._counts = array("I", bytes(4 * SKETCH_BUCKETS))
        self._counts[_bucket(seconds)] += 1
        self.count += 1

    def add_many(self, seconds: Sequence[float]) -> None:
        """Add many values at once. Values are first counted at 0.1 us (in C): a run of
        fast tasks has few distinct ones, so each costs little more than the count."""
        if not seconds:
            return
        if self._counts is None:
            self._counts = array("I", bytes(4 * SKETCH_BUCKETS))
        counts = self._counts
        for tenths_us, n in Counter(map(int, map((1e7).__mul__, seconds))).items():
            counts[_bucket(tenths_us / 1e7)] += n
        self.count += len(seconds)

    def merge(self, other: CoarseSketch) -> None:
        if other._counts is None:
            return
        if self._counts is None:
            self._counts = array("l", other._counts)
        else:
            mine = self._counts
            for i, n in enumerate(other._counts):
                if n:
                    mine[i] += n
        self.count += other.count

    def quantiles(self, *qs: float) -> list[float | None]:
        """The values at fractions ``qs`` (0-1, ascending) in one pass; None when empty."""
        if not self.count or self._counts is None:
            return [None] * len(qs)
        out: list[float | None] = []
        targets = iter([max(1, math.ceil(q * self.count)) for q in qs])
        rank = next(targets)
        seen = 0
        for i, n in enumerate(self._counts):
            seen += n
            while seen >= rank:
                out.append(_midpoint(i))
                nxt = next(targets, None)
                if nxt is None:
                    return out
                rank = nxt
        return out + [_midpoint(SKETCH_BUCKETS - 1)] * (len(qs) - len(out))

    @property
    def nbytes(self) -> int:
        return 0 if self._counts is None else self._counts.itemsize * len(self._counts)


def _bucket(seconds: float) -> int:
    if seconds <= _SKETCH_MIN_S:
        return 0
    return min(int(math.log(seconds / _SKETCH_MIN_S) / _LOG_GROWTH) + 1, SKETCH_BUCKETS - 1)


def _midpoint(index: int) -> float:
    """The geometric middle of a bucket: at most ~2.5% from any value in it."""
    if index == 0:
        return _SKETCH_MIN_S
    return _SKETCH_MIN_S * SKETCH_GROWTH ** (index - 0.5)


@dataclass
class _Interval:
    completed: int = 0
    failed: int = 0
    cache_hits: int = 0
    in_flight: int | None = None  # the most seen in the interval (run-batch: read once an interval)
    cpu_sum: float = 0.0
    cpu_n: int = 0
    rss_max: int | None = None
    latency: CoarseSketch = field(default_factory=CoarseSketch)

    def merge(self, other: _Interval) -> None:
        self.completed += other.completed
        self.failed += other.failed
        self.cache_hits += other.cache_hits
        self.in_flight = _max(self.in_flight, other.in_flight)
        self.cpu_sum += other.cpu_sum
        self.cpu_n += other.cpu_n
        self.rss_max = _max(self.rss_max, other.rss_max)
        self.latency.merge(other.latency)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


class TimelineRecorder:
    """Thread-safe: tasks come from the run's loop, system samples from the sampler thread.

    ``clock`` is injectable so a test (or a simulated soak) can drive time itself.
    """

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        max_points: int = DEFAULT_MAX_POINTS,
        *,
        clock: Any = time.perf_counter,
    ) -> None:
        if interval_s <= 0 or max_points < 2:
            raise ValueError("a timeline needs a positive interval and at least 2 points")
        self.interval_s = float(interval_s)
        self.max_points = max_points
        self._clock = clock
        self._start = clock()
        self._intervals: list[_Interval] = []
        self._lock = threading.Lock()
        self.merges = 0

    def restart(self) -> None:
        """Start the clock now (a run's clock starts once its workers are up)."""
        with self._lock:
            self._start = self._clock()
            self._intervals.clear()

    def _slot(self, at: float | None) -> _Interval:
        elapsed = (self._clock() if at is None else at) - self._start
        index = int(elapsed / self.interval_s) if elapsed > 0 else 0
        if index == len(self._intervals) - 1:  # the usual case: the current interval
            return self._intervals[index]
        while index >= self.max_points:
            self._halve()
            index = int(elapsed / self.interval_s)
        while len(self._intervals) <= index:
            self._intervals.append(_Interval())
        return self._intervals[index]

    def _halve(self) -> None:
        """Merge neighbours pairwise: half the points, each twice as long."""
        old = self._intervals
        merged = []
        for i in range(0, len(old), 2):
            pair = old[i]
            if i + 1 < len(old):
                pair.merge(old[i + 1])
            merged.append(pair)
        self._intervals = merged
        self.interval_s *= 2
        self.merges += 1

    def add_task(
        self,
        latency_s: float | None,
        *,
        ok: bool,
        cache_hit: bool = False,
        in_flight: int | None = None,
        at: float | None = None,
    ) -> None:
        """One finished task; ``latency_s`` None when it did not call the agent."""
        with self._lock:
            slot = self._slot(at)
            slot.completed += 1
            if not ok:
                slot.failed += 1
            if cache_hit:
                slot.cache_hits += 1
            if in_flight is not None and (slot.in_flight is None or in_flight > slot.in_flight):
                slot.in_flight = in_flight
            if latency_s is not None:
                slot.latency.add(latency_s)

    def add_tasks(
        self,
        latencies: Sequence[float],
        *,
        completed: int,
        failed: int = 0,
        cache_hits: int = 0,
        in_flight: int | None = None,
        at: float | None = None,
    ) -> None:
        """Many finished tasks at once, all in the interval of ``at`` (see :class:`TaskWindow`);
        ``latencies`` of those that called the agent."""
        with self._lock:
            slot = self._slot(at)
            slot.completed += completed
            slot.failed += failed
            slot.cache_hits += cache_hits
            slot.in_flight = _max(slot.in_flight, in_flight)
            slot.latency.add_many(latencies)

    def add_system(
        self, cpu_percent: float | None, rss_bytes: float | None, *, at: float | None = None
    ) -> None:
        """One system sample: the machine's CPU % and the watched process tree's RSS."""
        with self._lock:
            slot = self._slot(at)
            if cpu_percent is not None:
                slot.cpu_sum += cpu_percent
                slot.cpu_n += 1
            if rss_bytes is not None:
                slot.rss_max = _max(slot.rss_max, int(rss_bytes))

    def add_sample(self, sample: Any) -> None:
        """A :class:`~agentperf.measure.sampler.Sample` (the BackgroundSampler callback)."""
        process = getattr(sample, "process", None)
        self.add_system(sample.cpu_percent, process.rss_bytes if process else None)

    def __len__(self) -> int:
        return len(self._intervals)

    @property
    def nbytes(self) -> int:
        """An estimate of the memory the kept intervals take (sketch arrays dominate)."""
        return sum(200 + i.latency.nbytes for i in self._intervals)

    def snapshot(self) -> Timeline:
        with self._lock:
            rows = [self._row(i, slot) for i, slot in enumerate(self._intervals)]
            return Timeline(self.interval_s, self.max_points, self.merges, rows)

    def _row(self, index: int, slot: _Interval) -> tuple[Any, ...]:
        p50, p95, p99 = slot.latency.quantiles(0.5, 0.95, 0.99)
        return (
            round(index * self.interval_s, 6),
            slot.completed,
            slot.failed,
            slot.cache_hits,
            _short(slot.completed / self.interval_s),
            slot.in_flight,
            _short(p50),
            _short(p95),
            _short(p99),
            _short(slot.cpu_sum / slot.cpu_n) if slot.cpu_n else None,
            slot.rss_max,
        )


def _short(value: float | None) -> float | None:
    """Four significant digits: the sketch is no finer, and the JSON stays small."""
    return None if value is None else float(f"{value:.4g}")


@dataclass(frozen=True)
class Timeline:
    """The kept intervals, oldest first; each row follows :data:`COLUMNS`.

    ``t_s`` is an interval's start since the run began; a latency percentile, the CPU or
    the RSS is None for an interval that observed none (never 0).
    """

    interval_s: float
    max_points: int
    merges: int
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        index = COLUMNS.index(name)
        return [row[index] for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        """Column-wise, the compact shape the JSON report and the HTML charts read."""
        return {
            "interval_s": self.interval_s,
            "max_points": self.max_points,
            "merges": self.merges,
            "points": len(self.rows),
            "series": {name: self.column(name) for name in COLUMNS},
        }


class TaskWindow:
    """run-batch's finished tasks on their way into a :class:`TimelineRecorder`, handed
    over once per interval rather than once per task: the loop's whole budget is about
    3 us a task, and a recorder call (lock, slot, sketch) costs about 1 us.

    Counts come from the run's tally (anything with ``done``, ``failed`` and
    ``cache_hits``); latencies are appended by the loop; in-flight is read at each
    hand-over. A window's tasks are credited to the interval holding its midpoint.
    """

    def __init__(self, recorder: TimelineRecorder, tally: Any, now: float) -> None:
        self._recorder = recorder
        self._tally = tally
        self.latencies: array[float] = array("d")
        self._marks = (tally.done, tally.failed, tally.cache_hits)
        self._from = now
        self.next_at = now + recorder.interval_s

    def flush(self, now: float, in_flight: int | None) -> None:
        tally, (done, failed, hits) = self._tally, self._marks
        self._recorder.add_tasks(
            self.latencies, completed=tally.done - done, failed=tally.failed - failed,
            cache_hits=tally.cache_hits - hits, in_flight=in_flight, at=(self._from + now) / 2)
        del self.latencies[:]
        self._marks = (tally.done, tally.failed, tally.cache_hits)
        self._from = now
        self.next_at = now + self._recorder.interval_s
