"""agentperf: benchmark, profile and monitor AI-agent workloads.

The public helpers are imported on first use, so ``import agentperf`` (and with it
``agentperf --help``) stays light. The ``measure`` decorator lives in
``agentperf.measure.registry``: ``agentperf.measure`` names its package.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "cached": "agentperf.cache",
    "profile_memory": "agentperf.profiling",
    "profile_block": "agentperf.profiling",
    "default_registry": "agentperf.measure.registry",
    "load_workload": "agentperf.workload.spec",
    "create_executor": "agentperf.execution",
    "record_usage": "agentperf.usage",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentperf' has no attribute '{name}'")
    return getattr(import_module(module), name)
