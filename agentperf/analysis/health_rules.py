"""The health rules: each reads one part of a HealthInput and may return one Finding.

A rule returns None when its part was not measured or stays within its limit, so every
command runs the same list and only the rules with data speak. Rules that read the
psutil samples judge the input's subject: for a workload, its own process tree (CPU,
memory, memory growth); for the machine, the whole system. What a workload's run saw of
the machine is for ``health_warnings``.
"""

from __future__ import annotations

import os

from agentperf.analysis.health_model import (
    Finding,
    HealthInput,
    HealthLimits,
    Rule,
    SystemHealthInput,
    TaskHealthInput,
)
from agentperf.analysis.health_usage import USAGE_RULE_IDS, USAGE_RULES
from agentperf.measure.units import format_bytes, format_duration


def _tiered(value: float, tiers: tuple[float, float, float], points: tuple[float, float, float]
            ) -> tuple[float, float] | None:
    """Points for the highest tier ``value`` exceeds, with that tier's limit."""
    for limit, cost in sorted(zip(tiers, points, strict=True), reverse=True):
        if value > limit:
            return cost, limit
    return None


def _sampled(data: HealthInput) -> SystemHealthInput | None:
    return data.system if data.system is not None and data.system.samples > 0 else None


def _ran(data: HealthInput) -> TaskHealthInput | None:
    return data.tasks if data.tasks is not None and data.tasks.total > 0 else None


def cpu_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """The machine's CPU for the machine; for a workload, the CPU its own processes used."""
    if (system := _sampled(data)) is None:
        return None
    value = system.cpu_percent_mean if data.subject == "machine" else system.own_cpu_percent
    if value is None or not system.cpu_measured:
        return None
    if (hit := _tiered(value, limits.cpu_percent, (5, 10, 20))) is None:
        return None
    points, limit = hit
    if data.subject == "machine":
        message = f"mean CPU {value:.0f}% above {limit:.0f}%"
    else:
        cores_busy = (system.process_cpu_percent_mean or 0.0) / 100
        message = (f"this run kept {value:.0f}% of the machine's CPU busy ({cores_busy:.2f} of "
                   f"{system.cores} cores), above {limit:.0f}%")
    return Finding("cpu_high", message, value, limit, points,
                   "CPU is the bottleneck: cut per-call work, cache repeated calls, or spread "
                   "the batch over more cores or machines (--mode processes / dask)",
                   unit="percent")


def memory_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """The machine's memory for the machine; for a workload, its own processes' peak RSS."""
    if (system := _sampled(data)) is None:
        return None
    machine = data.subject == "machine"
    value = system.memory_percent_max if machine else system.own_memory_percent
    if value is None or (hit := _tiered(value, limits.memory_percent, (5, 15, 25))) is None:
        return None
    points, limit = hit
    message = (f"peak memory use {value:.0f}% above {limit:.0f}%" if machine else
               f"this run's processes peaked at {format_bytes(system.process_rss_peak_bytes or 0)}"
               f", {value:.0f}% of the machine's memory, above {limit:.0f}%")
    return Finding("memory_high", message, value, limit, points,
                   "memory is nearly exhausted: lower --workers or --max-in-flight, stream "
                   "inputs and outputs, and profile the agent with 'agentperf profile'",
                   unit="percent")


def slow_agent_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    tasks = _ran(data)
    if tasks is None or tasks.mean_latency_s <= limits.slow_latency_s:
        return None
    points = min(15.0, 5.0 * tasks.mean_latency_s / limits.slow_latency_s)
    return Finding("slow_agent", f"mean latency {format_duration(tasks.mean_latency_s)} above "
                   f"{format_duration(limits.slow_latency_s)}", tasks.mean_latency_s,
                   limits.slow_latency_s, round(points, 1),
                   _SLOW_ADVICE.get(tasks.command, _SLOW_ADVICE["run-batch"]), unit="seconds")


