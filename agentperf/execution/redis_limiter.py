"""A rate limit shared through Redis by every Dask worker on every machine.

The same GCRA token bucket as :class:`agentperf.execution.gate.TokenBucket`, kept in
one Redis key and advanced by one Lua script, so a reservation is atomic however many
workers ask at once. The script reads the server's clock (``TIME``), so machines whose
clocks disagree still share one timeline. Each caller reserves its start and sleeps
until it: one round trip per call, and starts keep the order they were asked in.

This Redis is the limiter's own (``execution.rate_limit_redis``), separate from the
cache's. The key is named after the agent, so two runs against the same agent (two CI
jobs calling one provider) share the limit too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

KEY_PREFIX = "agentperf:rate_limit:"

#: KEYS[1] the bucket; ARGV interval and tolerance in seconds. Returns the seconds the
#: caller waits before its start (a string: a Lua number reply would lose the fraction).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local start = tat - tolerance
if start < now then start = now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.6f', next_tat),
           'PX', math.ceil((next_tat - now) * 1000) + 1000)
return string.format('%.6f', start - now)
"""


@dataclass(frozen=True)
class SharedLimit:
    """What a worker needs to join the shared limit (small and picklable)."""

    url: str
    rate: float  # starts per second
    burst: int = 1
    name: str = "default"  # the bucket's name; the agent's dotted path in a run

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name


class RedisRateLimiter:
    """Reserve starts from the shared bucket; thread-safe (redis-py pools connections)."""

    def __init__(self, limit: SharedLimit, client: Any = None) -> None:
        if client is None:
            try:
                import redis
            except ImportError:
                from agentperf.errors import DependencyMissingError

                raise DependencyMissingError("execution.rate_limit_redis", "redis",
                                             "redis") from None

            client = redis.Redis.from_url(limit.url, socket_timeout=5.0,
                                          socket_connect_timeout=5.0)
        self.limit = limit
        self._client = client
        self._script = client.register_script(_RESERVE)
        self._interval = 1.0 / limit.rate
        self._tolerance = (limit.burst - 1) * self._interval

    def check(self) -> None:
        """Reach the server now, so a wrong URL fails before the run, not in every task."""
        from agentperf.errors import AgentperfError
        from agentperf.redact import redact_url

        try:
            self._client.ping()
        except Exception as exc:  # redis-py's errors, and a refused or timed-out socket
            raise AgentperfError(f"execution.rate_limit_redis: cannot reach "
                                 f"{redact_url(self.limit.url)}: {exc}") from None

    def reserve(self) -> float:
        """Reserve the next start; the seconds to wait for it (0 when it is now)."""
        reply = self._script(keys=[self.limit.key], args=[self._interval, self._tolerance])
        return max(float(reply), 0.0)

    def acquire(self) -> float:
        """Wait for the next start; the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)
        return wait

    def close(self) -> None:
        self._client.close()


_LIMITERS: dict[SharedLimit, RedisRateLimiter] = {}
_LOCK = threading.Lock()


def limiter_for(limit: SharedLimit) -> RedisRateLimiter:
    """The worker process's limiter for ``limit``, connected once and reused."""
    with _LOCK:
        limiter = _LIMITERS.get(limit)
        if limiter is None:
            limiter = _LIMITERS[limit] = RedisRateLimiter(limit)
        return limiter
