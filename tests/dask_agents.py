"""Agents and scheduler probes for the Dask executor tests, importable by dotted path.

Dask worker processes rebuild these from their dotted path, exactly as they would a
user's agent, so they live in a module rather than inside the tests.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from agentperf.execution.dask_backend import batch_size_of

BUILDS_ENV = "AGENTPERF_TEST_BUILDS_DIR"


def square(x: int) -> int:
    return x * x


def noop(x: Any) -> Any:
    return x


def sleep_10ms(x: Any) -> Any:
    time.sleep(0.01)
    return x


def slow_square(x: int) -> int:
    time.sleep(0.02)
    return x * x


def spin(x: Any) -> int:
    """CPU-bound: about 20 ms of pure Python arithmetic."""
    total = 0
    for i in range(200_000):
        total += i * i
    return total


def failing(x: int) -> int:
    if x % 5 == 0:
        raise ValueError(f"bad input {x}")
    return x


def hang_on_three(x: int) -> int:
    if x == 3:
        time.sleep(2.0)
    return x


async def async_double(x: int) -> int:
    await asyncio.sleep(0.001)
    return 2 * x


def agents_held() -> int:
    """How many runs' agents this worker still holds (called through client.run)."""
    from agentperf.execution.dask_worker import AGENTS

    return len(AGENTS)


_SHARED: dict[str, Any] = {}


def shared_cluster(config: Any) -> Any:
    """One LocalCluster (2 single-threaded worker processes) for every Dask test module.

    Started on first use and closed after the last Dask test (``conftest.py``), or at the
    latest when the session ends, so the modules do not each pay for a cluster start.
    """
    import logging

    from distributed import Client, LocalCluster

    if "client" not in _SHARED:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        _SHARED["cluster"] = cluster
        _SHARED["client"] = Client(cluster, set_as_default=False)
        config.add_cleanup(close_shared)
    client = _SHARED["client"]
    client.wait_for_workers(2, timeout=60)
    return client


def close_shared() -> None:
    """Close the shared cluster if it is running (safe to call twice)."""
    client, cluster = _SHARED.pop("client", None), _SHARED.pop("cluster", None)
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


def set_env(name: str, value: str | None) -> None:
    """Set (or with None, remove) an environment variable in this process (via client.run)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


class FlakyOnce:
    """Fails the first call for each input in this process, succeeds the second."""

    def __init__(self) -> None:
        self.seen: set[Any] = set()

    def execute(self, input_data: Any, context: Any) -> Any:
        if input_data not in self.seen:
            self.seen.add(input_data)
            raise RuntimeError(f"transient failure for {input_data}")
        return input_data


class CountedBuild:
    """Records each construction as a file named after the worker process's pid."""

    def __init__(self, tag: str = "") -> None:
        directory = os.environ.get(BUILDS_ENV)
        if directory:
            path = os.path.join(directory, f"{os.getpid()}-{time.monotonic_ns()}")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(tag)

    def execute(self, input_data: Any, context: Any) -> Any:
        time.sleep(0.002)
        return {"pid": os.getpid(), "input": input_data}


class CallLog:
    """Appends one line per real agent call to a log file, so a test can count calls."""

    def __init__(self, log: str) -> None:
        self.log = log

    def execute(self, input_data: Any, context: Any) -> Any:
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {input_data}\n")
        return {"answer": input_data * 10}


class WindowProbe(SchedulerPlugin):
    """A scheduler plugin that records the most agentperf inputs ever outstanding.

    A Dask task counts as outstanding until it finishes (``memory``/``erred``) or is
    forgotten; its number of inputs is read from the key the executor gives it.
    """

    name = "agentperf-window-probe"

    def __init__(self) -> None:
        self.outstanding: dict[Any, int] = {}
        self.max_inputs = 0
        self.max_batches = 0
        self.seen_batches = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        size = batch_size_of(key)
        if size is None:
            return
        if finish in ("waiting", "queued", "processing", "no-worker"):
            if key not in self.outstanding:
                self.seen_batches += 1
            self.outstanding[key] = size
        else:
            self.outstanding.pop(key, None)
        self.max_inputs = max(self.max_inputs, sum(self.outstanding.values()))
        self.max_batches = max(self.max_batches, len(self.outstanding))


def install_probe(dask_scheduler: Any) -> None:
    dask_scheduler.add_plugin(WindowProbe(), name=WindowProbe.name)


def read_probe(dask_scheduler: Any) -> dict[str, int]:
    plugin = dask_scheduler.plugins[WindowProbe.name]
    return {"max_inputs": plugin.max_inputs, "max_batches": plugin.max_batches,
            "seen_batches": plugin.seen_batches, "outstanding": len(plugin.outstanding)}


def remove_probe(dask_scheduler: Any) -> None:
    dask_scheduler.remove_plugin(name=WindowProbe.name)


def lock_for_odd(x: int) -> Any:
    """Returns an output that cannot be pickled for odd inputs."""
    import threading

    return threading.Lock() if x % 2 else x


def die_on_13(x: int) -> int:
    """Kills its worker process on input 13, as a segfaulting native library would."""
    if x == 13:
        os._exit(1)
    return x
