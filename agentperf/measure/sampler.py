"""psutil sampling of the system and of a process tree, as rates and percents.

Counters that only ever grow (CPU times, disk and network bytes, context switches)
are turned into rates from the delta between two readings, so the first reading is
only a baseline and is never recorded (psutil's own first ``cpu_percent`` is 0.0 for
the same reason). CPU percents come from our own ``cpu_times`` deltas rather than
``psutil.cpu_percent``, whose hidden module-level baseline two samplers would share.
The watched process tree is read by :mod:`agentperf.measure.process_tree`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from agentperf.measure import growth
from agentperf.measure.process_tree import ProcessSample, ProcessTree
from agentperf.measure.timeseries import DEFAULT_HISTORY, SeriesSet

#: Units of every metric name :meth:`Sample.metrics` produces (per-core ones are percents).
UNITS: dict[str, str] = {
    "cpu_percent": "%", "cpu_busiest_core_percent": "%", "load_1m": "", "load_5m": "",
    "load_15m": "", "memory_percent": "%", "memory_available_bytes": "B",
    "memory_used_bytes": "B", "swap_used_bytes": "B", "swap_percent": "%",
    "disk_read_bytes_per_s": "B/s", "disk_write_bytes_per_s": "B/s",
    "disk_read_ops_per_s": "/s", "disk_write_ops_per_s": "/s",
    "net_sent_bytes_per_s": "B/s", "net_recv_bytes_per_s": "B/s",
    "process_cpu_percent": "%", "process_rss_bytes": "B", "process_threads": "",
    "process_open_files": "", "process_ctx_switches_per_s": "/s", "process_count": "",
    "process_read_bytes_per_s": "B/s", "process_write_bytes_per_s": "B/s",
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the system (and the watched process tree, if any)."""

    timestamp: float  # wall clock, seconds since the epoch
    elapsed_s: float  # since the sampler's baseline
    interval_s: float  # the time this sample's rates were measured over
    cpu_percent: float
    cpu_per_core: tuple[float, ...]
    load_1m: float
    load_5m: float
    load_15m: float
    memory_percent: float
    memory_available_bytes: int
    memory_used_bytes: int
    swap_used_bytes: int
    swap_percent: float
    disk_read_bytes_per_s: float | None
    disk_write_bytes_per_s: float | None
    disk_read_ops_per_s: float | None
    disk_write_ops_per_s: float | None
    net_sent_bytes_per_s: float | None
    net_recv_bytes_per_s: float | None
    process: ProcessSample | None = None

    @property
    def busiest_core_percent(self) -> float:
        return max(self.cpu_per_core) if self.cpu_per_core else self.cpu_percent

    def metrics(self) -> dict[str, float | None]:
        """Flat metric name -> value, the shape histories and exports record."""
        values: dict[str, float | None] = {
            "cpu_percent": self.cpu_percent,
            "cpu_busiest_core_percent": self.busiest_core_percent,
        }
        for i, pct in enumerate(self.cpu_per_core):
            values[f"cpu_core{i}_percent"] = pct
        for name in ("load_1m", "load_5m", "load_15m", "memory_percent",
                     "memory_available_bytes", "memory_used_bytes", "swap_used_bytes",
                     "swap_percent", "disk_read_bytes_per_s", "disk_write_bytes_per_s",
                     "disk_read_ops_per_s", "disk_write_ops_per_s", "net_sent_bytes_per_s",
                     "net_recv_bytes_per_s"):
            values[name] = getattr(self, name)
        if self.process is not None:
            p = self.process
            values.update({
                "process_cpu_percent": p.cpu_percent, "process_rss_bytes": p.rss_bytes,
                "process_threads": p.threads, "process_open_files": p.open_files,
                "process_ctx_switches_per_s": p.ctx_switches_per_s,
                "process_count": p.processes, "process_read_bytes_per_s": p.read_bytes_per_s,
                "process_write_bytes_per_s": p.write_bytes_per_s,
            })
        return values


