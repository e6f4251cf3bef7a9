"""Several tiers behind one cache: read fastest first, promote hits up, write through.

A tier that fails (Redis gone, disk full) is skipped for a back-off interval and then
tried again, so a run never stops for its cache and a recovered server is used again.
Failures become counters and one warning per tier, never prints or exceptions.

Every entry carries its absolute expiry, so a hit promoted to a faster tier keeps the
lifetime it has left (TTL is absolute, not restarted per tier). Bytes that do not
decode, or that this cache must not trust, are a counted miss and are removed (only
those bytes: a fresh entry another process wrote since stays).

The memory tier holds decoded entries (:class:`Held`), so a memory hit costs no
decoding; every caller still gets its own copy of a mutable value (the copy policy:
``pickle.loads`` of bytes pickled in this process when the entry was stored, which is
several times faster than ``copy.deepcopy``; scalars are returned as they are).
"""

from __future__ import annotations

import copy
import pickle
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from agentperf.cache.serializers import Codec, CorruptError, Entry, RefusedError
from agentperf.cache.stats import CacheStats, Counters, TierStats
from agentperf.cache.tiers import Tier, TierError

_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes})
_DEEPCOPY = b""  # marker: the value does not pickle, copy it with copy.deepcopy


def _freeze(value: Any) -> bytes | None:
    if value.__class__ in _IMMUTABLE:
        return None
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return _DEEPCOPY


