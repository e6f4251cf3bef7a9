"""The worker processes of processes mode: start, replace, read and stop them.

Each worker gets its own duplex pipe rather than sharing a queue, so a worker killed
in the middle of a write corrupts nothing but its own pipe, and the parent always
knows whose results it is reading.

The parent never blocks sending to a worker: it keeps account of the bytes it sent
that the worker may not have read yet (:meth:`Worker.unread_bytes`) and sends a chunk
only while that stays within :data:`PIPE_BUDGET` bytes, well under the socket's buffer
(set to :data:`SEND_BUFFER` where the system allows). A chunk larger than the budget
goes only to an idle worker (every result collected, so it is blocked in ``recv``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import deque
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from agentperf.execution.feed import Item
from agentperf.execution.proc_worker import (
    DONE,
    FLUSH_SIGNAL,
    IDLE,
    SEQ,
    SLOT_SIZE,
    STARTED,
    worker_main,
)
from agentperf.execution.worker_start import worker_context
from agentperf.workload.adapters import AgentRef

#: How long a worker that was asked to stop may take before it is killed.
STOP_GRACE_S = 2.0
FLUSH_S = 0.002
#: Socket buffer asked for on the parent's end of each pipe.
SEND_BUFFER = 256 * 1024
#: Unread bytes the parent lets pile up in one worker's pipe (a quarter of the buffer
#: at most: the kernel charges its own bookkeeping against the buffer too).
PIPE_BUDGET = 64 * 1024


class Worker:
    """One worker process and the tasks sent to it, in the order it will report them."""

    __slots__ = ("_array", "_progress", "budget", "chunks", "conn", "name", "process", "queue",
                 "ready", "slot", "started_at")

    def __init__(self, ctx: BaseContext, agent: AgentRef) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.budget = _grow_send_buffer(self.conn)
        self._array = ctx.RawArray("d", SLOT_SIZE)  # type: ignore[attr-defined]
        self.slot = memoryview(self._array).cast("B").cast("d")
        self.started_at = time.perf_counter()
        self.process = ctx.Process(target=worker_main,  # type: ignore[attr-defined]
                                   args=(agent, child, self._array, FLUSH_S, os.getpid()),
                                   daemon=True, name="agentperf-worker")
        self.process.start()
        child.close()
        self.name = f"pid:{self.process.pid}"
        self.queue: deque[tuple[int, Item]] = deque()  # (seq, (task, attempt)), in order
        self.chunks: deque[tuple[int, int]] = deque()  # (first seq, bytes) sent, maybe unread
        self.ready = False
        self._progress = (-1, 0.0)  # (completion mark, when it was first seen)

    def stalled_since(self, now: float) -> float | None:
        """Since when the worker, between tasks, has finished nothing although it has
        tasks not finished (queued in its pipe): a worker that stopped reading. None while
        it makes progress or has nothing left to run."""
        done = self.finished_before()
        if not self.queue or self.queue[-1][0] < done:
            return None
        if done != self._progress[0]:
            self._progress = (done, now)
            return None
        return self._progress[1]

    def finished_before(self) -> int:
        """Every task with a sequence number below this one has finished in the worker
        (its result may still be in the worker's batch); stable once the worker is dead."""
        return int(self.slot[DONE])

    def unread_bytes(self) -> int:
        """Bytes sent in chunks whose first task has not finished: an upper bound on what
        sits unread in the pipe (a chunk is read before its first task starts)."""
        done = self.finished_before()
        chunks = self.chunks
        while chunks and chunks[0][0] < done:
            chunks.popleft()
        return sum(size for _, size in chunks)

    def can_take(self, payload_bytes: int) -> bool:
        """Whether sending ``payload_bytes`` now cannot block: it fits the budget beside
        what may be unread, or the worker is idle (blocked in ``recv``)."""
        if not self.queue:
            return True
        return self.unread_bytes() + payload_bytes <= self.budget

    def ask_flush(self) -> bool:
        """Ask a worker inside an agent call to send the results it holds; False if gone."""
        try:
            os.kill(self.process.pid, FLUSH_SIGNAL)  # type: ignore[arg-type]
        except (ProcessLookupError, TypeError):
            return False
        return True

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
        self._ctx = worker_context(method)
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

    def grow(self, count: int) -> None:
        """Start ``count`` more workers; they are used once they report ready."""
        self.workers.extend(Worker(self._ctx, self._agent) for _ in range(count))

    def shrink(self, size: int) -> None:
        """Stop the workers beyond the first ``size`` (idle ones, asked politely)."""
        extra, self.workers = self.workers[size:], self.workers[:size]
        _stop(extra, kill=False)

    def stop(self, *, kill: bool) -> None:
        """Stop every worker: politely after a complete run, at once when cancelled.

        Idempotent: the workers are taken off the fleet first, so a second call (the
        executor's ``close`` after its generator's cleanup) finds nothing to stop.
        """
        workers, self.workers = self.workers, []
        _stop(workers, kill=kill)


def _stop(workers: list[Worker], *, kill: bool) -> None:
    """Stop ``workers``: each asked to finish (or killed), then all joined within a grace."""
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


def _grow_send_buffer(conn: Connection) -> int:
    """Ask for a :data:`SEND_BUFFER` socket buffer; the budget that keeps sends non-blocking."""
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except OSError:
        return PIPE_BUDGET // 8  # not a socket: assume a small buffer
    with sock:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        try:
            size = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        except OSError:
            return PIPE_BUDGET // 8
    return max(1024, min(PIPE_BUDGET, size // 4))


def is_connection(obj: Any) -> bool:
    return isinstance(obj, Connection)
