"""Agents for the bench tests: fixed amounts of work, async, failing, printing."""

from __future__ import annotations

import asyncio
import gc
import os
import time

SPIN = 2_000
#: Read once at import, as a code change would: the "new version" of spin_env is slower.
SLOWDOWN = float(os.environ.get("BENCH_AGENT_SLOWDOWN", "1"))
_SMALL = tuple(range(24))

loops_seen: set[int] = set()
gc_states: list[bool] = []


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def spin_base() -> int:
    return _spin(SPIN)


def spin_copy() -> int:
    return _spin(SPIN)


def spin_slow10() -> int:
    return _spin(SPIN * 11 // 10)


def spin_slow30() -> int:
    return _spin(SPIN * 13 // 10)


def spin_double() -> int:
    return _spin(SPIN * 2)


def spin_env() -> int:
    return _spin(int(SPIN * SLOWDOWN))


def one_us() -> int:
    """About a microsecond: far too short to time one call at a time."""
    return sum(_SMALL)


def echo(data: object) -> object:
    return data


async def async_agent(data: object) -> object:
    loops_seen.add(id(asyncio.get_running_loop()))
    await asyncio.sleep(0)
    return data


class AsyncProcessAgent:
    """An AgentMap-style agent with only an async ``process``."""

    def __init__(self, name: str, prompt: str, context: dict | None = None) -> None:
        self.name = name

    async def process(self, inputs: object) -> object:
        loops_seen.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0)
        return inputs


def failing() -> None:
    raise ValueError("boom")


def noisy() -> int:
    print("noise on stdout that must not reach the worker protocol")
    return _spin(200)


_pid_logs: set[str] = set()


def _log_pid() -> None:
    """Record once per process and log file that this process ran the agent."""
    path = os.environ["BENCH_PID_LOG"]
    if path not in _pid_logs:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\n")
        _pid_logs.add(path)


def noisy_pid() -> int:
    _log_pid()
    return noisy()


def sleep_3ms_pid() -> None:
    _log_pid()
    time.sleep(0.003)


def fails_in_workers() -> int:
    if os.getpid() != int(os.environ["BENCH_PARENT_PID"]):
        raise ValueError("boom in a worker")
    return _spin(200)


def gc_probe() -> None:
    gc_states.append(gc.isenabled())


def allocate_64k() -> int:
    return len(bytearray(64 * 1024))


def write_and_wait(_input: object = None) -> int:
    """Writes 4 KiB to a temporary file and sleeps 2 ms: I/O and waiting, little CPU."""
    import tempfile
    import time

    with tempfile.TemporaryFile() as handle:
        written = os.write(handle.fileno(), b"x" * 4096)
    time.sleep(0.002)
    return written
