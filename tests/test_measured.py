"""Measured means measured: latency gates see only the agent calls a run made.

The three latency metrics (latency, service_time, served_latency), "no observations"
for every empty statistic, health inputs from agent calls only, per-task ``cpu_s``
honesty in every mode, and cache counts that add up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from report_schema import validate_report

from agentperf.analysis.gates import abort_check, run_batch_values
from agentperf.analysis.thresholds import (
    NO_OBSERVATIONS,
    RUN_BATCH_METRICS,
    Threshold,
    evaluate_thresholds,
    parse_thresholds,
)
from agentperf.cache.batch import BatchCache
from agentperf.cache.config import CacheConfig
from agentperf.errors import SpecError
from agentperf.execution import Task, TaskError, TaskResult, create_executor
from agentperf.execution.settings import ExecutionSettings
from agentperf.measure.histogram import LatencyHistogram
from agentperf.measure.tally import TaskTally
from agentperf.pipeline.batch import Progress
from agentperf.workload.adapters import AgentRef

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def err(message: str, key: str) -> Exception:
    return SpecError(message, key=key)


def thresholds(section: dict[str, Any]) -> list[Threshold]:
    return parse_thresholds(section, [], metrics=RUN_BATCH_METRICS, error=err)


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([sys.executable, "-m", "agentperf", "run-batch", "spec.yaml", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


# --- the reproduction: a warm cache must not answer a latency gate -------------------------

def test_a_warm_cache_never_passes_a_latency_gate(tmp_path: Path) -> None:
    """Run 1 fails on p(95); runs 2 and 3, answered from the disk cache, measured no call
    and fail every latency statistic with "no observations" (they used to pass)."""
    (tmp_path / "spec.yaml").write_text(textwrap.dedent(f"""
        agent: test_cache_batch:counted
        inputs: [1, 2, 3, 4, 5, 6]
        execution: {{mode: threads, workers: 2}}
        cache: {{dir: {tmp_path / 'cache'}, tiers: [memory, disk]}}
        thresholds:
          latency: ["p(95) < 5ms", "max < 10s"]
          served_latency: ["max < 10s"]
    """))
    first = run_cli(tmp_path, "--json")
    assert first.returncode == 1, first.stderr
    doc = json.loads(first.stdout)
    gates = {t["expression"]: t for t in doc["thresholds"] if t["metric"] == "latency"}
    assert not gates["p(95) < 5ms"]["passed"] and gates["p(95) < 5ms"]["observed"] >= 0.015
    assert gates["max < 10s"]["passed"]
    assert doc["tasks"]["agent_calls"] == 6 and doc["tasks"]["measurement_note"] is None

    for run in (2, 3):
        report, markdown = tmp_path / f"report-{run}.json", tmp_path / f"report-{run}.md"
        proc = run_cli(tmp_path, "--report-json", str(report), "--report-md", str(markdown),
                       "--report-html", str(tmp_path / "report.html"),
                       "--sample-interval", "0.05")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        doc = json.loads(report.read_text())
        validate_report(doc)
        assert doc["tasks"]["total"] == 6 and doc["tasks"]["agent_calls"] == 0
        assert doc["cache"]["calls_avoided"] == 6
        latency = [t for t in doc["thresholds"] if t["metric"] == "latency"]
        assert [(t["passed"], t["note"], t["observed"]) for t in latency] == [
            (False, NO_OBSERVATIONS, None)] * 2
        served = next(t for t in doc["thresholds"] if t["metric"] == "served_latency")
        assert served["passed"] and doc["served_latency"]["count"] == 6
        assert doc["latency"]["count"] == 0 and doc["latency"]["p95_s"] is None
        note = "no agent call was measured: all 6 tasks were served from the cache"
        assert doc["tasks"]["measurement_note"] == note
        assert note in " ".join(proc.stdout.split()) and note in markdown.read_text()
        # CPU spent reading the cache is not the workload's: no CPU-bound finding
        assert not [f for f in doc["health"]["findings"] if f["rule"] == "threads_cpu_bound"]


# --- one notion of empty, for every statistic ----------------------------------------------

@pytest.mark.parametrize("metric", ["latency", "service_time", "served_latency"])
@pytest.mark.parametrize("statistic", ["p(95)", "p(50)", "avg", "min", "med", "max"])
def test_every_empty_latency_statistic_fails_with_no_observations(metric: str,
                                                                  statistic: str) -> None:
    [result] = evaluate_thresholds(thresholds({metric: [f"{statistic} < 10s"]}),
                                   run_batch_values(latency=LatencyHistogram(), done=4,
                                                    failed=0, timed_out=0, elapsed_s=1.0,
                                                    calls=0, call_failed=0))
    assert (result.passed, result.observed, result.note) == (False, None, NO_OBSERVATIONS)


@pytest.mark.parametrize("statistic", ["p(95)", "avg", "min", "med", "max"])
def test_a_latency_statistic_with_samples_passes_or_fails_on_its_value(statistic: str) -> None:
    hist = LatencyHistogram()
    for seconds in (0.010, 0.020, 0.030):
        hist.record(seconds)
    values = run_batch_values(latency=hist, done=3, failed=0, timed_out=0, elapsed_s=1.0)
    passing, failing = evaluate_thresholds(
        thresholds({"latency": [f"{statistic} < 1s", f"{statistic} < 1ms"]}), values)
    assert passing.passed and passing.note == ""
    assert not failing.passed and failing.observed is not None and failing.observed > 0.001


def test_error_rate_needs_an_agent_call_and_counts_need_a_task() -> None:
    gates = thresholds({"error_rate": ["rate < 0.5"], "failed": ["count < 1"],
                        "timeouts": ["count < 1"]})
    # every task answered without calling the agent: the rate saw nothing, counts are real
    hits_only = run_batch_values(latency=LatencyHistogram(), done=5, failed=0, timed_out=0,
                                 elapsed_s=1.0, calls=0, call_failed=0)
    rate, failed, timeouts = evaluate_thresholds(gates, hits_only)
    assert (rate.passed, rate.note) == (False, NO_OBSERVATIONS)
    assert failed.passed and failed.observed == 0 and timeouts.passed
    # no task at all: nothing is observed
    nothing = run_batch_values(latency=LatencyHistogram(), done=0, failed=0, timed_out=0,
                               elapsed_s=1.0)
    assert [(r.passed, r.note) for r in evaluate_thresholds(gates, nothing)] == [
        (False, NO_OBSERVATIONS)] * 3
    # one agent call that succeeded: a real 0 % error rate passes
    one_call = run_batch_values(latency=LatencyHistogram(), done=5, failed=0, timed_out=0,
                                elapsed_s=1.0, calls=1, call_failed=0)
    assert evaluate_thresholds(gates, one_call)[0].passed


def _snapshot(tally: TaskTally, total: int) -> Progress:
    return Progress.of(tally, total, elapsed_s=10.0)


def test_abort_waits_while_nothing_is_observed_and_fires_once_it_is() -> None:
    check = abort_check(thresholds({
        "latency": [{"threshold": "p(95) < 5ms", "abort_on_fail": True}],
        "error_rate": [{"threshold": "rate < 0.5", "abort_on_fail": True}]}),
        cache_enabled=True)
    assert check is not None
    tally = TaskTally()
    for i in range(5):  # cache hits only: no latency, no error rate observed yet
        tally.add(TaskResult(i, True, i, None, 0.0001, attempts=0, cache_hit=True))
    assert check(_snapshot(tally, 10)) is None
    tally.add(TaskResult(5, True, 5, None, 0.050))  # one slow agent call
    stop = check(_snapshot(tally, 10))
    assert stop is not None and stop.metric == "latency" and stop.observed == pytest.approx(
        0.050, rel=0.01)


def test_error_rate_abort_bounds_by_the_tasks_left_not_the_tasks_seen() -> None:
    check = abort_check(thresholds({
        "error_rate": [{"threshold": "rate < 0.5", "abort_on_fail": True}]}),
        cache_enabled=True)
    assert check is not None
    error = TaskError("ValueError", "boom")
    tally = TaskTally()
    for i in range(6):  # 6 hits, then 2 failed calls: 2 of 2 calls failed, 2 tasks left
        tally.add(TaskResult(i, True, i, None, 0.0001, attempts=0, cache_hit=True))
    tally.add(TaskResult(6, False, None, error, 0.01))
    tally.add(TaskResult(7, False, None, error, 0.01))
    # best case: both remaining tasks call and succeed -> 2 of 4 = 0.5, not < 0.5
    assert check(_snapshot(tally, 10)) is not None
    # with 3 tasks left the best case is 2 of 5 = 0.4: the run may still pass
    assert check(_snapshot(tally, 11)) is None


# --- the three metrics from task results ---------------------------------------------------

def test_tally_separates_latency_service_time_and_served_latency() -> None:
    tally = TaskTally()
    tally.add(TaskResult(0, True, 0, None, 0.010, cpu_s=0.009))
    tally.add(TaskResult(1, True, 1, None, 0.300, attempts=2, service_s=0.020))  # retried
    tally.add(TaskResult(2, True, 2, None, 0.0002, attempts=0, cache_hit=True))
    tally.add(TaskResult(3, False, None, TaskError("E", "x"), 0.005, attempts=0,
                         cache_hit=True))  # a failure shared with a waiting duplicate
    assert (tally.calls, tally.call_failed, tally.done, tally.failed) == (2, 0, 4, 1)
    assert tally.latency.count == 2 and tally.latency.summary().max == pytest.approx(0.3, 0.01)
    assert tally.service_time.count == 2
    assert tally.service_time.summary().max == pytest.approx(0.020, rel=0.01)
    assert tally.served_latency.count == 4
    assert tally.served_latency.summary().min == pytest.approx(0.0002, rel=0.05)
    assert tally.measurement_note() is None


def test_a_retried_task_latency_spans_every_try_and_backoff(tmp_path: Path) -> None:
    ref = AgentRef("agents_for_tests:flaky", search_paths=(str(TESTS),))
    for mode in ("sequential", "threads", "asyncio"):
        run_dir = tmp_path / mode
        run_dir.mkdir()
        settings = ExecutionSettings(mode=mode, workers=2, retries=1, backoff_s=0.2)
        with create_executor(ref, settings) as executor:
            [result] = list(executor.run([Task(0, {"dir": str(run_dir), "n": 0})]))
        assert result.ok and result.attempts == 2, mode
        assert result.service_s is not None and result.service_s < 0.1, mode
        assert result.latency_s >= 0.2 + result.service_s, mode  # both tries and the backoff


# --- per-task CPU time ---------------------------------------------------------------------

def clock_error_s(wall_s: float) -> float:
    """How far CPU time may honestly exceed wall time: the CPU window sits inside the
    wall window, so only clock resolution and the rate difference of the scheduler's
    clock and the monotonic clock (NTP slews it by up to 500 ppm; 100 ppm allowed).
    The two CPU-clock reads the old order counted added about 0.7 us per call."""
    return 0.2e-6 + 1e-4 * wall_s


@pytest.mark.parametrize("mode", ["sequential", "threads", "processes", "asyncio"])
def test_cpu_s_never_exceeds_the_task_wall_time(mode: str) -> None:
    """A CPU-bound agent (about 1 ms of arithmetic per call) on several workers."""
    ref = AgentRef("agents_for_tests:burn", search_paths=(str(TESTS),))
    with create_executor(ref, ExecutionSettings(mode=mode, workers=3)) as executor:
        results = list(executor.run(Task(i, i) for i in range(60)))
    timed = [r for r in results if r.cpu_s is not None]
    assert len(timed) >= 50  # a call under 20 us may skip the next call's CPU reads
    over = [r.cpu_s - r.latency_s for r in timed if r.cpu_s > r.latency_s
            + clock_error_s(r.latency_s)]
    assert not over, f"{len(over)} tasks with cpu_s above latency_s, by up to {max(over)} s"
    assert all(r.cpu_s > 0 for r in timed)


@pytest.mark.parametrize("mode", ["sequential", "threads", "processes", "asyncio"])
def test_async_agents_get_no_cpu_s(mode: str) -> None:
    ref = AgentRef("agents_for_tests:async_sleepy", search_paths=(str(TESTS),))
    with create_executor(ref, ExecutionSettings(mode=mode, workers=2)) as executor:
        results = list(executor.run(Task(i, i) for i in range(4)))
    assert len(results) == 4 and all(r.ok and r.cpu_s is None for r in results)


def test_calls_shorter_than_the_clock_reads_get_no_cpu_s() -> None:
    ref = AgentRef("agents_for_tests:noop", search_paths=(str(TESTS),))
    with create_executor(ref, ExecutionSettings(mode="sequential")) as executor:
        results = list(executor.run(Task(i, i) for i in range(200)))
    assert all(r.cpu_s is None for r in results if r.latency_s < 20e-6)


# --- cache counts add up -------------------------------------------------------------------

def _run_cached(cache: BatchCache, inputs: list[Any]) -> list[TaskResult]:
    ref = AgentRef("test_cache_batch:counted", search_paths=(str(TESTS),))
    with create_executor(ref, ExecutionSettings(mode="threads", workers=4)) as executor:
        return list(cache.wrap((Task(i, v) for i, v in enumerate(inputs)), executor.run))


def _cache(tmp_path: Path, **extra: Any) -> BatchCache:
    config = CacheConfig(dir=tmp_path / "cache", window=8, **extra)
    ref = AgentRef("test_cache_batch:counted", search_paths=(str(TESTS),))
    return BatchCache.open(config, ref)


def test_tier_hits_plus_shared_in_flight_equal_calls_avoided(tmp_path: Path) -> None:
    inputs = [i % 5 for i in range(20)] + [-1, -1, -1]  # repeats in one window; a failure
    with _cache(tmp_path) as cache:
        cold = _run_cached(cache, inputs)
        cold_stats = cache.stats()
    with _cache(tmp_path) as cache:
        warm = _run_cached(cache, inputs)
        warm_stats = cache.stats()
    for results, stats in ((cold, cold_stats), (warm, warm_stats)):
        tier_hits = sum(tier.hits for tier in stats.tiers)
        assert tier_hits + stats.single_flight_waits == stats.calls_avoided
        assert sum(r.cache_hit for r in results) == stats.calls_avoided
        assert stats.hit_rate == pytest.approx(stats.calls_avoided / stats.lookups)
    assert cold_stats.single_flight_waits > 0
    # the stored failure is not replayed (cache_failures is off): a miss, not a hit
    assert [r.cache_hit for r in warm if r.index == 20] == [False]
    assert warm_stats.single_flight_waits >= 1 and warm_stats.calls_avoided == 22


def test_console_shows_shared_in_flight_on_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(textwrap.dedent(f"""
        agent: test_cache_batch:counted
        inputs: [1, 1, 1, 2, 2, 3]
        execution: {{mode: threads, workers: 3}}
        cache: {{dir: {tmp_path / 'cache'}, window: 8}}
    """))
    proc = run_cli(tmp_path, "--sample-interval", "0")
    assert proc.returncode == 0, proc.stderr
    lines = [" ".join(line.split()) for line in proc.stdout.splitlines()]
    avoided = next(line for line in lines if line.startswith("calls avoided"))
    shared = next(line for line in lines if line.startswith("shared in flight"))
    tiers = [line for line in lines if line.startswith(("memory ", "disk "))]
    total = int(avoided.split()[2])
    assert total == 3
    assert sum(int(line.split()[1]) for line in tiers) + int(shared.split()[3]) == total
