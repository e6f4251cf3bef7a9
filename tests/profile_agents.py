"""Agents with known memory behaviour for the profile tests.

Lines the tests must find carry a ``# MARK:`` comment; tests look the line number up,
so editing this file does not break them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

MIB = 1024 * 1024
_HISTORY: list[dict[str, Any]] = []
_JSON_TEXT = json.dumps([{"id": i, "name": f"item-{i}"} for i in range(3000)])


class LeakyAgent:
    """The guide's leak: every call appends to a module-level list."""

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        _HISTORY.append({"input": input_data, "payload": "x" * 8_000})  # MARK: leak
        return len(_HISTORY)


class FreeingAgent:
    """Allocates a few MB per call and frees all of it."""

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        rows = [{"id": i, "text": f"row-{i}"} for i in range(20_000)]
        return len(rows)


def allocate_50mb() -> int:
    block = bytearray(50 * MIB)  # MARK: fifty
    return len(block)


def spike_20ms() -> int:
    """40 MiB held for 20 ms, then freed, between quiet stretches."""
    time.sleep(0.05)
    block = bytearray(40 * MIB)
    time.sleep(0.02)
    del block
    time.sleep(0.05)
    return 0


def _rows(n: int) -> list[str]:
    return [f"value-{i}" for i in range(n)]  # MARK: rows


def two_callers() -> int:
    small = _rows(2_000)  # MARK: small caller
    large = _rows(20_000)  # MARK: large caller
    return len(small) + len(large)


def library_allocator() -> int:
    data = json.loads(_JSON_TEXT)  # MARK: library call
    return len(data)


class LineAgent:
    """A sample agent for the line-by-line mode: one line keeps 5 MiB per call.

    Kept, so RSS grows on that line whatever the allocator did with earlier frees.
    """

    def __init__(self) -> None:
        self.kept: list[bytearray] = []

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        scratch = [0] * 100_000
        self.kept.append(bytearray(5 * MIB))  # MARK: kept
        del scratch
        return len(self.kept)


async def async_agent(value: Any) -> int:
    await asyncio.sleep(0.001)
    data = [value] * 50_000  # MARK: async
    return len(data)


def raising_agent(value: Any) -> int:
    raise ValueError(f"cannot handle {value!r}")


def child_spawning_agent() -> int:
    """Starts a child that holds 80 MiB for 0.6 s."""
    code = "import time; b = bytearray(80 * 1024 * 1024); time.sleep(0.6)"
    return subprocess.run([sys.executable, "-c", code], check=True).returncode


def marked_line(marker: str) -> int:
    """The line number of the ``# MARK: marker`` comment in this file."""
    with open(__file__, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.rstrip().endswith(f"# MARK: {marker}"):
                return number
    raise LookupError(marker)


# Agents with the hard cases of issue 15; each keeps its state on the instance, so a fresh
# agent per profile starts clean. KiB-based sizes, as agentperf reports them.
KIB = 1024


class RareInputLeak:
    """Keeps 50 KiB only for the input "rare" (one input in three)."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        if input_data == "rare":
            self.kept.append(b"r" * (50 * KIB))  # MARK: rare
        return len(self.kept)


class EveryOtherCallLeak:
    """Keeps 20 KiB on every other call."""

    def __init__(self) -> None:
        self.calls = 0
        self.kept: list[bytes] = []

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        self.calls += 1
        if self.calls % 2 == 0:
            self.kept.append(b"e" * (20 * KIB))  # MARK: every other
        return self.calls


class ReallocatingBuffer:
    """A buffer grown by concatenation: 200 KiB more on every call, reallocated each time."""

    def __init__(self) -> None:
        self.buffer = b""

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        self.buffer = self.buffer + b"b" * (200 * KIB)  # MARK: realloc
        return len(self.buffer)


class BoundedDeque:
    """Keeps the last 3 results of 100 KiB each: bounded, so not a leak."""

    def __init__(self) -> None:
        import collections

        self.recent: collections.deque[bytes] = collections.deque(maxlen=3)

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        self.recent.append(bytes(100 * KIB) + str(input_data).encode())
        return len(self.recent)


class FillingCache:
    """A dict cache that fills to 10 entries of 10 KiB, then stays flat."""

    def __init__(self) -> None:
        self.cache: dict[int, bytes] = {}
        self.calls = 0

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        self.calls += 1
        key = self.calls % 10
        if key not in self.cache:
            self.cache[key] = b"c" * (10 * KIB)
        return len(self.cache)


def churn_5mib(value: Any = None) -> int:
    """Allocates 5 MiB and frees it."""
    block = bytearray(5 * 1024 * KIB)
    return len(block)


def sized_peak(value: Any) -> int:
    """Allocates ``value`` MiB for the call and frees it."""
    block = bytearray(int(value) * 1024 * KIB)  # MARK: sized
    return len(block)


class SpreadLeak:
    """Keeps 2 KiB at each of eight lines per call: 16 KiB growth no single site carries."""

    def __init__(self) -> None:
        self.kept: list[bytes] = []

    def execute(self, input_data: Any, context: dict[str, Any]) -> int:
        keep, size = self.kept.append, 2048  # a variable size: no constant folding
        keep(b"0" * size)
        keep(b"1" * size)
        keep(b"2" * size)
        keep(b"3" * size)
        keep(b"4" * size)
        keep(b"5" * size)
        keep(b"6" * size)
        keep(b"7" * size)
        return len(self.kept)
