"""The exit code every command ends with, the one-line reason a CI log shows for it, and
the list of gates behind it that every report (JSON, Markdown, JUnit, HTML) shows.

Precedence: interrupted (130) over a failed gate (1: threshold, regression, leak) over
the workload's own failures (3) over success (0). A gate outranks workload failures
because it is what the user asked CI to enforce; both reasons are still reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from agentperf.analysis.thresholds import (
    NOT_OBSERVED,
    MetricKind,
    Progress,
    Tally,
    Threshold,
    ThresholdResult,
    check_abort,
)
from agentperf.errors import ExitCode

#: The usage metrics of RUN_BATCH_METRICS, read from a usage tally's values.
USAGE_METRICS = ("input_tokens", "output_tokens", "tokens", "cost_usd", "ttft", "itl")


def decide_exit_code(interrupted: bool, thresholds: Sequence[ThresholdResult], failed: int,
                     total: int, max_error_rate: float | None = None, *,
                     gate_failures: Sequence[str] = ()) -> tuple[ExitCode, str]:
    """(exit code, reason). ``max_error_rate`` None means any failed task fails the run.

    ``gate_failures`` are one-line reasons from other gates (a regression or a leak
    found by bench or profile); they count like failed thresholds.
    """
    workload = _workload_failure(failed, total, max_error_rate)
    if interrupted:
        return ExitCode.INTERRUPTED, "interrupted: the report holds the tasks that finished"
    broken = [_threshold_reason(t) for t in thresholds if not t.passed] + list(gate_failures)
    if broken:
        reason = "; ".join(broken)
        if workload:
            reason += f"; also {workload}"
        count = len(broken)
        return ExitCode.GATE_FAILED, f"{count} gate{'s' if count > 1 else ''} failed: {reason}"
    if workload:
        return ExitCode.WORKLOAD_FAILED, workload
    return ExitCode.OK, _success(thresholds, failed, total)


class GateKind(str, Enum):
    """What a gate checks; every kind that can make the exit code non-zero has one."""

    THRESHOLD = "threshold"  # a spec or --threshold expression (exit 1)
    MAX_ERROR_RATE = "max_error_rate"  # the workload's own failures (exit 3)
    ABORT = "abort_on_fail"  # an abort_on_fail threshold stopped the run (exit 1)
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM (exit 130)
    WORKLOAD = "workload"  # monitor: the watched command failed or the soak stopped (exit 3)


@dataclass(frozen=True)
class Gate:
    """One pass/fail check of a run, as every report lists it.

    ``label`` is stable across runs of one spec (a CI test name); ``message`` says what
    was observed against what was allowed, in words.
    """

    kind: GateKind
    label: str
    passed: bool
    observed: float | None
    observed_text: str
    message: str
    note: str = ""
    abort_on_fail: bool = False


@dataclass(frozen=True)
class Verdict:
    """A run's exit code, its reason and the gates that decided them, from one procedure."""

    exit_code: ExitCode
    reason: str
    gates: tuple[Gate, ...]


def batch_verdict(*, interrupted: bool, thresholds: Sequence[ThresholdResult], failed: int,
                  total: int, max_error_rate: float | None,
                  aborted: ThresholdResult | None = None) -> Verdict:
    """The run-batch verdict: the exit code is non-zero exactly when a gate failed.

    The ``max_error_rate`` gate is always listed (without the setting it allows 0 %),
    so a run that exits 3 always has a failed gate saying why.
    """
    code, reason = decide_exit_code(interrupted, thresholds, failed, total, max_error_rate)
    gates = [threshold_gate(t) for t in thresholds]
    gates.append(error_rate_gate(failed, total, max_error_rate))
    if aborted is not None:
        gates.append(Gate(GateKind.ABORT, f"abort_on_fail: {aborted.label}", False,
                          aborted.observed, aborted.observed_text,
                          f"{abort_reason(aborted, total)}; the run was stopped", aborted.note,
                          True))
    if interrupted:
        observed = f"interrupted after {total:,} tasks"
        gates.append(Gate(GateKind.INTERRUPTED, "run completed", False, float(total), observed,
                          f"{observed}: the report holds the tasks that finished"))
    return Verdict(code, reason, tuple(gates))


def threshold_gate(result: ThresholdResult) -> Gate:
    message = f"observed {result.observed_text}, threshold {result.expression}"
    if result.note:
        message += f" ({result.note})"
    return Gate(GateKind.THRESHOLD, result.label, result.passed, result.observed,
                result.observed_text, message, result.note, result.abort_on_fail)


