"""Resident set size readings: current, with child processes, and the kernel's peak.

A sampler sees RSS only at its ticks; Linux also keeps a high-water mark (VmHWM) that
can be reset through ``/proc/self/clear_refs``, so a peak between two samples is still
caught. Where that file is missing (other OSes, some containers) the peak is ``None``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentperf.measure.rss import OwnRss

_STATUS = Path(f"/proc/{os.getpid()}/status")
_CLEAR_REFS = Path(f"/proc/{os.getpid()}/clear_refs")


class RssReader:
    """Reads this process's RSS (:class:`~agentperf.measure.rss.OwnRss`), optionally
    adding its descendants through the one process-tree reader
    (:class:`~agentperf.measure.process_tree.ProcessTree`)."""

    def __init__(self, include_children: bool = False) -> None:
        self.include_children = include_children
        self._own = OwnRss()
        self._tree: Any = None
        if include_children:
            from agentperf.measure.process_tree import ProcessTree

            self._tree = ProcessTree(os.getpid(), include_children=True)

    def rss(self) -> int:
        total = self.own_rss()
        if self._tree is not None:
            total += self._tree.descendants_rss()
        return total

    def own_rss(self) -> int:
        return self._own()

    def close(self) -> None:
        self._own.close()


class HighWaterMark:
    """The process's peak RSS since the last :meth:`reset` (Linux only).

    Kept file descriptors and ``os.pread``/``os.pwrite``: no file objects, and nothing
    allocated outside this module, which the allocation-site tables filter out.
    """

    def __init__(self) -> None:
        self._status = _open(_STATUS, os.O_RDONLY)
        self._clear = _open(_CLEAR_REFS, os.O_WRONLY)
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
