"""Streaming latency histogram: constant memory for any number of samples.

Backed by an HDR histogram (3 significant digits, 1 us to 1 h), the structure k6 and
wrk use, so p99 over a million tasks costs the same few kilobytes as over ten.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

_LOWEST_US = 1
_HIGHEST_US = 3600 * 1_000_000
_SIGNIFICANT_DIGITS = 3


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles in seconds. With ``count`` 0 nothing was observed: the zeros
    are placeholders, and :meth:`value` answers None, never 0."""

    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @property
    def empty(self) -> bool:
        return self.count == 0

    def value(self, statistic: str) -> float | None:
        """Look a statistic up by name: ``p(95)``, ``p95``, ``avg``/``mean``, ``min``, ``max``;
        None when nothing was observed."""
        if self.empty:
            return None
        key = statistic.replace("(", "").replace(")", "").replace("med", "p50")
        key = {"avg": "mean", "median": "p50"}.get(key, key)
        return float(getattr(self, key))


class LatencyHistogram:
    """Records latencies in seconds; reads percentiles back in seconds."""

    def __init__(self) -> None:
        self._hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_DIGITS)
        self._sum_us = 0
        self._min_us: int | None = None
        self._max_us = 0

    def record(self, seconds: float) -> None:
        us = min(max(int(seconds * 1_000_000), _LOWEST_US), _HIGHEST_US)
        self._hist.record_value(us)
        self._sum_us += us
        if self._min_us is None or us < self._min_us:
            self._min_us = us
        if us > self._max_us:
            self._max_us = us

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    @classmethod
    def merged(cls, *parts: LatencyHistogram) -> LatencyHistogram:
        """A new histogram holding every sample of ``parts`` (a part with none is skipped,
        and a single non-empty part is returned as it is)."""
        filled = [part for part in parts if part.count]
        if len(filled) == 1:
            return filled[0]
        result = cls()
        for part in filled:
            result.merge(part)
        return result

    def percentile(self, pct: float) -> float | None:
        """The value at ``pct``, clamped to the observed range (HDR buckets round up);
        None when nothing was observed."""
        if self.count == 0:
            return None
        return self._percentile(pct)

    def _percentile(self, pct: float) -> float:
        value = self._hist.get_value_at_percentile(pct)
        return min(max(value, self._min_us or 0), self._max_us) / 1_000_000

    def summary(self) -> LatencySummary:
        n = self.count
        if n == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return LatencySummary(
            count=n,
            min=(self._min_us or 0) / 1_000_000,
            mean=self._sum_us / n / 1_000_000,
            p50=self._percentile(50),
            p90=self._percentile(90),
            p95=self._percentile(95),
            p99=self._percentile(99),
            max=self._max_us / 1_000_000,
        )

    def merge(self, other: LatencyHistogram) -> None:
        self._hist.add(other._hist)
        self._sum_us += other._sum_us
        if other._min_us is not None:
            mins = [m for m in (self._min_us, other._min_us) if m is not None]
            self._min_us = min(mins)
        self._max_us = max(self._max_us, other._max_us)

    def buckets(self, count: int = 20) -> list[tuple[float, float, int]]:
        """``count`` equal-width buckets from min to max: (low_s, high_s, samples)."""
        if self.count == 0:
            return []
        low, high = self._min_us or 0, self._max_us
        width = max((high - low) / count, 1)
        counts = [0] * count
        for item in self._hist.get_recorded_iterator():
            slot = min(int((item.value_iterated_to - low) / width), count - 1)
            counts[max(slot, 0)] += item.count_added_in_this_iter_step
        return [((low + i * width) / 1e6, (low + (i + 1) * width) / 1e6, c)
                for i, c in enumerate(counts)]


@dataclass(frozen=True)
class AmountSummary:
    """Per-task amounts (tokens, dollars): the sum and the distribution. With ``count``
    0 nothing was observed, and :meth:`value` answers None, never 0."""

    count: int
    total: float
    mean: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    def value(self, statistic: str) -> float | None:
        """``total``, ``avg``/``mean``, ``min``, ``med``/``p50``, ``p90``, ``p95``, ``p99``,
        ``max``; None when nothing was observed."""
        if self.count == 0:
            return None
        key = statistic.replace("(", "").replace(")", "")
        key = {"avg": "mean", "med": "p50", "median": "p50"}.get(key, key)
        return float(getattr(self, key))


class AmountHistogram:
    """Non-negative per-task amounts (token counts; dollars with ``resolution`` 1e-9),
    in constant memory: an HDR histogram (3 significant digits) plus an exact sum."""

    def __init__(self, resolution: float = 1.0) -> None:
        self._hist = HdrHistogram(1, 10**13, _SIGNIFICANT_DIGITS)
        self._resolution = resolution
        self.total = 0.0
        self._min: float | None = None
        self._max = 0.0

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def record(self, amount: float) -> None:
        units = min(max(round(amount / self._resolution), 0), 10**13)
        self._hist.record_value(units)
        self.total += amount
        self._min = amount if self._min is None else min(self._min, amount)
        self._max = max(self._max, amount)

    def percentile(self, pct: float) -> float | None:
        if self.count == 0:
            return None
        value = self._hist.get_value_at_percentile(pct) * self._resolution
        return min(max(value, self._min or 0.0), self._max)

    def summary(self) -> AmountSummary:
        n = self.count
        if n == 0:
            return AmountSummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        pct = self.percentile
        return AmountSummary(n, self.total, self.total / n, self._min or 0.0, pct(50) or 0.0,
                             pct(90) or 0.0, pct(95) or 0.0, pct(99) or 0.0, self._max)
