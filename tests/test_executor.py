"""The local executors: results, sliding window, timeouts, dead workers, retries, close, auto.

Worker processes rebuild their agents from ``tests/agents_for_tests.py`` by dotted path,
as a real run does; nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import AgentperfError, DependencyMissingError, ExitCode
from agentperf.execution import (
    TIMEOUT_ERROR,
    WORKER_DIED_ERROR,
    ExecutorInfo,
    Task,
    TaskResult,
    create_executor,
)
from agentperf.execution.attempts import MAX_BACKOFF_S, RetryPolicy
from agentperf.execution.auto import Probe, choose_mode
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentRef, build_adapter

TESTS_DIR = Path(__file__).resolve().parent
MODES = ("sequential", "threads", "processes", "asyncio")
# Generous: a hung task sleeps 60 s, so finishing well inside this proves it was abandoned.
NOT_HUNG_S = 20.0


def ref(name: str) -> AgentRef:
    return AgentRef(f"agents_for_tests:{name}", search_paths=(str(TESTS_DIR),))


def tasks(inputs: Iterable[Any]) -> Iterator[Task]:
    return (Task(i, value) for i, value in enumerate(inputs))


def run(agent: str | Any, inputs: Iterable[Any], **settings: Any
        ) -> tuple[list[TaskResult], ExecutorInfo]:
    """Run every input; ``agent`` is a name in agents_for_tests or a live object."""
    if isinstance(agent, str):
        executor = create_executor(ref(agent), ExecutionSettings(**settings))
    else:
        adapter = build_adapter(agent, name="live")
        executor = create_executor(AgentRef("unused:live"), ExecutionSettings(**settings),
                                   adapter=adapter)
    with executor:
        results = list(executor.run(tasks(inputs)))
    return results, executor.info


def by_index(results: list[TaskResult]) -> dict[int, TaskResult]:
    indices = [r.index for r in results]
    assert len(indices) == len(set(indices)), "an input was reported twice"
    return {r.index: r for r in results}


class CountingInputs:
    """An input stream that records how far the executor has pulled it."""

    def __init__(self, count: int, value: Any = None) -> None:
        self.count = count
        self.pulled = 0
        self.value = value

    def __iter__(self) -> Iterator[Task]:
        for i in range(self.count):
            self.pulled += 1
            yield Task(i, i if self.value is None else self.value)


# --- one result per input, in every mode ------------------------------------------------

@pytest.mark.parametrize("mode", (*MODES, "auto"))
def test_each_mode_reports_every_input_once_with_its_output(mode: str) -> None:
    results, info = run("double", range(40), mode=mode, workers=2)
    got = by_index(results)
    assert sorted(got) == list(range(40))
    assert all(r.ok and r.output == 2 * r.index and r.attempts == 1 for r in results)
    assert all(r.latency_s >= 0 for r in results)
    assert info.mode in MODES


@pytest.mark.parametrize("mode", ("sequential", "threads", "asyncio"))
def test_async_agent_runs_in_every_in_process_mode(mode: str) -> None:
    results, _ = run("async_double", range(20), mode=mode, workers=3)
    assert {r.index: r.output for r in results} == {i: 2 * i for i in range(20)}
    assert all(r.cpu_s is None for r in results) if mode == "asyncio" else True


def test_worker_names_say_where_each_task_ran() -> None:
    threads, _ = run("double", range(10), mode="threads", workers=2)
    procs, _ = run("double", range(10), mode="processes", workers=2)
    assert all(r.worker and r.worker.startswith("thread:") for r in threads)
    pids = {r.worker for r in procs}
    assert all(w and w.startswith("pid:") and w != f"pid:{os.getpid()}" for w in pids)


def test_sync_calls_report_thread_cpu_time() -> None:
    results, _ = run("spin", range(2), mode="threads", workers=1)
    for result in results:
        assert result.cpu_s is not None and result.cpu_s > 0.005  # spin burns ~30 ms


# --- the sliding window -----------------------------------------------------------------

@pytest.mark.parametrize("mode,agent_cls", [("threads", "Concurrency"),
                                            ("asyncio", "AsyncConcurrency"),
                                            ("sequential", "Concurrency")])
def test_window_bounds_pulled_and_running_tasks(mode: str, agent_cls: str) -> None:
    import agents_for_tests

    agent = getattr(agents_for_tests, agent_cls)(delay_s=0.005)
    inputs = CountingInputs(120)
    adapter = build_adapter(agent, name=agent_cls)
    settings = ExecutionSettings(mode=mode, workers=3, max_in_flight=5)
    executor = create_executor(AgentRef("unused:x"), settings, adapter=adapter)
    window = executor.info.max_in_flight
    yielded = 0
    with executor:
        for _ in executor.run(inputs):
            yielded += 1
            assert inputs.pulled - yielded <= window - 1 if mode != "sequential" else \
                inputs.pulled == yielded
    assert yielded == 120 and agent.calls == 120
    assert agent.peak <= min(3, window) if mode != "sequential" else agent.peak == 1
    assert agent.peak >= 2 or mode == "sequential"  # it did run in parallel


def test_processes_window_bounds_pulled_tasks() -> None:
    inputs = CountingInputs(300)
    executor = create_executor(ref("noop"), ExecutionSettings(mode="processes", workers=2,
                                                              max_in_flight=8))
    yielded = 0
    with executor:
        for _ in executor.run(inputs):
            yielded += 1
            assert inputs.pulled - yielded < 8
    assert yielded == 300
    assert executor.info.max_in_flight == 8 and executor.info.chunk_size <= 2


def test_processes_chunk_size_grows_for_tiny_tasks() -> None:
    results, info = run("noop", range(3000), mode="processes", workers=2)
    assert len(by_index(results)) == 3000
    assert info.chunk_size > 10
    assert info.extra["start_method"] in ("forkserver", "spawn")


def test_generator_input_is_not_read_ahead() -> None:
    """CPython #74508: Executor.map reads the whole input first; this must not."""
    inputs = CountingInputs(10_000)
    executor = create_executor(ref("double"), ExecutionSettings(mode="threads", workers=2))
    with executor:
        results = executor.run(inputs)
        first = next(results)
        assert first.ok
        assert inputs.pulled <= executor.info.max_in_flight + 1
        results.close()


