"""What the cache measured, as plain JSON-able dataclasses for every reporter."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class TierStats:
    """One tier's counters over a run; latencies are means in seconds."""

    name: str
    location: str
    hits: int = 0
    misses: int = 0
    hit_rate: float = 0.0
    gets: int = 0
    sets: int = 0
    get_mean_s: float = 0.0
    set_mean_s: float = 0.0
    bytes_read: int = 0
    bytes_written: int = 0
    stored_bytes: int | None = None  # known without a scan only for the memory tier
    errors: int = 0
    skipped: int = 0  # operations not tried while the tier was backing off
    available: bool = True


@dataclass
class CacheStats:
    """The whole cache over a run: per tier, and what it saved.

    Every call avoided was answered either by a tier (counted in that tier's ``hits``)
    or by a duplicate's call in flight (``single_flight_waits``), so
    ``sum(tier.hits) + single_flight_waits == calls_avoided``.
    """

    tiers: list[TierStats]
    lookups: int = 0
    hits: int = 0
    misses: int = 0
    hit_rate: float = 0.0  # share of lookups answered without calling the agent
    stored: int = 0
    calls_avoided: int = 0
    time_saved_s: float = 0.0
    single_flight_waits: int = 0
    skipped_unserializable: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    refused_unsigned: int = 0
    corrupt_removed: int = 0
    serializer: str = "json"
    ttl_s: float | None = None
    warnings: list[str] = field(default_factory=list)
    fingerprint: str | None = None  # short hex of the agent's code fingerprint in the keys
    fingerprint_sources: list[str] = field(default_factory=list)  # what it hashed


MAX_REASONS = 20


class Counters:
    """Thread-safe counters a cache updates while running; ``snapshot`` makes the stats."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lookups = self.hits = self.misses = self.stored = 0
        self.calls_avoided = 0
        self.time_saved_s = 0.0
        self.single_flight_waits = 0
        self.skipped_unserializable = 0
        self.skip_reasons: dict[str, int] = {}
        self.refused_unsigned = 0
        self.corrupt_removed = 0
        self.warnings: list[str] = []
        self._warned: set[str] = set()

    def skip(self, reason: str) -> None:
        with self.lock:
            self.skipped_unserializable += 1
            if reason in self.skip_reasons or len(self.skip_reasons) < MAX_REASONS:
                self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
            else:
                self.skip_reasons["other"] = self.skip_reasons.get("other", 0) + 1

    def warn_once(self, kind: str, message: str) -> None:
        with self.lock:
            if kind not in self._warned:
                self._warned.add(kind)
                self.warnings.append(message)

    def avoided(self, saved_s: float, *, shared: bool = False) -> None:
        """A call not made: answered by a tier, or (``shared``) by a duplicate's call."""
        with self.lock:
            self.calls_avoided += 1
            self.time_saved_s += saved_s
            if shared:
                self.single_flight_waits += 1
