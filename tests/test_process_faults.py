"""Processes mode under faults: bounded sends, exactly-once calls, slow builds, no orphans,
and auto's probe in a worker (issue 14 items 1, 3, 4, 5).

Agents live in ``tests/agents_for_tests.py`` so worker processes rebuild them by dotted
path; calls are counted in a file the agent appends to, since they happen elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from rich.console import Console

from agentperf.errors import AgentperfError, SpecError
from agentperf.execution import create_executor
from agentperf.execution.base import ExecutionSettings, Task, TaskResult
from agentperf.pipeline.batch import BatchOptions, run_batch
from agentperf.report.batch_console import summary_table
from agentperf.report.json_report import batch_document
from agentperf.workload.adapters import AgentRef
from agentperf.workload.inputs import InputSource
from agentperf.workload.spec import WorkloadSpec, load_spec_file

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TWO_CORES = pytest.mark.skipif((os.cpu_count() or 1) < 2,
                               reason="auto only chooses processes with more than one core")


def ref(name: str, **init: Any) -> AgentRef:
    return AgentRef(f"agents_for_tests:{name}", init=init, search_paths=(str(TESTS),))


def run(agent: str, inputs: list[Any], **settings: Any) -> list[TaskResult]:
    executor = create_executor(ref(agent), ExecutionSettings(**settings))
    with executor:
        results = list(executor.run(Task(i, v) for i, v in enumerate(inputs)))
    assert sorted(r.index for r in results) == list(range(len(inputs))), "lost or doubled"
    return sorted(results, key=lambda r: r.index)


def calls(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}


def write_spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(body))
    return path


# --- 14.1: no send blocks the parent -----------------------------------------------------

def test_oversized_input_after_a_hang_does_not_block_the_timeout() -> None:
    """One worker hangs on input 4 while a 5 MB input waits to be sent: the parent must
    not block in the send, so the hang times out and every input is reported."""
    big = "x" * (5 * 1024 * 1024)
    inputs = ([{"n": i} for i in range(4)] + [{"n": 4, "hang": True}]
              + [{"n": 5, "pad": big}] + [{"n": i} for i in range(6, 10)])
    results = run("hang_on", inputs, mode="processes", workers=1, timeout_s=1)
    assert [r.timed_out for r in results] == [i == 4 for i in range(10)]
    assert [r.output for r in results if r.ok] == [0, 1, 2, 3, 5, 6, 7, 8, 9]


def test_small_inputs_are_not_held_back_by_the_pipe_budget() -> None:
    """The must-not-fire side: ordinary inputs flow in chunks, nothing is held or lost."""
    results = run("noop", list(range(2000)), mode="processes", workers=2)
    assert [r.output for r in results] == list(range(2000))
    assert not any(r.reran_after_worker_loss for r in results)


def test_a_worker_that_stops_reading_is_replaced_and_its_tasks_run_elsewhere() -> None:
    """A worker frozen between tasks (SIGSTOP) never reads its chunk: no task of its runs,
    so no task timeout can fire; it is killed and replaced after ``timeout_s``."""
    import threading

    executor = create_executor(ref("double"), ExecutionSettings(mode="processes", workers=1,
                                                                timeout_s=0.5))
    results: list[TaskResult] = []
    with executor:
        frozen = executor._fleet.workers[0].process.pid  # type: ignore[attr-defined]
        os.kill(frozen, signal.SIGSTOP)
        thread = threading.Thread(target=lambda: results.extend(
            executor.run(Task(i, i) for i in range(3))))
        thread.start()
        thread.join(30)
        stuck = thread.is_alive()
        if stuck:  # unblock the run so the test ends; the assertion below fails it
            os.kill(frozen, signal.SIGKILL)
            thread.join(30)
    assert not stuck, "the run waited forever on a worker that stopped reading"
    assert sorted((r.index, r.output, r.ok) for r in results) == [(0, 0, True), (1, 2, True),
                                                                   (2, 4, True)]
    assert all(r.worker != f"pid:{frozen}" and not r.reran_after_worker_loss
               for r in results)


# --- 14.4: exactly once, or said -----------------------------------------------------------

def test_killing_a_hung_worker_reruns_only_the_hung_input(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    inputs = [{"n": i, "log": str(log), "hang": i == 1500} for i in range(3000)]
    results = run("count_calls", inputs, mode="processes", workers=1, timeout_s=1, retries=1)
    counted = calls(log)
    assert len(counted) == 3000 + 1  # the hung input was retried once, nothing else twice
    assert sorted(set(counted)) == list(range(3000))
    hung = results[1500]
    assert hung.timed_out and hung.attempts == 2 and hung.reran_after_worker_loss
    others = [r for r in results if r.index != 1500]
    assert all(r.ok and r.attempts == 1 and not r.reran_after_worker_loss for r in others)


def test_results_lost_with_a_deaf_worker_are_rerun_and_said(tmp_path: Path) -> None:
    """The worker cannot hand over its held results (SIGUSR1 blocked, as in a C-level
    hang): those inputs run again, and each says so; calls match the attempts exactly."""
    log = tmp_path / "calls"
    inputs = [{"n": i, "log": str(log), "hang": i == 1500} for i in range(3000)]
    results = run("count_calls_deaf", inputs, mode="processes", workers=1, timeout_s=1)
    counted = calls(log)
    assert len(counted) == sum(r.attempts for r in results)
    for r in results:
        twice = counted.count(r.index) == 2
        assert r.reran_after_worker_loss == twice and r.attempts == 1 + twice
    assert results[1500].timed_out and results[1500].attempts == 1


def test_the_summary_counts_tasks_rerun_after_a_worker_loss(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    spec = WorkloadSpec(
        name="rerun", agent=ref("count_calls"),
        inputs=InputSource(kind="inline", items=tuple(
            {"n": i, "log": str(log), "hang": i == 3} for i in range(6))),
        execution=ExecutionSettings(mode="processes", workers=1, timeout_s=1, retries=1))
    out = tmp_path / "results.jsonl"
    result = run_batch(spec, BatchOptions(output=out, sample_interval_s=0))
    assert result.reran_after_worker_loss == 1
    doc = batch_document(result)
    assert doc["tasks"]["reran_after_worker_loss"] == 1
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    flagged = [r for r in lines if r.get("reran_after_worker_loss")]
    assert [(r["index"], r["attempts"]) for r in flagged] == [(3, 2)]
    console = Console(file=io.StringIO(), width=200)
    console.print(summary_table(doc))
    assert "1 re-run after a worker process was lost" in console.file.getvalue()
    # and not said when nothing was re-run
    doc["tasks"]["reran_after_worker_loss"] = 0
    console = Console(file=io.StringIO(), width=200)
    console.print(summary_table(doc))
    assert "re-run" not in console.file.getvalue()


# --- building the agent is bounded -------------------------------------------------------

def test_a_build_past_build_timeout_fails_the_run_naming_the_agent(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        agent: agents_for_tests:SlowToBuild
        init: {build_s: 60, in_workers_only: true}
        inputs: [1, 2, 3]
        execution: {mode: processes, workers: 1, build_timeout_s: 1}
        cache: {enabled: false}
    """)
    out = tmp_path / "r.jsonl"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "agentperf", "run-batch", str(spec), "-o",
                           str(out)], cwd=REPO, env=env(), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stderr
    assert "SlowToBuild" in proc.stderr and "build_timeout_s" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() or out.read_text() == ""  # no task ran
    assert time.monotonic() - started < 40  # not the 60 s build


