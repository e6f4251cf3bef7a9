"""Build the executor a workload's :class:`ExecutionSettings` ask for."""

from __future__ import annotations

from typing import Any

from agentperf.errors import AgentperfError, DependencyMissingError
from agentperf.execution.base import ExecutionSettings, Executor
from agentperf.execution.gate import StartGate
from agentperf.workload.adapters import AgentAdapter, AgentRef


def create_executor(agent: AgentRef, settings: ExecutionSettings, *,
                    adapter: AgentAdapter | None = None, cache_config: Any = None,
                    gate: StartGate | None = None) -> Executor:
    """The executor for ``settings.mode``.

    In-process modes reuse ``adapter`` when given (the CLI builds one to validate the
    spec); processes mode and dask rebuild the agent from ``agent`` in every worker.
    ``cache_config`` lets Dask workers share results through the Redis tier. ``gate``
    (an open model's schedule, a rate limit, a duration) decides when each task may
    start, in every mode.
    """
    _check(settings)
    mode = settings.mode
    if settings.memory_budget is not None and mode in ("processes", "threads", "asyncio"):
        # A budget caps any mode: probe calls measure what one call takes first.
        from agentperf.execution.auto import AutoExecutor

        if adapter is None and mode != "processes":
            adapter = agent.build()
        return AutoExecutor(agent, adapter, settings, forced=mode, gate=gate)
    if mode == "dask":
        return _dask(agent, settings, cache_config, gate)
    if mode == "processes":
        from agentperf.execution.processes import ProcessExecutor

        return ProcessExecutor(agent, settings, gate=gate)
    adapter = adapter or agent.build()
    if mode == "sequential":
        from agentperf.execution.sequential import sequential_executor

        return sequential_executor(adapter, settings, gate=gate)
    if mode == "threads":
        from agentperf.execution.threads import ThreadExecutor

        return ThreadExecutor(adapter, settings, gate=gate)
    if mode == "asyncio":
        from agentperf.execution.asyncio_backend import AsyncioExecutor

        return AsyncioExecutor(adapter, settings, gate=gate)
    from agentperf.execution.auto import AutoExecutor

    return AutoExecutor(agent, adapter, settings, gate=gate)


def _dask(agent: AgentRef, settings: ExecutionSettings, cache_config: Any,
          gate: StartGate | None) -> Executor:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise DependencyMissingError("--mode dask", "distributed", "distributed") from None
    from agentperf.execution.dask_backend import DaskExecutor

    return DaskExecutor(agent, settings, cache_config=cache_config, gate=gate)


def _check(settings: ExecutionSettings) -> None:
    """Settings from the command line or a library caller bypass the spec's validation."""
    for key, problem in settings.problems():
        raise AgentperfError(f"execution {key}: {problem}")
