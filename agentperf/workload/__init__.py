"""What runs: the agent, its inputs and its context.

Names resolve on first use: a worker process imports ``workload.adapters`` alone (to
rebuild its agent), not the spec parser and everything it validates with.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentperf.workload.adapters import AgentAdapter, AgentRef, build_adapter
    from agentperf.workload.spec import WorkloadSpec, load_workload

_WHERE = {
    "AgentAdapter": "adapters",
    "AgentRef": "adapters",
    "build_adapter": "adapters",
    "WorkloadSpec": "spec",
    "load_workload": "spec",
}

__all__ = ["AgentAdapter", "AgentRef", "WorkloadSpec", "build_adapter", "load_workload"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agentperf.workload' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentperf.workload.{module}"), name)
