"""agentperf bench against pyperf, side by side in one run.

    python benchmarks/bench_accuracy.py [--reps 5] [--trials 20] [--quick]
        [--agentperf-args '--processes 20 --samples 60' ...] [--pyperf func|timeit]

Part 1 times the same small functions with pyperf and with ``python -m agentperf
bench``, each run in fresh processes, ``--reps`` times, alternating: agentperf's
time (the geometric mean of its workers' means) against pyperf's mean (target:
within 5 %), the run-to-run CV of each tool's
central value (target: agentperf's at most 1.5x pyperf's) and the wall time each
needed. pyperf times the function itself with ``Runner.bench_func``
(pyperf_function.py), as agentperf does; ``--pyperf timeit`` uses ``python -m pyperf
timeit`` instead, whose recompiling between values slows some functions (see
timeit_churn.py). Each ``--agentperf-args`` is one agentperf configuration, all
checked against the same pyperf runs.

Part 2 runs interleaved A/A comparisons of one function and A/B comparisons against
a copy doing 10 % more work, ``--trials`` times each: the false-positive rate
(target at most 5 %) and the detection rate (target at least 90 %), both for the
verdict alone (paired t test on per-round log ratios) and for the ``--fail-if-slower``
gate.
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


def empty() -> None:
    """Nothing: what each tool's timing loop itself costs per call."""


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


#: baseline_aa.py slows ``spin_scaled`` by setting this (1.2: 20 % more work).
SPIN_SCALE = float(os.environ.get("AGENTPERF_SPIN_SCALE", "1"))


def spin_scaled() -> int:
    return _spin(round(SPIN * SPIN_SCALE))


FUNCTIONS = ("sum_squares", "sort_floats", "join_words")


# -- part 1: against pyperf ------------------------------------------------------------------

def subprocess_env() -> dict[str, str]:
    """This environment, with agentperf and this folder importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    return env


def pyperf_mean(function: str, fast: bool, mode: str) -> tuple[float, float, float]:
    """(mean and median seconds per call, wall seconds) of one pyperf run.

    ``mode`` "func" is pyperf's ``Runner.bench_func`` on the function itself (see
    pyperf_function.py); "timeit" is ``python -m pyperf timeit "function()"``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pyperf.json"
        if mode == "func":
            cmd = [sys.executable, str(HERE / "pyperf_function.py"), function]
        else:
            cmd = [sys.executable, "-m", "pyperf", "timeit",
                   "-s", f"from bench_accuracy import {function}", f"{function}()"]
        cmd += ["--quiet", "-o", str(out)] + (["--fast"] if fast else [])
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=subprocess_env(), cwd=HERE, capture_output=True)
        wall = time.perf_counter() - start
        import pyperf

        bench = pyperf.Benchmark.load(str(out))
        return bench.mean(), bench.median(), wall


def agentperf_time(function: str, fast: bool, extra: list[str]) -> tuple[float, float, float]:
    """(time per call, median per call, wall seconds) of ``python -m agentperf bench``.

    The time is what agentperf reports: with worker processes, the geometric mean of
    the workers' means."""
    cmd = [sys.executable, "-m", "agentperf", "bench", f"bench_accuracy:{function}", "--json",
           "--no-memory", *extra]
    if fast:
        cmd += ["--samples", "10", "--min-time", "50ms"]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=True, env=subprocess_env(), cwd=HERE, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    derived = json.loads(done.stdout)["benchmarks"][0]["derived"]
    return derived["time_s"], derived["stats"]["median"], wall


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


def accuracy(reps: int, fast: bool, pyperf_mode: str, configs: list[list[str]]) -> bool:
    """Every target is checked for each agentperf configuration against the same pyperf runs."""
    pyperf_name = "pyperf bench_func" if pyperf_mode == "func" else "pyperf timeit"
    print(f"Part 1: {pyperf_name}{' --fast' if fast else ''} vs agentperf bench, "
          f"{reps} repetitions each, alternating, every run in fresh processes")
    for index, extra in enumerate(configs):
        print(f"  config {index}: agentperf bench {' '.join(extra) or '(defaults)'}")
    print(f"\n{'function':<12} {'cfg':>3} {'pyperf mean':>12} {'pyperf med':>11} "
          f"{'agentperf time':>14} {'diff':>7} {'CV pyperf':>10} {'CV agentperf':>13} "
          f"{'CV ratio':>9} {'wall pyperf':>12} {'wall agentperf':>15}")
    ok = True
    for function in FUNCTIONS:
        py = ToolRuns([], [], [])
        aps = [ToolRuns([], [], []) for _ in configs]
        for _ in range(reps):
            _record(py, pyperf_mean(function, fast, pyperf_mode))
            for ap, extra in zip(aps, configs, strict=True):
                _record(ap, agentperf_time(function, fast, extra))
        for index, ap in enumerate(aps):
            diff = ap.center / py.center - 1
            cv_ratio = ap.cv / py.cv if py.cv else float("inf")
            ok &= abs(diff) <= 0.05 and cv_ratio <= 1.5
            print(f"{function:<12} {index:>3} {py.center * 1e6:>9.3f} us "
                  f"{statistics.fmean(py.medians) * 1e6:>8.3f} us {ap.center * 1e6:>11.3f} us "
                  f"{diff:>+7.1%} {py.cv:>10.2%} {ap.cv:>13.2%} {cv_ratio:>8.2f}x "
                  f"{statistics.fmean(py.walls):>10.1f} s {statistics.fmean(ap.walls):>13.1f} s")
            print(f"{'':<16} runs: pyperf {_us(py.values)}; agentperf {_us(ap.values)}")
    print("\ndiff = agentperf time / pyperf mean - 1; targets: |diff| <= 5%, CV ratio <= 1.5x")
    return ok


def _record(runs: ToolRuns, measured: tuple[float, float, float]) -> None:
    value, median, wall = measured
    runs.values.append(value)
    runs.medians.append(median)
    runs.walls.append(wall)


def _us(values: list[float]) -> str:
    return " ".join(f"{v * 1e6:.3f}" for v in values)


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
    parser.add_argument("--agentperf-args", action="append", default=None,
                        help="options for agentperf bench in part 1, e.g. '--processes 4'; "
                             "repeat to compare several configurations (default: none)")
    parser.add_argument("--pyperf", choices=("func", "timeit"), default="func",
                        help="pyperf's Runner.bench_func (default) or python -m pyperf timeit")
    args = parser.parse_args()
    configs = [extra.split() for extra in (args.agentperf_args or [""])]
    sys.path[:0] = [str(REPO), str(HERE)]
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    ok = True
    if not args.skip_accuracy:
        ok &= accuracy(args.reps, args.quick, args.pyperf, configs)
    ok &= detection(args.trials, args.samples, args.min_time, args.gate)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}; all targets met: {ok}")


if __name__ == "__main__":
    main()
