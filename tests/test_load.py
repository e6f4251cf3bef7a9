"""Load shapes through run-batch: the open model, stages, dropped starts, durations and
iterations, and their gates. Real threads, processes and event loops; no mocks.

Timing margins are generous (the suite runs on 2 busy cores); the tight figures are
in ``benchmarks/arrival.py``.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from load_helpers import call_rate, run_spec, spec_text
from report_schema import validate_report
from rich.console import Console

from agentperf.errors import ExitCode, SpecError
from agentperf.execution.gate import ArrivalSchedule, StartGate, TokenBucket
from agentperf.execution.settings import ExecutionSettings, Stage
from agentperf.pipeline.batch_setup import prepare_batch
from agentperf.report.json_report import batch_document
from agentperf.report.markdown import render_markdown
from agentperf.report.progress import PlainProgressView

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _tests_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TESTS_DIR)


# -- the schedule, the bucket and the gate on their own (pure arithmetic, no clock) ------

def test_constant_rate_slots_are_evenly_spaced_and_a_duration_ends_them() -> None:
    schedule = ArrivalSchedule(20.0, end_s=1.0)
    assert [schedule.at(k) for k in range(3)] == [0.0, 0.05, 0.1]
    assert schedule.at(19) == pytest.approx(0.95)
    assert schedule.at(20) is None


def test_stages_ramp_linearly_between_targets() -> None:
    schedule = ArrivalSchedule(None, (Stage(2.0, 100.0), Stage(1.0, 100.0)))
    # 0 -> 100/s over 2 s holds 100 starts, then 100 more in the flat second.
    slots = [t for k in range(400) if (t := schedule.at(k)) is not None]
    assert len(slots) == 200
    assert slots[50] == pytest.approx(2 ** 0.5, abs=0.01)  # n = 25 t^2 reaches 50 at t = sqrt 2
    assert schedule.target_rate(1.0) == pytest.approx(50.0)
    assert schedule.peak_rate == 100.0
    gaps = [b - a for a, b in itertools.pairwise(slots[150:])]
    assert max(gaps) == pytest.approx(0.01, rel=0.01)


def test_token_bucket_spaces_starts_after_its_burst() -> None:
    bucket = TokenBucket(10.0, burst=3)
    assert [bucket.take(0.0) for _ in range(5)] == pytest.approx([0, 0, 0, 0.1, 0.2])


def test_gate_drops_due_slots_beyond_max_in_flight() -> None:
    gate = StartGate(ArrivalSchedule(100.0), None, max_in_flight=5)
    gate.begin(0.0)
    assert gate.ready(0.095, in_flight=3) == 2  # 10 due, 3 running: 5 dropped... of 10
    assert gate.dropped == 8
    assert gate.stats().scheduled == 8  # the two still due are counted once started


# -- the open model against the closed loop ------------------------------------------------

def test_a_stall_shows_in_every_request_it_delays_only_in_the_open_model(
        tmp_path: Path) -> None:
    """wrk2's point: one 1 s stall at 100/s delays ~100 scheduled requests."""
    opened, _ = run_spec(tmp_path, spec_text(
        "StallOnce", "mode: threads, workers: 1, arrival_rate: 100/s, duration: 1.5s"))
    assert opened.latency.p90 >= 0.3
    assert opened.service_time is not None and opened.service_time.p90 < 0.05
    assert opened.load.model == "open" and opened.load.dropped == 0
    assert opened.exit_code == ExitCode.OK  # the default dropped gate passed
    # health judges the agent's own calls: waiting at the rate asked for is not its tail
    assert "tail_latency" not in {f.rule for f in opened.health.findings}

    closed, _ = run_spec(tmp_path, spec_text(
        "StallOnce", "mode: threads, workers: 1, iterations: 150"))
    assert closed.latency.p90 < 0.05  # the same stall hides behind the closed loop
    assert closed.load.model == "closed" and closed.total == 150


@pytest.mark.parametrize(("mode", "agent"), [
    ("sequential", "stamp"), ("threads", "stamp"), ("asyncio", "astamp"),
    ("processes", "stamp"), ("auto", "stamp"),
])
def test_achieved_rate_follows_the_arrival_rate_in_every_mode(
        tmp_path: Path, mode: str, agent: str) -> None:
    result, rows = run_spec(tmp_path, spec_text(
        agent, f"mode: {mode}, workers: 2, arrival_rate: 50/s, iterations: 40"))
    assert len(rows) == 40 and result.load.dropped == 0
    assert call_rate(rows) == pytest.approx(50.0, rel=0.15)
    assert result.load.achieved_rate == pytest.approx(50.0, rel=0.15)
    assert all("service_s" in row for row in rows)


def test_sequential_mode_queues_scheduled_starts_rather_than_dropping_them(
        tmp_path: Path) -> None:
    result, rows = run_spec(tmp_path, spec_text(
        "slow", "mode: sequential, arrival_rate: 40/s, iterations: 20"))
    assert result.load.dropped == 0 and len(rows) == 20
    # 50 ms calls at 25 ms intervals: the queue grows, and latency with it.
    assert result.latency.max >= 0.3
    assert result.service_time is not None and result.service_time.max < 0.2


def test_stages_reach_their_targets(tmp_path: Path) -> None:
    result, rows = run_spec(tmp_path, spec_text(
        "stamp", "mode: threads, workers: 4, "
                 "stages: [{duration: 1s, target: 100/s}, {duration: 1s, target: 100/s}]"))
    starts = sorted(row["output"] for row in rows)
    first = starts[0]
    ramp = sum(1 for t in starts if t - first < 1.0)
    flat = starts[ramp:]
    assert ramp == pytest.approx(50, abs=8)  # the ramp from 0 to 100/s averages 50/s
    assert len(flat) == pytest.approx(100, abs=10)
    assert (len(flat) - 1) / (flat[-1] - flat[0]) == pytest.approx(100, rel=0.15)
    assert result.load.target_rate == 100.0


