"""What ``agentperf monitor`` and ``@measure`` cost, measured side by side in one run.

    python benchmarks/monitor_overhead.py [--seconds 20] [--pairs 5]

1. Sampler cost in process: the time one monitor tick takes (psutil system and
   process-tree reads, history, health), as a share of one core at a 1 s interval.
2. The monitor as a real process (``agentperf monitor --interval 1`` watching a
   workload, exporting JSONL): its CPU time per wall second after start-up, and its
   peak RSS, read by psutil from outside.
3. Sampler on against off: a fixed single-threaded CPU workload timed alone and with
   a monitor watching it, interleaved in pairs so machine drift hits both sides.
4. ``@measure`` on a no-op function against the raw function, per call.

Targets (issue 7): sampler < 1 % of one core at 1 s; monitor RSS < 80 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agentperf.measure.registry import MetricsRegistry, measure  # noqa: E402
from agentperf.pipeline.monitor import MonitorConfig, MonitorSession  # noqa: E402

CPU_TARGET_PERCENT = 1.0
RSS_TARGET_BYTES = 80 * 1024 * 1024
# Waits for a line on stdin, then times a fixed pure-Python loop and prints the seconds.
TIMED = ("import sys, time\nsys.stdin.readline()\n"
         "start, cpu = time.perf_counter(), time.process_time()\n"
         "total = 0\nfor i in range({n}):\n    total += i * i % 7\n"
         "print(time.perf_counter() - start, time.process_time() - cpu)\n")



def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def tick_cost(history: int = 1000, ticks: int = 200) -> float:
    """Seconds of CPU per monitor tick with a full history (system + tree + health)."""
    config = MonitorConfig(interval_s=1e-3, duration_s=None, pid=os.getpid(), history=history)
    with MonitorSession(config) as session:
        for _ in range(history):  # fill every ring so health works on full-size series
            session._tick()
        start = time.process_time()
        for _ in range(ticks):
            session._tick()
        spent = time.process_time() - start
    return spent / ticks


def monitor_process(seconds: float, target_pid: int, export: Path) -> tuple[float, int]:
    """(steady CPU share of one core in %, peak RSS bytes) of a real monitor process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentperf", "monitor", "--interval", "1", "--seconds",
         str(seconds), "--pid", str(target_pid), "--export", str(export), "--quiet"],
        cwd=REPO, env=env(), stdout=subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)
    peak = 0
    time.sleep(3.0)  # past interpreter start-up and imports
    cpu0 = sum(watched.cpu_times()[:2])
    wall0 = time.monotonic()
    cpu1, wall1 = cpu0, wall0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
            if proc.poll() is None:
                cpu1, wall1 = sum(watched.cpu_times()[:2]), time.monotonic()
        except psutil.NoSuchProcess:
            break
        time.sleep(0.25)
    proc.wait()
    return 100.0 * (cpu1 - cpu0) / max(wall1 - wall0, 1e-9), peak


def timed_workload(n: int, monitored: bool, export: Path) -> tuple[float, float]:
    """(wall, CPU) seconds the workload timed itself, started once the monitor is warm."""
    work = subprocess.Popen([sys.executable, "-c", TIMED.format(n=n)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    monitor = None
    if monitored:
        export.unlink(missing_ok=True)
        monitor = subprocess.Popen(
            [sys.executable, "-m", "agentperf", "monitor", "--interval", "1", "--pid",
             str(work.pid), "--export", str(export), "--quiet"],
            cwd=REPO, env=env(), stdout=subprocess.DEVNULL)
        # Start timing only once the monitor has written its first sample: its start-up
        # (interpreter, imports) is not what is being measured.
        deadline = time.monotonic() + 60
        while not (export.exists() and export.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
    out, _ = work.communicate("go\n")
    if monitor is not None:
        monitor.wait(timeout=30)
    wall, cpu = out.split()
    return float(wall), float(cpu)


def calibrate(target_s: float = 2.0) -> int:
    n = 1_000_000
    while True:
        took = timed_workload(n, False, Path(os.devnull))[0]
        if took >= 0.5:
            return int(n * target_s / took)
        n *= 4


def decorator_cost() -> tuple[float, float, float]:
    """ns per call: raw no-op, @measure without RSS, @measure with RSS."""
    registry = MetricsRegistry()

    def raw() -> None:
        return None

    fast = measure(name="fast", registry=registry, track_rss=False)(raw)
    full = measure(name="full", registry=registry)(raw)
    number = 200_000
    results = []
    for fn in (raw, fast, full):
        # CPU time, not wall time: on a shared machine the wall clock also counts the
        # time other processes held the core.
        best = min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time))
        results.append(best / number * 1e9)
    return results[0], results[1], results[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()
    export = Path(os.environ.get("TMPDIR", "/tmp")) / "agentperf-monitor-bench.jsonl"
    print(f"machine: {psutil.cpu_count()} cores, Python {sys.version.split()[0]}")

    per_tick = tick_cost()
    share = 100.0 * per_tick / 1.0
    print(f"\n1. one monitor tick (system + process tree + history + health): "
          f"{per_tick * 1e3:.2f} ms CPU")
    print(f"   at a 1 s interval: {share:.2f} % of one core   target < {CPU_TARGET_PERCENT} % "
          f"-> {'PASS' if share < CPU_TARGET_PERCENT else 'FAIL'}")

    burner = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(1)"])
    try:
        cpu, peak = monitor_process(args.seconds, burner.pid, export)
    finally:
        burner.kill()
        burner.wait()
    print(f"\n2. 'agentperf monitor --interval 1 --pid P --export F.jsonl' for {args.seconds:g} s:")
    print(f"   CPU after start-up: {cpu:.2f} % of one core   target < {CPU_TARGET_PERCENT} % "
          f"-> {'PASS' if cpu < CPU_TARGET_PERCENT else 'FAIL'}")
    print(f"   peak RSS: {peak / 2**20:.1f} MB   target < 80 MB "
          f"-> {'PASS' if peak < RSS_TARGET_BYTES else 'FAIL'}")

    n = calibrate()
    off, on = [], []
    for _ in range(args.pairs):
        off.append(timed_workload(n, False, export))
        on.append(timed_workload(n, True, export))
    print(f"\n3. fixed CPU workload ({n:,} iterations), {args.pairs} interleaved pairs "
          "(median, min):")
    for label, index in (("wall time", 0), ("CPU time", 1)):
        a, b = [r[index] for r in off], [r[index] for r in on]
        ratio = statistics.median(b) / statistics.median(a)
        print(f"   {label:9}  off {statistics.median(a):.3f} s, {min(a):.3f} s   "
              f"on {statistics.median(b):.3f} s, {min(b):.3f} s   ratio on/off {ratio:.3f} "
              f"({100 * (ratio - 1):+.1f} %), of minima {min(b) / min(a):.3f}")

    raw, fast, full = decorator_cost()
    print("\n4. @measure on a no-op function, per call:")
    print(f"   raw {raw:.0f} ns   @measure(track_rss=False) {fast:.0f} ns "
          f"(+{fast - raw:.0f} ns)   @measure {full:.0f} ns (+{full - raw:.0f} ns)")
    export.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
