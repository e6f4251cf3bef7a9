"""``@cached``: the same multi-level cache for a user's own functions, sync or async.

Keys come from the function's module and qualified name, a fingerprint of that module's
source (edit the module and earlier results are no longer served), an optional
``version`` and the canonical form of its arguments; arguments with no canonical form
(an object's ``self``, say) skip the cache and are counted, unless ``key=`` says what
identifies a call. Concurrent calls with the same key run the function once (single
flight); a failure reaches only the calls waiting on it, unless ``cache_failures``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentperf.cache.config import CacheConfig
from agentperf.cache.factory import build_cache
from agentperf.cache.keys import KeyBuilder, UnkeyableError
from agentperf.cache.serializers import Entry, UnstorableError
from agentperf.cache.singleflight import AsyncSingleFlight, SingleFlight
from agentperf.cache.tiered import TieredCache
from agentperf.errors import AgentperfError
from agentperf.workload.fingerprint import module_fingerprint


class CachedCallError(Exception):
    """Re-raised on a hit of a cached failure (``cache_failures=True``)."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        super().__init__(f"{type_name}: {message} (cached failure)")


def cached(fn: Callable[..., Any] | None = None, *, ttl: float | None = None,
           strategy: str | None = None, tiers: tuple[str, ...] | list[str] = ("memory",),
           dir: str | Path | None = None, redis_url: str | None = None,
           max_entries: int | None = None, max_bytes: int | None = None,
           serializer: str = "json", allow_pickle: bool = False, cache_failures: bool = False,
           key: Callable[..., Any] | None = None, version: str | None = None) -> Any:
    """Cache a function's results; ``@cached`` or ``@cached(ttl=60, tiers=["memory", "disk"])``."""
    tiers = list(tiers)
    if dir is not None and "disk" not in tiers:
        tiers.append("disk")  # a directory given means a disk tier wanted
    raw: dict[str, Any] = {"tiers": tiers, "serializer": serializer,
                           "allow_pickle": allow_pickle, "cache_failures": cache_failures,
                           "ttl": ttl, "strategy": strategy, "redis_url": redis_url,
                           "dir": str(dir) if dir is not None else None,
                           "max_entries": max_entries, "max_bytes": max_bytes}
    config = CacheConfig.from_mapping({k: v for k, v in raw.items() if v is not None},
                                      error=_argument_error)

    def decorate(func: Callable[..., Any]) -> Any:
        return _CachedFunction(func, config, key, version).wrapper()

    return decorate(fn) if fn is not None else decorate


def _argument_error(message: str, key_path: str) -> AgentperfError:
    return AgentperfError(f"@cached({key_path.removeprefix('cache.')}=...): {message}")


class _CachedFunction:
    def __init__(self, func: Callable[..., Any], config: CacheConfig,
                 key: Callable[..., Any] | None, version: str | None) -> None:
        self.func = func
        self.config = config
        self.cache: TieredCache = build_cache(config)
        self.keys = KeyBuilder(f"{func.__module__}:{func.__qualname__}", version=version,
                               fingerprint=module_fingerprint(func.__module__).digest)
        self.key_fn = key
        self.flight = SingleFlight()
        self.aflight = AsyncSingleFlight()
        self.io_in_thread = any(t != "memory" for t in config.tiers)

    def key_of(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
        try:
            if self.key_fn is not None:
                return self.keys.key(self.key_fn(*args, **kwargs))
            return self.keys.key({"args": list(args), "kwargs": dict(kwargs)})
        except UnkeyableError as exc:
            self.cache.counters.skip(exc.reason)
            return None

    def served(self, entry: Entry, *, shared: bool = False) -> Any:
        self.cache.counters.avoided(entry.latency_s, shared=shared)
        if not entry.ok:
            raise CachedCallError(entry.value.get("type", "Error"), entry.value.get("message", ""))
        return entry.value

    def store(self, key: str, entry: Entry) -> None:
        try:
            self.cache.set(key, entry)
        except UnstorableError as exc:
            self.cache.counters.skip(exc.reason)

    def just_stored(self, key: str) -> Entry | None:
        """A leader's double check: a previous leader may have finished since our lookup."""
        entry = self.cache.peek_memory(key)
        if entry is not None:  # served by another call, not by a counted tier lookup
            self.cache.counters.avoided(entry.latency_s, shared=True)
        return entry

    def compute(self, key: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Entry:
        if (entry := self.just_stored(key)) is not None:
            return entry
        start = time.perf_counter()
        try:
            value = self.func(*args, **kwargs)
        except Exception as exc:
            self.store_failure(key, exc, time.perf_counter() - start)
            raise
        entry = Entry(value, time.perf_counter() - start)
        self.store(key, entry)
        return entry

    async def acompute(self, key: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
                       ) -> Entry:
        if (entry := self.just_stored(key)) is not None:
            return entry
        start = time.perf_counter()
        try:
            value = await self.func(*args, **kwargs)
        except Exception as exc:
            await self.io(self.store_failure, key, exc, time.perf_counter() - start)
            raise
        entry = Entry(value, time.perf_counter() - start)
        await self.io(self.store, key, entry)
        return entry

    def store_failure(self, key: str, exc: Exception, latency_s: float) -> None:
        if self.config.cache_failures:
            self.store(key, Entry({"type": type(exc).__name__, "message": str(exc)},
                                  latency_s, ok=False))

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Disk and Redis calls leave the event loop; memory-only calls stay on it."""
        if self.io_in_thread:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    def wrapper(self) -> Any:
        if inspect.iscoroutinefunction(self.func):
            wrapped = self._async_wrapper()
        else:
            wrapped = self._sync_wrapper()
        wrapped.cache = self.cache
        wrapped.cache_stats = self.cache.stats
        wrapped.cache_clear = self.cache.clear
        return wrapped

    def _sync_wrapper(self) -> Callable[..., Any]:
        @functools.wraps(self.func)
        def call(*args: Any, **kwargs: Any) -> Any:
            key = self.key_of(args, kwargs)
            if key is None:
                return self.func(*args, **kwargs)
            entry = self.cache.get(key)
            if entry is not None:
                return self.served(entry)
            entry, shared = self.flight.do(key, lambda: self.compute(key, args, kwargs))
            return self.served(entry, shared=True) if shared else entry.value

        return call

    def _async_wrapper(self) -> Callable[..., Any]:
        @functools.wraps(self.func)
        async def call(*args: Any, **kwargs: Any) -> Any:
            key = self.key_of(args, kwargs)
            if key is None:
                return await self.func(*args, **kwargs)
            entry = await self.io(self.cache.get, key)
            if entry is not None:
                return self.served(entry)
            entry, shared = await self.aflight.do(key, lambda: self.acompute(key, args, kwargs))
            return self.served(entry, shared=True) if shared else entry.value

        return call
