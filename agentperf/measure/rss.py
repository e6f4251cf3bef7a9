"""This process's resident set size, cheaply enough to read around every call.

On Linux one ``pread`` of ``/proc/self/statm`` through a kept file descriptor: no
psutil object, no allocation outside this module (so a profiler's site tables, which
leave agentperf's own frames out, never show the reader). psutil elsewhere.
"""

from __future__ import annotations

import os
import threading
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