def error_rate_gate(failed: int, total: int, max_error_rate: float | None) -> Gate:
    """The workload's own failures against ``max_error_rate`` (None: no failure allowed)."""
    allowed = max_error_rate if max_error_rate is not None else 0.0
    label = f"max_error_rate: {allowed * 100:g}%"
    if not total:
        return Gate(GateKind.MAX_ERROR_RATE, label, True, None, "no task ran",
                    "no task ran, so none failed")
    rate = failed / total
    observed = f"{rate:.2%} ({failed:,} of {total:,} tasks failed)"
    passed = not _workload_failure(failed, total, max_error_rate)
    message = (f"observed {observed}, {'within' if passed else 'above'} "
               f"max_error_rate {allowed * 100:g}%")
    if max_error_rate is None:
        message += " (not set: no failure is allowed)"
    return Gate(GateKind.MAX_ERROR_RATE, label, passed, rate, observed, message)


def _workload_failure(failed: int, total: int, max_error_rate: float | None) -> str:
    if failed == 0:
        return ""
    rate = failed / total if total else 1.0
    if max_error_rate is None:
        return (f"{failed} of {total} tasks failed ({rate:.1%}); no failure is allowed "
                "unless the spec sets max_error_rate")
    if rate <= max_error_rate:
        return ""
    return (f"{failed} of {total} tasks failed ({rate:.1%}), "
            f"above max_error_rate {max_error_rate:.1%}")


def _threshold_reason(result: ThresholdResult) -> str:
    reason = f"{result.metric} {result.expression} (observed {result.observed_text})"
    return f"{reason} [{result.note}]" if result.note else reason


def _success(thresholds: Sequence[ThresholdResult], failed: int, total: int) -> str:
    parts = [f"{total - failed} of {total} tasks succeeded"]
    if failed:
        parts.append(f"{failed} failure{'s' if failed > 1 else ''} within max_error_rate")
    if thresholds:
        parts.append(f"all {len(thresholds)} thresholds passed")
    return "; ".join(parts)


