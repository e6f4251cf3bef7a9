"""How a workload runs (:class:`ExecutionSettings`), and the one check of its values.

A leaf module: the spec builds settings from YAML, the CLI from its options and library
users by hand, and all three meet the same range check here, so a value the spec would
refuse is refused on every path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

MODES = ("auto", "sequential", "threads", "processes", "asyncio", "dask")
#: The spec's ``execution:`` keys and the YAML types each accepts.
EXECUTION_KEYS: dict[str, Any] = {
    "mode": str, "workers": int, "max_in_flight": int, "timeout_s": (int, float),
    "retries": int, "backoff_s": (int, float), "chunk_size": int, "scheduler": str,
    "build_timeout_s": (int, float), "memory_budget": (str, int),
}


@dataclass(frozen=True)
class ExecutionSettings:
    """How a workload runs; shared by every executor backend."""

    mode: str = "auto"
    workers: int | None = None
    max_in_flight: int | None = None
    timeout_s: float | None = None
    retries: int = 0
    backoff_s: float = 0.05
    chunk_size: int | None = None
    scheduler: str | None = None
    build_timeout_s: float = 60.0  # building the agent in a worker process
    #: "4GB", "60%" (of available memory) or bytes: caps concurrent calls in any mode;
    #: None: auto caps at 50 % of available, processes and dask only warn.
    memory_budget: str | int | None = None

    def with_overrides(self, **overrides: Any) -> ExecutionSettings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def problems(self) -> list[tuple[str, str]]:
        """``(key, what is wrong)`` for every value out of range; empty when all are fine."""
        found: list[tuple[str, str]] = []
        if self.mode not in MODES:
            found.append(("mode", f"unknown mode '{self.mode}' (expected one of "
                                  f"{', '.join(MODES)})"))
        for key in ("workers", "max_in_flight", "chunk_size"):
            value = getattr(self, key)
            if value is not None and value < 1:
                found.append((key, f"must be at least 1, got {value}"))
        for key in ("retries", "backoff_s"):
            if getattr(self, key) < 0:
                found.append((key, f"must not be negative, got {getattr(self, key)}"))
        if self.timeout_s is not None and self.timeout_s <= 0:
            found.append(("timeout_s", "must be more than 0 (leave it out for no timeout)"))
        build = self.build_timeout_s
        if isinstance(build, bool) or not isinstance(build, (int, float)) or build <= 0:
            found.append(("build_timeout_s",
                          f"must be a positive number of seconds, got {build!r}"))
        from agentperf.execution.memory import budget_problem

        if (problem := budget_problem(self.memory_budget)) is not None:
            found.append(("memory_budget", problem))
        return found
