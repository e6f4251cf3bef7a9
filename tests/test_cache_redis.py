"""The Redis tier against a real redis-server: TTL, promotion, batching, outages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
from test_cache_batch import CALLS, agent, thread_execute

from agentperf.cache.batch import BatchCache
from agentperf.cache.config import CacheConfig
from agentperf.cache.disk import DiskTier
from agentperf.cache.memory import MemoryTier
from agentperf.cache.redis_tier import PREFIX, RedisTier
from agentperf.cache.serializers import Codec, Entry
from agentperf.cache.tiered import TieredCache
from agentperf.errors import SpecError
from agentperf.execution.base import Task


def test_redis_tier_sets_with_ttl_and_batches_reads(redis_url: str) -> None:
    tier = RedisTier(redis_url)
    tier.set("a" * 64, b"J1", 30.0)
    tier.set("b" * 64, b"J2", None)
    raw = redis.Redis.from_url(redis_url)
    assert 0 < raw.ttl(PREFIX + "a" * 64) <= 30  # SETEX
    assert raw.ttl(PREFIX + "b" * 64) == -1
    assert tier.get_many(["a" * 64, "c" * 64, "b" * 64]) == [b"J1", None, b"J2"]
    assert tier.usage().entries == 2
    assert tier.clear() == 2 and tier.get("a" * 64) is None
    tier.close()


def test_hits_are_promoted_to_faster_tiers(redis_url: str, tmp_path: Path) -> None:
    writer = TieredCache([RedisTier(redis_url)], Codec("json"))
    writer.set("k" * 64, Entry({"answer": 1}, 0.5))  # another worker filled Redis
    memory, disk = MemoryTier(), DiskTier(tmp_path)
    reader = TieredCache([memory, disk, RedisTier(redis_url)], Codec("json"))
    assert reader.get("k" * 64) == Entry({"answer": 1}, 0.5)
    assert memory.get("k" * 64) is not None and disk.get("k" * 64) is not None
    assert reader.get("k" * 64) is not None
    stats = reader.stats()
    assert [(t.name, t.hits, t.misses) for t in stats.tiers] == [
        ("memory", 1, 1), ("disk", 0, 1), ("redis", 1, 0)]


def test_redis_down_at_start_warns_once_and_is_used_when_back(redis_server: Any,
                                                             redis_url: str) -> None:
    redis_server.stop()
    cache = TieredCache([MemoryTier(), RedisTier(redis_url, timeout_s=0.5)], Codec("json"),
                        retry_s=0.2)
    for i in range(20):
        cache.set(f"{i:064d}", Entry(i))
        assert cache.get(f"{i:064d}").value == i  # memory carries on
    stats = cache.stats()
    assert len(stats.warnings) == 1 and "redis cache unavailable" in stats.warnings[0]
    assert stats.tiers[1].errors >= 1 and stats.tiers[1].skipped >= 1
    redis_server.start()
    time.sleep(0.3)  # past the back-off interval
    cache.set("back" * 16, Entry("stored in redis again"))
    raw = redis.Redis.from_url(redis_url)
    assert raw.get(PREFIX + "back" * 16) is not None
    assert cache.stats().tiers[1].available
    assert len(cache.stats().warnings) == 1


def test_redis_killed_mid_run_loses_no_result(redis_server: Any, redis_url: str,
                                             tmp_path: Path) -> None:
    cfg = CacheConfig.from_mapping(
        {"tiers": ["memory", "redis"], "redis_url": redis_url, "retry_s": 0.2, "window": 8},
        error=lambda m, k: SpecError(m, key=k))
    inputs = [i % 50 for i in range(200)]
    killed = False
    CALLS.clear()  # test_cache_batch's reset fixture does not run for this module
    with BatchCache.open(cfg, agent()) as cache:
        tasks = (Task(i, x) for i, x in enumerate(inputs))
        results = []
        for result in cache.wrap(tasks, thread_execute(agent())):
            results.append(result)
            if len(results) == 30 and not killed:
                redis_server.stop()
                killed = True
        stats = cache.stats()
    redis_server.start()
    assert killed
    assert sorted(r.index for r in results) == list(range(200))
    assert all(r.ok and r.output == {"double": inputs[r.index] * 2} for r in results)
    redis_stats = stats.tiers[1]
    assert redis_stats.errors >= 1
    assert len([w for w in stats.warnings if "redis" in w]) == 1
    assert sum(CALLS.values()) == 50  # the memory tier kept serving repeats
