"""The one small interface every cache tier implements, and the error a tier raises.

Tiers store opaque bytes (the codec's output), so the same entry moves between
memory, disk and Redis unchanged and each tier's size bound counts real bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class TierError(Exception):
    """A tier is unavailable (Redis down, cache directory unwritable, disk full)."""


@dataclass(frozen=True)
class TierUsage:
    """What a tier holds now (the disk tier scans its directory to know)."""

    entries: int
    bytes: int
    expired: int = 0


class Tier(Protocol):
    """A key-value store of bytes with per-entry TTL. Raises :class:`TierError` when down."""

    name: str

    def get(self, key: str) -> bytes | None: ...

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    def set(self, key: str, data: bytes, ttl_s: float | None) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self, *, expired_only: bool = False) -> int: ...

    def usage(self) -> TierUsage: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...
