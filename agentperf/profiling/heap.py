"""Untraced heap readings: pymalloc blocks in use and, on glibc, malloc's bytes in use.

tracemalloc only sees what was allocated while it traced. When a traced call replaces
an object allocated before tracing began (a bounded cache, a deque), the site's traced
size grows while the heap does not; these readings tell that apart from a real leak.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

_FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
           "uordblks", "fordblks", "keepcost")
SMALL_BLOCK_BYTES = 64  # a typical pymalloc block, to put block counts in bytes


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _FIELDS]


@dataclass(frozen=True, slots=True)
class HeapReading:
    blocks: int
    malloc_bytes: int | None  # None where glibc's mallinfo2 is missing

    def minus(self, other: HeapReading) -> int | None:
        """Approximate heap bytes gained since ``other`` (None without malloc figures)."""
        if self.malloc_bytes is None or other.malloc_bytes is None:
            return None
        return (self.malloc_bytes - other.malloc_bytes
                + (self.blocks - other.blocks) * SMALL_BLOCK_BYTES)


class Heap:
    def __init__(self) -> None:
        self._mallinfo2 = _load_mallinfo2()

    def read(self) -> HeapReading:
        malloc_bytes = None
        if self._mallinfo2 is not None:
            info = self._mallinfo2()
            malloc_bytes = int(info.uordblks + info.hblkhd)
        return HeapReading(sys.getallocatedblocks(), malloc_bytes)


def _load_mallinfo2():  # type: ignore[no-untyped-def]
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    function.argtypes = []
    return function