# --- timeouts ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode,agent", [("sequential", "hang_on"), ("threads", "hang_on"),
                                        ("asyncio", "async_hang_on"), ("asyncio", "hang_on"),
                                        ("processes", "hang_on"), ("auto", "hang_on")])
def test_timeout_fails_only_the_hung_task_and_the_run_goes_on(mode: str, agent: str) -> None:
    inputs = [{"n": 0}, {"n": 1, "hang": True}, *({"n": i} for i in range(2, 8))]
    start = time.monotonic()
    results, _ = run(agent, inputs, mode=mode, workers=1, timeout_s=0.5)
    assert time.monotonic() - start < NOT_HUNG_S
    got = by_index(results)
    assert sorted(got) == list(range(8))
    hung = got[1]
    assert not hung.ok and hung.timed_out and hung.error is not None
    assert hung.error.type == TIMEOUT_ERROR and "0.5 s" in hung.error.message
    assert hung.latency_s >= 0.5
    # one worker: the tasks after the hung one only ran because it was replaced
    assert all(got[i].ok and got[i].output == i for i in got if i != 1)


def test_processes_timeout_replaces_the_hung_worker() -> None:
    inputs = [{"n": 0}, {"n": 1, "hang": True}, {"n": 2}, {"n": 3}]
    results, _ = run("hang_on", inputs, mode="processes", workers=1, timeout_s=0.5)
    got = by_index(results)
    assert got[1].timed_out and got[0].worker != got[3].worker


