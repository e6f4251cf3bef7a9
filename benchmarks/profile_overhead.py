"""What a memory profile costs: ``agentperf profile`` against raw tracemalloc and memray.

    python benchmarks/profile_overhead.py [--scale X] [--repeat R]

For an allocation-heavy workload and a latency-bound one, in one run, each as a fresh
process (interpreter start-up included for all):

- plain: the workload's N calls, nothing else (N: 100 allocation-heavy, 250
  latency-bound calls, times ``--scale``);
- agentperf: ``agentperf profile`` with its default settings and ``--iterations N``
  (which also reports time per call, peak, sites, leaks, the RSS timeline and health);
- tracemalloc: the N calls under ``tracemalloc.start(1)``, then the top-10 lines;
- memray: ``memray run`` on the plain script, and ``memray stats`` on its capture.

Wall and CPU times are medians of R rounds in which the tools take turns; ratios are to
the plain run. The target: agentperf's
ratio no more than memray's on the same work. memray comes from
benchmarks/requirements.txt.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Calls per run: enough for interpreter and import start-up not to dominate either.
WORKLOADS = {"alloc_heavy": 100, "latency_bound": 250}


def alloc_heavy() -> int:
    """About 5 MB of small dicts and strings built and dropped per call."""
    rows = [{"id": i, "text": f"item-{i}", "tags": [i, i + 1]} for i in range(20_000)]
    return sum(len(r["text"]) for r in rows)


def latency_bound() -> int:
    """A 20 ms wait (a model or API call) and a small response to parse."""
    time.sleep(0.02)
    return len([{"token": i} for i in range(200)])


def _plain(name: str, calls: int) -> None:
    fn = globals()[name]
    for _ in range(calls):
        fn()


def _tracemalloc(name: str, calls: int) -> None:
    import tracemalloc

    tracemalloc.start(1)
    _plain(name, calls)
    for stat in tracemalloc.take_snapshot().statistics("lineno")[:10]:
        print(stat)


def _run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one child process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=HERE, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)


def _measure(name: str, calls: int, repeat: int, capture: Path
             ) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) per tool; the tools take turns in every round, so a machine
    that gets busier or quieter during the run affects them alike."""
    script = [sys.executable, str(Path(__file__).resolve())]
    n = str(calls)
    commands = {
        "plain": [*script, "--plain", name, n],
        "agentperf profile": [sys.executable, "-m", "agentperf", "profile",
                              f"profile_overhead:{name}", "--iterations", n, "-q"],
        "raw tracemalloc": [*script, "--tracemalloc", name, n],
        "memray run": [sys.executable, "-m", "memray", "run", "-q", "-f", "-o", str(capture),
                       *script[1:], "--plain", name, n],
        "memray stats": [sys.executable, "-m", "memray", "stats", str(capture)],
    }
    runs: dict[str, list[tuple[float, float]]] = {tool: [] for tool in commands}
    for _ in range(repeat):
        for tool, command in commands.items():
            runs[tool].append(_run(command))
    out = {tool: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
           for tool, r in runs.items()}
    run, stats = out["memray run"], out["memray stats"]
    out["memray run + stats"] = (run[0] + stats[0], run[1] + stats[1])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every workload's number of calls")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plain", metavar="WORKLOAD")
    parser.add_argument("--tracemalloc", metavar="WORKLOAD")
    parser.add_argument("n", nargs="?", type=int)
    args = parser.parse_args()
    if args.plain:
        _plain(args.plain, args.n)
        return 0
    if args.tracemalloc:
        _tracemalloc(args.tracemalloc, args.n)
        return 0
    try:
        import memray  # noqa: F401
    except ImportError:
        print("memray is missing: pip install -r benchmarks/requirements.txt")
        return 2
    failed = False
    print(f"median of {args.repeat} rounds, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, base_calls in WORKLOADS.items():
            calls = max(1, round(base_calls * args.scale))
            results = _measure(name, calls, args.repeat, Path(tmp) / f"{name}.bin")
            plain_wall, plain_cpu = results["plain"]
            print(f"\n{name} ({calls} calls){'':<3} wall      ratio    cpu       ratio")
            for tool, (wall, cpu) in results.items():
                print(f"  {tool:<20} {wall:6.2f} s  {wall / plain_wall:5.2f}x  {cpu:6.2f} s  "
                      f"{cpu / plain_cpu:5.2f}x")
            for label, column, plain in (("wall", 0, plain_wall), ("cpu", 1, plain_cpu)):
                ours = results["agentperf profile"][column] / plain
                theirs = results["memray run"][column] / plain
                verdict = "meets" if ours <= theirs else "MISSES"
                failed |= label == "wall" and ours > theirs
                print(f"  target ({label}): agentperf {ours:.2f}x <= memray run {theirs:.2f}x"
                      f" -> {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
