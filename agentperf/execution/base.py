"""The executor contract every backend implements (local modes and Dask alike).

An executor takes a lazy stream of :class:`Task` and yields one :class:`TaskResult`
per task, as tasks finish, never holding more than ``max_in_flight`` pending. Closing
the result generator (``close()``, or leaving the ``for`` loop) cancels what is in
flight, so Ctrl-C never waits for a hung agent.
"""

from __future__ import annotations

import os
import traceback as tb
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentperf.execution.settings import ExecutionSettings
from agentperf.usage.metering import Metered
from agentperf.usage.model import Usage
from agentperf.workload.adapters import AgentRef


@dataclass(slots=True)
class Task:
    """One input and its position in the input stream.

    Not frozen: a frozen dataclass pays ``object.__setattr__`` per field, a third of a
    microsecond per input that a million-input run feels.
    """

    index: int
    input: Any
    #: Set by the cache for a hit: every backend returns it without calling the agent,
    #: so hits travel through the executor's window like any task (see :func:`settled`).
    result: TaskResult | None = None


@dataclass(frozen=True, slots=True)
class TaskError:
    """Why a task failed; plain values so it crosses process boundaries.

    Besides the text, it keeps what the retry rule needs to know about the exception
    (read where it was raised, since the exception itself stays there): its class and
    base-class names, the HTTP status it carries and the ``Retry-After`` it asked for.
    """

    type: str
    message: str
    traceback: str = ""
    kinds: tuple[str, ...] = ()  # the class and its bases, most specific first
    status: int | None = None  # an HTTP status carried by the exception
    retry_after_s: float | None = None  # the server's Retry-After, in seconds

    @classmethod
    def from_exception(cls, exc: BaseException) -> TaskError:
        from agentperf.execution.provider_errors import class_names, http_status, retry_after_s

        return cls(type=type(exc).__name__, message=str(exc),
                   traceback="".join(tb.format_exception(type(exc), exc, exc.__traceback__)),
                   kinds=class_names(exc), status=http_status(exc),
                   retry_after_s=retry_after_s(exc))

    @property
    def label(self) -> str:
        """The type, with the HTTP status when there is one: ``RateLimitError (HTTP 429)``."""
        return self.type if self.status is None else f"{self.type} (HTTP {self.status})"


TIMEOUT_ERROR = "Timeout"
WORKER_DIED_ERROR = "WorkerDied"


@dataclass(frozen=True, slots=True)
class RetryRecord:
    """How the retry rule treated one task; absent on a task it never had to judge.

    ``causes`` is the error (``TaskError.label``) that led to each retry, in order;
    ``wait_s`` the time waited between tries (backoff, or the server's Retry-After);
    ``not_retried`` is set on a failure that retries remained for but that the rule
    does not retry (its error is not in ``retry_on``).
    """

    causes: tuple[str, ...] = ()
    wait_s: float = 0.0
    not_retried: bool = False


@dataclass(slots=True)
class TaskResult:
    """The outcome of one task.

    ``latency_s`` is the task's wall time from the start of its first try to the end of
    its last, backoff included, measured where the agent ran (for a cache hit: the
    lookup, or the wait for a duplicate). ``service_s`` is the last try's call alone
    when it differs (a retried task); None means the same as ``latency_s``. ``cpu_s``
    is the last try's thread CPU time, None where it cannot be measured honestly
    (async agents, cache hits, calls shorter than the clock reads).
    ``attempts`` counts the calls of the agent for this input, lost ones included.
    ``usage`` is what the agent's LLM calls reported (tokens, finish reasons, stream
    timing); an output that arrives as :class:`Metered` is unwrapped into it here, so
    no backend needs to know about usage. None: the call reported none.
    """

    index: int
    ok: bool
    output: Any = None
    error: TaskError | None = None
    latency_s: float = 0.0
    cpu_s: float | None = None
    attempts: int = 1
    timed_out: bool = False
    worker: str | None = None
    cache_hit: bool = False
    saved_s: float = 0.0  # on a cache hit: the latency the original call took
    #: The agent may have been called more than once for this input: a worker process
    #: was lost while running it (or holding its unsent result) and it was run again.
    reran_after_worker_loss: bool = False
    service_s: float | None = None
    #: Seconds a worker-side limiter (Dask with ``rate_limit_redis``) held this task back.
    limiter_wait_s: float = 0.0
    retry: RetryRecord | None = None  # set when the retry rule retried or refused this task
    usage: Usage | None = None

    def __post_init__(self) -> None:
        if type(self.output) is Metered:
            self.usage = self.output.usage
            self.output = self.output.value

    @property
    def called_agent(self) -> bool:
        """Whether this task called the agent in this run (not a hit, not a shared result)."""
        return not self.cache_hit and self.attempts > 0

    @property
    def service_time_s(self) -> float | None:
        """The agent call alone (the last try); None when the agent was not called."""
        if not self.called_agent:
            return None
        return self.latency_s if self.service_s is None else self.service_s


@dataclass(frozen=True)
class ExecutorInfo:
    """What the executor decided, for the summary (``auto`` says why it picked a mode).

    ``notes`` are what the executor saw about the workload that the user should act on
    (an async agent blocking the event loop); the summary shows them as warnings.
    """

    mode: str
    workers: int
    max_in_flight: int
    chunk_size: int = 1
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: What the calls were estimated to need in memory and the cap that led to
    #: (:class:`agentperf.execution.memory.MemoryEstimate`); None when not measured.
    memory: Any = None


class Executor(Protocol):
    """A backend that runs tasks. Use as a context manager; ``run`` may be called once."""

    info: ExecutorInfo

    def run(self, tasks: Iterable[Task]) -> Iterator[TaskResult]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def settled(task: Task) -> TaskResult | None:
    """The result a task already carries (a cache hit), which the backend hands back as is."""
    return task.result


def default_workers(mode: str) -> int:
    cpus = os.cpu_count() or 1
    if mode == "processes":
        return cpus
    if mode == "threads":
        return min(32, cpus * 4)
    if mode == "asyncio":
        return 100
    return 1


def default_max_in_flight(mode: str, workers: int) -> int:
    return max(workers * 2, workers + 8) if mode != "sequential" else 1


__all__ = [
    "TIMEOUT_ERROR",
    "WORKER_DIED_ERROR",
    "AgentRef",
    "ExecutionSettings",
    "Executor",
    "ExecutorInfo",
    "RetryRecord",
    "Task",
    "TaskError",
    "TaskResult",
    "default_max_in_flight",
    "default_workers",
    "settled",
]