def test_timed_out_task_is_retried_when_retries_remain() -> None:
    inputs = [{"n": 0, "hang": True, "hang_s": 30}]
    results, _ = run("hang_on", inputs, mode="threads", workers=1, timeout_s=0.3,
                     retries=1, backoff_s=0.01)
    assert results[0].timed_out and results[0].attempts == 2


# --- dead worker processes --------------------------------------------------------------

def test_worker_that_exits_fails_only_its_task() -> None:
    inputs = [{"n": i, "sleep_s": 0.01} for i in range(12)]
    inputs[5] = {"n": 5, "die": True}
    results, _ = run("die_on", inputs, mode="processes", workers=2)
    got = by_index(results)
    assert sorted(got) == list(range(12))
    dead = got[5]
    assert not dead.ok and dead.error is not None and dead.error.type == WORKER_DIED_ERROR
    assert "exited with code 7" in dead.error.message
    assert all(got[i].ok and got[i].output == i for i in got if i != 5)


def test_worker_killed_by_a_signal_fails_only_its_task(tmp_path: Path) -> None:
    pid_file = tmp_path / "victim.pid"
    inputs = [{"n": i, "sleep_s": 0.02} for i in range(10)]
    inputs[3] = {"n": 3, "victim": True, "pid_file": str(pid_file)}

    def killer() -> None:
        deadline = time.monotonic() + NOT_HUNG_S
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    results, _ = run("announce_and_hang", inputs, mode="processes", workers=2)
    thread.join()
    got = by_index(results)
    assert sorted(got) == list(range(10))
    assert got[3].error is not None and got[3].error.type == WORKER_DIED_ERROR
    assert "SIGKILL" in got[3].error.message
    assert all(got[i].ok for i in got if i != 3)


def test_dead_worker_task_is_retried_when_retries_remain() -> None:
    results, _ = run("die_on", [{"n": 0, "die": True}], mode="processes", workers=1,
                     retries=1, backoff_s=0.01)
    assert results[0].error.type == WORKER_DIED_ERROR and results[0].attempts == 2


def test_hung_task_among_large_inputs_still_times_out() -> None:
    """Chunks stay under the pipe buffer, so the parent never blocks sending to a stuck
    worker and can still enforce the timeout."""
    inputs: list[dict[str, Any]] = [{"n": i, "pad": "x" * 2000 + str(i)} for i in range(3000)]
    inputs[2000] = {"n": 2000, "hang": True}
    results, info = run("hang_on", inputs, mode="processes", workers=2, timeout_s=1.0)
    got = by_index(results)
    assert len(got) == 3000 and got[2000].timed_out
    assert sum(r.ok for r in results) == 2999
    assert info.chunk_size < 64  # 64 KB / ~2 KB per input


def test_unpicklable_input_and_output_fail_only_their_task() -> None:
    results, _ = run("unpicklable_output", ["a", "lambda", lambda: 1, "b"], mode="processes",
                     workers=1)
    got = by_index(results)
    assert got[0].ok and got[3].ok
    assert got[1].error is not None and got[1].error.type == "UnpicklableOutput"
    assert got[2].error is not None and got[2].error.type == "UnpicklableInput"
    assert got[2].attempts == 0 and not got[2].called_agent  # no latency sample for it


def test_agent_that_cannot_be_built_in_workers_fails_before_the_run() -> None:
    executor = create_executor(AgentRef("no_such_module_xyz:agent"),
                               ExecutionSettings(mode="processes", workers=1))
    with pytest.raises(AgentperfError, match="could not build the agent"), executor:
        pytest.fail("entering the executor should have failed")
    executor.close()


# --- retries and errors -----------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_flaky_agent_succeeds_on_second_attempt(mode: str, tmp_path: Path) -> None:
    inputs = [{"n": i, "dir": str(tmp_path)} for i in range(4)]
    start = time.monotonic()
    results, _ = run("flaky", inputs, mode=mode, workers=2, retries=2, backoff_s=0.1)
    assert time.monotonic() - start >= 0.1  # the backoff was waited out
    assert all(r.ok and r.attempts == 2 and r.output == r.index for r in results)
    assert len(by_index(results)) == 4


