"""The executor and cache a workload runs through, set up one way for every command.

run-batch and the monitor's soak both run a spec's tasks through an executor, with
the cache (when on) wrapping the task stream. Setting that up in one place keeps them
alike: Dask workers get the cache config (their own memory tier plus the shared Redis
tier) in both, and the cache's read-ahead follows the executor's window in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Any

from agentperf.execution.base import Executor, Task, TaskResult
from agentperf.execution.gate import StartGate
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentAdapter
from agentperf.workload.spec import WorkloadSpec


def create_workload_executor(spec: WorkloadSpec, adapter: AgentAdapter | None,
                             cache_config: Any, *, settings: ExecutionSettings | None = None,
                             gate: StartGate | None = None) -> Executor:
    """The executor ``settings`` (by default ``spec.execution``) ask for, consulting the
    load ``gate`` when there is one; in Dask mode its workers get the cache."""
    from agentperf.execution import create_executor

    settings = settings or spec.execution
    return create_executor(spec.agent, settings, adapter=adapter, gate=gate,
                           cache_config=cache_config if settings.mode == "dask" else None)


def open_workload_cache(spec: WorkloadSpec, cache_config: Any, stack: ExitStack, *,
                        clear: bool = False) -> Any:
    """The run's :class:`~agentperf.cache.batch.BatchCache`, closed with ``stack``;
    None when the cache is off."""
    if cache_config is None or not getattr(cache_config, "enabled", False):
        return None
    from agentperf.cache.batch import BatchCache

    cache = stack.enter_context(BatchCache.open(cache_config, spec.agent))
    if clear:
        cache.clear()
    return cache


def run_tasks(executor: Executor, cache: Any, tasks: Iterable[Task]) -> Iterator[TaskResult]:
    """The results of ``tasks``: through the cache when there is one, which reads ahead
    no further than the executor's window."""
    if cache is None:
        return executor.run(tasks)
    return cache.wrap(tasks, executor.run, lambda: executor.info.max_in_flight)
