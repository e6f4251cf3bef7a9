"""The bounded timeline: correct per-interval aggregates, and a bound that holds for any length."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from report_schema import validate_report

from agentperf.measure.timeline import CoarseSketch, TaskWindow, TimelineRecorder

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


class FakeClock:
    """Time a test drives itself: a 30-minute soak runs in milliseconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sketch_quantiles_within_the_bucket_width_of_the_exact_ones() -> None:
    rng = random.Random(7)
    values = sorted(rng.lognormvariate(-4, 1.0) for _ in range(20_000))
    sketch = CoarseSketch()
    for v in values:
        sketch.add(v)
    p50, p95, p99 = sketch.quantiles(0.5, 0.95, 0.99)
    for got, q in ((p50, 0.5), (p95, 0.95), (p99, 0.99)):
        exact = values[int(q * len(values)) - 1]
        assert got is not None and abs(got - exact) / exact < 0.05, (q, got, exact)
    assert sketch.nbytes < 4096


def test_adding_in_bulk_fills_the_same_buckets_as_one_by_one() -> None:
    rng = random.Random(11)
    values = [rng.lognormvariate(-6, 2.0) for _ in range(5_000)] + [3e-7] * 500
    one, bulk = CoarseSketch(), CoarseSketch()
    for v in values:
        one.add(v)
    bulk.add_many(values)
    qs = (0.01, 0.1, 0.5, 0.9, 0.99)
    assert bulk.count == one.count
    for got, want in zip(bulk.quantiles(*qs), one.quantiles(*qs), strict=True):
        assert got == pytest.approx(want, rel=0.051)  # at most one 5 % bucket apart


def test_a_task_window_hands_over_what_the_tally_counted_since_the_last_flush() -> None:
    class Tally:
        done = failed = cache_hits = 0

    clock, tally = FakeClock(), Tally()
    recorder = TimelineRecorder(interval_s=1.0, clock=clock)
    window = TaskWindow(recorder, tally, clock.now)
    assert window.next_at == clock.now + 1.0
    for second in range(3):
        tally.done += 10
        tally.failed += second
        tally.cache_hits += 2
        window.latencies.extend([0.01] * 8)
        clock.now += 1.0
        window.flush(clock.now, in_flight=4)
    timeline = recorder.snapshot()
    assert timeline.column("completed") == [10, 10, 10]
    assert timeline.column("failed") == [0, 1, 2]
    assert timeline.column("cache_hits") == [2, 2, 2]
    assert timeline.column("in_flight") == [4, 4, 4]
    assert all(p50 == pytest.approx(0.01, rel=0.05) for p50 in timeline.column("p50_s"))


def test_empty_sketch_answers_none_not_zero() -> None:
    assert CoarseSketch().quantiles(0.5, 0.99) == [None, None]


def test_sketch_merge_adds_counts() -> None:
    a, b = CoarseSketch(), CoarseSketch()
    for _ in range(90):
        a.add(0.001)
    for _ in range(10):
        b.add(1.0)
    a.merge(b)
    assert a.count == 100
    p50, p95 = a.quantiles(0.5, 0.95)
    assert p50 == pytest.approx(0.001, rel=0.05) and p95 == pytest.approx(1.0, rel=0.05)


def test_intervals_hold_what_happened_in_them() -> None:
    clock = FakeClock()
    rec = TimelineRecorder(1.0, 100, clock=clock)
    for _ in range(10):  # second 0: ten fast tasks, one failed, 3 in flight at most
        rec.add_task(0.010, ok=True, in_flight=3)
    rec.add_task(0.010, ok=False, in_flight=1)
    clock.now += 2.5  # second 2: slow tasks, a cache hit, CPU and RSS
    for _ in range(4):
        rec.add_task(0.5, ok=True)
    rec.add_task(None, ok=True, cache_hit=True)
    rec.add_system(40.0, 100)
    rec.add_system(60.0, 300)
    s = rec.snapshot().to_dict()["series"]
    assert s["t_s"] == [0.0, 1.0, 2.0]
    assert s["completed"] == [11, 0, 5] and s["failed"] == [1, 0, 0]
    assert s["cache_hits"] == [0, 0, 1] and s["in_flight"] == [3, None, None]
    assert s["p50_s"][0] == pytest.approx(0.010, rel=0.05)
    assert s["p99_s"][2] == pytest.approx(0.5, rel=0.05)
    assert s["p50_s"][1] is None  # nothing observed is no data, never 0
    assert s["cpu_percent"] == [None, None, 50.0] and s["rss_bytes"] == [None, None, 300]
    assert s["throughput_per_s"] == [11.0, 0.0, 5.0]


def test_a_long_run_is_merged_down_to_the_bound_without_losing_a_task() -> None:
    clock = FakeClock()
    rec = TimelineRecorder(0.25, 2000, clock=clock)
    rng = random.Random(3)
    total = 0
    for second in range(30 * 60):  # a 30-minute soak, latency doubling after 20 minutes
        base = 0.02 if second < 20 * 60 else 0.04
        for _ in range(5):
            rec.add_task(base * rng.uniform(0.9, 1.1), ok=True, in_flight=4)
            total += 1
        rec.add_system(50.0, 1_000_000 + second)
        clock.now += 1.0
    timeline = rec.snapshot()
    assert len(timeline.rows) <= 2000
    assert timeline.merges >= 2 and timeline.interval_s == 0.25 * 2**timeline.merges
    assert sum(timeline.column("completed")) == total  # merged, never dropped
    p50 = timeline.column("p50_s")
    assert p50[0] == pytest.approx(0.02, rel=0.1) and p50[-1] == pytest.approx(0.04, rel=0.1)
    assert max(v for v in timeline.column("rss_bytes") if v) == 1_000_000 + 30 * 60 - 1


def test_memory_stays_bounded_for_a_run_of_any_length() -> None:
    clock = FakeClock()
    rec = TimelineRecorder(0.25, 2000, clock=clock)
    tracemalloc.start()
    try:
        for _ in range(20_000):  # 20,000 intervals, each with latencies in many buckets
            for latency in (1e-4, 1e-3, 1e-2, 1e-1):
                rec.add_task(latency, ok=True)
            clock.now += 1.0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(rec) <= 2000
    assert peak < 20 * 1024 * 1024


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        TimelineRecorder(0, 10)
    with pytest.raises(ValueError):
        TimelineRecorder(1.0, 1)


def test_run_batch_json_carries_a_timeline_that_adds_up(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f"{i}\n" for i in range(60)))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentperf",
            "run-batch",
            "agents_for_tests:sleepy",
            "--inputs",
            str(inputs),
            "-m",
            "threads",
            "-w",
            "4",
            "--max-in-flight",
            "6",
            "--sample-interval",
            "0.1",
            "--json",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{TESTS}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    validate_report(doc)
    timeline = doc["timeline"]
    series = timeline["series"]
    assert all(len(column) == timeline["points"] for column in series.values())
    assert sum(series["completed"]) == doc["tasks"]["total"] == 60
    assert 1 <= max(v for v in series["in_flight"] if v is not None) <= 6
    p50s = [v for v in series["p50_s"] if v is not None]
    assert p50s and all(0.018 <= v <= 0.2 for v in p50s)  # 20 ms sleeps, a loaded machine
    assert any(v for v in series["rss_bytes"])
