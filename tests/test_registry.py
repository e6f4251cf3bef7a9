"""The ``measure`` decorator and its bounded metrics registry."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agentperf.measure.registry import MetricsRegistry, default_registry, measure
from agentperf.measure.rss import OwnRss

_MB = 1024 * 1024


def test_sync_function_latency_rss_and_failures() -> None:
    registry = MetricsRegistry()
    kept: list[bytearray] = []

    @measure(registry=registry)
    def work(n: int) -> int:
        time.sleep(0.02)
        kept.append(bytearray(n * _MB))  # touched pages: RSS really grows
        if n == 0:
            raise ValueError("empty")
        return n

    assert work(20) == 20
    assert work.__name__ == "work"  # functools.wraps keeps the identity
    with pytest.raises(ValueError, match="empty"):
        work(0)
    metrics = registry.snapshot()[f"{__name__}.test_sync_function_latency_rss_and_failures"
                                   ".<locals>.work"]
    assert metrics.calls == 2 and metrics.failures == 1
    assert metrics.error_rate == 0.5
    assert metrics.last_error == "ValueError: empty"
    assert metrics.latency.min >= 0.019
    assert metrics.rss_change_max_bytes >= 15 * _MB
    assert metrics.total_latency_s >= 0.04


def test_async_function_is_awaited_and_measured() -> None:
    registry = MetricsRegistry()

    @measure(name="fetch", registry=registry, track_rss=False)
    async def fetch(delay: float) -> str:
        await asyncio.sleep(delay)
        return "ok"

    async def main() -> list[str]:
        return await asyncio.gather(*(fetch(0.05) for _ in range(5)))

    started = time.perf_counter()
    assert asyncio.run(main()) == ["ok"] * 5
    assert time.perf_counter() - started < 5 * 0.05 * 4  # awaited concurrently, not blocked
    metrics = registry.snapshot()["fetch"]
    assert metrics.calls == 5 and metrics.failures == 0
    assert metrics.latency.p50 >= 0.045
    assert metrics.rss_change_total_bytes == 0  # RSS tracking off


def test_async_failure_is_recorded_and_reraised() -> None:
    registry = MetricsRegistry()

    @measure(name="boom", registry=registry)
    async def boom() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        asyncio.run(boom())
    assert registry.snapshot()["boom"].failures == 1


def test_bare_decorator_uses_the_default_registry() -> None:
    @measure
    def ping() -> str:
        return "pong"

    ping()
    ping()
    name = f"{__name__}.test_bare_decorator_uses_the_default_registry.<locals>.ping"
    assert default_registry().snapshot()[name].calls == 2


def test_history_is_bounded_and_counts_exact_across_threads() -> None:
    registry = MetricsRegistry(history=50)

    @measure(name="tiny", registry=registry, track_rss=False)
    def tiny() -> None:
        return None

    def hammer() -> None:
        for _ in range(2000):
            tiny()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert registry.snapshot()["tiny"].calls == 8000
    assert len(registry.recent_latencies("tiny")) == 50
    assert registry.recent_latencies("unknown") == []
    registry.reset()
    assert registry.snapshot() == {}


def test_rss_reader_first_use_from_many_threads_at_once() -> None:
    """Regression: threads racing on the first read once saw a half-opened reader."""
    reader = OwnRss()
    start = threading.Barrier(8)
    results: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        start.wait()
        try:
            results.append(reader())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 8 and min(results) > 1_000_000
