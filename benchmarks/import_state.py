"""One function's speed after different imports, in fresh processes, one timing loop.

    python benchmarks/import_state.py [--function join_words] [--runs 8]

bench_accuracy.py found agentperf's time for ``join_words`` (0.7 us) 5-9 % below
pyperf's. This times the function with the same loop (``fn()`` over
``itertools.repeat``, 3 x 100,000 calls after 20,000 warm-up calls) in fresh
interpreters that first import nothing, pyperf, or agentperf's bench worker, in
alternation: if the three differ, the difference is the process's state (the heap the
imports leave), not either tool's measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = """
import itertools, sys, time
if sys.argv[1] == "agentperf":
    import agentperf.bench.worker  # noqa: F401
elif sys.argv[1] == "pyperf":
    import pyperf  # noqa: F401
import bench_accuracy
fn = getattr(bench_accuracy, sys.argv[2])
for _ in range(20_000):
    fn()
loops = []
for _ in range(3):
    it = itertools.repeat(None, 100_000)
    t0 = time.perf_counter_ns()
    for _ in it:
        fn()
    loops.append((time.perf_counter_ns() - t0) / 100_000)
print(sum(loops) / len(loops))
"""
PRELUDES = ("nothing", "pyperf", "agentperf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", default="join_words")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    times: dict[str, list[float]] = {p: [] for p in PRELUDES}
    for _ in range(args.runs):
        for prelude in PRELUDES:
            done = subprocess.run([sys.executable, "-c", CHILD, prelude, args.function],
                                  env=env, capture_output=True, text=True, check=True)
            times[prelude].append(float(done.stdout))
    print(f"{args.function}, ns per call, {args.runs} fresh processes each, alternated")
    for prelude, values in times.items():
        listed = " ".join(f"{v:.0f}" for v in sorted(values))
        print(f"  after importing {prelude:<10} median {statistics.median(values):6.0f}   {listed}")


if __name__ == "__main__":
    main()
