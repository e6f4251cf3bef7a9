"""How a workload runs: one executor contract, local backends and Dask.

``create_executor(agent, settings)`` returns a context manager whose ``run(tasks)``
yields one :class:`TaskResult` per :class:`Task`, as tasks finish, never holding more
than ``max_in_flight`` tasks pending. Backends are imported on first use.
"""

from agentperf.execution.base import (
    TIMEOUT_ERROR,
    WORKER_DIED_ERROR,
    Executor,
    ExecutorInfo,
    Task,
    TaskError,
    TaskResult,
    default_max_in_flight,
    default_workers,
)
from agentperf.execution.factory import create_executor

__all__ = [
    "TIMEOUT_ERROR",
    "WORKER_DIED_ERROR",
    "Executor",
    "ExecutorInfo",
    "Task",
    "TaskError",
    "TaskResult",
    "create_executor",
    "default_max_in_flight",
    "default_workers",
]
