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
    "build_timeout_s": (int, float), "backoff": str, "max_backoff_s": (int, float),
    "retry_on": list,
}
#: ``backoff:`` values. ``doubling`` (the default, as before): ``backoff_s * 2**(try-1)``;
#: ``exponential``: full jitter, a uniform draw in ``[0, that]`` (both capped).
BACKOFFS = ("doubling", "exponential")
#: ``retry_on:`` entries that are not class names: every error, and the default list.
RETRY_ANY, RETRY_DEFAULT = "*", "default"


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
    backoff: str = "doubling"
    max_backoff_s: float = 5.0  # no wait between two tries is longer, Retry-After aside
    #: Exception class names worth a retry; None: timeouts, connection errors, HTTP 429/5xx.
    retry_on: tuple[str, ...] | list[str] | None = None

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
        found.extend(self._retry_problems())
        build = self.build_timeout_s
        if isinstance(build, bool) or not isinstance(build, (int, float)) or build <= 0:
            found.append(("build_timeout_s",
                          f"must be a positive number of seconds, got {build!r}"))
        return found

    def _retry_problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if self.backoff not in BACKOFFS:
            found.append(("backoff", f"unknown backoff '{self.backoff}' (expected one of "
                                     f"{', '.join(BACKOFFS)})"))
        cap = self.max_backoff_s
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0:
            found.append(("max_backoff_s", f"must be a positive number of seconds, got {cap!r}"))
        names = self.retry_on
        if names is None:
            return found
        if not isinstance(names, (list, tuple)):
            found.append(("retry_on", "expected a list of exception class names, got "
                                      f"{type(names).__name__}"))
            return found
        for name in names:
            if not _is_class_name(name):
                found.append(("retry_on", f"{name!r} is not an exception class name (expected "
                                          f"names like RateLimitError or httpx.ReadTimeout, "
                                          f"'{RETRY_DEFAULT}' or '{RETRY_ANY}')"))
                break
        return found


def _is_class_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    if name in (RETRY_ANY, RETRY_DEFAULT):
        return True
    return all(part.isidentifier() for part in name.split("."))
