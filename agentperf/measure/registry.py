"""A process-wide metrics registry and the ``measure`` decorator that feeds it.

``@measure`` is the performance guide's ``performance_decorator`` made real: it
records each call's latency, its RSS change and whether it raised, for sync and
async functions alike, and never logs or prints. What it records lives in bounded
structures (a streaming latency histogram and a fixed-size recent history), so a
function called a billion times costs the same memory as one called ten times.
``agentperf monitor``, the reports and the Prometheus export read the registry.

Recording is kept to counters and one ring-buffer append, so a call costs about a
microsecond when nothing reads the registry; percentiles are computed when someone
reads, over the most recent ``history`` calls (a sliding window, as Prometheus
summaries and Dropwizard reservoirs do), while count, sum, min and max cover every
call. Tracking RSS adds two reads of ``/proc/self/statm`` (about 2 us each);
``track_rss=False`` drops them for very hot functions.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from agentperf.measure.histogram import LatencySummary
from agentperf.measure.rss import OwnRss
from agentperf.measure.stats import percentile
from agentperf.measure.timeseries import DEFAULT_HISTORY, TimeSeries

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class FunctionMetrics:
    """What the registry knows about one measured function (seconds and bytes).

    ``latency`` percentiles cover the last ``history`` calls; its count, mean, min and
    max cover every call.
    """

    name: str
    calls: int
    failures: int
    latency: LatencySummary
    total_latency_s: float
    rss_change_total_bytes: int
    rss_change_max_bytes: int
    last_error: str | None

    @property
    def error_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    @property
    def rss_change_mean_bytes(self) -> float:
        return self.rss_change_total_bytes / self.calls if self.calls else 0.0


class _FunctionRecord:
    __slots__ = (
        "calls",
        "failures",
        "history",
        "last_error",
        "max_s",
        "min_s",
        "rss_max",
        "rss_total",
        "total_s",
    )

    def __init__(self, name: str, history: int) -> None:
        self.calls = 0
        self.failures = 0
        self.total_s = 0.0
        self.min_s = float("inf")
        self.max_s = 0.0
        self.rss_total = 0
        self.rss_max = 0
        self.last_error: str | None = None
        self.history = TimeSeries(name, "s", history)

    def latency(self) -> LatencySummary:
        recent = sorted(self.history.values())
        if not recent:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return LatencySummary(
            count=self.calls, min=self.min_s, mean=self.total_s / self.calls,
            p50=percentile(recent, 50), p90=percentile(recent, 90),
            p95=percentile(recent, 95), p99=percentile(recent, 99), max=self.max_s)


class MetricsRegistry:
    """Thread-safe, bounded per-function call metrics."""

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self.history = history
        self._lock = threading.Lock()
        self._records: dict[str, _FunctionRecord] = {}
        self._start = time.monotonic()

    def record(self, name: str, latency_s: float, *, ok: bool = True,
               rss_change_bytes: int = 0, error: str | None = None) -> None:
        with self._lock:
            rec = self._records.get(name)
            if rec is None:
                rec = self._records[name] = _FunctionRecord(name, self.history)
            rec.calls += 1
            rec.total_s += latency_s
            if latency_s < rec.min_s:
                rec.min_s = latency_s
            if latency_s > rec.max_s:
                rec.max_s = latency_s
            rec.history.append(time.monotonic() - self._start, latency_s)
            rec.rss_total += rss_change_bytes
            if rss_change_bytes > rec.rss_max:
                rec.rss_max = rss_change_bytes
            if not ok:
                rec.failures += 1
                rec.last_error = error

    def names(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def snapshot(self) -> dict[str, FunctionMetrics]:
        with self._lock:
            return {name: FunctionMetrics(
                name=name, calls=rec.calls, failures=rec.failures,
                latency=rec.latency(), total_latency_s=rec.total_s,
                rss_change_total_bytes=rec.rss_total, rss_change_max_bytes=rec.rss_max,
                last_error=rec.last_error) for name, rec in self._records.items()}

    def recent_latencies(self, name: str, last: int | None = None) -> list[float]:
        """The most recent call latencies of ``name`` (at most ``history`` of them)."""
        with self._lock:
            rec = self._records.get(name)
            return rec.history.values(last) if rec is not None else []

    def reset(self) -> None:
        with self._lock:
            self._records.clear()


_DEFAULT = MetricsRegistry()


def default_registry() -> MetricsRegistry:
    """The registry ``@measure`` writes to unless given another."""
    return _DEFAULT


_rss = OwnRss()


@overload
def measure(func: F, /) -> F: ...


@overload
def measure(*, name: str | None = None, registry: MetricsRegistry | None = None,
            track_rss: bool = True) -> Callable[[F], F]: ...


def measure(func: F | None = None, /, *, name: str | None = None,
            registry: MetricsRegistry | None = None,
            track_rss: bool = True) -> F | Callable[[F], F]:
    """Record latency, RSS change and success of every call of a sync or async function.

    Use bare (``@measure``) or configured (``@measure(name="search", track_rss=False)``).
    An exception is recorded as a failure with its type and re-raised unchanged; a
    cancellation (``BaseException``) is not a finished call and is not recorded.
    """

    def decorate(fn: F) -> F:
        label = name or f"{fn.__module__}.{fn.__qualname__}"
        target = registry
        rss = _rss if track_rss else _no_rss

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                reg = target or _DEFAULT
                rss0, t0 = rss(), time.perf_counter()
                try:
                    result = await fn(*args, **kwargs)
                except Exception as exc:
                    reg.record(label, time.perf_counter() - t0, ok=False,
                               rss_change_bytes=rss() - rss0, error=_describe(exc))
                    raise
                reg.record(label, time.perf_counter() - t0, rss_change_bytes=rss() - rss0)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reg = target or _DEFAULT
            rss0, t0 = rss(), time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                reg.record(label, time.perf_counter() - t0, ok=False,
                           rss_change_bytes=rss() - rss0, error=_describe(exc))
                raise
            reg.record(label, time.perf_counter() - t0, rss_change_bytes=rss() - rss0)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def _no_rss() -> int:
    return 0


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
