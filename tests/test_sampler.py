"""The psutil sampler and the bounded time series, on real processes and readings."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import psutil
import pytest
from monitor_helpers import burner, parent_of_burner, stop, wait_for, writer

from agentperf.analysis.health import system_input
from agentperf.measure.sampler import BackgroundSampler, SamplerSummary, SystemSampler
from agentperf.measure.timeseries import SeriesSet, TimeSeries


def _samples(sampler: SystemSampler, count: int, pause: float = 0.3) -> list:
    taken = []
    for _ in range(count):
        time.sleep(pause)
        taken.append(sampler.sample())
    return taken


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def test_cpu_burning_child_shows_high_cpu_on_its_pid() -> None:
    proc = burner(seconds=10)
    try:
        sampler = SystemSampler(pid=proc.pid)
        cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
        samples = _samples(sampler, 3)
        cpu1, t1 = _cpu_seconds(proc.pid), time.monotonic()
    finally:
        stop(proc)
    readings = [s.process.cpu_percent for s in samples]
    # The machine is shared, so the burner may get less than a core: compare with the
    # kernel's own CPU-time count over the same span rather than with a fixed number.
    expected = 100 * (cpu1 - cpu0) / (t1 - t0)
    assert min(readings) > 10, readings
    assert sum(readings) / len(readings) == pytest.approx(expected, rel=0.3, abs=5)
    assert all(s.process.pid == proc.pid for s in samples)
    assert all(s.process.rss_bytes > 1_000_000 for s in samples)
    assert all(0 <= s.cpu_percent <= 100 for s in samples)
    assert len(samples[0].cpu_per_core) == psutil.cpu_count()


def test_children_are_added_into_the_parent_and_can_be_left_out() -> None:
    proc = parent_of_burner(seconds=10)
    try:
        assert wait_for(lambda: len(psutil.Process(proc.pid).children()) == 1)
        child = psutil.Process(proc.pid).children()[0]
        tree = SystemSampler(pid=proc.pid, include_children=True)
        alone = SystemSampler(pid=proc.pid, include_children=False)
        only_child = SystemSampler(pid=child.pid)
        readings = []
        for _ in range(3):
            time.sleep(0.3)
            readings.append((tree.sample().process, alone.sample().process,
                             only_child.sample().process))
    finally:
        for grandchild in psutil.Process(proc.pid).children(recursive=True):
            grandchild.kill()
        stop(proc)
    assert all(w.processes == 2 and a.processes == 1 for w, a, _ in readings)
    tree_cpu = sum(w.cpu_percent for w, _, _ in readings)
    parent_cpu = sum(a.cpu_percent for _, a, _ in readings)
    child_cpu = sum(c.cpu_percent for _, _, c in readings)
    assert child_cpu > 30, readings  # three readings of a burning child
    assert tree_cpu == pytest.approx(parent_cpu + child_cpu, rel=0.3), readings
    assert parent_cpu < child_cpu / 3, readings


def test_disk_writes_by_a_child_show_a_write_rate(tmp_path: Path) -> None:
    proc = writer(tmp_path / "blob.bin", seconds=10)
    try:
        sampler = SystemSampler(pid=proc.pid)
        samples = _samples(sampler, 3)
    finally:
        stop(proc)
    assert max(s.process.write_bytes_per_s or 0 for s in samples) > 1_000_000
    assert max(s.disk_write_bytes_per_s or 0 for s in samples) > 0
    assert max(s.disk_write_ops_per_s or 0 for s in samples) > 0
    assert sampler.totals()["disk_write_bytes_per_s"] > 0


def test_process_end_is_detected() -> None:
    proc = burner(seconds=0.3)
    sampler = SystemSampler(pid=proc.pid)
    proc.wait(timeout=10)
    assert not sampler.process_alive()
    assert sampler.sample().process is None


def test_unknown_pid_raises() -> None:
    with pytest.raises(psutil.NoSuchProcess):
        SystemSampler(pid=2**22 + 12345)


def test_background_sampler_summary_and_short_runs() -> None:
    with BackgroundSampler(0.1) as sampler:
        keep = []
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            keep.append(bytearray(256 * 1024))
            time.sleep(0.005)
    summary = sampler.summary()
    assert summary.samples >= 3
    assert summary.process_rss_peak_bytes > 50_000_000
    rss = sampler.series.get("process_rss_bytes")
    assert rss is not None and rss.stats().trend == "increasing"  # the metric's trend column
    health = system_input(summary)
    # One second is under the growth rule's minimum span: "not enough data", never growth.
    assert summary.memory_growth_verdict == "not enough data"
    assert not health.memory_growth_significant and "not enough data" in health.memory_growth_rule
    json.dumps(asdict(summary))  # JSON-able fields only
    del keep

    short = BackgroundSampler(5.0)
    short.start()
    assert short.stop().samples == 1  # stopped before the first interval: sampled at stop


def test_first_reading_is_a_baseline_not_a_sample() -> None:
    sampler = BackgroundSampler(0.1, history=5)
    sampler.start()
    time.sleep(1.0)
    summary = sampler.stop()
    cpu = sampler.series["cpu_percent"]
    assert len(cpu) == 5 == cpu.capacity  # bounded, oldest dropped
    assert summary.samples == 5
    assert all(t > 0.05 for t, _ in cpu)  # no reading at time 0


def test_time_series_is_a_bounded_ring() -> None:
    series = TimeSeries("x", capacity=100)
    for i in range(10_000):
        series.append(i, i)
    assert len(series) == 100
    assert series.values()[0] == 9900 and series.latest == 9999
    assert len(series.window(9.5)) == 10


def test_trend_needs_significance() -> None:
    rng = random.Random(7)
    rising, flat = TimeSeries("rising"), TimeSeries("flat")
    for i in range(60):
        rising.append(i, 1000 + 10 * i + rng.gauss(0, 20))
        flat.append(i, 1000 + rng.gauss(0, 20))
    up = rising.stats()
    assert up is not None and up.trend == "increasing"
    assert 8 < up.slope_per_s < 12 and up.trend_p_value < 0.001
    level = flat.stats()
    assert level is not None and level.trend == "stable"
    assert level.count == 60 and level.min <= level.median <= level.max
    assert level.p95 <= level.max and level.latest == flat.latest


def test_series_set_window_and_summary() -> None:
    series = SeriesSet(50, {"cpu_percent": "%"})
    for t in range(20):
        series.record(float(t), {"cpu_percent": 50.0 + t, "memory_used_bytes": 1e9,
                                 "process_rss_bytes": None})
    assert "process_rss_bytes" not in series
    last5 = series.stats(window_s=4)["cpu_percent"]
    assert last5.count == 5 and last5.min == 65 and last5.unit == "%"
    summary = SamplerSummary.from_series(series, interval_s=1.0, cores=os.cpu_count() or 1)
    assert summary.samples == 20 and summary.cpu_percent_max == 69
    assert summary.process_samples == 0 and system_input(summary).process_cpu_percent_mean is None


def test_a_run_shorter_than_the_shortest_span_is_not_judged_on_cpu() -> None:
    """A one-input run ends in milliseconds: its lone sample comes at once (no wait) and
    reads memory, swap and load, but no CPU percent, which 10 ms ticks make random there.
    Limits that any CPU reading would break show the warning fires only when measured."""
    from agentperf.analysis.health import HealthLimits, machine_warnings

    # The load rule fires on any reading; the memory rule would not on a machine whose
    # memory is mostly this test's own (it blames the machine only for others' memory).
    eager = HealthLimits(others_cpu_percent=-1.0, load_per_core=-1.0)
    started = time.monotonic()
    short = BackgroundSampler(5.0)
    short.start()
    summary = short.stop()
    assert time.monotonic() - started < 0.09  # MIN_SPAN_S (0.1 s) was not waited out
    assert summary.samples == 1 and summary.cpu_samples == 0 and "too short" in summary.note
    assert summary.duration_s < 0.09  # what was read, not the 5 s interval
    assert "cpu_percent" not in short.series and "memory_percent" in short.series
    assert summary.process_samples == 1 and summary.process_rss_peak_bytes > 0
    health = system_input(summary)
    assert not health.cpu_measured and health.process_cpu_percent_mean is None
    codes = {w.code for w in machine_warnings(health, eager)}
    assert "machine_cpu_busy" not in codes and "machine_load_high" in codes

    long = BackgroundSampler(5.0)
    long.start()
    time.sleep(0.15)
    measured = long.stop()
    assert measured.samples == measured.cpu_samples == 1 and measured.note == ""
    assert 0.15 <= measured.duration_s < 1.0
    health = system_input(measured)
    assert health.cpu_measured and health.process_cpu_percent_mean is not None
    assert "machine_cpu_busy" in {w.code for w in machine_warnings(health, eager)}
