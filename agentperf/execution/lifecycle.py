"""The life cycle every local executor shares: run once, close the results to cancel;
and :class:`Shutdown`, the one path by which a run is stopped early."""

from __future__ import annotations

import _thread
import contextlib
import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from agentperf.execution.base import ExecutorInfo, Task, TaskResult


class GeneratorExecutor(ABC):
    """An executor whose ``run`` is a generator; closing it cancels what is in flight.

    Subclasses implement :meth:`_iterate`, doing their cleanup in ``finally`` so that
    leaving a ``for`` loop, ``close()``, Ctrl-C and normal completion all end the same way.
    """

    info: ExecutorInfo
    _results: Generator[TaskResult, None, None] | None = None

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskResult]:
        if self._results is not None:
            raise RuntimeError("an executor runs once; create another for the next run")
        self._results = self._iterate(tasks)
        return self._results

    @abstractmethod
    def _iterate(self, tasks: Iterable[Task]) -> Generator[TaskResult, None, None]:
        """Yield one result per task as tasks finish; clean up in ``finally``."""

    def close(self) -> None:
        if self._results is not None:
            # ValueError: closed from another thread while it runs; that thread ends it.
            with contextlib.suppress(ValueError):
                self._results.close()

    def start(self) -> None:
        """Get ready to run (start workers) before ``run``, so setup is not timed as work.

        In-process backends have nothing to prepare; they start their threads in ``run``.
        """
        return

    def __enter__(self) -> GeneratorExecutor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Shutdown:
    """The one way a run stops early: Ctrl-C, SIGTERM, or :meth:`request` from any thread.

    The first request while the run is :meth:`armed` raises ``KeyboardInterrupt`` in the
    main thread, which is what wakes it from a wait or an agent call in sequential mode;
    the executor's generator cleans up as the exception leaves it. Every later request
    only sets :attr:`requested`, so cleanup is never cut short by a second Ctrl-C. Code
    that must not be cut in half (counting and writing one result) runs :meth:`shielded`;
    a request arriving there is seen by the caller checking :attr:`requested` after it.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._armed = False
        self._raised = False
        self._shield = 0
        self._shield_block = _Shield(self)
        self._runner: threading.Thread | None = None

    def request(self, signum: int | None = None) -> None:
        """Ask the run to stop; idempotent, safe from any thread and from a signal handler."""
        if not self.requested:
            self.signum = signum
            self.requested = True
        runner = self._runner
        if threading.current_thread() is runner:
            self._interrupt()
        elif (self._armed and not self._raised and runner is threading.main_thread()
              and signal.getsignal(signal.SIGINT) == self.handle_signal):
            _thread.interrupt_main()  # runs our SIGINT handler in the main thread
        # Otherwise the run sees ``requested`` after its next result.

    def _interrupt(self) -> None:
        if self._armed and not self._raised and not self._shield:
            self._raised = True
            raise KeyboardInterrupt

    def handle_signal(self, signum: int, frame: Any) -> None:
        self.request(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Shutdown]:
        """SIGINT and SIGTERM call :meth:`request` inside the block (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self.handle_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """While the run is going: a request interrupts the main thread (once)."""
        self._armed = True
        self._runner = threading.current_thread()
        try:
            self._interrupt() if self.requested else None
            yield
        finally:
            self._armed = False

    def shielded(self) -> _Shield:
        """A request inside the block does not interrupt it; check :attr:`requested` after.

        One plain context manager object, made once, not a ``@contextmanager``
        generator per use: run-batch enters it once per task, and the generator cost
        ~1 us each time. It counts, so blocks nest."""
        return self._shield_block


class _Shield:
    """What :meth:`Shutdown.shielded` returns; nests (it counts)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Shutdown) -> None:
        self._owner = owner

    def __enter__(self) -> None:
        self._owner._shield += 1

    def __exit__(self, *exc: object) -> None:
        self._owner._shield -= 1
