"""How a workload runs (:class:`ExecutionSettings`), and the one check of its values.

A leaf module: the spec builds settings from YAML, the CLI from its options and library
users by hand, and all three meet the same range check here, so a value the spec would
refuse is refused on every path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from agentperf.measure.units import parse_duration, parse_rate

MODES = ("auto", "sequential", "threads", "processes", "asyncio", "dask")
#: The spec's ``execution:`` keys and the YAML types each accepts.
EXECUTION_KEYS: dict[str, Any] = {
    "mode": str, "workers": int, "max_in_flight": int, "timeout_s": (int, float),
    "retries": int, "backoff_s": (int, float), "chunk_size": int, "scheduler": str,
    "build_timeout_s": (int, float), "backoff": str, "max_backoff_s": (int, float),
    "retry_on": list,
    # load shape (execution/gate.py): YAML strings such as "20/s", "5m" are parsed here
    "arrival_rate": (str, int, float), "stages": list, "duration": (str, int, float),
    "iterations": int, "rate_limit": (str, int, float), "burst": int,
    "rate_limit_redis": str,
    "memory_budget": (str, int),
}
#: ``backoff:`` values. ``doubling`` (the default, as before): ``backoff_s * 2**(try-1)``;
#: ``exponential``: full jitter, a uniform draw in ``[0, that]`` (both capped).
BACKOFFS = ("doubling", "exponential")
#: ``retry_on:`` entries that are not class names: every error, and the default list.
RETRY_ANY, RETRY_DEFAULT = "*", "default"
#: YAML keys whose value is parsed into a field of another name or type.
_PARSED_KEYS = {"arrival_rate": "arrival_rate", "rate_limit": "rate_limit",
                "duration": "duration_s", "stages": "stages"}


@dataclass(frozen=True)
class Stage:
    """One stage of an open model: the rate moves linearly to ``target`` (per second)
    over ``duration_s`` seconds (k6's ramping-arrival-rate)."""

    duration_s: float
    target: float


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
    #: Open model: starts per second whatever the completions (the first stage's start).
    arrival_rate: float | None = None
    stages: tuple[Stage, ...] = ()
    duration_s: float | None = None  # cycle the inputs until this time is up
    iterations: int | None = None  # run this many tasks over the cycled inputs
    rate_limit: float | None = None  # starts per second, a token bucket shared by the run
    burst: int = 1  # the rate limit's bucket size (1: evenly spaced starts)
    rate_limit_redis: str | None = None  # dask: one limiter in Redis for every worker

    backoff: str = "doubling"
    max_backoff_s: float = 5.0  # no wait between two tries is longer, Retry-After aside
    #: Exception class names worth a retry; None: timeouts, connection errors, HTTP 429/5xx.
    retry_on: tuple[str, ...] | list[str] | None = None

    @property
    def open_model(self) -> bool:
        """Whether tasks start on a schedule (open model) rather than as others finish."""
        return self.arrival_rate is not None or bool(self.stages)

    @property
    def cycled(self) -> bool:
        """Whether the inputs are cycled (a duration, iterations or stages bound the run)."""
        return self.duration_s is not None or self.iterations is not None or bool(self.stages)

    def with_overrides(self, **overrides: Any) -> ExecutionSettings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def problems(self) -> list[tuple[str, str]]:
        """``(key, what is wrong)`` for every value out of range; empty when all are fine."""
        found: list[tuple[str, str]] = []
        if self.mode not in MODES:
            from agentperf.errors import did_you_mean

            hint = did_you_mean(self.mode, MODES)
            found.append(("mode", f"unknown mode '{self.mode}'{hint}; expected one of "
                                  f"{', '.join(MODES)}"))
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
        found.extend(self._load_problems())
        if self.memory_budget is not None:  # its module (psutil's readings) only then
            from agentperf.execution.memory import budget_problem

            if (problem := budget_problem(self.memory_budget)) is not None:
                found.append(("memory_budget", problem))
        return found

    def _load_problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for key in ("arrival_rate", "rate_limit", "duration_s"):
            value = getattr(self, key)
            starts_a_ramp = key == "arrival_rate" and self.stages and value == 0
            if value is not None and value <= 0 and not starts_a_ramp:
                found.append((key.removesuffix("_s"), f"must be more than 0, got {value:g}"))
        for key in ("iterations", "burst"):
            value = getattr(self, key)
            if value is not None and value < 1:
                found.append((key, f"must be at least 1, got {value}"))
        if self.rate_limit_redis is not None and self.rate_limit is None:
            found.append(("rate_limit_redis", "needs execution.rate_limit (the limit to share)"))
        if self.rate_limit_redis is not None and self.mode != "dask":
            found.append(("rate_limit_redis", "is used with mode dask only (the other modes "
                                              "share one limiter in this process)"))
        if self.stages and all(stage.target <= 0 for stage in self.stages) and not (
                self.arrival_rate):
            found.append(("stages", "every target is 0: no task would ever start"))
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


def load_fields(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The spec's ``execution:`` mapping as :class:`ExecutionSettings` keyword arguments.

    Rates (``20/s``, ``500/m``), durations (``5m``) and stages are parsed here, so the
    spec and library callers meet one parser. Returns the arguments and the
    ``(key, what is wrong)`` of every value that does not parse.
    """
    kwargs = {key: value for key, value in data.items() if key not in _PARSED_KEYS}
    found: list[tuple[str, str]] = []
    for key, field_name in _PARSED_KEYS.items():
        if key not in data or data[key] is None:
            continue
        try:
            kwargs[field_name] = _parse(key, data[key])
        except ValueError as exc:
            found.append((key, str(exc)))
    return kwargs, found


def _parse(key: str, value: Any) -> Any:
    if key == "duration":
        return parse_duration(value)
    if key == "stages":
        return parse_stages(value)
    return parse_rate(value)


def parse_stages(raw: Any) -> tuple[Stage, ...]:
    """``[{duration: 30s, target: 50/s}, ...]`` as :class:`Stage` tuples."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("expected a list of {duration: 30s, target: 50/s}")
    stages = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"duration", "target"}:
            raise ValueError(f"stage {i + 1}: expected exactly the keys duration and target "
                             "(e.g. {duration: 30s, target: 50/s})")
        try:
            stage = Stage(parse_duration(item["duration"]), parse_rate(item["target"]))
        except ValueError as exc:
            raise ValueError(f"stage {i + 1}: {exc}") from None
        if stage.duration_s <= 0:
            raise ValueError(f"stage {i + 1}: the duration must be more than 0")
        stages.append(stage)
    return tuple(stages)


def _is_class_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    if name in (RETRY_ANY, RETRY_DEFAULT):
        return True
    return all(part.isidentifier() for part in name.split("."))
