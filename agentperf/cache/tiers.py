"""The one small interface every cache tier implements, and the error a tier raises.

Tiers store opaque bytes (the codec's output), so the same entry moves between
memory, disk and Redis unchanged and each tier's size bound counts real bytes (the
memory tier holds the entry decoded, counted at the size of its bytes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


class TierError(Exception):
    """A tier is unavailable (Redis down, cache directory unwritable, disk full)."""


class InvalidKeyError(ValueError):
    """A key no tier accepts: it could name a path outside the disk tier's root, or a
    Redis pattern, so every tier refuses it the same way."""


def check_key(key: object, *, min_length: int = 1) -> str:
    """``key`` when it is 1-128 (``min_length``-128) letters, digits, ``_`` or ``-``."""
    if type(key) is not str or not _KEY.fullmatch(key) or len(key) < min_length:
        shown = repr(key)[:40]
        raise InvalidKeyError(f"invalid cache key {shown}: expected {min_length}-128 letters, "
                              "digits, '_' or '-'")
    return key


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

    def discard(self, key: str, data: bytes) -> None:
        """Delete ``key`` only while it still holds ``data`` (bytes a reader found bad)."""

    def clear(self, *, expired_only: bool = False) -> int: ...

    def usage(self) -> TierUsage: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...