@pytest.mark.parametrize("mode", MODES)
def test_agent_exception_is_captured_with_type_message_and_traceback(mode: str) -> None:
    results, _ = run("fail_always", ["x", "y"], mode=mode, workers=2, retries=1,
                     backoff_s=0.001, retry_on=["*"])
    for result in results:
        assert not result.ok and not result.timed_out and result.attempts == 2
        assert result.error is not None and result.error.type == "ValueError"
        assert "bad input" in result.error.message
        assert "fail_always" in result.error.traceback
        assert "ValueError" in result.error.traceback


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(retries=10, backoff_s=0.5)
    assert [policy.delay(a) for a in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert policy.delay(10) == MAX_BACKOFF_S
    assert policy.should_retry(10) and not policy.should_retry(11)


def test_daemon_pool_grows_past_a_hung_call_and_never_waits_for_it() -> None:
    from agentperf.execution.daemon_pool import DaemonThreadPool

    pool = DaemonThreadPool("test-pool")
    release = threading.Event()
    hung = pool.submit(release.wait, 60)
    assert pool.submit(lambda: 42).result(timeout=5) == 42  # ran on a second thread
    assert pool.size == 2
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("test-pool"))
    start = time.monotonic()
    pool.shutdown(wait=True)
    assert time.monotonic() - start < 5.0 and not hung.done()
    release.set()
    assert hung.result(timeout=5) is True


# --- closing early ----------------------------------------------------------------------

@pytest.mark.parametrize("mode,agent", [("threads", "hang_on"), ("asyncio", "async_hang_on"),
                                        ("asyncio", "hang_on"), ("processes", "hang_on")])
def test_closing_the_results_cancels_hung_work_promptly(mode: str, agent: str) -> None:
    inputs = [{"n": 0}, *({"n": i, "hang": True} for i in range(1, 6))]
    executor = create_executor(ref(agent), ExecutionSettings(mode=mode, workers=3))
    results = executor.run(tasks(inputs))
    assert next(results).index == 0
    start = time.monotonic()
    results.close()
    executor.close()
    assert time.monotonic() - start < 5.0  # the hung calls sleep 60 s
    if mode == "processes":
        assert not [p for p in __import__("multiprocessing").active_children()
                    if p.name == "agentperf-worker"]


def test_executor_runs_once() -> None:
    executor = create_executor(ref("double"), ExecutionSettings(mode="sequential"))
    list(executor.run(tasks([1])))
    with pytest.raises(RuntimeError):
        executor.run(tasks([1]))


# --- auto -------------------------------------------------------------------------------

@pytest.mark.parametrize("agent,expected", [("sleepy", "threads"), ("async_sleepy", "asyncio"),
                                            ("spin", "processes")])
def test_auto_picks_mode_from_probe_calls(agent: str, expected: str) -> None:
    if expected == "processes" and (os.cpu_count() or 1) < 2:
        pytest.skip("processes are only chosen with more than one core")
    results, info = run(agent, range(8), mode="auto")
    assert sorted(by_index(results)) == list(range(8))  # the probe calls are results too
    assert info.mode == expected
    assert info.reason.startswith("auto: 3 probe calls") and expected in info.reason


def test_auto_with_fewer_inputs_than_probes_runs_them_all_as_probes() -> None:
    results, info = run("double", [5, 6], mode="auto")
    assert [r.output for r in results] == [10, 12]
    # A sync agent is probed in the worker processes when processes could be chosen.
    expected = "processes" if (os.cpu_count() or 1) > 1 else "sequential"
    assert info.mode == expected and "probe" in info.reason


def test_choose_mode_rules() -> None:
    assert choose_mode(Probe(3, 0.09, 0.1, False), cpus=4)[0] == "processes"
    assert choose_mode(Probe(3, 0.09, 0.1, False), cpus=1)[0] == "threads"
    assert choose_mode(Probe(3, 0.001, 0.1, False), cpus=4)[0] == "threads"
    assert choose_mode(Probe(3, 0.09, 0.1, True), cpus=4)[0] == "asyncio"
    # 0.05 s of 0.1 s wall waiting for a core: still CPU-bound
    assert choose_mode(Probe(3, 0.048, 0.1, False, run_queue_s=0.05), cpus=2)[0] == "processes"


