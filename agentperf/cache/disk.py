"""The disk tier: one file per key, written to a temporary file and renamed into place.

Why files and not SQLite: ``os.replace`` is atomic on every local filesystem, so any
number of processes can write at once with no lock and no "database is locked"
retries; a reader sees a whole old entry or a whole new one. A damaged file costs one
entry, not the whole cache, and a CI job can save and restore the directory as is.
Each file starts with a header (magic, expiry time, CRC-32 of the payload), so a
truncated or corrupted entry is detected, treated as a miss and removed.

Bounds: ``max_entries`` and ``max_bytes`` (file sizes). The eviction rule is least
recently used by file modification time: a write sets it and a hit refreshes it (at
most once a second per file). A process scans the directory when its own writes may
have crossed a bound, after max(16, ``max_entries`` / 10) writes or a tenth of
``max_bytes`` written, and at its first write. Expired files are purged by the first
scan, by any scan that finds a bound crossed, and at least every ``purge_interval_s``;
then the least recently used go until both bounds are 90 % full. Several
writers share no state, so between scans the directory can run over a bound by what
the other processes wrote since (at most that many files or bytes each).

Removal is safe under concurrent writers: a file is first renamed aside and removed only
if it is the very file (same inode) that was read; a fresh entry another process wrote
meanwhile is put back.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentperf.cache.serializers import CorruptError
from agentperf.cache.tiers import TierError, TierUsage, check_key

MAGIC = b"APC1"
_HEADER = struct.Struct(">4sdI")  # magic, expires_at (unix time, 0 = never), crc32
LAYOUT = "v1"
LOW_WATER = 0.9
TOUCH_EVERY_S = 1.0
STALE_TEMP_S = 60.0  # a temporary file this old belongs to a writer that died
_tombs = itertools.count()


@dataclass(frozen=True)
class _File:
    path: Path
    inode: int
    size: int
    used: float  # mtime: last write or hit


class DiskTier:
    """Persistent store under ``root``; safe with several writing processes."""

    name = "disk"

    def __init__(self, root: Path | str, *, max_entries: int = 1_000_000,
                 max_bytes: int = 1 << 30, purge_interval_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.root = Path(root)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.purge_interval_s = purge_interval_s
        self._entries = self.root / LAYOUT
        self._clock = clock
        self._lock = threading.Lock()
        self._known: tuple[int, int] | None = None  # entries and bytes at the last scan
        self._written = self._written_bytes = 0  # since the last scan
        self._last_purge = float("-inf")  # the first scan purges expired entries
        self._scan_every = max(16, max_entries // 10)
        self.corrupt_removed = 0  # entries that failed their checksum and were deleted
        self.evicted = 0
        self.expired_removed = 0

    def _path(self, key: str) -> Path:
        check_key(key, min_length=3)
        return self._entries / key[:2] / key[2:]

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                raw = fh.read()
                if stat.st_mtime < time.time() - TOUCH_EVERY_S:
                    with contextlib.suppress(OSError):
                        os.utime(fh.fileno())  # last use, for LRU eviction
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (PermissionError, IsADirectoryError):  # this entry is unreadable, not the tier
            self._remove_unreadable(path)
            return None
        except OSError as exc:
            raise TierError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            expires, payload = _parse(raw)
        except CorruptError:
            if _remove_if_same(path, stat.st_ino):
                self.corrupt_removed += 1
            return None
        if expires and expires <= self._clock():
            if _remove_if_same(path, stat.st_ino):
                self.expired_removed += 1
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
        if self._note_write(len(blob)):
            self.purge()

    def _note_write(self, size: int) -> bool:
        """Whether this write makes a scan due (see the module docstring)."""
        with self._lock:
            self._written += 1
            self._written_bytes += size
            if (self._known is None or self._written >= self._scan_every
                    or self._written_bytes >= self.max_bytes // 10):
                return True
            entries, size_now = self._known
            return (entries + self._written > self.max_entries
                    or size_now + self._written_bytes > self.max_bytes
                    or time.monotonic() - self._last_purge >= self.purge_interval_s)

    def purge(self) -> int:
        """Remove expired entries, then the least recently used past the bounds; returns
        how many files were removed. Runs by itself as the module docstring says."""
        with self._lock:
            self._written = self._written_bytes = 0
        files = self._scan()
        entries, size = len(files), sum(f.size for f in files)
        over = entries > self.max_entries or size > self.max_bytes
        removed = 0
        if over or time.monotonic() - self._last_purge >= self.purge_interval_s:
            files, removed = self._drop_expired(files)
            self._drop_stale_temps()
            with self._lock:
                self._last_purge = time.monotonic()
            entries, size = len(files), sum(f.size for f in files)
        if entries > self.max_entries or size > self.max_bytes:
            evicted, entries, size = self._evict(files, entries, size)
            removed += evicted
        with self._lock:
            self._known = (entries, size)
        return removed

    def _drop_expired(self, files: list[_File]) -> tuple[list[_File], int]:
        now = self._clock()
        kept: list[_File] = []
        removed = 0
        for f in files:
            if _expired(f.path, now) and _remove_if_same(f.path, f.inode):
                removed += 1
            else:
                kept.append(f)
        self.expired_removed += removed
        return kept, removed

    def _evict(self, files: list[_File], entries: int, size: int) -> tuple[int, int, int]:
        low_entries = int(self.max_entries * LOW_WATER)
        low_bytes = int(self.max_bytes * LOW_WATER)
        evicted = 0
        for f in sorted(files, key=lambda f: f.used):
            if entries <= low_entries and size <= low_bytes:
                break
            if _remove_if_same(f.path, f.inode):
                evicted += 1
            entries -= 1  # gone either way: removed, or replaced by a fresher entry
            size -= f.size
        self.evicted += evicted
        return evicted, entries, size

    def _scan(self) -> list[_File]:
        files = []
        for path in self._files():
            try:
                st = path.stat()
            except OSError:
                continue
            files.append(_File(path, st.st_ino, st.st_size, st.st_mtime))
        return files

    def _drop_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_S
        for path in self._files(partial_only=True):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    def _remove_unreadable(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        self.corrupt_removed += 1

    def delete(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self._path(key).unlink()

    def discard(self, key: str, data: bytes) -> None:
        """Remove ``key`` only if it still holds ``data`` (a bad entry a reader found),
        never a fresh entry another process wrote since."""
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                inode = os.fstat(fh.fileno()).st_ino
                raw = fh.read()
        except OSError:
            return
        if raw[_HEADER.size:] == data:
            _remove_if_same(path, inode)

    def clear(self, *, expired_only: bool = False) -> int:
        """Remove entries (or only expired ones); returns how many entries. Temporary files
        a killed writer left are removed too (if older than a minute) but not counted."""
        removed = 0
        now = self._clock()
        for path in self._files():
            if expired_only and not _expired(path, now):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        self._drop_stale_temps()
        with self._lock:
            self._known = None
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

    def _files(self, *, partial_only: bool = False) -> Iterator[Path]:
        """Entry files, or (``partial_only``) the temporary and renamed-aside files."""
        if not self._entries.is_dir():
            return
        for shard in self._entries.iterdir():
            if shard.is_dir():
                yield from (p for p in shard.iterdir()
                            if p.name.startswith(".") == partial_only)

    def describe(self) -> str:
        return f"disk {self.root} (max {self.max_entries} entries, {self.max_bytes} bytes)"

    def close(self) -> None:
        """Files are closed after every operation."""


def _remove_if_same(path: Path, inode: int) -> bool:
    """Remove ``path`` if it is still the file with ``inode``; True when removed."""
    tomb = path.with_name(f".rm-{os.getpid()}-{threading.get_ident()}-{next(_tombs)}")
    try:
        os.rename(path, tomb)
    except OSError:
        return False
    try:
        if os.stat(tomb).st_ino == inode:
            os.unlink(tomb)
            return True
        with contextlib.suppress(FileExistsError):  # an even newer entry already won
            os.link(tomb, path)
        os.unlink(tomb)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tomb)
    return False


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
