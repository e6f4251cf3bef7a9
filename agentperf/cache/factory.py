"""Build the tiered cache a :class:`CacheConfig` describes."""

from __future__ import annotations

import time
from collections.abc import Callable

from agentperf.cache.config import CacheConfig
from agentperf.cache.serializers import Codec
from agentperf.cache.stats import Counters
from agentperf.cache.tiered import TieredCache
from agentperf.cache.tiers import Tier


def build_tiers(config: CacheConfig, *, memory_clock: Callable[[], float] = time.monotonic
                ) -> list[Tier]:
    """Tiers in config order (memory, disk, redis); Redis connects on first use."""
    tiers: list[Tier] = []
    for name in config.tiers:
        if name == "memory":
            from agentperf.cache.memory import MemoryTier

            tiers.append(MemoryTier(config.max_entries, config.max_bytes, clock=memory_clock))
        elif name == "disk":
            from agentperf.cache.disk import DiskTier

            tiers.append(DiskTier(config.dir, max_entries=config.max_entries,
                                   max_bytes=config.max_bytes))
        elif name == "redis" and config.redis_url:
            from agentperf.cache.redis_tier import RedisTier

            tiers.append(RedisTier(config.redis_url, timeout_s=config.timeout_s))
    return tiers


def build_cache(config: CacheConfig, *, counters: Counters | None = None,
                memory_clock: Callable[[], float] = time.monotonic) -> TieredCache:
    codec = Codec.from_settings(config.serializer, config.allow_pickle, config.hmac_key_env)
    return TieredCache(build_tiers(config, memory_clock=memory_clock), codec,
                       ttl_s=config.ttl_s, retry_s=config.retry_s, counters=counters)
