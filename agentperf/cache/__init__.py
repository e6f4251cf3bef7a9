"""The multi-level cache: memory, disk and Redis tiers behind one interface.

``@cached`` caches a user's own functions; run-batch puts :class:`BatchCache` in front
of its executor. Redis is imported only when a Redis tier is built.
"""

from agentperf.cache.config import CacheConfig, redact_url
from agentperf.cache.decorator import CachedCallError, cached
from agentperf.cache.keys import UnkeyableError, make_key
from agentperf.cache.stats import CacheStats, TierStats

__all__ = [
    "CacheConfig",
    "CacheStats",
    "CachedCallError",
    "TierStats",
    "UnkeyableError",
    "cached",
    "make_key",
    "redact_url",
]