def unit_of(metric: str) -> str:
    if metric.startswith("cpu_core"):
        return "%"
    return UNITS.get(metric, "")


class _CpuTracker:
    """Per-core busy percentages from ``cpu_times`` deltas."""

    def __init__(self) -> None:
        self._last = self._read()

    @staticmethod
    def _read() -> list[tuple[float, float]]:
        """(busy, total) seconds per core; guest time is already inside user time."""
        result = []
        for t in psutil.cpu_times(percpu=True):
            fields = t._asdict()
            total = sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))
            idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0)
            result.append((total - idle, total))
        return result

    def read(self) -> tuple[float, tuple[float, ...]]:
        now = self._read()
        per_core = []
        busy_sum = total_sum = 0.0
        for (busy0, total0), (busy1, total1) in zip(self._last, now, strict=False):
            d_busy, d_total = max(busy1 - busy0, 0.0), max(total1 - total0, 0.0)
            per_core.append(min(100.0, 100.0 * d_busy / d_total) if d_total > 0 else 0.0)
            busy_sum += d_busy
            total_sum += d_total
        self._last = now
        overall = min(100.0, 100.0 * busy_sum / total_sum) if total_sum > 0 else 0.0
        return overall, tuple(round(p, 2) for p in per_core)


class _Counters:
    """Disk and network counter deltas as per-second rates (None when unavailable)."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._disk = _safe(psutil.disk_io_counters)
        self._net = _safe(psutil.net_io_counters)
        self.totals: dict[str, int] = {}  # deltas summed since the baseline, per rate metric

    def read(self) -> dict[str, float | None]:
        now = time.monotonic()
        disk, net = _safe(psutil.disk_io_counters), _safe(psutil.net_io_counters)
        dt, self._last = now - self._last, now
        values: dict[str, float | None] = {}
        for name, before, after, attr in (
            ("disk_read_bytes_per_s", self._disk, disk, "read_bytes"),
            ("disk_write_bytes_per_s", self._disk, disk, "write_bytes"),
            ("disk_read_ops_per_s", self._disk, disk, "read_count"),
            ("disk_write_ops_per_s", self._disk, disk, "write_count"),
            ("net_sent_bytes_per_s", self._net, net, "bytes_sent"),
            ("net_recv_bytes_per_s", self._net, net, "bytes_recv"),
        ):
            if before is None or after is None or dt <= 0:
                values[name] = None
            else:
                # A counter that wrapped or was reset reads as a negative delta: call it 0.
                delta = max(getattr(after, attr) - getattr(before, attr), 0)
                values[name] = delta / dt
                self.totals[name] = self.totals.get(name, 0) + delta
        self._disk, self._net = disk, net
        return values


def _safe(reader: Callable[[], Any]) -> Any:
    try:
        return reader()
    except (OSError, RuntimeError):
        return None


#: The shortest span a lone sample at stop is taken over (CPU times tick every 10 ms).
MIN_SPAN_S = 0.1


class SystemSampler:
    """Takes :class:`Sample` readings on demand; the constructor takes the baseline.

    ``pid`` adds the process (and its descendants with ``include_children``) to each
    sample. Raises :class:`psutil.NoSuchProcess` at construction for an unknown pid.
    """

    def __init__(self, *, pid: int | None = None, include_children: bool = True) -> None:
        self._cpu = _CpuTracker()
        self._counters = _Counters()
        self._tree = ProcessTree(pid, include_children) if pid is not None else None
        self.process_ended = False
        self._start = self._last = time.monotonic()

    def elapsed_s(self) -> float:
        return time.monotonic() - self._start

    @property
    def cores(self) -> int:
        return psutil.cpu_count() or 1

    def sample(self) -> Sample:
        now = time.monotonic()
        dt = now - self._last
        self._last = now
        cpu, per_core = self._cpu.read()
        mem = psutil.virtual_memory()
        swap = psutil.swap_memory()
        load = _safe(psutil.getloadavg) or (0.0, 0.0, 0.0)
        counters = self._counters.read()
        return Sample(
            timestamp=time.time(), elapsed_s=now - self._start, interval_s=dt,
            cpu_percent=round(cpu, 2), cpu_per_core=per_core, load_1m=load[0], load_5m=load[1],
            load_15m=load[2], memory_percent=mem.percent,
            memory_available_bytes=int(mem.available), memory_used_bytes=int(mem.used),
            swap_used_bytes=int(swap.used), swap_percent=float(swap.percent),
            process=self._read_process(), **counters,  # type: ignore[arg-type]
        )

    def totals(self) -> dict[str, int]:
        """Counter deltas summed since the baseline, keyed by their rate metric's name."""
        totals = dict(self._counters.totals)
        if self._tree is not None:
            totals["process_ctx_switches_per_s"] = self._tree.ctx_switches_total
        return totals

    def process_alive(self) -> bool:
        """False once the watched process has ended (always True without one)."""
        if self._tree is not None and not self.process_ended and not self._tree.alive():
            self.process_ended = True
        return not self.process_ended

    def _read_process(self) -> ProcessSample | None:
        if self._tree is None or self.process_ended:
            return None
        try:
            return self._tree.read()
        except psutil.NoSuchProcess:
            self.process_ended = True
            return None


