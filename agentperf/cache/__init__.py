"""The multi-level cache: memory, disk and Redis tiers behind one interface.

``@cached`` caches a user's own functions; run-batch puts :class:`BatchCache` in front
of its executor. Redis is imported only when a Redis tier is built.

The names below are imported on first use (PEP 562): every run-batch reads
``agentperf.cache.config`` to learn whether the cache is on, and a run without one
should not pay for importing the decorator, the keys and the tiers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentperf.cache.config import CacheConfig, redact_url
    from agentperf.cache.decorator import CachedCallError, cached
    from agentperf.cache.keys import UnkeyableError, make_key
    from agentperf.cache.stats import CacheStats, TierStats

_HOMES = {
    "CacheConfig": "config",
    "redact_url": "config",
    "CachedCallError": "decorator",
    "cached": "decorator",
    "UnkeyableError": "keys",
    "make_key": "keys",
    "CacheStats": "stats",
    "TierStats": "stats",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'agentperf.cache' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentperf.cache.{home}"), name)
