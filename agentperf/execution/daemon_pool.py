"""A thread pool of daemon threads that grows instead of queueing behind a hung call.

``ThreadPoolExecutor`` (and so ``asyncio.to_thread``) joins its threads at interpreter
exit and caps them at ``min(32, cpus + 4)``: one hung agent call would block the
process from exiting, and a few would starve the rest. Here a thread is added whenever
none is idle, so an abandoned call costs one thread, never capacity, and never exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from queue import SimpleQueue
from typing import Any

#: ``shutdown(wait=True)`` gives idle threads this long in total to exit; hung ones stay.
JOIN_LIMIT_S = 1.0

_Job = tuple[Future, Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonThreadPool(Executor):
    """``submit`` runs on an idle thread, or on a new daemon thread when none is idle."""

    def __init__(self, name: str = "agentperf-pool") -> None:
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: list[threading.Thread] = []
        self._shutdown = False
        self._name = name

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if self._idle:
                self._idle -= 1  # that idle thread is now reserved for this job
            else:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads) + 1}")
                self._threads.append(thread)
                thread.start()
        self._jobs.put((future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del job, future, fn, args, kwargs
            with self._lock:
                self._idle += 1

    @property
    def size(self) -> int:
        """Threads started so far, hung ones included."""
        return len(self._threads)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop idle threads; with ``wait`` join them, but never a hung one (it is a daemon)."""
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            self._cancel_queued()
        for _ in threads:
            self._jobs.put(None)
        if wait:
            deadline = time.monotonic() + JOIN_LIMIT_S
            for thread in threads:
                thread.join(timeout=max(deadline - time.monotonic(), 0.0))

    def _cancel_queued(self) -> None:
        while not self._jobs.empty():
            job = self._jobs.get()
            if job is not None:
                job[0].cancel()
