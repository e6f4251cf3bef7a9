"""Several tiers behind one cache: read fastest first, promote hits up, write through.

A tier that fails (Redis gone, disk full) is skipped for a back-off interval and then
tried again, so a run never stops for its cache and a recovered server is used again.
Failures become counters and one warning per tier, never prints or exceptions.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from agentperf.cache.serializers import Codec, CorruptError, Entry, RefusedError
from agentperf.cache.stats import CacheStats, Counters, TierStats
from agentperf.cache.tiers import Tier, TierError


class _Guard:
    """One tier with its counters and its back-off state."""

    def __init__(self, tier: Tier) -> None:
        self.tier = tier
        self.hits = self.misses = self.gets = self.sets = 0
        self.get_time = self.set_time = 0.0
        self.bytes_read = self.bytes_written = 0
        self.errors = self.skipped = 0
        self.down_until = 0.0

    def stats(self) -> TierStats:
        looked = self.hits + self.misses
        stored = None
        if self.tier.name == "memory":
            stored = self.tier.usage().bytes
        return TierStats(
            name=self.tier.name, location=self.tier.describe(), hits=self.hits,
            misses=self.misses, hit_rate=self.hits / looked if looked else 0.0,
            gets=self.gets, sets=self.sets,
            get_mean_s=self.get_time / self.gets if self.gets else 0.0,
            set_mean_s=self.set_time / self.sets if self.sets else 0.0,
            bytes_read=self.bytes_read, bytes_written=self.bytes_written, stored_bytes=stored,
            errors=self.errors, skipped=self.skipped, available=self.down_until == 0.0)


class TieredCache:
    """Entries in, entries out; bytes and tiers are this class's business."""

    def __init__(self, tiers: Sequence[Tier], codec: Codec | None = None, *,
                 ttl_s: float | None = None, retry_s: float = 5.0,
                 counters: Counters | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not tiers:
            raise ValueError("a cache needs at least one tier")
        self._guards = [_Guard(t) for t in tiers]
        self.codec = codec or Codec()
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.counters = counters or Counters()
        self._clock = clock

    @property
    def tiers(self) -> list[Tier]:
        return [g.tier for g in self._guards]

    def get(self, key: str) -> Entry | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[str], accept: Callable[[Entry], bool] | None = None
                 ) -> dict[str, Entry]:
        """Look keys up tier by tier (one round trip per tier for the whole batch).

        An entry ``accept`` refuses (a stored failure the run does not replay) counts as
        a miss. Hits and misses count every occurrence of a key in ``keys``, so each
        served lookup is one hit of exactly one tier.
        """
        found: dict[str, Entry] = {}
        occurrences = Counter(keys)
        wanted = list(occurrences)
        for level, guard in enumerate(self._guards):
            if not wanted:
                break
            blobs = self._tier_get(guard, wanted)
            if blobs is None:
                continue
            still: list[str] = []
            for key, blob in zip(wanted, blobs, strict=True):
                entry = self._decode(guard, key, blob)
                if entry is None or (accept is not None and not accept(entry)):
                    still.append(key)
                    continue
                found[key] = entry
                for upper in self._guards[:level]:
                    self._tier_set(upper, key, blob)
            missed = sum(occurrences[key] for key in still)
            with self.counters.lock:
                guard.hits += sum(occurrences[key] for key in wanted) - missed
                guard.misses += missed
            wanted = still
        with self.counters.lock:
            self.counters.lookups += len(keys)
            hits = sum(1 for k in keys if k in found)
            self.counters.hits += hits
            self.counters.misses += len(keys) - hits
        return found

    def peek_memory(self, key: str) -> Entry | None:
        """The memory tier's entry, uncounted: a single-flight leader's last-moment check
        that another leader has not just stored the value."""
        tier = self._guards[0].tier
        if tier.name != "memory":
            return None
        blob = tier.get(key)
        try:
            return self.codec.decode(blob) if blob is not None else None
        except (CorruptError, RefusedError):
            return None

    def set(self, key: str, entry: Entry) -> None:
        """Write through to every available tier; :class:`UnstorableError` propagates."""
        blob = self.codec.encode(entry)
        for guard in self._guards:
            self._tier_set(guard, key, blob)
        with self.counters.lock:
            self.counters.stored += 1

    def delete(self, key: str) -> None:
        for guard in self._guards:
            if self._available(guard):
                try:
                    guard.tier.delete(key)
                except TierError as exc:
                    self._failed(guard, exc)

    def clear(self) -> dict[str, int]:
        """Empty every tier; returns entries removed per tier. A tier that is down is
        skipped with a warning, like any other failure of that tier."""
        removed: dict[str, int] = {}
        for guard in self._guards:
            try:
                removed[guard.tier.name] = guard.tier.clear()
            except TierError as exc:
                self.counters.warn_once(f"clear:{guard.tier.name}",
                                        f"could not clear the {guard.tier.name} cache: {exc}")
        return removed

    def stats(self) -> CacheStats:
        c = self.counters
        with c.lock:
            return CacheStats(
                tiers=[g.stats() for g in self._guards], lookups=c.lookups, hits=c.hits,
                misses=c.misses, hit_rate=c.calls_avoided / c.lookups if c.lookups else 0.0,
                stored=c.stored, calls_avoided=c.calls_avoided,
                time_saved_s=round(c.time_saved_s, 6),
                single_flight_waits=c.single_flight_waits,
                skipped_unserializable=c.skipped_unserializable,
                skip_reasons=dict(c.skip_reasons), refused_unsigned=c.refused_unsigned,
                corrupt_removed=c.corrupt_removed + sum(
                    getattr(g.tier, "corrupt_removed", 0) for g in self._guards),
                serializer=self.codec.serializer,
                ttl_s=self.ttl_s, warnings=list(c.warnings))

    def close(self) -> None:
        for guard in self._guards:
            guard.tier.close()

    def _available(self, guard: _Guard) -> bool:
        if guard.down_until == 0.0:
            return True
        if self._clock() >= guard.down_until:
            return True  # back-off over: the next call is the probe
        with self.counters.lock:
            guard.skipped += 1
        return False

    def _failed(self, guard: _Guard, exc: TierError) -> None:
        with self.counters.lock:
            guard.errors += 1
            guard.down_until = self._clock() + self.retry_s
        others = "+".join(g.tier.name for g in self._guards if g is not guard) or "no cache"
        self.counters.warn_once(
            f"tier-down:{guard.tier.name}",
            f"{guard.tier.name} cache unavailable ({exc}); continuing on {others}, "
            f"retrying every {self.retry_s:g}s")

    def _recovered(self, guard: _Guard) -> None:
        if guard.down_until != 0.0:
            with self.counters.lock:
                guard.down_until = 0.0

    def _tier_get(self, guard: _Guard, keys: list[str]) -> list[Any] | None:
        if not self._available(guard):
            return None
        start = time.perf_counter()
        try:
            blobs = [guard.tier.get(keys[0])] if len(keys) == 1 else guard.tier.get_many(keys)
        except TierError as exc:
            self._failed(guard, exc)
            return None
        elapsed = time.perf_counter() - start
        self._recovered(guard)
        with self.counters.lock:
            guard.gets += len(keys)
            guard.get_time += elapsed
            guard.bytes_read += sum(len(b) for b in blobs if b is not None)
        return blobs

    def _tier_set(self, guard: _Guard, key: str, blob: bytes) -> None:
        if not self._available(guard):
            return
        start = time.perf_counter()
        try:
            guard.tier.set(key, blob, self.ttl_s)
        except TierError as exc:
            self._failed(guard, exc)
            return
        elapsed = time.perf_counter() - start
        self._recovered(guard)
        with self.counters.lock:
            guard.sets += 1
            guard.set_time += elapsed
            guard.bytes_written += len(blob)

    def _decode(self, guard: _Guard, key: str, blob: bytes | None) -> Entry | None:
        if blob is None:
            return None
        try:
            return self.codec.decode(blob)
        except RefusedError:
            with self.counters.lock:
                self.counters.refused_unsigned += 1
        except CorruptError:
            self._count_corrupt()
            try:
                guard.tier.delete(key)
            except TierError as exc:
                self._failed(guard, exc)
        return None

    def _count_corrupt(self) -> None:
        with self.counters.lock:
            self.counters.corrupt_removed += 1
