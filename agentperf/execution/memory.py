"""Memory-aware concurrency: a budget, what one call and one worker cost, and the cap.

The estimate of a run's peak is ``concurrent calls x (peak of one call + baseline of
the process it runs in)``. The peak of one call is the kernel's high-water mark during
the call less the process's RSS before it, measured on the probe calls (``auto``, or
any mode given ``execution.memory_budget``) and on the first calls of every worker
process. A worker process's baseline is its own RSS once it has built the agent: with
16 workers those 16 interpreters and agents are memory too. Calls in agentperf's own
process (threads, asyncio) add no baseline: that process is already running, and its
memory is already out of what is available.

The budget is ``execution.memory_budget`` (``4GB``, ``512MiB``, ``60%`` of available)
or, by default, 50 % of the memory available when the run starts. The cap is how many
calls fit in it; it is applied in ``auto`` and wherever a budget is set, and otherwise
only reported (processes mode warns when its workers would exceed the default budget).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentperf.measure.units import format_bytes, parse_bytes

DEFAULT_SHARE = 0.5
#: Calls measured at the start of each worker process (besides probe calls).
MEASURED_CALLS = 3
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def budget_problem(raw: Any) -> str | None:
    """What is wrong with a ``memory_budget`` value, or None when it is fine."""
    if raw is None:
        return None
    try:
        _parse(raw)
    except ValueError as exc:
        return str(exc)
    return None


def _parse(raw: Any) -> tuple[str, float]:
    """("bytes", n) or ("share", fraction); ValueError with the reason. Sizes are
    binary multiples, as everywhere in agentperf (:mod:`agentperf.measure.units`)."""
    if isinstance(raw, str) and (share := _SHARE.match(raw)):
        value = float(share.group(1))
        if not 0 < value <= 100:
            raise ValueError(f"a share must be more than 0% and at most 100%, got {raw}")
        return "share", value / 100
    if isinstance(raw, float):
        raise ValueError(
            f"expected a size such as 4GB or 512MB, or a share such as 60%, got {raw!r}"
        )
    try:
        size = parse_bytes(raw)
    except ValueError as exc:
        raise ValueError(f"{exc}, or a share such as 60%") from None
    if size < 1:
        raise ValueError(f"must be more than 0 bytes, got {raw!r}")
    return "bytes", float(size)


@dataclass(frozen=True)
class MemoryBudget:
    """How much memory the run's calls may take at once, and where that figure came from."""

    bytes: int
    source: str  # "execution.memory_budget", "50% of 22.4 GiB available"
    explicit: bool  # set by execution.memory_budget (then the cap is applied in any mode)


def memory_budget(raw: Any = None) -> MemoryBudget:
    """The budget for ``raw`` (``execution.memory_budget``; None: 50 % of available)."""
    if raw is not None:
        kind, value = _parse(raw)
        if kind == "bytes":
            return MemoryBudget(int(value), "execution.memory_budget", True)
        available = available_bytes()
        return MemoryBudget(
            int(available * value),
            f"execution.memory_budget {value:.0%} of {format_bytes(available)} available",
            True,
        )
    available = available_bytes()
    return MemoryBudget(
        int(available * DEFAULT_SHARE),
        f"{DEFAULT_SHARE:.0%} of {format_bytes(available)} available",
        False,
    )


def available_bytes() -> int:
    """Memory available to new work without swapping (Linux ``MemAvailable``)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/meminfo", "rb") as handle:
            line = next(x for x in handle if x.startswith(b"MemAvailable:"))
        return int(line.split()[1]) * 1024
    import psutil

    return int(psutil.virtual_memory().available)


@dataclass(frozen=True)
class MemoryEstimate:
    """What the run's calls were estimated to need at once, and the cap that led to.

    ``requested`` is the concurrency asked for (workers); ``cap`` the most calls whose
    estimated peak fits in the budget; ``running`` what ran. ``applied`` says whether
    the cap was enforced (``auto`` or a set budget) or only reported.
    """

    budget_bytes: int
    budget: str
    per_call_bytes: int
    worker_baseline_bytes: int | None  # None: calls run in agentperf's own process
    requested: int
    cap: int
    running: int
    applied: bool
    estimated_peak_bytes: int  # for ``running`` calls at once
    note: str

    @property
    def exceeded(self) -> bool:
        return self.requested > self.cap


def estimate(
    budget: MemoryBudget,
    per_call: int,
    baseline: int | None,
    requested: int,
    *,
    apply: bool,
    unit: str = "workers",
    advice: str = "set execution.memory_budget to cap them",
) -> MemoryEstimate:
    """The cap for ``requested`` concurrent calls of ``per_call`` bytes each (plus a worker
    process's ``baseline`` each, when they run in worker processes)."""
    each = max(per_call, 0) + (baseline or 0)
    cap = max(1, budget.bytes // each) if each > 0 else requested
    running = min(requested, cap) if apply else requested
    cost = f"~{format_bytes(per_call)} a call"
    if baseline is not None:
        cost += f" + {format_bytes(baseline)} a worker process"
    need = f"{requested} {unit} need ~{format_bytes(requested * each)}"
    if requested <= cap:
        note = f"memory: {cost}; {need}, within {budget.source} ({format_bytes(budget.bytes)})"
    elif apply:
        note = (
            f"memory: {cost}; {need}, over {budget.source} "
            f"({format_bytes(budget.bytes)}): capped at {running} {unit}"
        )
    else:
        note = (
            f"memory: {cost}; {need}, over {budget.source} "
            f"({format_bytes(budget.bytes)}), which fits {cap}; {advice}"
        )
    return MemoryEstimate(
        budget.bytes,
        budget.source,
        per_call,
        baseline,
        requested,
        cap,
        running,
        apply,
        running * each,
        note,
    )


def reported(
    budget: MemoryBudget | None,
    readings: list[tuple[float, float]],
    workers: int,
    advice: str = "set execution.memory_budget to cap them",
) -> MemoryEstimate | None:
    """The estimate of a mode that only reports (never caps) from its workers' readings;
    None without a budget or before any worker measured a call."""
    cost = worker_cost(readings)
    if budget is None or cost is None:
        return None
    return estimate(budget, *cost, workers, apply=False, advice=advice)


class CallPeak:
    """Measures calls' peak memory in this process: the kernel's high-water mark during
    the call less the RSS before it (Linux; ``available`` is False elsewhere)."""

    def __init__(self) -> None:
        from agentperf.measure.rss import HighWaterMark, OwnRss

        self._rss = OwnRss()
        self._hwm = HighWaterMark()
        self.available = self._hwm.available
        self.peak = 0  # the largest rise of one call so far

    def rss(self) -> int:
        return self._rss()

    def wrap(self, call: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``call``, measured; only for calls made one at a time (the high-water mark is
        the whole process's)."""
        if not self.available:
            return call

        def measured(value: Any) -> Any:
            before = self._rss()
            self._hwm.reset()
            try:
                return call(value)
            finally:
                peak = self._hwm.read()
                if peak is not None:
                    self.peak = max(self.peak, peak - before)

        return measured

    def close(self) -> None:
        self._rss.close()
        self._hwm.close()


def worker_cost(readings: list[tuple[float, float]]) -> tuple[int, int] | None:
    """(largest call peak, largest worker baseline) from each worker's (baseline, peak)
    reading; None when no worker could measure its memory."""
    measured = [(base, peak) for base, peak in readings if base > 0]
    if not measured:
        return None
    return int(max(peak for _, peak in measured)), int(max(base for base, _ in measured))