_SLOW_ADVICE = {
    "run-batch": "agents are slow: cache repeated calls, batch requests, or run more calls "
                 "concurrently (--mode asyncio with a higher --max-in-flight)",
    "monitor": "agents are slow: cache repeated calls, batch requests, or run more calls "
               "concurrently (--mode asyncio or threads with more --workers)",
    "profile": "agents are slow: cache repeated calls or batch requests (profile times one "
               "call at a time; run-batch runs them concurrently)",
}


def error_rate_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """Failures other than timeouts (those have their own rule and advice)."""
    if (tasks := _ran(data)) is None:
        return None
    errors = max(tasks.failed - tasks.timed_out, 0)
    rate = errors / tasks.total
    if rate <= limits.error_rate:
        return None
    noun = "calls" if tasks.command == "profile" else "tasks"
    return Finding("error_rate", f"{errors} of {tasks.total} {noun} raised errors ({rate:.1%})",
                   rate, limits.error_rate, round(min(30.0, 10.0 + 100.0 * rate), 1),
                   _ERROR_ADVICE.get(tasks.command, _ERROR_ADVICE["run-batch"]), unit="ratio")


_ERROR_ADVICE = {
    "run-batch": "look at the failures by type in the results file; add retries "
                 "(--retries) for transient errors and fix the deterministic ones",
    "profile": "profile calls the agent without retries: fix the errors listed with the "
               "profile, or profile with inputs the agent accepts",
    "monitor": "look at the failures by type in the tasks summary; set execution.retries in "
               "the spec for transient errors and fix the deterministic ones",
}


def timeout_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    if (tasks := _ran(data)) is None or tasks.timed_out == 0:
        return None
    rate = tasks.timed_out / tasks.total
    if rate <= limits.timeout_rate:
        return None
    return Finding("timeouts", f"{tasks.timed_out} of {tasks.total} tasks timed out ({rate:.1%})",
                   rate, limits.timeout_rate, round(min(20.0, 5.0 + 100.0 * rate), 1),
                   "tasks hit --timeout: find where the agent hangs (network calls without "
                   "their own timeout), or raise --timeout if the work is legitimately long",
                   unit="ratio")


def tail_latency_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    tasks = _ran(data)
    if (tasks is None or tasks.total < limits.tail_latency_min_tasks or tasks.p50_s <= 0
            or tasks.p99_s < limits.tail_latency_min_s):
        return None
    ratio = tasks.p99_s / tasks.p50_s
    if ratio <= limits.tail_latency_ratio:
        return None
    return Finding("tail_latency", f"p99 {format_duration(tasks.p99_s)} is {ratio:.1f}x the "
                   f"median {format_duration(tasks.p50_s)}", ratio, limits.tail_latency_ratio,
                   5.0 if ratio < 2 * limits.tail_latency_ratio else 10.0,
                   "a few calls are far slower than the typical one: look for cold starts, "
                   + ("rate limiting or lock contention" if tasks.command == "profile" else
                      "rate limiting or lock contention, and set --timeout near p95 with "
                      "retries so stragglers are retried instead of waited for"),
                   unit="times")


def cache_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    cache = data.cache
    if (cache is None or cache.lookups < limits.cache_min_lookups
            or cache.repeated_fraction < limits.cache_min_repeated_fraction):
        return None
    expected = cache.repeated_fraction * limits.cache_hit_share_of_repeats
    if cache.hit_rate >= expected:
        return None
    return Finding("cache_low_hit_rate", f"{cache.repeated_fraction:.0%} of lookups repeat an "
                   f"earlier input but only {cache.hit_rate:.0%} hit", cache.hit_rate,
                   round(expected, 4), 10.0,
                   "repeated inputs miss the cache: drop per-call fields (request ids, "
                   "timestamps) from cache.key_fields, lengthen cache.ttl, or raise "
                   "cache.max_entries / max_bytes so entries live until they are reused",
                   unit="ratio")


def swap_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """Swap is the machine's state: scored for the machine, a run warning for a workload."""
    if (data.subject != "machine" or (system := _sampled(data)) is None
            or system.swap_used_bytes <= limits.swap_used_bytes):
        return None
    return Finding("swap_in_use", f"{format_bytes(system.swap_used_bytes)} of swap in use",
                   system.swap_used_bytes, limits.swap_used_bytes, 10.0,
                   "the machine is swapping, which makes every latency figure unreliable: "
                   "lower --workers / --max-in-flight or run on a machine with more memory",
                   unit="bytes")