#: Metrics read as a delta over the sample's span (CPU times, I/O and switch counters).
RATE_METRICS = frozenset({
    "cpu_percent", "cpu_busiest_core_percent", "process_cpu_percent",
    "process_ctx_switches_per_s", *(name for name in UNITS if name.endswith("_per_s")),
})


def is_rate(metric: str) -> bool:
    return metric in RATE_METRICS or metric.startswith("cpu_core")


def record(series: SeriesSet, sample: Sample, *, lone: bool = False) -> None:
    """Append one sample's metrics to a history, timed by its elapsed seconds.

    A ``lone`` sample (the only one of a run, taken at its end) over less than
    :data:`MIN_SPAN_S` keeps only what is read at an instant (memory, swap, load, RSS,
    threads): the kernel counts CPU time in 10 ms ticks, so a few milliseconds' CPU
    percent is 0 or 100 by chance and would raise or hide a machine warning at random.
    """
    metrics = sample.metrics()
    if lone and sample.interval_s < MIN_SPAN_S:
        metrics = {name: value for name, value in metrics.items() if not is_rate(name)}
    series.record(sample.elapsed_s, metrics)


_SUMMARY_METRICS = (
    "cpu_percent", "cpu_busiest_core_percent", "load_1m", "memory_percent", "memory_used_bytes",
    "memory_available_bytes", "swap_used_bytes", "process_rss_bytes", "process_cpu_percent",
    "disk_read_bytes_per_s", "disk_write_bytes_per_s", "net_sent_bytes_per_s",
    "net_recv_bytes_per_s",
)


