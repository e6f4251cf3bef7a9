"""The child side of processes mode: rebuild the agent once, then run chunks of tasks.

Results go back in batches: at the end of each chunk, and as soon as ``flush_s`` has
passed since the last send, so a slow task's result leaves the moment it is ready
while a thousand no-op results share one message. Before each task the worker writes
the task's sequence number and start time into a small shared-memory slot, so the
parent can tell which task was running when a worker hangs or dies without a message
per task.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from time import perf_counter, thread_time
from typing import Any

from agentperf.execution.attempts import CPU_MIN_WALL_S, honest_cpu
from agentperf.execution.base import TaskError
from agentperf.workload.adapters import AgentRef

#: Slot layout (doubles): [sequence number of the running task, its start time or 0.0].
SEQ, STARTED = 0, 1
IDLE = 0.0

#: One result on the wire: (ok, output, error, wall seconds, thread CPU seconds).
WireResult = tuple[bool, Any, "TaskError | None", float, "float | None"]


def worker_main(agent: AgentRef, conn: Connection, slot: Any, flush_s: float) -> None:
    """Entry point of a worker process; returns when the parent sends None or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    view = memoryview(slot).cast("B").cast("d")
    try:
        adapter = agent.build()
    except BaseException as exc:
        conn.send(("error", TaskError.from_exception(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if chunk is None:
            return
        run_chunk(chunk, adapter.call, conn, view, flush_s, adapter.is_async)


def run_chunk(chunk: tuple[int, Sequence[Any]], call: Callable[[Any], Any], conn: Connection,
              view: memoryview, flush_s: float, is_async: bool = False) -> None:
    """Run ``chunk`` = (sequence number of the first task, inputs) and send the results."""
    out: list[WireResult] = []
    last_send = perf_counter()
    first, values = chunk
    measure_cpu = cpu_clock = not is_async  # an event loop's CPU is not the agent's
    for seq, value in enumerate(values, first):
        # CPU reads inside the wall reads: cpu_s never exceeds latency_s (see timed_call).
        view[STARTED] = t0 = perf_counter()
        view[SEQ] = seq
        c0 = thread_time() if cpu_clock else 0.0
        try:
            output = call(value)
        except (Exception, SystemExit) as exc:
            cpu = thread_time() - c0 if cpu_clock else None
            t1 = perf_counter()
            out.append((False, None, TaskError.from_exception(exc), t1 - t0,
                        honest_cpu(cpu, t1 - t0)))
        else:
            cpu = thread_time() - c0 if cpu_clock else None
            t1 = perf_counter()
            out.append((True, output, None, t1 - t0, honest_cpu(cpu, t1 - t0)))
        view[STARTED] = IDLE
        cpu_clock = measure_cpu and t1 - t0 >= CPU_MIN_WALL_S
        if t1 - last_send >= flush_s:
            send_results(conn, out)
            out = []
            last_send = t1
    if out:
        send_results(conn, out)


def send_results(conn: Connection, results: list[WireResult]) -> None:
    """Send a batch; an output that cannot be pickled becomes that task's error."""
    try:
        conn.send(results)
    except Exception:
        conn.send([_picklable(result) for result in results])


def _picklable(result: WireResult) -> WireResult:
    ok, output, error, latency, cpu = result
    try:
        pickle.dumps(output)
    except Exception as exc:
        message = (f"the agent's output ({type(output).__name__}) cannot be sent back from "
                   f"a worker process: {exc}")
        return False, None, TaskError("UnpicklableOutput", message), latency, cpu
    return ok, output, error, latency, cpu
