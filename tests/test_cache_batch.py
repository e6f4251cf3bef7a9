"""BatchCache in front of a real executor: hits, single flight, bounded buffering, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest

from agentperf.analysis.health import cache_input
from agentperf.cache.batch import BatchCache
from agentperf.cache.config import CacheConfig
from agentperf.errors import SpecError
from agentperf.execution.base import Task, TaskError, TaskResult
from agentperf.workload.adapters import AgentRef

TESTS = str(Path(__file__).resolve().parent)
CALLS: dict[Any, int] = {}
_LOCK = threading.Lock()


def counted(x: Any) -> dict[str, Any]:
    """The agent under test: records each call, takes a little time."""
    with _LOCK:
        CALLS[repr(x)] = CALLS.get(repr(x), 0) + 1
    time.sleep(0.02)
    if isinstance(x, int) and x < 0:
        raise ValueError(f"negative input {x}")
    return {"double": x * 2 if isinstance(x, int) else x}


def slow_counted(x: Any) -> dict[str, Any]:
    time.sleep(0.2)
    return counted(x)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def agent(name: str = "counted") -> AgentRef:
    return AgentRef(target=f"test_cache_batch:{name}", search_paths=(TESTS,),
                    context={"model": "m1", "request_id": "ignored"})


def config(tmp_path: Path, **raw: Any) -> CacheConfig:
    raw.setdefault("dir", str(tmp_path / "cache"))
    return CacheConfig.from_mapping(raw, error=lambda m, k: SpecError(m, key=k))


def thread_execute(ref: AgentRef, workers: int = 8) -> Callable[[Iterable[Task]], Iterator[TaskResult]]:
    """The executor's run: the real one when it exists, else a sliding-window pool."""
    try:
        from agentperf.execution import create_executor
        from agentperf.execution.settings import ExecutionSettings
    except ImportError:
        create_executor = None
    if create_executor is not None:
        def run_real(tasks: Iterable[Task]) -> Iterator[TaskResult]:
            settings = ExecutionSettings(mode="threads", workers=workers)
            with create_executor(ref, settings) as executor:
                yield from executor.run(tasks)
        return run_real
    fn = ref.build()

    def call(task: Task) -> TaskResult:
        start = time.perf_counter()
        try:
            output = fn.call(task.input)
        except Exception as exc:
            return TaskResult(task.index, ok=False, error=TaskError.from_exception(exc),
                              latency_s=time.perf_counter() - start)
        return TaskResult(task.index, ok=True, output=output,
                          latency_s=time.perf_counter() - start)

    def run_local(tasks: Iterable[Task]) -> Iterator[TaskResult]:
        with ThreadPoolExecutor(workers) as pool:
            pending: set[Any] = set()
            for task in tasks:
                pending.add(pool.submit(call, task))
                if len(pending) >= workers * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in done)
            for future in pending:
                yield future.result()
    return run_local


def run(cache: BatchCache, inputs: list[Any], ref: AgentRef | None = None) -> list[TaskResult]:
    ref = ref or agent()
    tasks = (Task(i, x) for i, x in enumerate(inputs))
    results = list(cache.wrap(tasks, thread_execute(ref)))
    return sorted(results, key=lambda r: r.index)


def test_cold_then_warm_run(tmp_path: Path) -> None:
    inputs = [i % 20 for i in range(60)]  # 20 unique inputs, each three times
    with BatchCache.open(config(tmp_path), agent()) as cache:
        cold = run(cache, inputs)
        stats = cache.stats()
    assert [r.index for r in cold] == list(range(60))
    assert all(r.ok and r.output == {"double": inputs[r.index] * 2} for r in cold)
    assert sum(CALLS.values()) == 20  # every repeat served by the cache or single flight
    assert sum(r.cache_hit for r in cold) == 40 == stats.calls_avoided
    assert stats.time_saved_s >= 40 * 0.015
    assert all(r.saved_s >= 0.015 for r in cold if r.cache_hit)
    health = cache_input(stats, cache.repeated_fraction)
    assert health.lookups == 60 and health.repeated_fraction == pytest.approx(40 / 60)
    assert health.hit_rate == pytest.approx(40 / 60)

    CALLS.clear()
    with BatchCache.open(config(tmp_path), agent()) as warm_cache:  # a new run: disk is warm
        warm = run(warm_cache, inputs)
        warm_stats = warm_cache.stats()
    assert sum(CALLS.values()) == 0
    assert all(r.cache_hit and r.output == {"double": inputs[r.index] * 2} for r in warm)
    disk = next(t for t in warm_stats.tiers if t.name == "disk")
    # 20 keys fetched, 60 lookups answered: a tier's hits count lookups it answered
    assert disk.hits == 60 and warm_stats.hit_rate == 1.0


def test_single_flight_in_a_batch_runs_the_agent_once(tmp_path: Path) -> None:
    with BatchCache.open(config(tmp_path), agent("slow_counted")) as cache:
        results = run(cache, ["same"] * 50, agent("slow_counted"))
        stats = cache.stats()
    assert CALLS == {"'same'": 1}
    assert len(results) == 50 and all(r.ok and r.output == {"double": "same"} for r in results)
    assert sum(r.cache_hit for r in results) == 49
    assert stats.single_flight_waits == 49