@dataclass
class SamplerSummary:
    """psutil readings over a run, summarised; JSON-able fields only."""

    samples: int
    interval_s: float
    duration_s: float
    cores: int
    cpu_percent_mean: float
    cpu_percent_max: float
    busiest_core_percent_mean: float
    memory_percent_max: float
    memory_used_max_bytes: int
    memory_available_min_bytes: int
    swap_used_max_bytes: int
    process_rss_peak_bytes: int
    process_cpu_percent_mean: float
    process_samples: int
    disk_read_bytes_per_s_mean: float | None = None
    disk_write_bytes_per_s_mean: float | None = None
    net_sent_bytes_per_s_mean: float | None = None
    net_recv_bytes_per_s_mean: float | None = None
    memory_total_bytes: int = 0
    load_1m_max: float | None = None
    # The growth rule (measure/growth) on RSS after the warm-up, with the health limit as
    # its threshold: "grows", "flat" or "not enough data".
    memory_growth_verdict: str = growth.NOT_ENOUGH
    memory_growth_bytes_per_s: float | None = None
    memory_growth_low: float | None = None
    memory_growth_high: float | None = None
    memory_growth_rule: str = ""
    # Samples whose span was long enough for CPU percents and rates (see record()); the
    # others read memory, swap, load and RSS only. ``note`` says why when none was.
    cpu_samples: int = 0
    note: str = ""

    @classmethod
    def from_series(cls, series: SeriesSet, *, interval_s: float, cores: int,
                    window_s: float | None = None, growth_min_span_s: float = growth.MIN_SPAN_S,
                    growth_min_samples: int = growth.MIN_SAMPLES,
                    growth_threshold: float = growth.SOAK_THRESHOLD) -> SamplerSummary:
        """Summarise a history; only the memory-growth series pays for a trend fit."""
        stats = {name: b for name in _SUMMARY_METRICS
                 if (s := series.get(name)) is not None and (b := s.basic(window_s))}
        # Without a watched process, memory growth is judged on the system's used memory.
        memory = series.get("process_rss_bytes") or series.get("memory_used_bytes")
        points = growth.after_warmup(memory.window(window_s) if memory is not None else [])
        judged = growth.per_second([t for t, _ in points], [v for _, v in points],
                                   threshold=growth_threshold, min_span_s=growth_min_span_s,
                                   min_samples=growth_min_samples)

        def mean(name: str) -> float | None:
            s = stats.get(name)
            return s.mean if s else None

        def top(name: str, default: float = 0.0) -> float:
            s = stats.get(name)
            return s.max if s else default

        cpu = stats.get("cpu_percent")
        used = series.get("memory_used_bytes")
        count = max(cpu.count if cpu else 0, len(used) if used is not None else 0)
        rss = series.get("process_rss_bytes")
        return cls(
            samples=count, interval_s=interval_s,
            duration_s=round(_sampled_s(used, count, interval_s), 3), cores=cores,
            cpu_percent_mean=cpu.mean if cpu else 0.0, cpu_percent_max=top("cpu_percent"),
            busiest_core_percent_mean=mean("cpu_busiest_core_percent") or 0.0,
            memory_percent_max=top("memory_percent"),
            memory_used_max_bytes=int(top("memory_used_bytes")),
            memory_available_min_bytes=int(stats["memory_available_bytes"].min)
            if "memory_available_bytes" in stats else 0,
            swap_used_max_bytes=int(top("swap_used_bytes")),
            process_rss_peak_bytes=int(top("process_rss_bytes")),
            process_cpu_percent_mean=mean("process_cpu_percent") or 0.0,
            process_samples=len(rss) if rss is not None else 0,
            disk_read_bytes_per_s_mean=mean("disk_read_bytes_per_s"),
            disk_write_bytes_per_s_mean=mean("disk_write_bytes_per_s"),
            net_sent_bytes_per_s_mean=mean("net_sent_bytes_per_s"),
            net_recv_bytes_per_s_mean=mean("net_recv_bytes_per_s"),
            memory_total_bytes=int(psutil.virtual_memory().total),
            load_1m_max=stats["load_1m"].max if "load_1m" in stats else None,
            memory_growth_verdict=judged.verdict,
            memory_growth_bytes_per_s=judged.rate if judged.verdict != growth.NOT_ENOUGH
            else None,
            memory_growth_low=judged.low if judged.verdict != growth.NOT_ENOUGH else None,
            memory_growth_high=judged.high if judged.verdict != growth.NOT_ENOUGH else None,
            memory_growth_rule=judged.rule,
            cpu_samples=cpu.count if cpu else 0,
            note="" if cpu or not count else _TOO_SHORT,
        )


def _sampled_s(used: Any, count: int, interval_s: float) -> float:
    """The span the readings cover: a lone reading (a run shorter than one interval, read
    when it ended) covers the run up to it, not a whole interval."""
    if not count or used is None:
        return 0.0
    if count == 1:
        return used.window()[-1][0]
    return used.span_s + interval_s