def memory_growth_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """A workload is judged on its own RSS growth after the warm-up, never on the system's
    used memory, with the growth rule of measure/growth (too little data is no finding)."""
    system = _sampled(data)
    if (system is None
            or (data.subject != "machine" and not system.growth_of_process)
            or not system.memory_growth_significant
            or system.memory_growth_bytes_per_s < limits.memory_growth_bytes_per_s):
        return None
    rate = system.memory_growth_bytes_per_s
    return Finding("memory_growth", f"memory grows by {format_bytes(rate)}/s after the warm-up "
                   f"[{system.memory_growth_rule}]",
                   rate, limits.memory_growth_bytes_per_s, 15.0,
                   "memory keeps rising (possible leak): run 'agentperf profile WORKLOAD' to "
                   "pin the growing allocation site, and bound caches and module-level lists",
                   unit="bytes_per_s")


def _cores(data: HealthInput) -> int:
    if data.tasks is not None and data.tasks.cores:
        return data.tasks.cores
    return data.system.cores if data.system is not None else os.cpu_count() or 1


def _cores_busy(data: HealthInput) -> float | None:
    """Cores the workload kept busy: task CPU time per wall second, else process CPU."""
    if data.tasks is not None and data.tasks.cpu_cores_used is not None:
        return data.tasks.cpu_cores_used
    system = _sampled(data)
    if system is not None and system.process_cpu_percent_mean is not None:
        return system.process_cpu_percent_mean / 100
    return None


def threads_cpu_bound_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """Threads share one interpreter lock: CPU-bound work there saturates one core only."""
    tasks, cores = _ran(data), _cores(data)
    if tasks is None or tasks.mode != "threads" or tasks.workers < 2 or cores < 2:
        return None
    busy = _cores_busy(data)
    if busy is None or not limits.cpu_bound_core_fraction <= busy <= 1.25:
        return None
    return Finding("threads_cpu_bound", f"{tasks.workers} threads kept {busy:.2f} of {cores} "
                   "cores busy", busy, limits.cpu_bound_core_fraction, 10.0,
                   f"the workload is CPU-bound and threads share one core: use --mode "
                   f"processes (up to {cores} workers) or dask to use every core", unit="cores")


def io_bound_idle_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """Tasks mostly wait and the run's own CPU is idle (other processes' CPU is no excuse).

    Under the interpreter lock, CPU-bound threads also show a low CPU share per task
    (each gets 1/N of a core), so about one busy core overall rules this out.
    """
    tasks = _ran(data)
    if (tasks is None or tasks.workers > limits.io_bound_max_workers
            or tasks.total < 2 * tasks.workers
            or tasks.mean_latency_s < limits.io_bound_min_latency_s):
        return None
    ratio = tasks.cpu_per_wall
    if ratio is None and tasks.cpu_cores_used is not None:
        ratio = tasks.cpu_cores_used / tasks.workers
    system = _sampled(data)
    own = system.own_cpu_percent if system is not None else None
    if ratio is None or ratio > limits.io_bound_cpu_ratio or (
            own is not None and own >= limits.io_bound_idle_cpu_percent):
        return None
    busy = _cores_busy(data)
    if (busy if busy is not None else ratio * tasks.workers) >= limits.cpu_bound_core_fraction:
        return None
    more = "--workers" if tasks.command == "monitor" else "--max-in-flight and --workers"
    advice = (f"raise {more}" if tasks.mode == "asyncio" else
              "use --mode asyncio (async agents) or --mode threads with --workers 32 or more")
    return Finding("io_bound_idle", f"tasks wait {1 - ratio:.0%} of their time with only "
                   f"{tasks.workers} worker(s) and idle CPU", ratio, limits.io_bound_cpu_ratio,
                   10.0, f"the workload is I/O-bound and the CPU is idle: {advice} so more "
                   "calls wait at the same time", unit="ratio")


