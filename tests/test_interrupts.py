"""One owner of the executor: the cache adds no thread and keeps the window; Ctrl-C and
SIGTERM stop every mode, cache on or off, with exit 130 and a consistent results file."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentperf.cache.batch import MIN_WAITERS, BatchCache
from agentperf.cache.config import CacheConfig
from agentperf.errors import SpecError
from agentperf.execution import create_executor
from agentperf.execution.base import Task
from agentperf.execution.lifecycle import Shutdown
from agentperf.workload.adapters import AgentRef
from agentperf.workload.spec import ExecutionSettings

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
THREADS: list[str] = []


def echo(x: Any) -> Any:
    """The agent under test: records the thread it ran on."""
    THREADS.append(threading.current_thread().name)
    return x


def ref() -> AgentRef:
    return AgentRef(target="test_interrupts:echo", search_paths=(str(TESTS),))


def cache_config(tmp_path: Path) -> CacheConfig:
    return CacheConfig.from_mapping({"enabled": True, "dir": str(tmp_path / "cache")},
                                    error=lambda m, k: SpecError(m, key=k))


class Pulled:
    """An input stream that records how far it was read."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.pulled = 0

    def __iter__(self) -> Iterator[Task]:
        for index, value in enumerate(self.values):
            self.pulled += 1
            yield Task(index, value)


def max_read_ahead(mode: str, cache: BatchCache | None, values: list[Any],
                   max_in_flight: int) -> tuple[int, int]:
    """(largest inputs-read minus results-consumed seen, results) for one run."""
    settings = ExecutionSettings(mode=mode, workers=2, max_in_flight=max_in_flight)
    stream = Pulled(values)
    ahead = consumed = 0
    with create_executor(ref(), settings) as executor:
        results = (cache.wrap(stream, executor.run, lambda: executor.info.max_in_flight)
                   if cache else executor.run(stream))
        for _ in results:
            ahead = max(ahead, stream.pulled - consumed)
            consumed += 1
    return ahead, consumed


@pytest.mark.parametrize("mode", ["sequential", "threads", "asyncio", "processes"])
def test_the_window_bounds_read_ahead_with_the_cache_on_or_off(tmp_path: Path,
                                                                mode: str) -> None:
    values = list(range(300))
    window = 1 if mode == "sequential" else 4
    runs = [max_read_ahead(mode, None, values, window)]
    with BatchCache.open(cache_config(tmp_path), ref()) as cache:
        runs.append(max_read_ahead(mode, cache, values, window))
        runs.append(max_read_ahead(mode, cache, values, window))  # every input a hit now
        assert cache.stats().hits == 300
    # Before, the cache read 256 inputs ahead whatever max_in_flight said.
    for ahead, done in runs:
        assert done == 300
        assert 1 <= ahead <= window


def test_parked_duplicates_are_bounded(tmp_path: Path) -> None:
    """Every input the same key: one call, the rest parked behind it, within the bound."""
    THREADS.clear()
    with BatchCache.open(cache_config(tmp_path), ref()) as cache:
        ahead, done = max_read_ahead("threads", cache, ["same"] * 3000, 4)
    assert done == 3000
    assert ahead <= 4 + MIN_WAITERS
    assert 1 <= len(THREADS) <= 3000 // MIN_WAITERS + 2  # past the bound one runs again


def test_sequential_calls_the_agent_on_the_main_thread_with_the_cache(tmp_path: Path) -> None:
    THREADS.clear()
    before = {t.name for t in threading.enumerate()}
    with BatchCache.open(cache_config(tmp_path), ref()) as cache:
        _, done = max_read_ahead("sequential", cache, list(range(20)), 1)
    assert done == 20 and set(THREADS) == {"MainThread"}
    assert not [t.name for t in threading.enumerate() if t.name not in before
                and "cache" in t.name]


def test_sequential_with_a_timeout_uses_one_helper_thread(tmp_path: Path) -> None:
    THREADS.clear()
    settings = ExecutionSettings(mode="sequential", timeout_s=30)
    with BatchCache.open(cache_config(tmp_path), ref()) as cache, \
            create_executor(ref(), settings) as executor:
        results = list(cache.wrap((Task(i, i) for i in range(10)), executor.run, 1))
    assert len(results) == 10
    assert len(set(THREADS)) == 1 and THREADS[0] != "MainThread"


