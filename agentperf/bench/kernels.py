"""The built-in benchmarks of ``--type cpu|memory|io``: small, fixed, pure-Python kernels.

Each kernel is a module-level function, so a worker interpreter rebuilds it from its
dotted path exactly as it rebuilds a user's agent. One call does a fixed amount of
work; ``ops_per_call`` and ``bytes_per_op`` turn the time per call into a rate.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agentperf.bench.model import TargetRecipe

_INT_LOOP_N = 1_000
_DICT_KEYS = tuple(f"key-{i}" for i in range(200))
_ALLOC_CHUNK = 4096
_ALLOC_CHUNKS = 256  # 1 MiB per call
_OBJECTS = 2_000
_YIELDS = 100
_TASKS = 100
_FILE_BYTES = 256 * 1024
_FILE_PAYLOAD = os.urandom(_FILE_BYTES)


def cpu_int_loop() -> int:
    """Integer arithmetic in a Python loop: the interpreter's dispatch speed."""
    total = 0
    for i in range(_INT_LOOP_N):
        total += i * i % 7
    return total


def cpu_dict_str() -> int:
    """String formatting, dict insertion and lookup: what agent glue code does."""
    table = {}
    for i, key in enumerate(_DICT_KEYS):
        table[key] = f"{key}:{i}"
    return sum(len(table[key]) for key in _DICT_KEYS)


def memory_bytearrays() -> int:
    """Allocate 1 MiB in 4 KiB buffers, hold it, release it."""
    chunks = [bytearray(_ALLOC_CHUNK) for _ in range(_ALLOC_CHUNKS)]
    return len(chunks)


def memory_objects() -> int:
    """Build and drop many small dicts: the allocator's small-object path."""
    rows = [{"id": i, "name": "row", "score": i * 0.5} for i in range(_OBJECTS)]
    return len(rows)


async def io_loop_yield() -> None:
    """Hand control back to the event loop 100 times: scheduling cost per switch."""
    for _ in range(_YIELDS):
        await asyncio.sleep(0)


async def _noop() -> None:
    return None


async def io_tasks() -> None:
    """Create, schedule and gather 100 tasks."""
    await asyncio.gather(*(_noop() for _ in range(_TASKS)))


class _ScratchFile:
    """One temporary file per process, removed when the process exits."""

    path: Path | None = None

    @classmethod
    def get(cls) -> Path:
        if cls.path is None:
            handle, name = tempfile.mkstemp(prefix="agentperf-bench-")
            os.close(handle)
            cls.path = Path(name)
            import atexit

            atexit.register(cls.path.unlink, missing_ok=True)
        return cls.path


def io_file() -> int:
    """Write 256 KiB to a file and read it back (page cache, no fsync)."""
    path = _ScratchFile.get()
    fd = os.open(path, os.O_RDWR | os.O_TRUNC)
    try:
        os.write(fd, _FILE_PAYLOAD)
        os.lseek(fd, 0, os.SEEK_SET)
        return len(os.read(fd, _FILE_BYTES))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Kernel:
    name: str
    function: str
    ops_per_call: int
    op_unit: str
    bytes_per_op: int | None
    description: str

    def recipe(self, kind: str) -> TargetRecipe:
        return TargetRecipe(name=self.name, kind=kind, reference=f"{__name__}:{self.function}",
                            ops_per_call=self.ops_per_call, op_unit=self.op_unit,
                            bytes_per_op=self.bytes_per_op, description=self.description)


KERNELS: dict[str, tuple[Kernel, ...]] = {
    "cpu": (
        Kernel("cpu.int_loop", "cpu_int_loop", _INT_LOOP_N, "iter", None,
               "integer arithmetic loop, 1,000 iterations per call"),
        Kernel("cpu.dict_str", "cpu_dict_str", len(_DICT_KEYS), "key", None,
               "format, insert and look up 200 string keys per call"),
    ),
    "memory": (
        Kernel("memory.bytearrays", "memory_bytearrays", _ALLOC_CHUNKS, "buf", None,
               "allocate 1 MiB in 256 buffers of 4 KiB per call"),
        Kernel("memory.objects", "memory_objects", _OBJECTS, "obj", None,
               "build 2,000 small dicts per call"),
    ),
    "io": (
        Kernel("io.loop_yield", "io_loop_yield", _YIELDS, "switch", None,
               "100 event-loop switches (await asyncio.sleep(0)) per call"),
        Kernel("io.tasks", "io_tasks", _TASKS, "task", None,
               "create and gather 100 asyncio tasks per call"),
        Kernel("io.file", "io_file", 1, "trip", 2 * _FILE_BYTES,
               "write and read back 256 KiB through the page cache per call"),
    ),
}


def kernel_recipes(kind: str) -> list[TargetRecipe]:
    """The recipes of one built-in type (``cpu``, ``memory`` or ``io``)."""
    return [k.recipe(kind) for k in KERNELS[kind]]
