"""Bounded metric histories and their windowed statistics.

Every monitored metric keeps its last ``capacity`` points in a ring (a ``deque`` with
``maxlen``: O(1) append, the oldest point falls off), so a monitor left running for a
week costs the same memory as one run for a minute. Statistics come from
:mod:`agentperf.measure.stats`; the trend is a least-squares slope that only counts
when it is statistically significant, not a bare correlation threshold.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from agentperf.measure.stats import Trend, linear_trend, summarize

DEFAULT_HISTORY = 1000
#: A significant slope must also move the metric by this share of its mean across the
#: window to count as a trend, so a tiny steady drift of a big number stays "stable".
MIN_RELATIVE_CHANGE = 0.02


@dataclass(frozen=True)
class SeriesStats:
    """Statistics of one metric over a window; values in the metric's unit."""

    name: str
    unit: str
    count: int
    min: float
    max: float
    mean: float
    median: float
    stdev: float
    p95: float
    latest: float
    trend: str  # "increasing", "decreasing" or "stable"
    slope_per_s: float
    trend_p_value: float


class BasicStats(NamedTuple):
    count: int
    mean: float
    min: float
    max: float


class TimeSeries:
    """The last ``capacity`` (time, value) points of one metric."""

    __slots__ = ("_points", "name", "unit")

    def __init__(self, name: str, unit: str = "", capacity: int = DEFAULT_HISTORY) -> None:
        if capacity < 1:
            raise ValueError("a time series needs a capacity of at least 1")
        self.name = name
        self.unit = unit
        self._points: deque[tuple[float, float]] = deque(maxlen=capacity)

    def append(self, t: float, value: float) -> None:
        self._points.append((t, float(value)))

    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self._points)

    @property
    def capacity(self) -> int:
        return self._points.maxlen or 0

    @property
    def span_s(self) -> float:
        """Time from the oldest kept point to the newest."""
        return self._points[-1][0] - self._points[0][0] if self._points else 0.0

    @property
    def latest(self) -> float | None:
        return self._points[-1][1] if self._points else None

    def window(self, seconds: float | None = None) -> list[tuple[float, float]]:
        """Points from the last ``seconds`` (all kept points when None)."""
        if seconds is None or not self._points:
            return list(self._points)
        start = self._points[-1][0] - seconds
        return [p for p in self._points if p[0] >= start]

    def values(self, last: int | None = None) -> list[float]:
        points = list(self._points) if last is None else list(self._points)[-last:]
        return [v for _, v in points]

    def basic(self, window_s: float | None = None) -> BasicStats | None:
        """Count, mean, min and max only: cheap enough to recompute every sample."""
        ys = [v for _, v in self.window(window_s)]
        if not ys:
            return None
        return BasicStats(len(ys), math.fsum(ys) / len(ys), min(ys), max(ys))

    def trend(self, window_s: float | None = None) -> Trend:
        points = self.window(window_s)
        return linear_trend([t for t, _ in points], [v for _, v in points],
                            min_relative_change=MIN_RELATIVE_CHANGE)

    def stats(self, window_s: float | None = None) -> SeriesStats | None:
        points = self.window(window_s)
        if not points:
            return None
        xs = [t for t, _ in points]
        ys = [v for _, v in points]
        summary = summarize(ys)
        trend = linear_trend(xs, ys, min_relative_change=MIN_RELATIVE_CHANGE)
        return SeriesStats(
            name=self.name, unit=self.unit, count=summary.count, min=summary.min,
            max=summary.max, mean=summary.mean, median=summary.median, stdev=summary.stdev,
            p95=summary.p95, latest=ys[-1], trend=trend.direction, slope_per_s=trend.slope,
            trend_p_value=trend.p_value,
        )


class SeriesSet:
    """Named time series sharing one capacity; metrics appear on first record."""

    def __init__(self, capacity: int = DEFAULT_HISTORY,
                 units: Mapping[str, str] | Callable[[str], str] | None = None) -> None:
        self.capacity = capacity
        table = dict(units) if isinstance(units, Mapping) else {}
        self._unit_of = units if callable(units) else lambda name: table.get(name, "")
        self._series: dict[str, TimeSeries] = {}

    def record(self, t: float, values: Mapping[str, float | int | None]) -> None:
        """Append every non-None value at time ``t``."""
        for name, value in values.items():
            if value is None:
                continue
            series = self._series.get(name)
            if series is None:
                series = TimeSeries(name, self._unit_of(name), self.capacity)
                self._series[name] = series
            series.append(t, value)

    def __getitem__(self, name: str) -> TimeSeries:
        return self._series[name]

    def get(self, name: str) -> TimeSeries | None:
        return self._series.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._series

    def names(self) -> list[str]:
        return list(self._series)

    def stats(self, window_s: float | None = None, names: Iterable[str] | None = None
              ) -> dict[str, SeriesStats]:
        chosen = self._series if names is None else {n: self._series[n] for n in names
                                                     if n in self._series}
        result: dict[str, SeriesStats] = {}
        for name, series in chosen.items():
            stats = series.stats(window_s)
            if stats is not None:
                result[name] = stats
        return result
