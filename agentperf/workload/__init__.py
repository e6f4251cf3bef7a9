"""What runs: the agent, its inputs and its context."""

from agentperf.workload.adapters import AgentAdapter, AgentRef, build_adapter
from agentperf.workload.spec import WorkloadSpec, load_workload

__all__ = ["AgentAdapter", "AgentRef", "WorkloadSpec", "build_adapter", "load_workload"]