# --- settings ---------------------------------------------------------------------------

def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(AgentperfError, match="execution workers: must be at least 1, got 0"):
        create_executor(ref("double"), ExecutionSettings(mode="threads", workers=0))
    with pytest.raises(AgentperfError, match="execution mode: unknown mode 'warp'") as info:
        create_executor(ref("double"), ExecutionSettings(mode="warp"))
    assert info.value.exit_code is ExitCode.USAGE
    with pytest.raises(AgentperfError, match="execution timeout_s: must be more than 0"):
        create_executor(ref("double"), ExecutionSettings(mode="threads", timeout_s=0))


def test_dask_mode_without_distributed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # fault injection: not installed
    with pytest.raises(DependencyMissingError, match="distributed"):
        create_executor(ref("double"), ExecutionSettings(mode="dask"))


# --- memory does not grow with the number of inputs ---------------------------------------

_MEMORY_SCRIPT = """
import resource, sys
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from agentperf.execution import Task, create_executor
from agentperf.workload.adapters import AgentRef
from agentperf.execution.settings import ExecutionSettings

if __name__ == "__main__":
    count = int(sys.argv[2])
    agent = AgentRef("agents_for_tests:" + ("async_noop" if sys.argv[1] == "asyncio" else "noop"),
                     search_paths=(sys.argv[4],))
    done = 0
    with create_executor(agent, ExecutionSettings(mode=sys.argv[1])) as executor:
        for result in executor.run(Task(i, i) for i in range(count)):
            done += result.ok
    assert done == count, done
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
"""


@pytest.mark.parametrize("mode", ["processes", "asyncio"])
def test_a_million_inputs_take_no_more_memory_than_a_thousand(mode: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "memory_run.py"
    script.write_text(_MEMORY_SCRIPT)
    repo = str(TESTS_DIR.parent)

    def start(count: int) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(script), mode, str(count), repo,
                                 str(TESTS_DIR)], stdout=subprocess.PIPE, text=True, cwd=repo)

    small, large = start(1_000), start(1_000_000)
    peaks = []
    for proc in (small, large):
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        peaks.append(int(out.strip().splitlines()[-1]) / 1024)
    assert peaks[1] - peaks[0] < 100, f"peak RSS {peaks[0]:.0f} MB -> {peaks[1]:.0f} MB"


# --- Ctrl-C -------------------------------------------------------------------------------

_SIGINT_SCRIPT = """
import multiprocessing, sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from agentperf.execution import Task, create_executor
from agentperf.workload.adapters import AgentRef
from agentperf.execution.settings import ExecutionSettings

if __name__ == "__main__":
    agent = AgentRef("agents_for_tests:hang_on", search_paths=(sys.argv[3],))
    inputs = [{"n": 0}] + [{"n": i, "hang": True} for i in range(1, 5)]
    try:
        with create_executor(agent, ExecutionSettings(mode=sys.argv[1], workers=2)) as ex:
            for result in ex.run(Task(i, v) for i, v in enumerate(inputs)):
                print("result", result.index, flush=True)
    except KeyboardInterrupt:
        print("interrupted, children alive:", len(multiprocessing.active_children()),
              flush=True)
        sys.exit(130)
"""


@pytest.mark.parametrize("mode", ["threads", "processes", "asyncio"])
def test_ctrl_c_stops_a_run_with_hung_tasks_at_once(mode: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "sigint_run.py"
    script.write_text(_SIGINT_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), mode, str(TESTS_DIR.parent),
                             str(TESTS_DIR)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "result 0"  # running, the rest hang for 60 s
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=NOT_HUNG_S)
    assert proc.returncode == 130
    assert "interrupted, children alive: 0" in out
