"""The worker processes of processes mode: start, replace, read and stop them.

Each worker gets its own duplex pipe rather than sharing a queue, so a worker killed
in the middle of a write corrupts nothing but its own pipe, and the parent always
knows whose results it is reading.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from collections import deque
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from agentperf.execution.feed import Item
from agentperf.execution.proc_worker import IDLE, SEQ, STARTED, worker_main
from agentperf.workload.adapters import AgentRef

#: How long a worker that was asked to stop may take before it is killed.
STOP_GRACE_S = 2.0
FLUSH_S = 0.002


def start_method() -> str:
    """``forkserver`` where it exists: ``fork`` copies the parent's threads' locks (a
    sampler or a live display may hold one), and ``spawn`` re-imports everything for
    each replacement worker."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


class Worker:
    """One worker process and the tasks sent to it, in the order it will report them."""

    __slots__ = ("_array", "conn", "name", "process", "queue", "ready", "slot")

    def __init__(self, ctx: BaseContext, agent: AgentRef) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self._array = ctx.RawArray("d", 2)  # type: ignore[attr-defined]
        self.slot = memoryview(self._array).cast("B").cast("d")
        self.process = ctx.Process(target=worker_main, args=(agent, child, self._array, FLUSH_S),
                                   daemon=True, name="agentperf-worker")  # type: ignore[attr-defined]
        self.process.start()
        child.close()
        self.name = f"pid:{self.process.pid}"
        self.queue: deque[tuple[int, Item]] = deque()  # (seq, (task, attempt)), in order
        self.ready = False

    def running(self) -> tuple[int, float] | None:
        """(sequence number, start time) of the task the worker is in, read twice so a
        worker moving on to its next task between the two reads is not misread."""
        seq = self.slot[SEQ]
        started = self.slot[STARTED]
        if started == IDLE or self.slot[SEQ] != seq:
            return None
        return int(seq), started

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=STOP_GRACE_S)

    def drain(self) -> list[Any]:
        """Messages the worker sent before it died or was killed, in order."""
        messages: list[Any] = []
        try:
            while self.conn.poll(0):
                messages.append(self.conn.recv())
        except Exception:
            pass  # end of pipe, or a message cut short or garbled by the death
        return messages

    def close(self) -> None:
        self.conn.close()
        # ValueError: still running (it could not be reaped); the daemon flag ends it at exit.
        with contextlib.suppress(ValueError):
            self.process.close()


class Fleet:
    """``size`` live workers; a dead or killed one is replaced by :meth:`replace`."""

    def __init__(self, agent: AgentRef, size: int, method: str) -> None:
        self._ctx = mp.get_context(method)
        if method == "forkserver":
            self._ctx.set_forkserver_preload(["agentperf.execution.proc_worker"])
        self._agent = agent
        self.workers: list[Worker] = [Worker(self._ctx, agent) for _ in range(size)]

    def waitables(self) -> dict[Any, Worker]:
        """Each worker's pipe and process sentinel, for ``multiprocessing.connection.wait``."""
        table: dict[Any, Worker] = {}
        for worker in self.workers:
            table[worker.conn] = worker
            table[worker.process.sentinel] = worker
        return table

    def replace(self, worker: Worker) -> Worker:
        self.workers.remove(worker)
        worker.kill()
        worker.close()
        fresh = Worker(self._ctx, self._agent)
        self.workers.append(fresh)
        return fresh

    def stop(self, *, kill: bool) -> None:
        """Stop every worker: politely after a complete run, at once when cancelled.

        Idempotent: the workers are taken off the fleet first, so a second call (the
        executor's ``close`` after its generator's cleanup) finds nothing to stop.
        """
        workers, self.workers = self.workers, []
        for worker in workers:
            if kill:
                with contextlib.suppress(ValueError):  # already closed
                    worker.process.kill()
            else:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in workers:
            with contextlib.suppress(ValueError):
                worker.process.join(timeout=max(deadline - time.monotonic(), 0.0))
                worker.kill()
            worker.close()


def is_connection(obj: Any) -> bool:
    return isinstance(obj, Connection)
