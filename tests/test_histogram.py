"""The streaming latency histogram: precision, the batched recording path, bounded memory."""

from __future__ import annotations

import math
import random

import pytest

from agentperf.execution.base import TaskError, TaskResult
from agentperf.measure.histogram import BATCH, LatencyHistogram
from agentperf.measure.tally import TaskTally

PERCENTILES = (0, 1, 25, 50, 90, 95, 99, 99.9, 100)


def latencies(seed: int, count: int) -> list[float]:
    """Seconds from 1 us to ~100 s, log-uniform, plus a cluster of fast tasks."""
    rng = random.Random(seed)
    return [10 ** rng.uniform(-6, 2) if i % 3 else rng.random() * 5e-6 for i in range(count)]


def exact_percentile(sorted_us: list[int], pct: float) -> int:
    """Nearest rank over the truncated, clamped microsecond values (HDR's rounding)."""
    rank = max(int(pct * len(sorted_us) / 100 + 0.5), 1)
    return sorted_us[min(rank, len(sorted_us)) - 1]


def test_percentiles_are_within_three_significant_digits_of_the_exact_ones() -> None:
    values = latencies(11, 30_000)
    hist = LatencyHistogram()
    for value in values:
        hist.record(value)
    exact = sorted(max(int(v * 1_000_000), 1) for v in values)
    for pct in PERCENTILES:
        got = hist.percentile(pct)
        want = exact_percentile(exact, pct)
        assert got is not None
        # a bucket is at most 1/1024 of its value wide; values under 2048 us are exact
        assert abs(got * 1e6 - want) <= max(want / 1024, 0) + 1e-6, (pct, got, want)
    summary = hist.summary()
    assert summary.count == len(values)
    assert summary.min == exact[0] / 1e6 and summary.max == exact[-1] / 1e6
    assert summary.mean == pytest.approx(sum(exact) / len(exact) / 1e6)


def test_batched_recording_reads_the_same_as_recording_one_by_one() -> None:
    values = latencies(12, 3 * BATCH + 123)  # several folds and a partial buffer
    batched, one_by_one = LatencyHistogram(), LatencyHistogram(batch=1)
    for value in values:
        batched.record(value)
        one_by_one.record(value)
    assert batched.count == one_by_one.count == len(values)
    assert batched.summary() == one_by_one.summary()
    assert batched.buckets() == one_by_one.buckets()
    assert [batched.percentile(p) for p in PERCENTILES] == [
        one_by_one.percentile(p) for p in PERCENTILES
    ]


def test_reads_between_records_see_every_sample_so_far() -> None:
    """A progress snapshot reads percentiles mid-run: the buffer is folded, not skipped."""
    hist = LatencyHistogram()
    for _ in range(10):
        hist.record(0.001)
    assert hist.count == 10 and hist.percentile(50) == pytest.approx(0.001)
    for _ in range(90):
        hist.record(0.5)
    assert hist.count == 100
    assert hist.percentile(50) == pytest.approx(0.5, rel=1e-3)
    assert hist.summary().min == pytest.approx(0.001)


def test_merge_equals_recording_everything_in_one() -> None:
    first, second = latencies(13, 5000), latencies(14, BATCH + 7)
    a, b, whole = LatencyHistogram(), LatencyHistogram(), LatencyHistogram(batch=1)
    for value in first:
        a.record(value)
        whole.record(value)
    for value in second:
        b.record(value)
        whole.record(value)
    merged = LatencyHistogram.merged(a, LatencyHistogram(), b)
    assert merged.summary() == whole.summary() and merged.buckets() == whole.buckets()
    assert a.count == len(first) and b.count == len(second)  # parts left as they were


def test_values_outside_the_range_are_clamped_and_empty_reads_none() -> None:
    hist = LatencyHistogram()
    assert hist.percentile(50) is None and hist.summary().empty and hist.buckets() == []
    hist.record(0.0)
    hist.record(-1.0)
    hist.record(10 * 3600.0)
    summary = hist.summary()
    assert summary.min == 1e-6 and summary.max == 3600.0 and summary.count == 3


def test_buckets_are_bounded_by_the_range_not_the_number_of_samples() -> None:
    """Log-linear buckets: 2048 exact ones, then 1024 per power of two up to 1 h (2**32 us)."""
    hist = LatencyHistogram()
    rng = random.Random(15)
    for _ in range(4 * BATCH):
        hist.record(10 ** rng.uniform(-6, math.log10(3600)))
    assert len(hist._counts) <= 2048 + 21 * 1024


def test_ten_million_tasks_keep_memory_flat() -> None:
    """Ten million samples leave one batch of buffer at most and the buckets they hit.

    Recording them one by one would take seconds, so whole batches go into the buffer
    and through the same fold that ``record`` triggers."""
    hist = LatencyHistogram()
    rng = random.Random(16)
    batch = [rng.choice((0.0004, 0.002, 0.0175, 0.3)) + i % 7 * 1e-6 for i in range(BATCH)]
    folds = 10_000_000 // BATCH + 1
    for _ in range(folds):
        hist._buffer.extend(batch)
        hist._fold()
    assert hist.count == folds * BATCH >= 10_000_000
    assert len(hist._buffer) == 0 and len(hist._counts) <= 4 * 7
    assert hist.summary().max == pytest.approx(0.3 + 6e-6, rel=1e-3)


def test_tally_counts_each_kind_of_result_on_its_own_path() -> None:
    tally = TaskTally()
    tally.add(TaskResult(0, True, latency_s=0.002))
    tally.add(
        TaskResult(1, False, error=TaskError("ValueError", "bad"), latency_s=0.004, cpu_s=0.003)
    )
    tally.add(TaskResult(2, True, latency_s=0.0001, cache_hit=True, attempts=0))
    tally.add(TaskResult(3, True, latency_s=0.5, service_s=0.1, attempts=2))
    tally.add(TaskResult(4, False, error=TaskError("Timeout", "late"), attempts=0, timed_out=True))
    assert (tally.done, tally.calls, tally.cache_hits, tally.failed) == (5, 3, 1, 2)
    assert (tally.call_failed, tally.timed_out, tally.call_timed_out) == (1, 1, 0)
    assert tally.failure_types == {"ValueError": 1, "Timeout": 1}
    assert tally.latency.count == 3 and tally.service_time.count == 3
    assert tally.served_latency.count == 5
    assert tally.service_time.summary().max == pytest.approx(0.1)
    assert tally.latency.summary().max == pytest.approx(0.5)
    assert tally.cpu_tasks == 1 and math.isclose(tally.cpu_s, 0.003)