def test_shutdown_interrupts_once_and_never_inside_a_shield() -> None:
    shutdown = Shutdown()
    shutdown.request()  # not armed: only recorded
    assert shutdown.requested
    with pytest.raises(KeyboardInterrupt), shutdown.armed():
        pass  # a request made before the run started stops it as it starts
    late = Shutdown()
    with late.armed(), late.shielded():
        late.request(signal.SIGTERM)  # inside the shield: recorded, not raised
    assert late.requested and late.signum == signal.SIGTERM
    twice = Shutdown()
    with twice.armed():
        with pytest.raises(KeyboardInterrupt):
            twice.request()
        twice.request()  # a second request never raises: cleanup is not cut short
    other = Shutdown()
    with pytest.raises(KeyboardInterrupt), other.installed(), other.armed():
        threading.Thread(target=other.request).start()  # from another thread
        time.sleep(10)
    assert other.requested


# -- the command line under signals ----------------------------------------------------

SEEDED = [(mode, cache) for mode in ("sequential", "threads", "asyncio", "processes")
          for cache in (False, True)]


def interrupted_run(tmp_path: Path, mode: str, cache: bool, signum: int,
                    rng: random.Random) -> dict[str, Any]:
    """Run ``batch_agents:slow`` and signal it after a seeded number of results and delay."""
    spec = tmp_path / "spec.yaml"
    cache_yaml = f"{{enabled: true, dir: {tmp_path / 'cache'}}}" if cache else "{enabled: false}"
    spec.write_text(textwrap.dedent(f"""
        agent: batch_agents:slow
        inputs: {{generator: batch_inputs:count, args: {{n: 5000}}}}
        execution: {{mode: {mode}, workers: 2}}
        cache: {cache_yaml}
    """))
    (tmp_path / "batch_inputs.py").write_text("def count(n):\n    yield from range(n)\n")
    out = tmp_path / "r.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS), str(tmp_path)]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec), "-o", str(out), "--json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True)
    wanted = rng.randint(1, 8)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= wanted:
            break
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.3))
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C reaches the whole process group
    else:
        proc.send_signal(signum)
    sent = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    return {"code": proc.returncode, "stop_s": time.monotonic() - sent, "stdout": stdout,
            "stderr": stderr, "records": [json.loads(x) for x in out.read_text().splitlines()]
            if out.exists() else []}


@pytest.mark.parametrize(("mode", "cache"), SEEDED)
def test_a_signal_at_a_seeded_moment_gives_130_and_a_consistent_summary(
        tmp_path: Path, mode: str, cache: bool) -> None:
    rng = random.Random(f"{mode}-{cache}")
    signum = rng.choice([signal.SIGINT, signal.SIGTERM])
    run = interrupted_run(tmp_path, mode, cache, signum, rng)
    assert run["code"] == 130, run["stderr"]
    assert "Traceback" not in run["stderr"]
    summary = json.loads(run["stdout"])
    assert summary["verdict"]["interrupted"] is True
    records = run["records"]
    assert 0 < len(records) < 5000
    assert len(records) == summary["tasks"]["total"]  # every completed result, once
    assert len({r["index"] for r in records}) == len(records)
    assert run["stop_s"] < 10  # about 1 s allowed; generous for a loaded machine


def test_a_signal_while_workers_build_the_agent_gives_130_and_zero_tasks(
        tmp_path: Path) -> None:
    import psutil

    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent("""
        agent: agents_for_tests:SlowToBuild
        init: {build_s: 60, in_workers_only: true}
        inputs: [1, 2, 3]
        execution: {mode: processes, workers: 1, build_timeout_s: 120}
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS)]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec), "--json"], cwd=tmp_path,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    # the worker (a child of the forkserver) exists: the run is in its start-up
    while len(parent.children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout)
    assert summary["verdict"]["interrupted"] is True
    assert summary["tasks"]["total"] == 0
    assert time.monotonic() - sent < 20  # not the 60 s build
