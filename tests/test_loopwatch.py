"""The loop-lag watchdog: an async agent that blocks its event loop is caught and named.

``agents_for_tests:blocks_loop`` calls ``time.sleep`` inside ``async def`` (the bug the
watchdog exists for); ``async_sleepy`` awaits ``asyncio.sleep`` (the right way). Every
case runs the real asyncio backend on a real event loop; blocks are ~0.8 s against a
0.3 s timeout and a 0.1 s threshold, so a slow machine cannot flip a verdict.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from report_schema import validate_report

from agentperf.execution import ExecutorInfo, Task, TaskResult, create_executor
from agentperf.execution.auto import Probe, choose_mode
from agentperf.execution.loopwatch import BLOCK_THRESHOLD_S, Stepped
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentRef

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
AGENT = "agents_for_tests:blocks_loop"
BLOCK_S = 0.8
TIMEOUT_S = 0.3


def run(agent: str, inputs: list[Any], **settings: Any
        ) -> tuple[dict[int, TaskResult], ExecutorInfo]:
    ref = AgentRef(f"agents_for_tests:{agent}", search_paths=(str(TESTS_DIR),))
    with create_executor(ref, ExecutionSettings(**settings)) as executor:
        results = list(executor.run(Task(i, value) for i, value in enumerate(inputs)))
    by_index = {r.index: r for r in results}
    assert sorted(by_index) == list(range(len(inputs))), "every input reported once"
    return by_index, executor.info


def blocking(info: ExecutorInfo) -> dict[str, Any]:
    return info.extra["event_loop_blocking"]


# --- must fire ----------------------------------------------------------------------------

def test_a_call_blocking_past_the_timeout_is_timed_out_and_named() -> None:
    inputs = [{"n": 0, "block_s": BLOCK_S}, {"n": 1},
              {"n": 2, "block_s": BLOCK_S, "await_s": 0.05}, {"n": 3}]
    results, info = run("blocks_loop", inputs, mode="asyncio", workers=1,
                        timeout_s=TIMEOUT_S)
    # returned right after blocking: asyncio's own timeout never got a turn
    # blocked, then awaited: asyncio's timeout fired late, the block is still the reason
    for index in (0, 2):
        result = results[index]
        assert not result.ok and result.timed_out and result.error is not None
        assert result.error.type == "Timeout"
        assert re.fullmatch(
            rf"the agent {AGENT} blocked the event loop for \d+\.\ds \(> timeout 0\.3s\); "
            "asyncio cannot cancel a blocking call", result.error.message), result.error.message
        assert result.latency_s >= BLOCK_S
    assert results[1].ok and results[3].ok and results[3].output == 3
    figures = blocking(info)
    assert (figures["calls"], figures["blocking_calls"]) == (4, 2)
    assert figures["longest_s"] >= BLOCK_S and figures["agent"] == AGENT
    [note] = info.notes
    assert note.startswith(f"agent {AGENT} blocks the event loop: 2 of 4 calls")
    assert "--mode threads" in note


def test_blocking_without_a_timeout_is_reported_but_not_failed() -> None:
    results, info = run("blocks_loop", [{"n": 0, "block_s": 0.3}, {"n": 1}], mode="asyncio")
    assert all(r.ok for r in results.values())  # no timeout was set, so nothing overran
    assert blocking(info)["blocking_calls"] == 1 and blocking(info)["longest_s"] >= 0.3
    [note] = info.notes
    assert "1 of 2 calls" in note and "longest 0.3s" in note


def test_a_retried_blocking_call_counts_every_attempt() -> None:
    results, info = run("blocks_loop", [{"n": 0, "block_s": 0.4}], mode="asyncio",
                        timeout_s=TIMEOUT_S, retries=1, backoff_s=0.01)
    assert results[0].timed_out and results[0].attempts == 2
    assert (blocking(info)["calls"], blocking(info)["blocking_calls"]) == (2, 2)


# --- must not fire ------------------------------------------------------------------------

@pytest.mark.parametrize("timeout_s", [None, TIMEOUT_S])
def test_an_agent_that_awaits_is_never_flagged(timeout_s: float | None) -> None:
    results, info = run("async_sleepy", list(range(20)), mode="asyncio", workers=4,
                        timeout_s=timeout_s)
    assert all(r.ok and not r.timed_out for r in results.values())
    assert blocking(info)["calls"] == 20 and blocking(info)["blocking_calls"] == 0
    assert info.notes == ()


def test_a_short_block_under_the_threshold_is_not_flagged() -> None:
    results, info = run("blocks_loop", [{"n": i, "block_s": 0.01} for i in range(5)],
                        mode="asyncio", timeout_s=TIMEOUT_S)
    assert all(r.ok for r in results.values())
    assert blocking(info)["blocking_calls"] == 0 and info.notes == ()


def test_a_sync_agent_in_asyncio_mode_runs_on_threads_and_is_not_watched() -> None:
    results, info = run("sleepy", [1, 2], mode="asyncio", timeout_s=TIMEOUT_S)
    assert all(r.ok for r in results.values())
    assert "event_loop_blocking" not in info.extra and info.notes == ()


# --- the stepping wrapper is a faithful await ------------------------------------------------

def test_stepped_passes_results_errors_and_cancellation_through() -> None:
    async def agent(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise ValueError("agent error")
        return "done"

    async def main() -> tuple[str, str, bool, int]:
        ok = await (call := Stepped(agent(False)))
        try:
            await Stepped(agent(True))
        except ValueError as exc:
            error = str(exc)
        cancelled = asyncio.ensure_future(Stepped(asyncio.sleep(30)))
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        return ok, error, call.blocked, call.held_s > 0

    assert asyncio.run(main()) == ("done", "agent error", False, True)


# --- auto ---------------------------------------------------------------------------------

def test_choose_mode_sends_a_loop_blocking_async_agent_to_threads() -> None:
    mode, reason = choose_mode(Probe(3, 0.0, 0.6, True, loop_block_s=0.2), cpus=2)
    assert mode == "threads" and "blocked its event loop for 0.2s" in reason
    assert choose_mode(Probe(3, 0.0, 0.6, True, loop_block_s=BLOCK_THRESHOLD_S / 2),
                       cpus=2)[0] == "asyncio"


def test_auto_runs_a_loop_blocking_async_agent_in_threads() -> None:
    results, info = run("blocks_loop", [{"n": i, "block_s": 0.15} for i in range(5)],
                        mode="auto")
    assert all(r.ok for r in results.values())
    assert info.mode == "threads"
    assert re.search(r"async agent blocked its event loop for \d\.\ds between two awaits "
                     "-> threads", info.reason), info.reason


def test_auto_sees_a_probe_call_still_blocking_after_its_timeout() -> None:
    inputs = [{"n": 0, "block_s": BLOCK_S}, *({"n": i} for i in range(1, 5))]
    results, info = run("blocks_loop", inputs, mode="auto", timeout_s=TIMEOUT_S)
    assert results[0].timed_out and all(results[i].ok for i in range(1, 5))
    assert info.mode == "threads" and "blocked its event loop" in info.reason


# --- the report ---------------------------------------------------------------------------

def test_run_batch_reports_the_blocking_and_fails_the_latency_gate(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(f"""
        agent: {AGENT}
        inputs: [{{n: 0, block_s: {BLOCK_S}}}, {{n: 1}}, {{n: 2}}]
        execution: {{mode: asyncio, timeout_s: {TIMEOUT_S}}}
        cache: {{enabled: false}}
        max_error_rate: 0.5
    """))
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS_DIR)])}
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec),
         "--sample-interval", "0", "-t", "latency: p(95) < 500ms", "--report-json",
         str(report)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the gate, not a crash
    doc = json.loads(report.read_text())
    validate_report(doc)
    assert (doc["tasks"]["timed_out"], doc["tasks"]["succeeded"]) == (1, 2)
    assert doc["thresholds"][0]["passed"] is False
    assert doc["executor"]["extra"]["event_loop_blocking"]["blocking_calls"] == 1
    [warning] = doc["warnings"]
    assert warning == doc["executor"]["notes"][0]
    assert "blocks the event loop" in warning and "--mode threads" in warning
    console = " ".join(proc.stdout.split())  # Rich wraps long lines
    assert "Warnings" in console and f"agent {AGENT} blocks the event loop" in console


def test_a_monitor_soak_warns_about_the_blocking(tmp_path: Path) -> None:
    spec = tmp_path / "soak.yaml"
    spec.write_text(textwrap.dedent(f"""
        agent: {AGENT}
        inputs: [{{n: 0, block_s: 0.15}}, {{n: 1}}]
        execution: {{mode: asyncio}}
        cache: {{enabled: false}}
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS_DIR)])}
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf", "monitor", str(spec), "--seconds", "1",
         "--interval", "0.5", "--json"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert any(f"agent {AGENT} blocks the event loop" in w for w in doc["warnings"]), doc


