"""Where a benchmark ran, so a baseline from another machine is recognised as such."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentperf import __version__

#: Fields that make two runs incomparable when they differ.
COMPARABLE = ("python_implementation", "python_version", "cpu_model", "cpu_count", "os",
              "machine")


def collect_environment(cwd: Path | None = None) -> dict[str, Any]:
    commit, dirty = git_state(cwd or Path.cwd())
    return {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "agentperf_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "timer": "time.perf_counter_ns",
        "timer_resolution_s": time.get_clock_info("perf_counter").resolution,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_state(cwd: Path) -> tuple[str | None, bool | None]:
    """Commit and dirty flag of the repository around ``cwd``, read without taking locks."""
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return commit, bool(status) if status is not None else None


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "--no-optional-locks", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


class OthersCpu:
    """CPUs that other programs used while a benchmark ran, on average.

    The load average lags by a minute and counts runnable processes, not CPU used: a
    single program on the other vCPU of a 2-vCPU VM (often a hyperthread of the same
    core) slowed a run by 10 % at load 1.15, which the load rule called quiet. This
    counts the machine's busy CPU time (steal included: a neighbour VM running on our
    vCPUs) minus this process's and its reaped workers' own, over the wall time.
    """

    def __init__(self) -> None:
        self._start = self._reading()

    @staticmethod
    def _reading() -> tuple[float, float, float] | None:
        try:
            import psutil

            times = psutil.cpu_times()
        except (ImportError, OSError, RuntimeError):
            return None
        idle = times.idle + getattr(times, "iowait", 0.0)
        busy = sum(times) - idle - getattr(times, "guest", 0.0) - getattr(
            times, "guest_nice", 0.0)  # guest time is counted in user already
        own = os.times()
        return (time.monotonic(), busy,
                own.user + own.system + own.children_user + own.children_system)

    def cpus(self) -> float | None:
        """Other programs' average CPUs since construction; None when unreadable."""
        end = self._reading()
        if self._start is None or end is None or end[0] - self._start[0] <= 0:
            return None
        others = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return max(others, 0.0) / (end[0] - self._start[0])


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def environment_differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable ``field: a -> b`` for every comparable field that differs."""
    return [f"{key}: {base.get(key)} -> {new.get(key)}" for key in COMPARABLE
            if base.get(key) != new.get(key)]