def test_a_build_within_build_timeout_runs() -> None:
    executor = create_executor(ref("SlowToBuild", build_s=0.2),
                               ExecutionSettings(mode="processes", workers=1,
                                                 build_timeout_s=30))
    with executor:
        results = list(executor.run([Task(0, "a")]))
    assert [r.output for r in results] == ["a"]


def test_build_timeout_executor_error_is_exit_3() -> None:
    executor = create_executor(ref("SlowToBuild", build_s=60),
                               ExecutionSettings(mode="processes", workers=1,
                                                 build_timeout_s=0.5))
    with pytest.raises(AgentperfError) as caught:
        executor.start()
    assert caught.value.exit_code == 3 and "SlowToBuild" in caught.value.message


@pytest.mark.parametrize("value", ["0", "-1", "~", "soon"])
def test_bad_build_timeout_is_a_spec_error_with_its_line(tmp_path: Path, value: str) -> None:
    spec = write_spec(tmp_path, f"""
        agent: agents_for_tests:noop
        inputs: [1]
        execution:
          mode: processes
          build_timeout_s: {value}
    """)
    with pytest.raises(SpecError) as caught:
        load_spec_file(spec)
    assert "build_timeout_s" in caught.value.message and ":6" in caught.value.message


# --- 14.5: no orphans ----------------------------------------------------------------------