def test_failures_are_not_cached_unless_asked(tmp_path: Path) -> None:
    with BatchCache.open(config(tmp_path), agent()) as cache:
        first = run(cache, [-1, 5])
        again = run(cache, [-1, 5])
    assert not first[0].ok and first[0].error.type == "ValueError"
    assert not again[0].ok and not again[0].cache_hit and again[1].cache_hit
    assert CALLS["-1"] == 2

    CALLS.clear()
    with BatchCache.open(config(tmp_path / "f", cache_failures=True), agent()) as cache:
        run(cache, [-1])
        cached = run(cache, [-1])
    assert CALLS["-1"] == 1
    assert cached[0].cache_hit and not cached[0].ok and cached[0].error.type == "ValueError"


def test_unserializable_inputs_and_outputs_are_skipped_and_counted(tmp_path: Path) -> None:
    with BatchCache.open(config(tmp_path), agent()) as cache:
        results = run(cache, [object(), object(), 3, (1, 2)])
        stats = cache.stats()
    assert all(r.ok for r in results)
    assert stats.skipped_unserializable == 3  # two inputs, and a tuple output json would change
    assert stats.skip_reasons["unserializable object"] == 2
    assert stats.stored == 1


def test_warm_run_buffers_no_more_than_a_window(tmp_path: Path) -> None:
    cfg = config(tmp_path, window=16)
    inputs = list(range(40))
    with BatchCache.open(cfg, agent()) as cache:
        run(cache, inputs)
    read = 0

    def lazy() -> Iterator[Task]:
        nonlocal read
        for i in range(4000):
            read += 1
            yield Task(i, i % 40)

    ahead = 0
    with BatchCache.open(cfg, agent()) as cache:
        for n, result in enumerate(cache.wrap(lazy(), thread_execute(agent())), start=1):
            assert result.cache_hit
            ahead = max(ahead, read - n)
    assert n == 4000
    assert ahead <= 16 * 4  # a window being looked up plus a queue bounded by the window


def test_closing_the_results_early_stops_reading_input(tmp_path: Path) -> None:
    read = 0

    def lazy() -> Iterator[Task]:
        nonlocal read
        for i in range(100_000):
            read += 1
            yield Task(i, i)

    with BatchCache.open(config(tmp_path, window=8), agent()) as cache:
        results = cache.wrap(lazy(), thread_execute(agent()))
        for _, _ in zip(range(10), results, strict=False):
            pass
        results.close()
    assert read < 200


def test_an_input_error_reaches_the_caller(tmp_path: Path) -> None:
    def broken() -> Iterator[Task]:
        yield Task(0, 1)
        raise RuntimeError("bad input line 2")

    with BatchCache.open(config(tmp_path), agent()) as cache, \
            pytest.raises(RuntimeError, match="bad input line 2"):
        list(cache.wrap(broken(), thread_execute(agent())))


FIRST_CALL_FAILS: dict[str, int] = {"calls": 0}


def fails_first_call(x: Any) -> dict[str, Any]:
    """Fails on its first call only: a transient fault, such as a rate limit."""
    FIRST_CALL_FAILS["calls"] += 1
    if FIRST_CALL_FAILS["calls"] == 1:
        raise ConnectionError("transient")
    return {"echo": x}


def sequential_execute(ref: AgentRef) -> Callable[[Iterable[Task]], Iterator[TaskResult]]:
    from agentperf.execution import create_executor
    from agentperf.execution.settings import ExecutionSettings

    def run_sequential(tasks: Iterable[Task]) -> Iterator[TaskResult]:
        with create_executor(ref, ExecutionSettings(mode="sequential")) as executor:
            yield from executor.run(tasks)
    return run_sequential


@pytest.mark.parametrize("cache_failures", [False, True])
def test_a_finished_failure_is_not_replayed_to_later_duplicates(
        tmp_path: Path, cache_failures: bool) -> None:
    FIRST_CALL_FAILS["calls"] = 0
    ref = agent("fails_first_call")
    cfg = config(tmp_path, tiers=["memory"], cache_failures=cache_failures)
    with BatchCache.open(cfg, ref) as cache:
        tasks = (Task(i, "same") for i in range(6))
        results = sorted(cache.wrap(tasks, sequential_execute(ref)), key=lambda r: r.index)
    assert [r.index for r in results] == list(range(6))
    assert not results[0].ok and results[0].error.type == "ConnectionError"
    if cache_failures:  # a stored failure is served, as asked
        assert FIRST_CALL_FAILS["calls"] == 1
        assert not any(r.ok for r in results)
    else:  # the next duplicate calls the agent again; the rest share its success
        assert FIRST_CALL_FAILS["calls"] == 2
        assert not results[1].cache_hit and results[1].ok
        assert all(r.ok and r.cache_hit and r.output == {"echo": "same"} for r in results[2:])


def test_duplicates_waiting_on_a_failing_call_share_its_failure(tmp_path: Path) -> None:
    with BatchCache.open(config(tmp_path, tiers=["memory"]), agent("slow_counted")) as cache:
        results = run(cache, [-7] * 10, agent("slow_counted"))
        stats = cache.stats()
    assert CALLS == {"-7": 1}  # all ten were in flight together: one call, its failure shared
    assert all(not r.ok and r.error.type == "ValueError" for r in results)
    # No call was made for the nine waiters: calls avoided, on the shared-in-flight line.
    assert stats.single_flight_waits == 9 and stats.calls_avoided == 9
    assert sum(tier.hits for tier in stats.tiers) == 0
