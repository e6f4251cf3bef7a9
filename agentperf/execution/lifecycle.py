"""The life cycle every local executor shares: run once, close the results to cancel."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator

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
