"""The disk tier: one file per key, written to a temporary file and renamed into place.

Why files and not SQLite: ``os.replace`` is atomic on every local filesystem, so any
number of processes can write at once with no lock and no "database is locked"
retries; a reader sees a whole old entry or a whole new one. A damaged file costs one
entry, not the whole cache, and a CI job can save and restore the directory as is.
Each file starts with a header (magic, expiry time, CRC-32 of the payload), so a
truncated or corrupted entry is detected, treated as a miss and removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from agentperf.cache.serializers import CorruptError
from agentperf.cache.tiers import TierError, TierUsage

MAGIC = b"APC1"
_HEADER = struct.Struct(">4sdI")  # magic, expires_at (unix time, 0 = never), crc32
LAYOUT = "v1"


class DiskTier:
    """Persistent store under ``root``; safe with several writing processes."""

    name = "disk"

    def __init__(self, root: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self._entries = self.root / LAYOUT
        self._clock = clock
        self.corrupt_removed = 0  # entries that failed their checksum and were deleted

    def _path(self, key: str) -> Path:
        return self._entries / key[:2] / key[2:]

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (PermissionError, IsADirectoryError):  # this entry is unreadable, not the tier
            self._remove_bad(key)
            return None
        except OSError as exc:
            raise TierError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            expires, payload = _parse(raw)
        except CorruptError:
            self._remove_bad(key)
            return None
        if expires and expires <= self._clock():
            self.delete(key)
            return None
        return payload

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def set(self, key: str, data: bytes, ttl_s: float | None) -> None:
        path = self._path(key)
        expires = self._clock() + ttl_s if ttl_s else 0.0
        blob = _HEADER.pack(MAGIC, expires, zlib.crc32(data)) + data
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except OSError as exc:
            raise TierError(f"cache directory {self.root} is not writable: "
                            f"{exc.strerror or exc}") from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise TierError(f"cannot write to {self.root}: {exc.strerror or exc}") from exc

    def _remove_bad(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path)
        self.delete(key)
        self.corrupt_removed += 1

    def delete(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self._path(key).unlink()

    def clear(self, *, expired_only: bool = False) -> int:
        removed = 0
        now = self._clock()
        for path in self._files(include_partial=not expired_only):
            if expired_only and not _expired(path, now):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        return removed

    def usage(self) -> TierUsage:
        entries = size = expired = 0
        now = self._clock()
        for path in self._files():
            try:
                size += path.stat().st_size
            except OSError:
                continue
            entries += 1
            expired += _expired(path, now)
        return TierUsage(entries=entries, bytes=size, expired=expired)

    def _files(self, *, include_partial: bool = False) -> Iterator[Path]:
        """Entry files; ``include_partial`` adds temporary files a killed writer left."""
        if not self._entries.is_dir():
            return
        for shard in self._entries.iterdir():
            if shard.is_dir():
                yield from (p for p in shard.iterdir()
                            if include_partial or not p.name.startswith(".tmp-"))

    def describe(self) -> str:
        return f"disk {self.root}"

    def close(self) -> None:
        """Files are closed after every operation."""


def _parse(raw: bytes) -> tuple[float, bytes]:
    if len(raw) < _HEADER.size:
        raise CorruptError("truncated entry")
    magic, expires, crc = _HEADER.unpack_from(raw)
    payload = raw[_HEADER.size:]
    if magic != MAGIC or zlib.crc32(payload) != crc:
        raise CorruptError("entry fails its checksum")
    return expires, payload


def _expired(path: Path, now: float) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEADER.size)
        expires = _HEADER.unpack(head)[1] if len(head) == _HEADER.size else 0.0
    except (OSError, struct.error):
        return False
    return bool(expires) and expires <= now
