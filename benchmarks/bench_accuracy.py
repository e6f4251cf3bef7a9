"""agentperf bench against pyperf, side by side in one run.

    python benchmarks/bench_accuracy.py [--reps 5] [--trials 20] [--quick]

Part 1 times the same small functions with ``python -m pyperf timeit`` and with
``python -m agentperf bench``, each in fresh processes, ``--reps`` times:
agentperf's median against pyperf's mean (target: within 5 %), the run-to-run CV of
each tool's central value (target: agentperf's at most 1.5x pyperf's) and the wall
time each needed.

Part 2 runs interleaved A/A comparisons of one function and A/B comparisons against
a copy doing 10 % more work, ``--trials`` times each: the false-positive rate
(target at most 5 %) and the detection rate (target at least 90 %), both for the
Mann-Whitney verdict alone and for the ``--fail-if-slower`` gate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
_DATA = [((i * 7919) % 1000) / 7.0 for i in range(1000)]
_WORDS = tuple(str(i) for i in range(100))
SPIN = 3_000


# -- the functions both tools time ---------------------------------------------------------

def sum_squares() -> int:
    return sum(i * i for i in range(200))


def sort_floats() -> list[float]:
    return sorted(_DATA)


def join_words() -> str:
    return "-".join(_WORDS)


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def spin() -> int:
    return _spin(SPIN)


def spin_copy() -> int:
    return _spin(SPIN)


def spin_10pct() -> int:
    return _spin(SPIN * 11 // 10)


FUNCTIONS = ("sum_squares", "sort_floats", "join_words")


# -- part 1: against pyperf ------------------------------------------------------------------

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    return env


def pyperf_mean(function: str, fast: bool) -> tuple[float, float, float]:
    """(mean and median seconds per call, wall seconds) of ``python -m pyperf timeit``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pyperf.json"
        cmd = [sys.executable, "-m", "pyperf", "timeit", "--quiet", "-o", str(out),
               "-s", f"from bench_accuracy import {function}", f"{function}()"]
        if fast:
            cmd.insert(4, "--fast")
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=_env(), cwd=HERE, capture_output=True)
        wall = time.perf_counter() - start
        import pyperf

        bench = pyperf.Benchmark.load(str(out))
        return bench.mean(), bench.median(), wall


AGENTPERF_ARGS: list[str] = []


def agentperf_median(function: str, fast: bool) -> tuple[float, float, float]:
    """(median seconds per call twice, wall seconds) of ``python -m agentperf bench``."""
    cmd = [sys.executable, "-m", "agentperf", "bench", f"bench_accuracy:{function}", "--json",
           "--no-memory", *AGENTPERF_ARGS]
    if fast:
        cmd += ["--samples", "10", "--min-time", "50ms"]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, env=_env(), cwd=HERE, capture_output=True, text=True)
    wall = time.perf_counter() - start
    median = json.loads(done.stdout)["benchmarks"][0]["derived"]["stats"]["median"]
    return median, median, wall


@dataclass
class ToolRuns:
    values: list[float]
    medians: list[float]
    walls: list[float]

    @property
    def center(self) -> float:
        return statistics.fmean(self.values)

    @property
    def cv(self) -> float:
        return statistics.stdev(self.values) / self.center if len(self.values) > 1 else 0.0


