"""Run warnings: what the machine was doing while a workload ran, with the figures.

Other processes' CPU, the machine's memory pressure, swap and a load the run does not
account for make a run's timings less reliable, but they are not the workload's doing.
So for a workload they travel with the result as :class:`RunWarning` s and never cost
health points; ``monitor`` of the system itself scores them as findings instead.
Each warning separates the run's own share from the rest where psutil measured it, so
a workload that is busy itself is never told that its neighbours were.
"""

from __future__ import annotations

from agentperf.analysis.health_model import (
    HealthLimits,
    RunWarning,
    SystemHealthInput,
    WarningRule,
)
from agentperf.measure.units import format_bytes

_QUIETER = "compare runs made on a quieter machine, or on the same runner type"


def _evidence(**figures: float | None) -> dict[str, float]:
    return {name: round(float(value), 2) for name, value in figures.items() if value is not None}


def cpu_warning(system: SystemHealthInput, limits: HealthLimits) -> RunWarning | None:
    """Other processes kept more than ``others_cpu_percent`` of all cores busy."""
    if not system.cpu_measured:
        return None
    machine, own = system.cpu_percent_mean, system.own_cpu_percent
    others = max(machine - own, 0.0) if own is not None else machine
    if others <= limits.others_cpu_percent:
        return None
    if own is None:
        text = (f"the machine's CPU was {machine:.0f}% busy on {system.cores} cores and this "
                "run's own share was not measured")
    else:
        text = (f"other processes kept {others:.0f}% of the machine's CPU busy (the machine "
                f"{machine:.0f}% on {system.cores} cores, this run {own:.0f}%)")
    return RunWarning("machine_cpu_busy", f"{text}: timings include waiting for a core; "
                      f"{_QUIETER}", _evidence(
                          machine_cpu_percent=machine, run_cpu_percent=own,
                          others_cpu_percent=others, cores=system.cores))


def memory_warning(system: SystemHealthInput, limits: HealthLimits) -> RunWarning | None:
    """The machine's memory was nearly full, mostly with other processes' memory."""
    machine, own = system.memory_percent_max, system.own_memory_percent
    if machine <= limits.memory_percent[0] or (own is not None and own >= machine / 2):
        return None
    share = "not measured" if own is None else f"{own:.0f}%"
    return RunWarning(
        "machine_memory_high", f"the machine's memory peaked at {machine:.0f}% used (this "
        f"run's share {share}): the kernel may reclaim caches or swap during the run; "
        f"{_QUIETER}", _evidence(machine_memory_percent=machine, run_memory_percent=own,
                                 run_rss_peak_bytes=system.process_rss_peak_bytes))


def swap_warning(system: SystemHealthInput, limits: HealthLimits) -> RunWarning | None:
    if system.swap_used_bytes <= limits.swap_used_bytes:
        return None
    own = system.process_rss_peak_bytes
    share = f" (this run's processes peaked at {format_bytes(own)} RSS)" if own else ""
    return RunWarning(
        "machine_swap_in_use", f"{format_bytes(system.swap_used_bytes)} of swap in use on the "
        f"machine{share}: a page read back from swap makes any call slow; {_QUIETER}",
        _evidence(swap_used_bytes=system.swap_used_bytes, run_rss_peak_bytes=own))


def load_warning(system: SystemHealthInput, limits: HealthLimits) -> RunWarning | None:
    """More runnable threads than cores that the run's own CPU use does not explain."""
    if system.load_1m_max is None:
        return None
    own_cores = (system.process_cpu_percent_mean or 0.0) / 100
    others = system.load_1m_max - own_cores
    if others <= limits.load_per_core * system.cores:
        return None
    return RunWarning(
        "machine_load_high", f"the 1-minute load average reached {system.load_1m_max:.1f} on "
        f"{system.cores} cores, of which this run kept {own_cores:.1f} cores busy: threads "
        f"queued for a CPU during the run; {_QUIETER}",
        _evidence(load_1m_max=system.load_1m_max, run_cores_busy=own_cores,
                  cores=system.cores))


WARNING_RULES: list[WarningRule] = [cpu_warning, memory_warning, swap_warning, load_warning]
WARNING_CODES: tuple[str, ...] = (
    "machine_cpu_busy", "machine_memory_high", "machine_swap_in_use", "machine_load_high",
)


def machine_warnings(system: SystemHealthInput | None, limits: HealthLimits
                     ) -> tuple[RunWarning, ...]:
    """Every warning the machine's samples call for (none without a sample)."""
    if system is None or system.samples <= 0:
        return ()
    return tuple(w for rule in WARNING_RULES if (w := rule(system, limits)) is not None
                 and w.code not in limits.disabled)
