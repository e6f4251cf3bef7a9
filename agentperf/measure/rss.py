"""This process's resident set size, cheaply enough to read around every call, and the
kernel's high-water mark of it (:class:`HighWaterMark`), for peaks between two reads.

On Linux one ``pread`` of ``/proc/self/statm`` through a kept file descriptor: no
psutil object, no allocation outside this module (so a profiler's site tables, which
leave agentperf's own frames out, never show the reader). psutil elsewhere.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any


class OwnRss:
    """Callable: the current RSS in bytes. Safe across threads and after ``fork``."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._lock = threading.Lock()
        self._source: tuple[int, int | None, Any] = (-1, None, None)  # pid, fd, process

    def __call__(self) -> int:
        pid, fd, process = self._source
        if pid != os.getpid():  # first call, or after a fork (the fd would read the parent)
            pid, fd, process = self._open()
        if fd is not None:
            try:
                return int(os.pread(fd, 128, 0).split()[1]) * self._page
            except OSError:  # the fd was closed under us (a daemonising library): reopen
                with self._lock:
                    self._source = (-1, None, None)
                return self()
        return int(process.memory_info().rss)

    def close(self) -> None:
        with self._lock:
            pid, fd, _ = self._source
            self._source = (-1, None, None)
        if fd is not None and pid == os.getpid():
            os.close(fd)

    def _open(self) -> tuple[int, int | None, Any]:
        """Publish pid, fd and process together, so another thread never sees half."""
        with self._lock:
            if self._source[0] == os.getpid():
                return self._source
            try:
                source: tuple[int, int | None, Any] = (
                    os.getpid(), os.open("/proc/self/statm", os.O_RDONLY), None)
            except OSError:
                import psutil

                source = (os.getpid(), None, psutil.Process())
            self._source = source
            return source


class HighWaterMark:
    """The process's peak RSS since the last :meth:`reset` (Linux only).

    Kept file descriptors and ``os.pread``/``os.pwrite``: no file objects, and nothing
    allocated outside this module, which the allocation-site tables filter out.
    """

    def __init__(self) -> None:
        # The pid of the process that makes the reader, not of the one that imported this
        # module: a worker forked from a server that imported it must read its own.
        proc = Path(f"/proc/{os.getpid()}")
        self._status = _open(proc / "status", os.O_RDONLY)
        self._clear = _open(proc / "clear_refs", os.O_WRONLY)
        self.available = self._status is not None and self._clear is not None
        self.overall: int | None = None  # the peak across every reset, for the whole profile
        if self.available and (not self._write() or self.read() is None):
            self.available = False

    def reset(self) -> None:
        if self.available:
            self.read()  # keep the peak since the last reset in ``overall`` first
            self.available = self._write()

    def read(self) -> int | None:
        if not self.available or self._status is None:
            return None
        text = os.pread(self._status, 4096, 0)
        start = text.find(b"VmHWM:")
        if start < 0:
            return None
        value = int(text[start + 6:text.index(b"kB", start)]) * 1024
        self.overall = value if self.overall is None else max(self.overall, value)
        return value

    def close(self) -> None:
        for fd in (self._status, self._clear):
            if fd is not None:
                os.close(fd)
        self._status = self._clear = None
        self.available = False

    def _write(self) -> bool:
        try:
            os.pwrite(self._clear, b"5", 0)  # type: ignore[arg-type]
        except (OSError, TypeError):
            return False
        return True


def _open(path: Path, flags: int) -> int | None:
    try:
        return os.open(path, flags)
    except OSError:
        return None