def test_a_call_whose_timeout_fired_late_says_the_loop_was_blocked_elsewhere() -> None:
    # input 0 awaits properly and is suspended when input 1 blocks the loop past both
    # deadlines; input 0's timeout can only fire once the loop turns again
    inputs = [{"n": 0, "await_s": 0.5}, {"n": 1, "block_s": BLOCK_S}]
    results, info = run("blocks_loop", inputs, mode="asyncio", workers=2,
                        timeout_s=TIMEOUT_S)
    victim, culprit = results[0], results[1]
    assert victim.timed_out and victim.error is not None
    assert re.fullmatch(r"no result within the 0\.3 s timeout, which fired \d+\.\ds late: the "
                        "event loop was blocked meanwhile, by another call or by a task the "
                        "agent started", victim.error.message), victim.error.message
    assert culprit.timed_out and culprit.error is not None
    assert "blocked the event loop for" in culprit.error.message
    assert blocking(info)["blocking_calls"] == 1  # the victim is not counted as a blocker


def test_an_ordinary_async_timeout_keeps_the_plain_message() -> None:
    results, info = run("async_hang_on", [{"n": 0, "hang": True, "hang_s": 5}, {"n": 1}],
                        mode="asyncio", timeout_s=TIMEOUT_S)
    assert results[0].timed_out and results[0].error is not None
    assert results[0].error.message == "no result within the 0.3 s timeout"
    assert results[1].ok and info.notes == ()