def accuracy(reps: int, fast: bool) -> bool:
    print(f"Part 1: pyperf timeit{' --fast' if fast else ''} vs agentperf bench "
          f"{' '.join(AGENTPERF_ARGS)}, "
          f"{reps} repetitions each, alternating, every run in fresh processes\n")
    header = (f"{'function':<12} {'pyperf mean':>12} {'pyperf med':>11} {'agentperf med':>14} "
              f"{'diff':>7} "
              f"{'CV pyperf':>10} {'CV agentperf':>13} {'CV ratio':>9} {'wall pyperf':>12} "
              f"{'wall agentperf':>15}")
    print(header)
    ok = True
    for function in FUNCTIONS:
        py, ap = ToolRuns([], [], []), ToolRuns([], [], [])
        for _ in range(reps):
            for tool, runner in ((py, pyperf_mean), (ap, agentperf_median)):
                value, median, wall = runner(function, fast)
                tool.values.append(value)
                tool.medians.append(median)
                tool.walls.append(wall)
        diff = ap.center / py.center - 1
        cv_ratio = ap.cv / py.cv if py.cv else float("inf")
        ok &= abs(diff) <= 0.05 and cv_ratio <= 1.5
        print(f"{function:<12} {py.center * 1e6:>9.3f} us "
              f"{statistics.fmean(py.medians) * 1e6:>8.3f} us {ap.center * 1e6:>11.3f} us "
              f"{diff:>+7.1%} {py.cv:>10.2%} {ap.cv:>13.2%} {cv_ratio:>8.2f}x "
              f"{statistics.fmean(py.walls):>10.1f} s {statistics.fmean(ap.walls):>13.1f} s")
    print("\ndiff = agentperf median / pyperf mean - 1; targets: |diff| <= 5%, CV ratio <= 1.5x")
    return ok


# -- part 2: false positives and detection ----------------------------------------------

def detection(trials: int, samples: int, min_time_s: float, gate_pct: float) -> bool:
    from agentperf.analysis.compare import SAME, compare_pair, evaluate_gates
    from agentperf.bench.model import BenchOptions, TargetRecipe
    from agentperf.bench.runner import measure

    def recipe(name: str, function: str) -> TargetRecipe:
        return TargetRecipe(name=name, kind="agent", reference=f"bench_accuracy:{function}",
                            cwd=str(HERE))

    options = BenchOptions(samples=samples, warmup=1, min_time_s=min_time_s, memory=False)
    print(f"\nPart 2: interleaved comparisons, {trials} trials each, --samples {samples} "
          f"--min-time {min_time_s * 1e3:g}ms, alpha 0.05, gate --fail-if-slower {gate_pct:g}%")
    rates = {}
    for label, candidate in (("A/A (same function)", "spin_copy"),
                             ("10% slower candidate", "spin_10pct")):
        significant = slower = gated = 0
        start = time.perf_counter()
        for _ in range(trials):
            base, new = measure([recipe("A", "spin"), recipe("B", candidate)], options)
            comparison = compare_pair(base, new)
            verdict = comparison.benchmarks[0].time.verdict
            significant += verdict != SAME
            slower += verdict == "slower"
            gated += evaluate_gates(comparison, fail_if_slower_pct=gate_pct)[0].failed
        rates[label] = (significant / trials, slower / trials, gated / trials)
        print(f"  {label:<22} significant {significant:>2}/{trials}  called slower "
              f"{slower:>2}/{trials}  gate failed {gated:>2}/{trials}  "
              f"({time.perf_counter() - start:.1f} s)")
    false_positive = rates["A/A (same function)"][0]
    detected = rates["10% slower candidate"][1]
    print(f"\nfalse-positive rate (verdict) {false_positive:.0%} (target <= 5%), "
          f"gate {rates['A/A (same function)'][2]:.0%}")
    print(f"detection rate of a 10% slowdown (verdict) {detected:.0%} (target >= 90%), "
          f"gate {rates['10% slower candidate'][2]:.0%}")
    return false_positive <= 0.05 and detected >= 0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--min-time", type=float, default=0.02,
                        help="seconds per sample in part 2 (default 0.02)")
    parser.add_argument("--gate", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true",
                        help="pyperf --fast and agentperf --samples 10 --min-time 50ms")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--agentperf-args", default="",
                        help="extra options for agentperf bench in part 1, e.g. '--processes 4'")
    args = parser.parse_args()
    AGENTPERF_ARGS.extend(args.agentperf_args.split())
    sys.path[:0] = [str(REPO), str(HERE)]
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    ok = True
    if not args.skip_accuracy:
        ok &= accuracy(args.reps, args.quick)
    ok &= detection(args.trials, args.samples, args.min_time, args.gate)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}; all targets met: {ok}")


if __name__ == "__main__":
    main()
