"""The Dask executor against a real LocalCluster (2 worker processes) shared by the tests."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import AgentperfError, DependencyMissingError, ExitCode
from agentperf.execution.attempts import CPU_MIN_WALL_S
from agentperf.execution.base import TIMEOUT_ERROR, Task, TaskResult
from agentperf.execution.chunking import TaskDuration
from agentperf.execution.dask_backend import DaskExecutor
from agentperf.execution.dask_batching import MAX_CHUNK, TARGET_BATCH_S, WindowPlanner
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentRef

distributed = pytest.importorskip("distributed")

import dask_agents  # noqa: E402  (tests/ is on sys.path; workers import it by dotted path)

TESTS_DIR = str(Path(__file__).resolve().parent)


def ref(name: str, **init: Any) -> AgentRef:
    return AgentRef(target=f"dask_agents:{name}", init=init, search_paths=(TESTS_DIR,))


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Any:
    """The 2-worker LocalCluster shared by the Dask test modules (see dask_agents)."""
    return dask_agents.shared_cluster(request.config)


def settings(client: Any, **kwargs: Any) -> ExecutionSettings:
    return ExecutionSettings(mode="dask", scheduler=client.scheduler.address, **kwargs)


def run_all(agent: AgentRef, execution: ExecutionSettings,
            inputs: list[Any]) -> tuple[list[TaskResult], Any]:
    with DaskExecutor(agent, execution) as executor:
        results = list(executor.run(Task(i, x) for i, x in enumerate(inputs)))
        return results, executor.info


def by_index(results: list[TaskResult]) -> dict[int, TaskResult]:
    indices = [r.index for r in results]
    assert len(indices) == len(set(indices)), "an input was reported twice"
    return {r.index: r for r in results}


def test_results_identical_to_local_executor(cluster: Any) -> None:
    from agentperf.execution import create_executor

    inputs = list(range(300))
    results, info = run_all(ref("failing"), settings(cluster), inputs)
    with create_executor(ref("failing"), ExecutionSettings(mode="threads", workers=2)) as local:
        expected = list(local.run(Task(i, x) for i, x in enumerate(inputs)))
    got, want = by_index(results), by_index(expected)
    assert sorted(got) == list(range(300))
    assert {i: (r.ok, r.output) for i, r in got.items()} == \
        {i: (r.ok, r.output) for i, r in want.items()}
    assert {i: (r.error.type, r.error.message) for i, r in got.items() if r.error} == \
        {i: (r.error.type, r.error.message) for i, r in want.items() if r.error}
    workers = set(cluster.scheduler_info()["workers"])
    assert {r.worker for r in results} <= workers
    assert sum(info.extra["tasks_per_worker"].values()) == 300
    assert all(r.latency_s > 0 for r in results)
    # a call shorter than the CPU clock reads gets no cpu_s; every other call gets one
    assert all((r.cpu_s is None) == (r.latency_s < CPU_MIN_WALL_S) for r in results)
    assert info.mode == "dask" and info.workers == 2


def test_errors_captured_per_input_with_traceback(cluster: Any) -> None:
    results, _ = run_all(ref("failing"), settings(cluster), [5, 6])
    bad = by_index(results)[0]
    assert not bad.ok and bad.error is not None
    assert (bad.error.type, bad.error.message) == ("ValueError", "bad input 5")
    assert "dask_agents.py" in bad.error.traceback
    assert by_index(results)[1].output == 6


def test_unpicklable_input_or_output_fails_only_its_own_task(cluster: Any) -> None:
    import threading

    inputs = [1, threading.Lock(), 3, 4]
    results, _ = run_all(ref("noop"), settings(cluster, chunk_size=2), inputs)
    got = by_index(results)
    assert [got[i].output for i in (0, 2, 3)] == [1, 3, 4]
    assert not got[1].ok and "cannot be sent to the Dask workers" in got[1].error.message
    results, _ = run_all(ref("lock_for_odd"), settings(cluster, chunk_size=4), [0, 1, 2, 3])
    got = by_index(results)
    assert (got[0].output, got[2].output) == (0, 2)
    assert not got[1].ok and "cannot be sent back from the worker" in got[1].error.message


def test_async_agent(cluster: Any) -> None:
    results, _ = run_all(ref("async_double"), settings(cluster), list(range(20)))
    assert {r.index: r.output for r in results} == {i: 2 * i for i in range(20)}


def test_sliding_window_bound_checked_from_scheduler(cluster: Any) -> None:
    cluster.run_on_scheduler(dask_agents.install_probe)
    pulled = 0
    lags: list[int] = []

    def tasks() -> Iterator[Task]:
        nonlocal pulled
        for i in range(60):
            pulled += 1
            yield Task(i, i)

    try:
        with DaskExecutor(ref("slow_square"), settings(cluster, max_in_flight=6)) as executor:
            seen = 0
            for _ in executor.run(tasks()):
                seen += 1
                lags.append(pulled - seen)
        probe = cluster.run_on_scheduler(dask_agents.read_probe)
    finally:
        cluster.run_on_scheduler(dask_agents.remove_probe)
    assert seen == 60
    assert 2 <= probe["max_inputs"] <= 6, probe
    assert max(lags) <= 6  # the input stream is read lazily, never ahead of the window
    assert executor.info.max_in_flight == 6


def test_tiny_tasks_are_batched_automatically(cluster: Any) -> None:
    cluster.run_on_scheduler(dask_agents.install_probe)
    try:
        results, info = run_all(ref("noop"), settings(cluster), list(range(5000)))
        probe = cluster.run_on_scheduler(dask_agents.read_probe)
    finally:
        cluster.run_on_scheduler(dask_agents.remove_probe)
    assert sorted(r.index for r in results) == list(range(5000))
    assert info.chunk_size > 50
    assert "batches of" in info.reason and "mean task" in info.reason
    assert probe["seen_batches"] < 5000 / 20  # far fewer Dask tasks than inputs


def test_explicit_chunk_size_is_used(cluster: Any) -> None:
    cluster.run_on_scheduler(dask_agents.install_probe)
    try:
        _, info = run_all(ref("square"), settings(cluster, chunk_size=10), list(range(100)))
        probe = cluster.run_on_scheduler(dask_agents.read_probe)
    finally:
        cluster.run_on_scheduler(dask_agents.remove_probe)
    assert probe["seen_batches"] == 10
    assert info.chunk_size == 10 and "execution.chunk_size" in info.reason


def test_agent_built_once_per_worker(cluster: Any, tmp_path: Path) -> None:
    cluster.run(dask_agents.set_env, dask_agents.BUILDS_ENV, str(tmp_path))
    try:
        results, _ = run_all(ref("CountedBuild", tag="once"), settings(cluster, chunk_size=5),
                             list(range(200)))
    finally:
        cluster.run(dask_agents.set_env, dask_agents.BUILDS_ENV, None)
    builds = [p.name.split("-")[0] for p in tmp_path.iterdir()]
    pids = {r.output["pid"] for r in results}
    assert len(results) == 200
    assert len(builds) == len(set(builds)), "an agent was rebuilt in the same worker"
    assert {int(pid) for pid in builds} == pids  # built exactly in the workers that ran it
    assert set(cluster.run(dask_agents.agents_held).values()) == {0}  # freed after the run


def test_timeout_reported_and_run_goes_on(cluster: Any) -> None:
    results, _ = run_all(ref("hang_on_three"), settings(cluster, timeout_s=0.3, chunk_size=4),
                         list(range(8)))
    got = by_index(results)
    assert got[3].timed_out and got[3].error is not None
    assert got[3].error.type == TIMEOUT_ERROR
    assert [got[i].output for i in range(8) if i != 3] == [0, 1, 2, 4, 5, 6, 7]


def test_retries_with_backoff(cluster: Any) -> None:
    results, _ = run_all(ref("FlakyOnce"), settings(cluster, retries=1, backoff_s=0.01,
                                                     retry_on=["RuntimeError"]),
                         list(range(10)))
    assert all(r.ok and r.attempts == 2 for r in results)
    no_retry, _ = run_all(ref("FlakyOnce"), settings(cluster, retries=0), list(range(3)))
    assert all(not r.ok and r.error.type == "RuntimeError" for r in no_retry)
    # A RuntimeError is not in the default retry_on: tries remain, but it is not retried.
    refused, _ = run_all(ref("FlakyOnce"), settings(cluster, retries=1), list(range(3)))
    assert all(not r.ok and r.attempts == 1 and r.retry is not None and r.retry.not_retried
               for r in refused)


def test_worker_killed_mid_run_every_input_exactly_once(cluster: Any) -> None:
    pids = cluster.run(os.getpid)
    victim, victim_pid = sorted(pids.items())[0]
    n = 120
    results: list[TaskResult] = []
    with DaskExecutor(ref("slow_square"), settings(cluster, chunk_size=4)) as executor:
        for result in executor.run(Task(i, i) for i in range(n)):
            results.append(result)
            if len(results) == 12:
                os.kill(victim_pid, signal.SIGKILL)
    got = by_index(results)
    assert sorted(got) == list(range(n))
    assert all(r.ok and r.output == i * i for i, r in got.items())
    assert victim in {r.worker for r in results[:12]} or victim in executor.info.extra[
        "tasks_per_worker"]
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests
    assert victim not in cluster.scheduler_info()["workers"]  # it really died mid-run


def test_scheduler_from_environment(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler.address)
    results, info = run_all(ref("square"), ExecutionSettings(mode="dask"), [3])
    assert results[0].output == 9
    assert info.extra["scheduler"] == cluster.scheduler.address


def test_input_that_kills_every_worker_fails_alone() -> None:
    """Dask gives up on a task that killed workers (KilledWorker); only that input fails."""
    import dask
    from distributed import LocalCluster

    from agentperf.execution.base import WORKER_DIED_ERROR

    # No retry by Dask, and one task on the worker at a time, so only the guilty batch dies.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                         dashboard_address=":0", silence_logs=logging.ERROR) as lc:
        execution = ExecutionSettings(mode="dask", scheduler=lc.scheduler_address,
                                      chunk_size=4)
        results, _ = run_all(ref("die_on_13"), execution, list(range(10, 18)))
    got = by_index(results)
    assert sorted(got) == list(range(8))
    assert got[3].error is not None and got[3].error.type == WORKER_DIED_ERROR
    assert all(got[i].ok and got[i].output == 10 + i for i in range(8) if i != 3)


def test_early_close_returns_promptly_and_cancels(cluster: Any) -> None:
    """Runs last on the shared cluster: the hung calls it abandons finish in the background."""
    inputs = [0] + [3] * 49
    with DaskExecutor(ref("hang_on_three"), settings(cluster, chunk_size=1,
                                                     max_in_flight=4)) as executor:
        stream = executor.run(Task(i, x) for i, x in enumerate(inputs))
        first = next(stream)
        started = time.monotonic()
        stream.close()
        closed_in = time.monotonic() - started

        def ours(dask_scheduler: Any) -> int:
            from agentperf.execution.dask_backend import batch_size_of

            return sum(1 for k in dask_scheduler.tasks if batch_size_of(k) is not None)

        deadline = time.monotonic() + 10
        while cluster.run_on_scheduler(ours) and time.monotonic() < deadline:
            time.sleep(0.05)
        forgotten_in = time.monotonic() - started
    assert first.index == 0 and first.ok
    assert closed_in < 1.5  # did not wait for the 2 s calls still running
    assert forgotten_in < 1.5  # the scheduler dropped every outstanding batch


def test_local_cluster_started_and_closed_by_agentperf() -> None:
    executor = DaskExecutor(ref("square"), ExecutionSettings(mode="dask", workers=1))
    cluster = executor._cluster
    with executor:
        results = list(executor.run(Task(i, i) for i in range(10)))
    assert sorted(r.output for r in results) == [i * i for i in range(10)]
    assert executor.info.extra["scheduler"] == "LocalCluster" and executor.info.workers == 1
    assert cluster.status.name == "closed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_is_a_usage_error() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(AgentperfError) as err:
        DaskExecutor(ref("square"), ExecutionSettings(mode="dask", scheduler=address),
                     connect_timeout_s=1)
    assert err.value.exit_code == ExitCode.USAGE
    assert err.value.message.startswith(f"cannot reach Dask scheduler at {address}")
    assert time.monotonic() - started < 30


def test_missing_distributed_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(DependencyMissingError) as err:
        DaskExecutor(ref("square"), ExecutionSettings(mode="dask"))
    assert "pip install 'agentperf[distributed]'" in err.value.message
    assert err.value.exit_code == ExitCode.USAGE


def test_chunk_sizer_follows_measured_duration() -> None:
    sizer = WindowPlanner(threads=2)
    assert sizer.window().chunk_size == 1 and not sizer.calibrated
    sizer.observe([TaskResult(index=0, ok=True, latency_s=0.001)])
    assert sizer.current == 50  # 50 ms target / 1 ms per task
    assert sizer.window().max_in_flight == 50 * 4
    sizer.observe([TaskResult(index=1, ok=True, latency_s=1e-7)] * 50)
    assert sizer.current > 50
    tiny, slow = TaskDuration(TARGET_BATCH_S, MAX_CHUNK), TaskDuration(TARGET_BATCH_S, MAX_CHUNK)
    tiny.observe(1e-9, 1)
    slow.observe(10.0, 1)
    assert tiny.tasks_per_chunk() == MAX_CHUNK and slow.tasks_per_chunk() == 1
    capped = WindowPlanner(threads=2, max_in_flight=20)
    capped.observe([TaskResult(index=0, ok=True, latency_s=1e-6)])
    assert capped.window().chunk_size == 5 and capped.window().max_in_flight == 20
