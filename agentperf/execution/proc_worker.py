"""The child side of processes mode: rebuild the agent once, then run chunks of tasks.

Results go back in batches: at the end of each chunk, and as soon as ``flush_s`` has
passed since the last send, so a slow task's result leaves the moment it is ready
while a thousand no-op results share one message. Around each task the worker writes
into a small shared-memory slot: the task's sequence number and start time before the
call, and a completion mark after it, so the parent knows which task was running and
which had finished (results maybe not yet sent) when a worker hangs or dies, without a
message per task.

A parent about to kill a hung worker first sends it ``SIGUSR1``: the handler sends the
finished results still held in the batch, so they are not lost with the worker. It
runs only while the worker is inside an agent call (never in the middle of one of its
own sends); an agent stuck in C code that never returns to the interpreter cannot run
it, and then those results die with the worker (the parent re-runs them, and says so).

Workers die with agentperf: a parent-death signal (Linux) and a watchdog thread that
polls for the parent elsewhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from time import perf_counter
from typing import Any

from agentperf.execution.attempts import CPU_MIN_WALL_S, Outcome, timed_call
from agentperf.execution.base import TaskError
from agentperf.execution.memory import MEASURED_CALLS, CallPeak
from agentperf.workload.adapters import AgentRef

#: Slot layout (doubles): [sequence number of the running or last started task, its start
#: time or 0.0 when between tasks, sequence number + 1 of the last finished task (0: none),
#: run-queue seconds accumulated over probe chunks, the worker's RSS once the agent is
#: built, the largest peak memory of one measured call, calls measured for memory].
SEQ, STARTED, DONE, RUN_QUEUE, BASELINE, PEAK, MEASURED = 0, 1, 2, 3, 4, 5, 6
SLOT_SIZE = 7
IDLE = 0.0
#: Signal that asks a worker in an agent call to send the results it holds.
FLUSH_SIGNAL = signal.SIGUSR1
#: How often the watchdog thread checks that agentperf is still there.
WATCHDOG_S = 0.5
_PR_SET_PDEATHSIG = 1
_SCHEDSTAT = "/proc/thread-self/schedstat"

#: One result on the wire: (ok, output, error, wall seconds, thread CPU seconds).
WireResult = Outcome


class Outbox:
    """The finished results not sent yet (one list, emptied in place when sent)."""

    def __init__(self, conn: Connection, view: memoryview) -> None:
        self.conn = conn
        self.view = view
        self.results: list[WireResult] = []

    def send(self) -> None:
        results = self.results
        if results:
            batch = results[:]
            results.clear()
            send_results(self.conn, batch)

    def on_flush_signal(self, signum: int, frame: Any) -> None:
        """Send the held results now: the parent is about to kill this worker. Only inside
        an agent call (start time set), never in the middle of this worker's own send."""
        if self.view[STARTED] != IDLE:
            with contextlib.suppress(Exception):
                self.send()


def worker_main(agent: AgentRef, conn: Connection, slot: Any, flush_s: float,
                parent_pid: int) -> None:
    """Entry point of a worker process; returns when the parent sends None or goes away."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    view = memoryview(slot).cast("B").cast("d")
    try:
        adapter = agent.build()
    except BaseException as exc:
        conn.send(("error", TaskError.from_exception(exc)))
        return
    outbox = Outbox(conn, view)
    signal.signal(FLUSH_SIGNAL, outbox.on_flush_signal)
    meter = _meter(view)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if chunk is None:
            return
        run_chunk(chunk, adapter.call, outbox, view, flush_s, adapter.is_async, meter)


def _meter(view: memoryview) -> CallPeak | None:
    """The call-peak meter, with this worker's baseline (RSS with the agent built) set."""
    try:
        meter = CallPeak()
    except Exception:  # no /proc: memory is simply not measured
        return None
    view[BASELINE] = meter.rss()
    return meter if meter.available else None


def die_with_parent(parent_pid: int) -> None:
    """End this process when agentperf ends, even while the agent is stuck in a call.

    The parent-death signal fires when the process that started this one exits (the
    forkserver, which itself exits with agentperf); the watchdog covers other systems
    and a parent that died before the signal was armed.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if not _alive(parent_pid):
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid, os.getppid()), daemon=True,
                     name="agentperf-watchdog").start()


def _watch(parent_pid: int, ppid: int) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {FLUSH_SIGNAL})  # the main thread's to handle
    while _alive(parent_pid) and os.getppid() == ppid:
        time.sleep(WATCHDOG_S)
    os._exit(1)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs. A zombie does not: agentperf that has exited but whose
    own parent has not reaped it yet (a test reading its pipes to the end) must not keep
    this worker, and through it the forkserver and those pipes, alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal check is all there is


def run_chunk(chunk: tuple[Any, ...], call: Callable[[Any], Any], outbox: Outbox,
              view: memoryview, flush_s: float, is_async: bool = False,
              meter: CallPeak | None = None) -> None:
    """Run ``chunk`` = (sequence number of the first task, inputs[, probe]) and send the
    results; a probe chunk also adds each call's run-queue wait to the slot. Probe calls
    and the worker's first :data:`MEASURED_CALLS` calls have their peak memory measured."""
    first, values = chunk[0], chunk[1]
    probe = len(chunk) > 2 and chunk[2]
    if probe:
        call = _measured(call, view)
    if meter is not None and (probe or view[MEASURED] < MEASURED_CALLS):
        call = _peak_measured(call, view, meter, probe)
    last_send = perf_counter()
    measure_cpu = cpu_clock = not is_async  # an event loop's CPU is not the agent's
    out = outbox.results
    for seq, value in enumerate(values, first):
        view[STARTED] = t0 = perf_counter()
        view[SEQ] = seq
        outcome = timed_call(call, value, cpu_clock)
        out.append(outcome)
        view[DONE] = seq + 1
        view[STARTED] = IDLE
        wall = outcome[3]
        cpu_clock = measure_cpu and wall >= CPU_MIN_WALL_S
        if t0 + wall - last_send >= flush_s:
            outbox.send()
            last_send = perf_counter()
    outbox.send()


def _measured(call: Callable[[Any], Any], view: memoryview) -> Callable[[Any], Any]:
    """``call``, adding the calling thread's run-queue wait (Linux) to ``view[RUN_QUEUE]``."""
    def measured(value: Any) -> Any:
        before = _run_queue_s()
        try:
            return call(value)
        finally:
            after = _run_queue_s()
            if before is not None and after is not None:
                view[RUN_QUEUE] += after - before

    return measured


def _peak_measured(call: Callable[[Any], Any], view: memoryview, meter: CallPeak,
                   probe: bool) -> Callable[[Any], Any]:
    """``call``, its peak memory kept in ``view[PEAK]`` while calls are still measured."""
    measured_call = meter.wrap(call)

    def measured(value: Any) -> Any:
        if not probe and view[MEASURED] >= MEASURED_CALLS:
            return call(value)
        try:
            return measured_call(value)
        finally:
            view[MEASURED] += 1
            view[PEAK] = max(view[PEAK], meter.peak)

    return measured


def _run_queue_s() -> float | None:
    try:
        with open(_SCHEDSTAT, "rb") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


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
