"""Agents for the executor tests, importable by dotted path so worker processes rebuild them.

Several agents record what happened in files named by environment variables, because
in processes mode the agent runs in another process and only the file system is shared.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any


def double(x: int) -> int:
    return x * 2


def noop(x: Any) -> Any:
    return x


async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


async def async_noop(x: Any) -> Any:
    return x


def sleepy(x: Any) -> Any:
    """I/O-bound: sleeps 20 ms, barely any CPU."""
    time.sleep(0.02)
    return x


def spin(x: Any) -> Any:
    """CPU-bound: busy for about 30 ms."""
    end = time.perf_counter() + 0.03
    total = 0
    while time.perf_counter() < end:
        total += 1
    return x


def burn(x: Any) -> int:
    """CPU-bound by work, not by the clock: about 1 ms of arithmetic, no clock reads."""
    total = 0
    for i in range(20_000):
        total += i * i
    return total


async def async_sleepy(x: Any) -> Any:
    await asyncio.sleep(0.02)
    return x


def hang_on(x: dict[str, Any]) -> Any:
    """Hangs (sleeps for a long time) when the input says so; otherwise returns at once."""
    if x.get("hang"):
        time.sleep(x.get("hang_s", 60))
    return x["n"]


async def async_hang_on(x: dict[str, Any]) -> Any:
    if x.get("hang"):
        await asyncio.sleep(x.get("hang_s", 60))
    return x["n"]


def die_on(x: dict[str, Any]) -> Any:
    """Ends its own process with os._exit when the input says so."""
    if x.get("die"):
        os._exit(7)
    time.sleep(x.get("sleep_s", 0))
    return x["n"]


def announce_and_hang(x: dict[str, Any]) -> Any:
    """Writes its pid to a file named after the input, then sleeps until killed."""
    if x.get("victim"):
        Path(x["pid_file"]).write_text(str(os.getpid()))
        time.sleep(60)
    time.sleep(x.get("sleep_s", 0))
    return x["n"]


def fail_always(x: Any) -> Any:
    raise ValueError(f"bad input {x!r}")


def flaky(x: dict[str, Any]) -> Any:
    """Fails the first time it sees an input (recorded in a file), succeeds the next."""
    marker = Path(x["dir"]) / f"seen-{x['n']}"
    if not marker.exists():
        marker.write_text("1")
        raise ConnectionError(f"transient failure for {x['n']}")
    return x["n"]


class Concurrency:
    """Counts how many calls run at the same time (in-process modes only)."""

    def __init__(self, delay_s: float = 0.01) -> None:
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0

    def __call__(self, x: Any) -> Any:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.delay_s)
            return x
        finally:
            with self.lock:
                self.running -= 1


class AsyncConcurrency(Concurrency):
    async def __call__(self, x: Any) -> Any:  # type: ignore[override]
        self.running += 1
        self.calls += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay_s)
            return x
        finally:
            self.running -= 1


def unpicklable_output(x: Any) -> Any:
    """Returns something pickle cannot send back from a worker process."""
    return (lambda: x) if x == "lambda" else x


async def blocks_loop(x: dict[str, Any]) -> Any:
    """An async agent written wrong: ``time.sleep`` holds its event loop for ``block_s``.

    ``await_s`` then awaits properly, so a timeout can also fire after the block.
    """
    time.sleep(x.get("block_s", 0))
    await asyncio.sleep(x.get("await_s", 0))
    return x["n"]


def _log_call(x: dict[str, Any]) -> None:
    with open(x["log"], "a", encoding="utf-8") as fh:
        fh.write(f"{x['n']}\n")


def count_calls(x: dict[str, Any]) -> Any:
    """Appends the input's number to the file ``x["log"]`` on every call; hangs when asked."""
    _log_call(x)
    if x.get("hang"):
        time.sleep(60)
    return x["n"]


def count_calls_deaf(x: dict[str, Any]) -> Any:
    """Like :func:`count_calls`, but a hang blocks SIGUSR1 first: the worker cannot answer
    the parent's request for its held results, as when an agent is stuck in C code."""
    if x.get("hang"):
        import signal

        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    return count_calls(x)


def exit_on(x: Any) -> Any:
    """Ends its own process with exit code 9 on the input "die", in whatever process it runs."""
    if x == "die":
        os._exit(9)
    return x


class SlowToBuild:
    """An agent whose construction takes ``build_s`` seconds (a model that loads slowly);
    with ``in_workers_only`` only in a worker process (the CLI may build it to check it)."""

    def __init__(self, build_s: float = 60.0, in_workers_only: bool = False) -> None:
        import multiprocessing

        if not in_workers_only or multiprocessing.parent_process() is not None:
            time.sleep(build_s)

    def execute(self, input_data: Any, context: Any) -> Any:
        return input_data


def stuck_in_call(x: Any) -> Any:
    """Writes its pid to the file named by the input, then sleeps far past any test."""
    Path(x).write_text(str(os.getpid()))
    time.sleep(300)
    return x


# --- provider-style errors, for the retry rule ------------------------------------------

class FakeResponse:
    """The part of an httpx.Response that provider SDK errors expose."""

    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.headers = headers


class FakeRateLimitError(Exception):
    """Shaped like openai's RateLimitError: ``status_code`` and a response with headers."""

    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status_code = 429
        self.response = FakeResponse(429, {"retry-after": retry_after} if retry_after else {})


def _calls_so_far(x: dict[str, Any]) -> int:
    """Count this call in a file per input (shared by worker processes); the count before."""
    log = Path(x["dir"]) / f"calls-{x['n']}"
    before = len(log.read_text()) if log.exists() else 0
    with log.open("a") as fh:
        fh.write(".")
    return before


def rate_limited_once(x: dict[str, Any]) -> Any:
    """Answers HTTP 429 with ``Retry-After: x['retry_after']`` on the first call per input."""
    if _calls_so_far(x) == 0:
        raise FakeRateLimitError("rate limited", retry_after=x.get("retry_after"))
    return x["n"]


def raise_named(x: dict[str, Any]) -> Any:
    """Raises the builtin exception named by ``x['error']`` on every call (counted)."""
    _calls_so_far(x)
    raise getattr(__import__("builtins"), x["error"])(f"{x['error']} for {x['n']}")