class Held:
    """A stored entry kept decoded, with its absolute expiry; hands out private copies.

    The pickled copy is made here, in this process, from a value the codec has just
    decoded: these bytes never come from a store, so loading them runs no foreign code.
    """

    __slots__ = ("entry", "expires", "frozen", "size")

    def __init__(self, entry: Entry, expires: float | None, size: int) -> None:
        self.entry = entry
        self.expires = expires
        self.size = size
        self.frozen = _freeze(entry.value)

    def value(self) -> Any:
        """A copy of the value for one caller (the value itself when immutable)."""
        frozen = self.frozen
        if frozen is None:
            return self.entry.value
        if frozen is _DEEPCOPY:
            return copy.deepcopy(self.entry.value)
        return pickle.loads(frozen)

    def fresh(self) -> Entry:
        if self.frozen is None:
            return self.entry
        return Entry(self.value(), self.entry.latency_s, self.entry.ok, self.entry.usage)

    def __len__(self) -> int:  # what the memory tier counts against its byte bound
        return self.size

    def __bool__(self) -> bool:
        return True


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
    """Entries in, entries out; bytes and tiers are this class's business.

    ``clock`` (monotonic) times the back-off; ``wall_clock`` (unix time) stamps and
    checks expiry, the same in every process. Both are injectable for tests.
    """

    def __init__(self, tiers: Sequence[Tier], codec: Codec | None = None, *,
                 ttl_s: float | None = None, retry_s: float = 5.0,
                 counters: Counters | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if not tiers:
            raise ValueError("a cache needs at least one tier")
        self._guards = [_Guard(t) for t in tiers]
        self._memory = tiers[0] if tiers[0].name == "memory" else None
        self.codec = codec or Codec()
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.counters = counters or Counters()
        self._clock = clock
        self._wall = wall_clock

    @property
    def tiers(self) -> list[Tier]:
        return [g.tier for g in self._guards]

    def get(self, key: str) -> Entry | None:
        held = self._lookup(key)
        return held.fresh() if held is not None else None

    def serve(self, key: str) -> Held | None:
        """Look ``key`` up; a hit also counts as a call avoided. The memory-hit path does
        one dictionary lookup and takes the counters' lock once."""
        memory = self._memory
        if memory is not None:
            start = time.perf_counter()
            held = memory.get(key)
            if held.__class__ is Held:
                elapsed = time.perf_counter() - start
                guard, c = self._guards[0], self.counters
                with c.lock:
                    guard.hits += 1
                    guard.gets += 1
                    guard.get_time += elapsed
                    guard.bytes_read += held.size
                    c.lookups += 1
                    c.hits += 1
                    c.calls_avoided += 1
                    c.time_saved_s += held.entry.latency_s
                return held
            with self.counters.lock:  # the memory miss; the lookup goes on below it
                self._guards[0].misses += 1
                self._guards[0].gets += 1
            held = self._lookup(key, start=1)
        else:
            held = self._lookup(key)
        if held is not None:
            self.counters.avoided(held.entry.latency_s)
        return held

    def _lookup(self, key: str, start: int = 0) -> Held | None:
        """One key through the tiers from ``start``: :meth:`_get_many` for one key, with
        less bookkeeping (the path of every ``@cached`` lookup below memory)."""
        found = None
        guards = self._guards
        for level in range(start, len(guards)):
            guard = guards[level]
            items = self._tier_get(guard, [key])
            if items is None:
                continue
            now = self._wall()
            held = self._held(guard, key, items[0], now)
            if held is None:
                with self.counters.lock:
                    guard.misses += 1
                continue
            for upper in guards[:level]:
                self._store_in(upper, key, held, items[0], now)
            found = held
            break
        c = self.counters
        with c.lock:
            if found is not None:
                guard.hits += 1
                c.hits += 1
            else:
                c.misses += 1
            c.lookups += 1
        return found

    def get_many(self, keys: Sequence[str], accept: Callable[[Entry], bool] | None = None
                 ) -> dict[str, Entry]:
        """Look keys up tier by tier (one round trip per tier for the whole batch).

        An entry ``accept`` refuses (a stored failure the run does not replay) counts as
        a miss. Hits and misses count every occurrence of a key in ``keys``, so each
        served lookup is one hit of exactly one tier.
        """
        return {key: held.fresh() for key, held in self._get_many(keys, accept).items()}

    def _get_many(self, keys: Sequence[str], accept: Callable[[Entry], bool] | None
                  ) -> dict[str, Held]:
        found: dict[str, Held] = {}
        occurrences = Counter(keys)
        wanted = list(occurrences)
        for level, guard in enumerate(self._guards):
            if not wanted:
                break
            items = self._tier_get(guard, wanted)
            if items is None:
                continue
            still: list[str] = []
            now = self._wall()
            for key, item in zip(wanted, items, strict=True):
                held = self._held(guard, key, item, now)
                if held is None or (accept is not None and not accept(held.entry)):
                    still.append(key)
                    continue
                found[key] = held
                for upper in self._guards[:level]:
                    self._store_in(upper, key, held, item, now)
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

    def peek_memory(self, key: str) -> Held | None:
        """The memory tier's entry, uncounted: a single-flight leader's last-moment check
        that another leader has not just stored the value."""
        if self._memory is None:
            return None
        held = self._memory.get(key)
        return held if held.__class__ is Held else None

    def set(self, key: str, entry: Entry) -> Held:
        """Write through to every available tier; :class:`UnstorableError` propagates.
        Returns the stored entry as held, for handing out copies."""
        now = self._wall()
        expires = now + self.ttl_s if self.ttl_s else None
        blob, back = self.codec.encode_checked(entry, key, expires)
        held = Held(back, expires, len(blob))
        for guard in self._guards:
            self._store_in(guard, key, held, blob, now)
        with self.counters.lock:
            self.counters.stored += 1
        return held

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
            items = [guard.tier.get(keys[0])] if len(keys) == 1 else guard.tier.get_many(keys)
        except TierError as exc:
            self._failed(guard, exc)
            return None
        elapsed = time.perf_counter() - start
        self._recovered(guard)
        with self.counters.lock:
            guard.gets += len(keys)
            guard.get_time += elapsed
            guard.bytes_read += (len(items[0]) if items[0] is not None else 0) if len(
                items) == 1 else sum(len(b) for b in items if b is not None)
        return items

    def _store_in(self, guard: _Guard, key: str, held: Held, blob: Any, now: float) -> None:
        """Store in one tier with the lifetime the entry has left (nothing once expired)."""
        ttl_s = None if held.expires is None else held.expires - now
        if ttl_s is not None and ttl_s <= 0:
            return
        if guard.tier is self._memory:
            self._tier_set(guard, key, held, ttl_s, held.size)
        elif blob.__class__ is not Held:
            self._tier_set(guard, key, blob, ttl_s, held.size)

    def _tier_set(self, guard: _Guard, key: str, data: Any, ttl_s: float | None,
                  size: int) -> None:
        if not self._available(guard):
            return
        start = time.perf_counter()
        try:
            if guard.tier is self._memory:
                self._memory.set(key, data, ttl_s, size=size)  # type: ignore[call-arg]
            else:
                guard.tier.set(key, data, ttl_s)
        except TierError as exc:
            self._failed(guard, exc)
            return
        elapsed = time.perf_counter() - start
        self._recovered(guard)
        with self.counters.lock:
            guard.sets += 1
            guard.set_time += elapsed
            guard.bytes_written += size

    def _held(self, guard: _Guard, key: str, item: Any, now: float) -> Held | None:
        """The entry in one tier's item, or None: missing, expired, undecodable or
        untrusted (the last two counted and removed)."""
        if item is None:
            return None
        if item.__class__ is Held:
            held: Held = item
        else:
            try:
                decoded = self.codec.decode(item, key)
            except RefusedError:
                with self.counters.lock:
                    self.counters.refused_unsigned += 1
                self._discard(guard, key, item)
                return None
            except (CorruptError, Exception):  # no decode failure ever reaches a caller
                self._count_corrupt()
                self._discard(guard, key, item)
                return None
            held = Held(decoded.entry, decoded.expires, len(item))
        if held.expires is not None and held.expires <= now:
            self._discard(guard, key, item)
            return None
        return held

    def _discard(self, guard: _Guard, key: str, item: Any) -> None:
        discard = getattr(guard.tier, "discard", None)
        try:
            if discard is not None:
                discard(key, item)
            else:
                guard.tier.delete(key)
        except TierError as exc:
            self._failed(guard, exc)

    def _count_corrupt(self) -> None:
        with self.counters.lock:
            self.counters.corrupt_removed += 1