def test_killing_agentperf_leaves_no_worker_behind(tmp_path: Path) -> None:
    pid_files = [str(tmp_path / f"pid-{i}") for i in range(2)]
    spec = write_spec(tmp_path, f"""
        agent: agents_for_tests:stuck_in_call
        inputs: {json.dumps(pid_files)}
        execution: {{mode: processes, workers: 2}}
        cache: {{enabled: false}}
    """)
    proc = subprocess.Popen([sys.executable, "-m", "agentperf", "run-batch", str(spec)],
                            cwd=REPO, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not all(Path(p).exists() for p in pid_files) and time.monotonic() < deadline:
            assert proc.poll() is None, "agentperf ended before its workers were stuck"
            time.sleep(0.05)
        family = psutil.Process(proc.pid).children(recursive=True)
        stuck = {int(Path(p).read_text()) for p in pid_files}
        assert stuck <= {child.pid for child in family}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        _gone, alive = psutil.wait_procs(family, timeout=10)
        assert not alive, f"left behind: {[p.pid for p in alive]}"
        assert not _in_session(proc.pid)
    finally:
        with_pgid_killed(proc.pid)


def _in_session(sid: int) -> list[int]:
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getsid(process.pid) == sid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (OSError, psutil.Error):
            continue
    return found


def with_pgid_killed(pgid: int) -> None:
    """Clean up after a failing test: the process group is ours (start_new_session)."""
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


# --- 14.3: auto probes where a crash is survivable -----------------------------------------

@TWO_CORES
def test_auto_probe_that_kills_its_process_is_a_failed_task(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        agent: agents_for_tests:exit_on
        inputs: [a, die, c, d, e]
        cache: {enabled: false}
    """)
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, "-m", "agentperf", "run-batch", str(spec), "-o",
                           str(out), "--json"], cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3, 4]
    died = [r for r in records if not r["ok"]]
    assert [(r["index"], r["error"]["type"]) for r in died] == [(1, "WorkerDied")]
    assert "code 9" in died[0]["error"]["message"]
    summary = json.loads(proc.stdout)
    assert summary["tasks"]["total"] == 5 and summary["tasks"]["failed"] == 1


@TWO_CORES
def test_auto_starts_its_workers_before_the_run_and_keeps_them_for_processes() -> None:
    """Start-up happens in ``start()`` (before run-batch's clock); the probe's worker
    processes are the ones that run the rest, and the probe's results count."""
    executor = create_executor(ref("spin"), ExecutionSettings(mode="auto", workers=2))
    with executor:
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        assert len(before) >= 3  # forkserver and workers are up before run()
        results = list(executor.run(Task(i, i) for i in range(8)))
        workers = {r.worker for r in results}
        assert executor.info.mode == "processes", executor.info.reason
        assert {int(w.split(":")[1]) for w in workers} <= before
    assert sorted(r.output for r in results) == list(range(8))


def test_auto_probes_an_async_agent_in_process() -> None:
    """The must-not-fire side: an async agent goes to asyncio; no worker is started."""
    executor = create_executor(ref("async_double"), ExecutionSettings(mode="auto"))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with executor:
        results = list(executor.run(Task(i, i) for i in range(5)))
        during = {p.pid for p in psutil.Process().children(recursive=True)}
    assert during <= before
    assert executor.info.mode == "asyncio"
    assert sorted(r.output for r in results) == [0, 2, 4, 6, 8]