def dispatch_overhead_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """A process pool or cluster pays a round trip per task; tiny tasks drown in it."""
    tasks = _ran(data)
    if (tasks is None or tasks.mode not in ("processes", "dask") or tasks.wall_s <= 0
            or tasks.total < limits.dispatch_min_tasks
            or tasks.mean_latency_s >= limits.dispatch_task_s):
        return None
    utilization = tasks.total * tasks.mean_latency_s / (tasks.wall_s * max(tasks.workers, 1))
    if utilization >= limits.dispatch_min_utilization:
        return None
    chunk = (f"raise execution.chunk_size above {tasks.chunk_size}" if tasks.chunk_size > 1
             else "set execution.chunk_size (100-1000)")
    return Finding("dispatch_overhead", f"workers were busy {utilization:.0%} of the run: "
                   f"dispatch dominates {tasks.mean_latency_s * 1e3:.2f} ms tasks",
                   utilization, limits.dispatch_min_utilization, 10.0,
                   f"tasks are too small for a {tasks.mode} pool: {chunk} so each round trip "
                   "carries many tasks, or use --mode threads", unit="ratio")


def memory_peak_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    if data.memory is None or data.memory.peak_bytes <= limits.peak_memory_bytes:
        return None
    peak = data.memory.peak_bytes
    return Finding("memory_peak", f"peak {format_bytes(peak)} above "
                   f"{format_bytes(limits.peak_memory_bytes)}", peak, limits.peak_memory_bytes,
                   15.0, "one call holds too much at once: stream or chunk large inputs, "
                   "free intermediate results early, and check the top allocation sites",
                   unit="bytes")


def leak_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    """The leak verdict of the growth rule; the sites only say where it is."""
    memory = data.memory
    if memory is None or memory.leak_bytes_per_call <= limits.leak_bytes_per_iteration:
        return None
    rate = memory.leak_bytes_per_call
    carried = [s for s in memory.leak_suspects if s.share >= 0.25]
    if carried:
        top = carried[0]
        where = f"{top.site} carries {top.share:.0%}"
        advice = f"memory retained at {top.site} grows with calls"
    else:
        names = ", ".join(s.site for s in memory.leak_suspects[:3]) or "none seen"
        where = f"no single site (top contributors {names})"
        advice = "the retained heap grows with calls, spread over several sites"
    return Finding("leak_suspects", f"retained memory grows {format_bytes(rate)} per call; "
                   f"{where} [{memory.leak_rule}]", rate,
                   limits.leak_bytes_per_iteration, 20.0,
                   f"{advice}: stop appending to module-level or instance lists, bound caches "
                   "(LRU with max size), and release references when a call ends",
                   unit="bytes")


def transient_peak_rule(data: HealthInput, limits: HealthLimits) -> Finding | None:
    memory = data.memory
    if memory is None or memory.transient_peak_bytes <= limits.transient_peak_bytes:
        return None
    extra = format_bytes(memory.transient_peak_bytes)
    return Finding("transient_peak", f"calls briefly use {extra} more than they keep",
                   memory.transient_peak_bytes,
                   limits.transient_peak_bytes, 5.0,
                   "large temporary data inside a call: process big lists in chunks (the "
                   "guide chunks lists over 1,000 items) and use generators instead of "
                   "building whole lists", unit="bytes")


RULES: list[Rule] = [
    cpu_rule, memory_rule, slow_agent_rule, error_rate_rule, timeout_rule, tail_latency_rule,
    cache_rule, swap_rule, memory_growth_rule, threads_cpu_bound_rule, io_bound_idle_rule,
    dispatch_overhead_rule, memory_peak_rule, leak_rule, transient_peak_rule, *USAGE_RULES,
]
RULE_IDS: tuple[str, ...] = (
    "cpu_high", "memory_high", "slow_agent", "error_rate", "timeouts", "tail_latency",
    "cache_low_hit_rate", "swap_in_use", "memory_growth", "threads_cpu_bound", "io_bound_idle",
    "dispatch_overhead", "memory_peak", "leak_suspects", "transient_peak", *USAGE_RULE_IDS,
)
