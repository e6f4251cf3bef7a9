"""The memory tier: an LRU with per-entry TTL, bounded by entry count and by bytes.

An ``OrderedDict`` gives O(1) lookup, recency update and eviction of the oldest
entry. Expired entries are dropped when read, and the least recently used entry is
checked on every write, so stale entries never outlive the size bounds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from agentperf.cache.tiers import TierUsage, check_key

_NEVER = float("inf")


class MemoryTier:
    """Thread-safe in-process LRU/TTL store; ``clock`` is injectable for tests."""

    name = "memory"

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 128 * 1024 * 1024, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, tuple[Any, float, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        # Reads take no lock: each OrderedDict call is atomic (the GIL, or the per-object
        # lock of free-threaded builds), and a key evicted between the two calls only
        # makes move_to_end miss. Everything that changes the byte count takes the lock.
        item = self._data.get(key)
        if item is None:
            return None
        expires = item[1]
        if expires is not _NEVER and expires <= self._clock():
            self._expire(key, item)
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs a third of a hit on this hot path
            self._data.move_to_end(key)
        except KeyError:
            pass
        return item[0]

    def _expire(self, key: str, item: tuple[Any, float, int]) -> None:
        with self._lock:
            if self._data.get(key) is item:
                del self._data[key]
                self._bytes -= item[2]

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        return [self.get(key) for key in keys]

    def set(self, key: str, data: Any, ttl_s: float | None, size: int | None = None) -> None:
        check_key(key)
        size = len(data) if size is None else size
        expires = _NEVER if ttl_s is None else self._clock() + ttl_s
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            if size > self.max_bytes:
                return  # larger than the whole tier: storing it would evict everything
            self._data[key] = (data, expires, size)
            self._bytes += size
            self._evict()

    def _evict(self) -> None:
        data = self._data
        try:  # a lock-free reader may reorder the dict between iter() and next()
            oldest = next(iter(data))
        except RuntimeError:
            oldest = None
        item = data.get(oldest) if oldest is not None else None
        if item is not None and item[1] is not _NEVER and item[1] <= self._clock():
            del data[oldest]
            self._bytes -= item[2]
        while len(data) > self.max_entries or self._bytes > self.max_bytes:
            _, item = data.popitem(last=False)
            self._bytes -= item[2]

    def delete(self, key: str) -> None:
        with self._lock:
            item = self._data.pop(key, None)
            if item is not None:
                self._bytes -= item[2]

    def discard(self, key: str, data: Any) -> None:
        """Remove ``key`` only if it still holds ``data`` (a bad entry a reader found)."""
        with self._lock:
            item = self._data.get(key)
            if item is not None and (item[0] is data or item[0] == data):
                del self._data[key]
                self._bytes -= item[2]

    def clear(self, *, expired_only: bool = False) -> int:
        with self._lock:
            if not expired_only:
                removed = len(self._data)
                self._data.clear()
                self._bytes = 0
                return removed
            now = self._clock()
            stale = [k for k, item in self._data.items() if item[1] <= now]
            for key in stale:
                self._bytes -= self._data.pop(key)[2]
            return len(stale)

    def usage(self) -> TierUsage:
        with self._lock:
            return TierUsage(entries=len(self._data), bytes=self._bytes)

    def lru_order(self) -> list[str]:
        """Keys from least to most recently used (for tests and diagnostics)."""
        with self._lock:
            return list(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def describe(self) -> str:
        return f"memory (max {self.max_entries} entries, {self.max_bytes} bytes)"

    def close(self) -> None:
        """Nothing to release; the entries go with the process."""
