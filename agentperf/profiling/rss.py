"""Resident set size readings: current, with child processes, and the kernel's peak.

A sampler sees RSS only at its ticks; Linux also keeps a high-water mark (VmHWM) that
can be reset through ``/proc/self/clear_refs``, so a peak between two samples is still
caught. Where that file is missing (other OSes, some containers) the peak is ``None``.
"""

from __future__ import annotations

import os
from typing import Any

from agentperf.measure.rss import HighWaterMark, OwnRss

__all__ = ["HighWaterMark", "OwnRss", "RssReader"]


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
