"""The one growth judgement: does retained memory grow with calls (or with time)?

The profiler's heap screen, the traced leak search and monitor's memory rule all ask it,
so they agree on what "grows" means. Readings taken one after another are not
independent (a step that stays, an input that leaks every third call, an allocator that
keeps an arena), and a plain t-test on them calls growth far too often. So the series is
cut into ``k`` consecutive batches (batch means: each batch gives one estimate, and the
batches are nearly independent when they are longer than the correlation), the growth
is the mean of the batch estimates, and its interval is Student's t with ``k - 1``
degrees of freedom over them.

The verdict is "grows" only when the interval's lower end is above zero *and* the
estimate reaches the threshold; "flat" otherwise; "not enough data" below the minimum
evidence (``MIN_BATCHES`` batches, a minimum span). With the 99 % two-sided interval a
series that does not grow is called "grows" at most 0.5 % of the time (the upper tail)
when its batches are independent; ``benchmarks/leak_detection.py`` measures the rate on
seeded autocorrelated series and on real clean agents.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from agentperf.measure.stats import t_quantile

CONFIDENCE = 0.99
SOAK_THRESHOLD = 64 * 1024.0  # bytes per second: monitor's default memory-growth limit
MIN_SPAN_S = 20.0  # a soak's memory growth needs this span after the warm-up ...
MIN_SAMPLES = 12  # ... and this many samples
WARMUP_SHARE = 0.25  # the first quarter of a soak is warm-up: allocator arenas, imports, caches
MIN_BATCHES = 4
MAX_BATCHES = 6
GROWS = "grows"
FLAT = "flat"
NOT_ENOUGH = "not enough data"


@dataclass(frozen=True)
class Growth:
    """A growth estimate, its interval, and the verdict with the rule that decided it."""

    verdict: str  # GROWS, FLAT or NOT_ENOUGH
    rate: float  # bytes per call, or bytes per second
    low: float
    high: float
    threshold: float
    readings: int
    batches: int
    confidence: float
    rule: str  # the rule in words, with the figures that decided it

    @property
    def grows(self) -> bool:
        return self.verdict == GROWS

    @property
    def may_grow(self) -> bool:
        """Not ruled out: growth, too little data, or an interval reaching the threshold."""
        return self.verdict != FLAT or self.high >= self.threshold


def per_call(increments: Sequence[float], *, threshold: float, round_length: int = 1,
             confidence: float = CONFIDENCE, noun: str = "calls") -> Growth:
    """Growth per call from what each call kept (bytes), averaged over the calls.

    Batches hold whole rounds of ``round_length`` calls (one call of each distinct input),
    so a leak on one input in three counts in full and an input that keeps more than
    another does not look like growth. The earliest calls are dropped to make whole
    batches.
    """
    rounds = len(increments) // max(round_length, 1)
    batches = min(MAX_BATCHES, rounds)
    if batches < MIN_BATCHES:
        return _not_enough(threshold, len(increments), batches, confidence,
                           f"{len(increments)} {noun} make {rounds} batches of "
                           f"{round_length}; the rule needs {MIN_BATCHES}")
    size = rounds // batches * round_length
    used = list(increments[len(increments) - size * batches:])
    estimates = [statistics.fmean(used[i * size:(i + 1) * size]) for i in range(batches)]
    return _judge(estimates, threshold, len(increments), confidence, "B per call", noun)


def per_second(times: Sequence[float], values: Sequence[float], *, threshold: float,
               min_span_s: float, min_samples: int, confidence: float = CONFIDENCE) -> Growth:
    """Growth per second of a level series (bytes): the mean of per-batch fitted slopes."""
    n = len(times)
    span = times[-1] - times[0] if n else 0.0
    per_batch = max(3, min_samples // MAX_BATCHES)
    batches = min(MAX_BATCHES, n // per_batch)
    if n < min_samples or span < min_span_s or batches < MIN_BATCHES:
        return _not_enough(threshold, n, batches, confidence,
                           f"{n} samples over {span:.1f} s; the rule needs {min_samples} "
                           f"over {min_span_s:g} s")
    size = n // batches
    start = n - size * batches
    estimates = [_slope(times[start + i * size:start + (i + 1) * size],
                        values[start + i * size:start + (i + 1) * size])
                 for i in range(batches)]
    return _judge(estimates, threshold, n, confidence, "B/s", "samples after the warm-up")


def after_warmup(points: Sequence[tuple[float, float]],
                 share: float = WARMUP_SHARE) -> list[tuple[float, float]]:
    """The samples after the first ``share`` of the span: the process's own warm-up
    (allocator arenas, lazy imports, thread stacks) steps RSS up early and never again."""
    if not points:
        return []
    start = points[0][0] + share * (points[-1][0] - points[0][0])
    return [p for p in points if p[0] >= start]


def _judge(estimates: list[float], threshold: float, readings: int, confidence: float,
           unit: str, noun: str) -> Growth:
    k = len(estimates)
    rate = statistics.fmean(estimates)
    half = t_quantile(1 - (1 - confidence) / 2, k - 1) * statistics.stdev(estimates) / math.sqrt(k)
    low, high = rate - half, rate + half
    grows = low > 0 and rate >= threshold
    rule = (f"{rate:,.0f} {unit} ({confidence:.0%} interval {low:,.0f} to {high:,.0f}, "
            f"batch means of {k} batches over {readings} {noun}); growth needs the "
            f"interval above 0 and at least {threshold:,.0f} {unit}")
    return Growth(GROWS if grows else FLAT, rate, low, high, threshold, readings, k,
                  confidence, rule)


def _not_enough(threshold: float, readings: int, batches: int, confidence: float,
                why: str) -> Growth:
    return Growth(NOT_ENOUGH, 0.0, -math.inf, math.inf, threshold, readings, batches,
                  confidence, f"not enough data: {why}")


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
