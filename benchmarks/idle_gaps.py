"""Samples taken back to back against samples with an idle gap before each.

    python benchmarks/idle_gaps.py [--processes 3]

Each fresh process times ``sum_squares`` from bench_accuracy.py in ten 100 ms
samples after one warm-up, either back to back or sleeping ``--gap`` seconds before
each sample. On the 2-core VM of benchmarks/README.md the samples after a gap were
1-10 % faster from run to run: a schedule that takes samples in turn across idle worker processes
measures a speed that sustained work never sees, which is why ``agentperf bench``
samples each worker in one block.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOOPS = 11_000  # about 100 ms of sum_squares
SAMPLES = 10


def _sample() -> float:
    from bench_accuracy import sum_squares

    calls = itertools.repeat(None, LOOPS)
    start = time.perf_counter_ns()
    for _ in calls:
        sum_squares()
    return (time.perf_counter_ns() - start) / LOOPS / 1e3


def child(gap_s: float) -> float:
    """Median microseconds per call over the samples of this process."""
    sys.path.insert(0, str(HERE))
    _sample()
    samples = []
    for _ in range(SAMPLES):
        if gap_s:
            time.sleep(gap_s)
        samples.append(_sample())
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--gap", type=float, default=0.2)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(child(args.child))
        return
    medians: dict[str, list[float]] = {"back to back": [], f"{args.gap:g} s gap": []}
    for _ in range(args.processes):
        for label, gap in zip(medians, (0.0, args.gap), strict=True):
            done = subprocess.run([sys.executable, __file__, "--child", str(gap)],
                                  check=True, capture_output=True, text=True)
            medians[label].append(float(done.stdout))
    base = statistics.median(medians["back to back"])
    for label, values in medians.items():
        median = statistics.median(values)
        print(f"{label:<14} {median:7.2f} us per call ({' '.join(f'{v:.2f}' for v in values)})"
              f"  {median / base - 1:+.1%}")


if __name__ == "__main__":
    main()