def run_batch_values(*, latency: Any, done: int, failed: int, timed_out: int, elapsed_s: float,
                     cache_hits: int | None = None, health_score: float | None = None,
                     peak_memory: int | None = None, service_time: Any = None,
                     served_latency: Any = None, calls: int | None = None,
                     call_failed: int | None = None, load: Any = None,
                     resumed: int = 0, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values ``RUN_BATCH_METRICS`` thresholds read, mid-run or at the end.

    ``latency`` (tasks that called the agent), ``service_time`` (the call alone) and
    ``served_latency`` (every task, cache hits included) are best ``LatencyHistogram``
    objects (any p(N)); a ``LatencySummary`` gives p50/p90/p95/p99. Without the last
    two, or without ``calls``/``call_failed``, every task is taken to have called the
    agent. ``error_rate`` is over the tasks that called the agent, so a run answered
    from the cache observes none; counts of events are observed once one task ran.
    Rates are :class:`Tally` counts so an abort check can bound them. Pass None for
    what was not measured (no cache, no sampler): a threshold on it fails at the end
    with "not measured", and never aborts a run early. ``load`` (a ``LoadReport``) gives
    ``dropped`` and ``dropped_rate`` in an open model, and ``achieved_rate``.
    ``resumed`` tasks of ``done`` came from an earlier run (``--resume``): they count
    everywhere but in throughput.
    ``usage`` holds the usage metrics (``input_tokens``, ``output_tokens``, ``tokens``,
    ``cost_usd``, ``ttft``, ``itl``) as histograms over the tasks that called the agent.
    """
    calls = done if calls is None else calls
    call_failed = failed if call_failed is None else call_failed
    ran = done > 0
    return {
        "latency": latency,
        "service_time": latency if service_time is None else service_time,
        "served_latency": latency if served_latency is None else served_latency,
        "error_rate": Tally(call_failed, calls),
        "failed": failed if ran else NOT_OBSERVED,
        "timeouts": timed_out if ran else NOT_OBSERVED,
        "throughput": (done - resumed) / elapsed_s if elapsed_s > 0 else None,
        "cache_hit_rate": Tally(cache_hits, done) if cache_hits is not None else None,
        "health_score": health_score,
        "peak_memory": peak_memory,
        **_load_values(load),
        **dict.fromkeys(USAGE_METRICS),  # not measured unless the caller tallied usage
        **(usage or {}),
    }


def _load_values(load: Any) -> dict[str, Any]:
    """Drops are measured only in an open model; elsewhere a threshold on them fails as
    not measured rather than passing on a zero nobody counted."""
    if load is None:
        return {"dropped": None, "dropped_rate": None, "achieved_rate": None}
    opened = load.model == "open"
    return {
        "dropped": load.dropped if opened else None,
        "dropped_rate": Tally(load.dropped, load.scheduled) if opened else None,
        "achieved_rate": load.achieved_rate,
    }


def abort_check(thresholds: Sequence[Threshold], *, cache_enabled: bool
                ) -> Callable[[Any], ThresholdResult | None] | None:
    """A run-batch callback for the ``abort_on_fail`` thresholds (None when none is armed).

    It takes the pipeline's progress snapshot (``done``, ``total``, ``failed``,
    ``timed_out``, ``cache_hits``, ``elapsed_s``, the ``latency``, ``service_time`` and
    ``served_latency`` histograms, ``calls`` and ``call_failed``) and returns the failed
    result of the first armed threshold that can no longer pass. A metric with nothing
    observed yet never aborts: the tasks still to come may observe it.
    """
    armed = [t for t in thresholds if t.abort_on_fail]
    if not armed:
        return None

    def check(progress: Any) -> ThresholdResult | None:
        values = run_batch_values(
            latency=progress.latency, done=progress.done, failed=progress.failed,
            timed_out=progress.timed_out, elapsed_s=progress.elapsed_s,
            cache_hits=progress.cache_hits if cache_enabled else None,
            service_time=getattr(progress, "service_time", None),
            served_latency=getattr(progress, "served_latency", None),
            calls=getattr(progress, "calls", None),
            call_failed=getattr(progress, "call_failed", None),
            resumed=getattr(progress, "resumed", 0), usage=getattr(progress, "usage", None))
        return check_abort(armed, values, Progress(progress.done, progress.total,
                                                   progress.elapsed_s))

    return check


def abort_reason(result: ThresholdResult, done: int) -> str:
    """The sentence a report shows for a run stopped by ``result``."""
    return (f"threshold {result.metric} {result.expression} can no longer pass "
            f"(observed {result.observed_text} after {done} tasks)")


#: What ``monitor`` thresholds may gate: the soak's tasks and the watched process tree.
MONITOR_METRICS: Mapping[str, MetricKind] = {
    "latency": MetricKind.DURATION,
    "error_rate": MetricKind.RATE,
    "throughput": MetricKind.THROUGHPUT,
    "rss": MetricKind.BYTES,  # peak RSS of the watched process tree
    "cpu": MetricKind.SCORE,  # mean CPU percent of the watched process tree (or machine)
}


def monitor_values(*, tasks: Any, system: Any) -> dict[str, Any]:
    """The values ``MONITOR_METRICS`` thresholds read from a monitor run.

    ``tasks`` is the soak's summary (None without a WORKLOAD: its metrics are then "not
    measured" and fail a gate on them); ``system`` the sampler summary. RSS needs a
    watched process (a soak watches its own); CPU falls back to the machine's.
    """
    ran = tasks is not None and tasks.total > 0
    process = system is not None and system.process_samples > 0
    values: dict[str, Any] = {
        "rss": system.process_rss_peak_bytes if process else None,
        "cpu": (system.process_cpu_percent_mean if process else system.cpu_percent_mean)
        if system is not None and system.cpu_samples else None,
        "latency": None, "error_rate": None, "throughput": None,
    }
    if tasks is not None:
        values.update(latency=tasks.latency, error_rate=Tally(tasks.failed, tasks.total),
                      throughput=tasks.throughput_per_s if ran else NOT_OBSERVED)
    return values


def monitor_verdict(*, interrupted: bool, thresholds: Sequence[ThresholdResult],
                    workload_failure: str, extra_gates: Sequence[Gate] = ()) -> Verdict:
    """Monitor's exit code with run-batch's precedence (130 > 1 > 3 > 0).

    ``workload_failure`` is why the watched thing failed (a command's non-zero exit, a
    soak that stopped or exceeded max_error_rate), empty when it did not; it is exit 3
    unless a gate failed too, as run-batch's own failures are.
    """
    code, reason = decide_exit_code(interrupted, thresholds, 0, 0)
    if code is ExitCode.GATE_FAILED and workload_failure:
        reason += f"; also {workload_failure}"
    elif code is ExitCode.OK and workload_failure:
        code, reason = ExitCode.WORKLOAD_FAILED, workload_failure
    elif code is ExitCode.OK:
        reason = (f"all {len(thresholds)} thresholds passed" if thresholds
                  else "nothing to gate failed")
    gates = [threshold_gate(t) for t in thresholds] + list(extra_gates)
    return Verdict(code, reason, tuple(gates))
