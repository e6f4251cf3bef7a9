"""The Redis tier: a cache shared by workers and machines.

redis-py with a connection pool, a socket timeout on every call and no client-side
retries (the tiered cache backs off a failing tier itself, so a dead server costs one
refused connection per back-off interval, not a stall per call). TTL via SET PX (SETEX
in milliseconds); batched lookups via MGET. The URL is only ever shown redacted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

from agentperf.cache.config import redact_url
from agentperf.cache.tiers import TierError, TierUsage, check_key

PREFIX = "agentperf:cache:v1:"
_SCAN_BATCH = 1000
#: Delete a key only if it still holds the bytes a reader found bad.
_DISCARD = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('DEL', KEYS[1]) end return 0")


class RedisTier:
    """A prefix of one Redis database. Every error surfaces as :class:`TierError`."""

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.5, prefix: str = PREFIX,
                 max_connections: int = 64) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ModuleNotFoundError:
            from agentperf.errors import DependencyMissingError

            raise DependencyMissingError("the Redis cache tier", "redis", "redis") from None
        self.url = redact_url(url)
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self._pool = redis.ConnectionPool.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0), max_connections=max_connections)
        except ValueError as exc:
            from agentperf.errors import AgentperfError

            raise AgentperfError(f"Redis URL {self.url}: {exc}") from None
        self.client = redis.Redis(connection_pool=self._pool)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.client, method)(*args)
        except self._errors as exc:
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> TierError:
        return TierError(f"Redis at {self.url}: {type(exc).__name__}: {exc}")

    def get(self, key: str) -> bytes | None:
        check_key(key)
        try:  # the hot path: no indirection beyond redis-py's own
            return self.client.get(self.prefix + key)
        except self._errors as exc:
            raise self._error(exc) from exc

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """One MGET round trip for a whole window of keys."""
        if not keys:
            return []
        for key in keys:
            check_key(key)
        return list(self._call("mget", [self.prefix + k for k in keys]))

    def set(self, key: str, data: bytes, ttl_s: float | None) -> None:
        # SET with PX is SETEX at millisecond precision (redis-py 8 deprecates setex()).
        check_key(key)
        ttl_ms = max(1, math.ceil(ttl_s * 1000)) if ttl_s else None
        try:
            self.client.set(self.prefix + key, data, px=ttl_ms)
        except self._errors as exc:
            raise self._error(exc) from exc

    def delete(self, key: str) -> None:
        self._call("delete", self.prefix + check_key(key))

    def discard(self, key: str, data: bytes) -> None:
        """Delete ``key`` only if it still holds ``data``: a reader that found a bad entry
        never removes a fresh one another process wrote since (one atomic script)."""
        self._call("eval", _DISCARD, 1, self.prefix + check_key(key), data)

    def ping(self) -> bool:
        return bool(self._call("ping"))

    def _scan(self) -> Iterator[list[bytes]]:
        batch: list[bytes] = []
        try:
            for name in self.client.scan_iter(match=self.prefix + "*", count=_SCAN_BATCH):
                batch.append(name)
                if len(batch) >= _SCAN_BATCH:
                    yield batch
                    batch = []
        except self._errors as exc:
            raise self._error(exc) from exc
        if batch:
            yield batch

    def clear(self, *, expired_only: bool = False) -> int:
        """Remove this cache's keys (Redis expires entries itself, so ``expired_only`` is 0)."""
        if expired_only:
            return 0
        removed = 0
        for batch in self._scan():
            removed += int(self._call("unlink", *batch))
        return removed

    def usage(self) -> TierUsage:
        entries = size = 0
        for batch in self._scan():
            pipe = self.client.pipeline(transaction=False)
            for name in batch:
                pipe.strlen(name)
            try:
                lengths = pipe.execute()
            except self._errors as exc:
                raise self._error(exc) from exc
            entries += len(batch)
            size += sum(int(n) for n in lengths)
        return TierUsage(entries=entries, bytes=size)

    def describe(self) -> str:
        return f"redis {self.url}"

    def close(self) -> None:
        self._pool.disconnect()
