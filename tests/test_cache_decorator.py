"""``@cached`` on sync and async functions, with single flight under real concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from agentperf.cache import CachedCallError, cached
from agentperf.errors import AgentperfError


def test_fifty_threads_run_the_function_once() -> None:
    calls = 0
    barrier = threading.Barrier(50)

    @cached(ttl=60)
    def answer(question: str) -> dict[str, str]:
        nonlocal calls
        calls += 1
        time.sleep(0.3)
        return {"answer": question.upper()}

    results: list[dict[str, str]] = []

    def worker() -> None:
        barrier.wait()
        results.append(answer("why"))

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert calls == 1
    assert results == [{"answer": "WHY"}] * 50
    stats = answer.cache_stats()
    assert stats.calls_avoided == 49 and stats.single_flight_waits == 49
    assert answer("why") == {"answer": "WHY"} and calls == 1  # now from the memory tier


def test_fifty_coroutines_run_the_coroutine_once() -> None:
    calls = 0

    @cached(ttl=60)
    async def answer(question: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return question[::-1]

    async def main() -> list[str]:
        return await asyncio.gather(*(answer("abc") for _ in range(50)))

    assert asyncio.run(main()) == ["cba"] * 50
    assert calls == 1
    assert asyncio.run(answer("abc")) == "cba" and calls == 1


def test_a_leader_failure_is_shared_but_not_cached() -> None:
    calls = 0

    @cached
    def flaky(x: int) -> int:
        nonlocal calls
        calls += 1
        raise ValueError("boom")

    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            flaky(1)
    assert calls == 2


def test_cached_failures_when_asked(tmp_path: Path) -> None:
    calls = 0

    @cached(cache_failures=True, tiers=["memory", "disk"], dir=tmp_path)
    def failing(x: int) -> int:
        nonlocal calls
        calls += 1
        raise KeyError(x)

    with pytest.raises(KeyError):
        failing(1)
    with pytest.raises(CachedCallError, match="KeyError"):
        failing(1)
    assert calls == 1


def test_disk_tier_persists_across_decorations(tmp_path: Path) -> None:
    def make() -> object:
        @cached(tiers=["disk"], dir=tmp_path, version="1")
        def square(x: int) -> int:
            return x * x
        return square

    first = make()
    assert first(7) == 49
    second = make()  # a new process would see the same directory
    assert second(7) == 49
    assert second.cache_stats().hits == 1


def test_unkeyable_arguments_skip_the_cache_or_use_key() -> None:
    class Client:
        pass

    calls = 0

    @cached
    def plain(client: Client, x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    plain(Client(), 1)
    plain(Client(), 1)
    assert calls == 2
    assert plain.cache_stats().skip_reasons == {"unserializable Client": 2}

    @cached(key=lambda client, x: x)
    def keyed(client: Client, x: int) -> int:
        nonlocal calls
        calls += 1
        return x

    keyed(Client(), 1)
    keyed(Client(), 1)
    assert calls == 3


def test_bad_decorator_arguments_are_one_clear_error() -> None:
    with pytest.raises(AgentperfError, match=r"@cached\(strategy=...\).*did you mean 'moderate'"):
        cached(strategy="moderat")