# -- dropped starts and their gate -----------------------------------------------------------

DROPPING = "mode: threads, workers: 1, arrival_rate: 100/s, duration: 1s, max_in_flight: 5"


def test_dropped_starts_are_counted_and_fail_the_default_gate(tmp_path: Path) -> None:
    result, rows = run_spec(tmp_path, spec_text("slow", DROPPING))
    load = result.load
    assert load.dropped > 50  # one 50 ms worker keeps up with 20 of the 100 starts a second
    assert load.started == len(rows) and load.scheduled == load.started + load.dropped
    assert load.scheduled == pytest.approx(100, abs=3)
    assert result.exit_code == ExitCode.GATE_FAILED
    gate = next(g for g in result.gates if g.label.startswith("dropped"))
    assert not gate.passed and gate.observed == load.dropped
    doc = batch_document(result)
    validate_report(doc)
    assert doc["load"]["dropped"] == load.dropped and doc["schema_version"] == "1.2"
    markdown = render_markdown(result)
    assert f"{load.dropped:,} dropped" in markdown and "dropped: count == 0" in markdown


def test_a_spec_allows_drops_with_its_own_threshold(tmp_path: Path) -> None:
    result, _ = run_spec(tmp_path, spec_text(
        "slow", DROPPING, "thresholds: {dropped_rate: ['rate < 0.95']}"))
    assert result.load.dropped > 0
    assert result.exit_code == ExitCode.OK
    assert [t.metric for t in result.thresholds] == ["dropped_rate"]


def test_load_thresholds_fire_and_hold(tmp_path: Path) -> None:
    result, _ = run_spec(tmp_path, spec_text(
        "stamp", "mode: threads, workers: 2, arrival_rate: 50/s, iterations: 25"),
        thresholds=("achieved_rate: > 40/s", "service_time: p(90) < 100ms",
                    "achieved_rate: > 60/s", "dropped: count < 1"))
    verdicts = {t.expression: t.passed for t in result.thresholds}
    assert verdicts == {"> 40/s": True, "p(90) < 100ms": True, "> 60/s": False,
                        "count < 1": True}
    assert result.exit_code == ExitCode.GATE_FAILED


def test_drops_are_not_measured_in_a_closed_run(tmp_path: Path) -> None:
    result, _ = run_spec(tmp_path, spec_text("stamp", "mode: threads, iterations: 5"),
                         thresholds=("dropped: count == 0",))
    (threshold,) = result.thresholds
    assert not threshold.passed and threshold.observed is None


# -- durations and iterations ----------------------------------------------------------------

def test_iterations_cycle_the_inputs_and_the_cache_stays_off(tmp_path: Path) -> None:
    result, rows = run_spec(tmp_path, spec_text("stamp", "mode: threads, iterations: 25"))
    assert sorted(row["index"] for row in rows) == list(range(25))
    digests = [row["input_digest"] for row in sorted(rows, key=lambda r: r["index"])]
    assert digests[:3] * 8 + digests[:1] == digests and len(set(digests)) == 3
    assert result.cache is None and result.agent_calls == 25


def test_a_duration_ends_the_starts_on_time_and_progress_shows_the_time_left(
        tmp_path: Path) -> None:
    seen: list[Any] = []
    result, rows = run_spec(tmp_path, spec_text("slow", "mode: threads, workers: 2, "
                                                        "duration: 0.6s"), progress=seen.append)
    assert 0.55 <= result.wall_s < 1.2
    assert len(rows) >= 10 and result.load.duration_s == 0.6
    assert seen[0].time_left_s == 0.6 and seen[-1].time_left_s == 0.0
    view = PlainProgressView(Console(file=io.StringIO()), "load")
    assert "1s left" in view.line(seen[0]) and "eta" not in view.line(seen[0])


@pytest.mark.parametrize(("execution", "key", "words"), [
    ("arrival_rate: 20/x", "execution.arrival_rate", "does not fit a rate"),
    ("stages: [{duration: 1s}]", "execution.stages", "duration and target"),
    ("rate_limit: 0", "execution.rate_limit", "more than 0"),
    ("rate_limit: 5/s, rate_limit_redis: 'redis://127.0.0.1:1'", "execution.rate_limit_redis",
     "mode dask"),
])
def test_bad_load_settings_are_spec_errors(tmp_path: Path, execution: str, key: str,
                                           words: str) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(spec_text("stamp", execution))
    with pytest.raises(SpecError) as caught:
        prepare_batch(str(spec))
    assert caught.value.key == key and words in str(caught.value)


def test_settings_reject_a_redis_limit_outside_dask() -> None:
    settings = ExecutionSettings(mode="threads", rate_limit=5.0, rate_limit_redis="redis://x")
    assert [key for key, _ in settings.problems()] == ["rate_limit_redis"]


# -- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["sequential", "threads"])
def test_ctrl_c_wakes_a_run_waiting_for_its_next_start(tmp_path: Path, mode: str) -> None:
    """At 1 start a minute the run spends its time waiting on the gate: SIGINT must end
    that wait at once, with the summary of what finished."""
    spec = tmp_path / "slow_rate.yaml"
    spec.write_text(spec_text("stamp", f"mode: {mode}, arrival_rate: 1/m, iterations: 5"))
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR.parent), str(TESTS_DIR)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec), "-o", str(out), "--json"],
        cwd=TESTS_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (out.exists() and out.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - sent < 10
    doc = json.loads(stdout)
    assert doc["tasks"]["total"] == 1 and doc["load"]["model"] == "open"
    assert doc["load"]["started"] == 1