_TOO_SHORT = (f"the run took under {MIN_SPAN_S:g} s, too short for a CPU reading (CPU time "
              "is counted in 10 ms ticks); memory, swap and load were read")


class TickSchedule:
    """When the next sample is due: every ``interval_s`` from ``start``, on a fixed grid
    (no drift from the time a sample takes); a sample that ran past the next slot skips
    ahead instead of bursting. The one schedule of the background sampler and monitor."""

    def __init__(self, interval_s: float, start: float | None = None) -> None:
        self.interval_s = interval_s
        self.next_at = (time.monotonic() if start is None else start) + interval_s

    def delay(self) -> float:
        return max(0.0, self.next_at - time.monotonic())

    def advance(self) -> None:
        self.next_at += self.interval_s
        now = time.monotonic()
        if self.next_at < now:
            self.next_at = now + self.interval_s


class BackgroundSampler:
    """Samples on a daemon thread while a run goes on; :meth:`stop` returns the summary.

    ``pid`` None watches the current process (children included by default). A run
    shorter than one interval still gets one sample, taken at :meth:`stop`.
    """

    def __init__(self, interval_s: float = 0.5, *, pid: int | None = None,
                 include_children: bool = True, history: int = DEFAULT_HISTORY,
                 on_sample: Callable[[Sample], None] | None = None) -> None:
        if interval_s <= 0:
            raise ValueError("the sampling interval must be positive")
        self.interval_s = interval_s
        self.pid = os.getpid() if pid is None else pid
        self.include_children = include_children
        self.series = SeriesSet(history, unit_of)
        self._on_sample = on_sample
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampler: SystemSampler | None = None
        self._count = 0
        self.latest: Sample | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("BackgroundSampler.start() called twice")
        self._sampler = SystemSampler(pid=self.pid, include_children=self.include_children)
        self._thread = threading.Thread(target=self._loop, name="agentperf-sampler",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        schedule = TickSchedule(self.interval_s)
        while not self._stop.wait(schedule.delay()):
            self._take()
            schedule.advance()

    def _take(self, *, lone: bool = False) -> None:
        assert self._sampler is not None
        sample = self._sampler.sample()
        with self._lock:
            record(self.series, sample, lone=lone)
            self._count += 1
            self.latest = sample
        if self._on_sample is not None:
            self._on_sample(sample)

    def stop(self) -> SamplerSummary:
        if self._thread is None:
            raise RuntimeError("BackgroundSampler.stop() before start()")
        self._stop.set()
        self._thread.join()
        if self._count == 0:
            # One sample over the whole run, whatever its length: under MIN_SPAN_S it
            # reads no CPU (see record()) rather than make the run wait for one.
            self._take(lone=True)
        return self.summary()

    def summary(self) -> SamplerSummary:
        assert self._sampler is not None
        with self._lock:
            return SamplerSummary.from_series(self.series, interval_s=self.interval_s,
                                              cores=self._sampler.cores)

    def __enter__(self) -> BackgroundSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._stop.is_set():
            self.stop()


class SpanSampler:
    """One reading over a whole span, with no thread: the baseline now, :meth:`stop` later.

    For runs that a sampling thread would disturb (a memory profile traces every
    allocation, a sampler's included), yet whose machine still deserves a look.
    """

    def __init__(self, *, pid: int | None = None, include_children: bool = True) -> None:
        self._sampler = SystemSampler(pid=os.getpid() if pid is None else pid,
                                      include_children=include_children)

    def stop(self) -> SamplerSummary:
        # A span under MIN_SPAN_S reads no CPU (see record()) rather than wait for one.
        sample = self._sampler.sample()
        series = SeriesSet(2, unit_of)
        record(series, sample, lone=True)
        return SamplerSummary.from_series(series, interval_s=round(sample.interval_s, 3),
                                          cores=self._sampler.cores)
