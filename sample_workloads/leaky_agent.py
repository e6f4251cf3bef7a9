"""A leaking agent to try ``agentperf profile`` on (the guide's module-level list).

    agentperf profile sample_workloads.leaky_agent:LeakyAgent --fail-on-leak

names the ``_HISTORY.append`` line below as a leak suspect, at about 10 KB per call,
and exits 1. ``BoundedAgent`` keeps the same history in a bounded deque: it allocates
as much per call but stops growing, so it is not flagged.
"""

from __future__ import annotations

from collections import deque
from typing import Any

_HISTORY: list[dict[str, Any]] = []  # lives as long as the process: every call adds to it


class LeakyAgent:
    """Remembers every request forever: memory grows with every call."""

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        _HISTORY.append({"input": input_data, "transcript": "x" * 10_000})
        return len(_HISTORY)


class BoundedAgent:
    """Keeps only the last 5 requests, so memory stays flat after the first few calls."""

    def __init__(self) -> None:
        self.history: deque[dict[str, Any]] = deque(maxlen=5)

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        self.history.append({"input": input_data, "transcript": "x" * 10_000})
        return len(self.history)
