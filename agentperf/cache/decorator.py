"""``@cached``: the same multi-level cache for a user's own functions, sync or async.

Keys come from the function's identity (module, qualified name, a fingerprint of its
module's source, of its own code and of the values its closure captures, taken once
when it is decorated: closures of one factory and different lambdas never share
entries), an optional ``version`` and the canonical form of its arguments; arguments
with no canonical form (an object's ``self``, say) skip the cache and are counted,
unless ``key=`` says what identifies a call. Concurrent calls with the same key run the
function once (single flight); a failure reaches only the calls waiting on it, unless
``cache_failures``. Every caller gets its own copy of a mutable result.

A memory hit does not build the canonical SHA-256 key or decode anything: calls whose
arguments are plain scalars (str, int, float, bool, None, bytes) find their key in a
per-process table, and the memory tier keeps decoded values (see :class:`Held`).
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
from agentperf.cache.keys import KeyBuilder, UnkeyableError, function_identity
from agentperf.cache.serializers import Entry, UnstorableError
from agentperf.cache.singleflight import AsyncSingleFlight, SingleFlight
from agentperf.cache.tiered import Held, TieredCache
from agentperf.errors import AgentperfError
from agentperf.workload.fingerprint import module_fingerprint

_FAST_TYPES = frozenset({str, int, float, bool, type(None), bytes})
#: The per-process table of fast keys is emptied when it reaches this size.
FAST_KEYS_MAX = 65_536

Outcome = tuple[Held, Any]  # what a call stored, and the value its own caller gets


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


def _fast_key(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A hashable stand-in for the canonical key, for exact scalar arguments only.

    Types are part of it (``1``, ``1.0`` and ``True`` are equal in Python, not here);
    a float zero (``-0.0 == 0.0``) or NaN takes the canonical path.
    """
    types = tuple(map(type, args))
    if not _FAST_TYPES.issuperset(types):
        return None
    if float in types and any(a.__class__ is float and (a == 0.0 or a != a) for a in args):
        return None
    if not kwargs:
        return (args, types)
    values = tuple(kwargs.values())
    kinds = tuple(map(type, values))
    if not _FAST_TYPES.issuperset(kinds) or (
            float in kinds and any(v.__class__ is float and (v == 0.0 or v != v)
                                   for v in values)):
        return None
    return (args, types, tuple(kwargs), values, kinds)


class _CachedFunction:
    def __init__(self, func: Callable[..., Any], config: CacheConfig,
                 key: Callable[..., Any] | None, version: str | None) -> None:
        self.func = func
        self.config = config
        name, code = function_identity(func, lenient=key is not None or version is not None)
        self.cache: TieredCache = build_cache(config)
        self.keys = KeyBuilder(name, version=version,
                               fingerprint=f"{module_fingerprint(func.__module__).digest}:{code}")
        self.key_fn = key
        self.fast: dict[tuple[Any, ...], str] = {}
        self.flight = SingleFlight()
        self.aflight = AsyncSingleFlight()
        self.io_in_thread = any(t != "memory" for t in config.tiers)

    def key_of(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
        fast = _fast_key(args, kwargs) if self.key_fn is None else None
        if fast is not None:
            key = self.fast.get(fast)
            if key is not None:
                return key
        try:
            if self.key_fn is not None:
                key = self.keys.key(self.key_fn(*args, **kwargs))
            else:
                key = self.keys.key({"args": list(args), "kwargs": dict(kwargs)})
        except UnkeyableError as exc:
            self.cache.counters.skip(exc.reason)
            return None
        if fast is not None:
            if len(self.fast) >= FAST_KEYS_MAX:
                self.fast.clear()
            self.fast[fast] = key
        return key

    @staticmethod
    def hit(held: Held) -> Any:
        """A value for one caller from a stored entry; a stored failure is raised."""
        entry = held.entry
        if not entry.ok:
            raise CachedCallError(str(entry.value.get("type", "Error")),
                                  str(entry.value.get("message", "")))
        return held.value()

    def deliver(self, outcome: Outcome, shared: bool) -> Any:
        """The leader gets what its own call returned; a waiter a copy of what was stored."""
        held, own = outcome
        if shared:
            self.cache.counters.avoided(held.entry.latency_s, shared=True)
        if not held.entry.ok:
            return self.hit(held)
        return held.value() if shared else own

    def store(self, key: str, entry: Entry) -> Held:
        try:
            return self.cache.set(key, entry)
        except UnstorableError as exc:
            self.cache.counters.skip(exc.reason)
            return Held(entry, None, 0)  # not stored: waiters still get private copies

    def just_stored(self, key: str) -> Outcome | None:
        """A leader's double check: a previous leader may have finished since our lookup."""
        held = self.cache.peek_memory(key)
        if held is None:
            return None
        self.cache.counters.avoided(held.entry.latency_s, shared=True)
        return held, (held.value() if held.entry.ok else None)

    def compute(self, key: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Outcome:
        if (outcome := self.just_stored(key)) is not None:
            return outcome
        start = time.perf_counter()
        try:
            value = self.func(*args, **kwargs)
        except Exception as exc:
            self.store_failure(key, exc, time.perf_counter() - start)
            raise
        return self.store(key, Entry(value, time.perf_counter() - start)), value

    async def acompute(self, key: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
                       ) -> Outcome:
        if (outcome := self.just_stored(key)) is not None:
            return outcome
        start = time.perf_counter()
        try:
            value = await self.func(*args, **kwargs)
        except Exception as exc:
            await self.io(self.store_failure, key, exc, time.perf_counter() - start)
            raise
        held = await self.io(self.store, key, Entry(value, time.perf_counter() - start))
        return held, value

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
        wrapped.cache_clear = self.cache_clear
        return wrapped

    def cache_clear(self) -> dict[str, int]:
        self.fast.clear()
        return self.cache.clear()

    def _sync_wrapper(self) -> Callable[..., Any]:
        func, key_of, serve, hit = self.func, self.key_of, self.cache.serve, self.hit

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            key = key_of(args, kwargs)
            if key is None:
                return func(*args, **kwargs)
            held = serve(key)
            if held is not None:
                return hit(held)
            outcome, shared = self.flight.do(key, lambda: self.compute(key, args, kwargs))
            return self.deliver(outcome, shared)

        return call

    def _async_wrapper(self) -> Callable[..., Any]:
        @functools.wraps(self.func)
        async def call(*args: Any, **kwargs: Any) -> Any:
            key = self.key_of(args, kwargs)
            if key is None:
                return await self.func(*args, **kwargs)
            if self.io_in_thread and self.cache.peek_memory(key) is None:
                held = await self.io(self.cache.serve, key)
            else:
                held = self.cache.serve(key)  # a memory hit (or memory only): no thread hop
            if held is not None:
                return self.hit(held)
            outcome, shared = await self.aflight.do(
                key, lambda: self.acompute(key, args, kwargs))
            return self.deliver(outcome, shared)

        return call
