"""The multi-level cache: memory, disk and Redis tiers behind one interface.

``@cached`` caches a user's own functions; run-batch puts :class:`BatchCache` in front
of its executor. Redis is imported only when a Redis tier is built.

The names below are imported on first use (PEP 562), and :func:`requested` needs none
of them: a run that asks for no cache loads none of it, not even
``agentperf.cache.config``.
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
    "requested",
]


def requested(section: Any, *, cache: bool | None = None, dir: Any = None,
              redis_url: str | None = None) -> bool:
    """Whether a run asks for the cache at all: a spec ``cache:`` section (None when there
    is none), ``--cache``, ``--cache-dir`` or ``--redis-url``. When it does,
    :func:`agentperf.cache.config.requested_cache` validates and decides the rest."""
    return section is not None or bool(cache or dir or redis_url)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'agentperf.cache' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentperf.cache.{home}"), name)
