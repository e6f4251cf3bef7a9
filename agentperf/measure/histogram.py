"""Streaming latency histogram: constant memory for any number of samples.

An HDR-style log-linear histogram (3 significant digits, 1 us to 1 h: the layout k6 and
wrk use), so p99 over ten million tasks costs the same few kilobytes as over ten.

Recording is the per-task hot path of every run-batch, so it only appends the seconds
to a preallocated C array; every :data:`BATCH` samples (and before any read) the buffer
is folded into the buckets at once: ``Counter`` counts the distinct microsecond values
in C, and only those are mapped to buckets in Python. A run of fast tasks has few
distinct values, so the fold costs a few nanoseconds per sample. Reads give exactly what
recording one value at a time into an HDR histogram would (same buckets, same rounding).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate

_LOWEST_US = 1
_HIGHEST_US = 3600 * 1_000_000
#: Values below 2**11 are exact; above, each power of two is cut into 1,024 buckets,
#: so a bucket is at most 1/1024 of its value wide: 3 significant digits.
_EXACT_BITS = 11
#: Samples buffered before a fold: 64 KiB per histogram, whatever the run's length.
BATCH = 8192
#: The largest amount :class:`AmountHistogram` tells apart (in its units).
_HIGHEST_UNITS = 10**13


def _bucket(us: int) -> int:
    """The lowest value of the bucket holding ``us``."""
    shift = us.bit_length() - _EXACT_BITS
    return (us >> shift) << shift if shift > 0 else us


def _highest(key: int) -> int:
    """The highest value of the bucket starting at ``key`` (HDR reports this one)."""
    shift = key.bit_length() - _EXACT_BITS
    return key | ((1 << shift) - 1) if shift > 0 else key


def _cumulative_of(counts: dict[int, int]) -> tuple[list[int], list[int]]:
    """The buckets' keys in order, and the running total of samples up to each."""
    keys = sorted(counts)
    return keys, list(accumulate(counts[key] for key in keys))


def _value_at(cumulative: tuple[list[int], list[int]], count: int, pct: float) -> int:
    """HDR's rule: the highest value of the first bucket whose running total reaches
    ``pct`` of the ``count`` samples (rounded to the nearest sample, at least one); the
    lowest value of the first bucket for ``pct`` 0."""
    keys, running = cumulative
    target = max(int(min(pct, 100.0) * count / 100 + 0.5), 1)
    key = keys[min(bisect_left(running, target), len(keys) - 1)]
    return _highest(key) if pct else key


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
    """Records latencies in seconds; reads percentiles back in seconds.

    ``batch`` is how many samples wait in the buffer before a fold (1 folds each sample
    as it comes, which the tests use as the reference for the batched path).
    """

    def __init__(self, batch: int = BATCH) -> None:
        self._batch = max(batch, 1)
        self._buffer = array("d")
        self._counts: dict[int, int] = {}  # bucket's lowest value (us) -> samples
        self._count = 0
        self._sum_us = 0
        self._min_us: int | None = None
        self._max_us = 0
        self._sorted: tuple[list[int], list[int]] | None = None  # keys, running totals

    def record(self, seconds: float) -> None:
        buffer = self._buffer
        buffer.append(seconds)
        if len(buffer) >= self._batch:
            self._fold()

    def _fold(self) -> None:
        """Move the buffered samples into the buckets (microseconds, truncated, clamped)."""
        buffer = self._buffer
        if not buffer:
            return
        self._buffer = array("d")
        counts, total = self._counts, 0
        low, high = _HIGHEST_US, _LOWEST_US
        for us, n in Counter(map(int, map((1_000_000.0).__mul__, buffer))).items():
            us = min(max(us, _LOWEST_US), _HIGHEST_US)
            key = _bucket(us)
            counts[key] = counts.get(key, 0) + n
            total += us * n
            low, high = min(low, us), max(high, us)
        self._count += len(buffer)
        self._sum_us += total
        self._min_us = low if self._min_us is None else min(self._min_us, low)
        self._max_us = max(self._max_us, high)
        self._sorted = None

    @property
    def count(self) -> int:
        return self._count + len(self._buffer)

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
        """The value at ``pct``, clamped to the observed range (buckets round up);
        None when nothing was observed."""
        if self.count == 0:
            return None
        return self._percentile(pct)

    def _cumulative(self) -> tuple[list[int], list[int]]:
        self._fold()
        if self._sorted is None:
            self._sorted = _cumulative_of(self._counts)
        return self._sorted

    def _percentile(self, pct: float) -> float:
        value = _value_at(self._cumulative(), self._count, pct)
        return min(max(value, self._min_us or 0), self._max_us) / 1_000_000

    def summary(self) -> LatencySummary:
        n = self.count
        if n == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        self._fold()
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
        """Add every sample of ``other`` to this histogram (``other`` is left as it was)."""
        other._fold()
        self._fold()
        counts = self._counts
        for key, n in other._counts.items():
            counts[key] = counts.get(key, 0) + n
        self._count += other._count
        self._sum_us += other._sum_us
        if other._min_us is not None:
            mins = [m for m in (self._min_us, other._min_us) if m is not None]
            self._min_us = min(mins)
        self._max_us = max(self._max_us, other._max_us)
        self._sorted = None

    def buckets(self, count: int = 20) -> list[tuple[float, float, int]]:
        """``count`` equal-width buckets from min to max: (low_s, high_s, samples)."""
        if self.count == 0:
            return []
        keys, _ = self._cumulative()
        low, high = self._min_us or 0, self._max_us
        width = max((high - low) / count, 1)
        counts = [0] * count
        for key in keys:
            value = min(_highest(key), high)
            slot = min(int((value - low) / width), count - 1)
            counts[max(slot, 0)] += self._counts[key]
        return [
            ((low + i * width) / 1e6, (low + (i + 1) * width) / 1e6, c)
            for i, c in enumerate(counts)
        ]


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
    in constant memory: the latency histogram's log-linear buckets (3 significant
    digits) over integer units, plus an exact sum. Amounts arrive once per task that
    reported usage, so recording is not batched."""

    def __init__(self, resolution: float = 1.0) -> None:
        self._counts: dict[int, int] = {}  # bucket's lowest value (units) -> tasks
        self._resolution = resolution
        self.count = 0
        self.total = 0.0
        self._min: float | None = None
        self._max = 0.0

    def record(self, amount: float) -> None:
        key = _bucket(min(max(round(amount / self._resolution), 0), _HIGHEST_UNITS))
        self._counts[key] = self._counts.get(key, 0) + 1
        self.count += 1
        self.total += amount
        self._min = amount if self._min is None else min(self._min, amount)
        self._max = max(self._max, amount)

    def percentile(self, pct: float) -> float | None:
        """HDR's rule, as :meth:`LatencyHistogram.percentile`; None when empty."""
        if self.count == 0:
            return None
        value = _value_at(_cumulative_of(self._counts), self.count, pct) * self._resolution
        return min(max(value, self._min or 0.0), self._max)

    def summary(self) -> AmountSummary:
        n = self.count
        if n == 0:
            return AmountSummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        pct = self.percentile
        return AmountSummary(n, self.total, self.total / n, self._min or 0.0, pct(50) or 0.0,
                             pct(90) or 0.0, pct(95) or 0.0, pct(99) or 0.0, self._max)
