"""Why bench_accuracy.py uses pyperf's bench_func, not ``pyperf timeit``.

    python benchmarks/timeit_churn.py [--processes 5]

``pyperf timeit`` compiles its statement template again before every value
(pyperf/_timeit.py, ``Timer.time_func`` -> ``make_inner``). Each fresh process
below times ``sort_floats`` four times at pyperf's loop count, three ways:

- ``once``: the timing function is built once, as bench_func and agentperf do;
- ``recompile``: it is rebuilt before every value, as pyperf timeit does;
- ``churn``: it is built once, but unrelated code is compiled between values.

If ``recompile`` and ``churn`` are slower than ``once`` after the first value, the
compile step itself (what it leaves in the allocator) is the cost, not timing.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOOPS = 4096
VALUES = 4
TEMPLATE = """
def inner(_it, _timer):
    from bench_accuracy import sort_floats
    _t0 = _timer()
    for _i in _it:
        sort_floats()
    return _timer() - _t0
"""
MODES = ("once", "recompile", "churn")


def _make_inner() -> Callable[..., float]:
    namespace: dict[str, object] = {}
    exec(compile(TEMPLATE, "<timeit-src>", "exec"), {}, namespace)
    return namespace["inner"]  # type: ignore[return-value]


def _time(inner: Callable[..., float]) -> float:
    return inner(itertools.repeat(None, LOOPS), time.perf_counter) / LOOPS


def values(mode: str) -> list[float]:
    """Seconds per call of each value, in this process."""
    sys.path.insert(0, str(HERE))
    inner = _make_inner()
    out = []
    for _ in range(VALUES):
        if mode == "recompile":
            inner = _make_inner()
        elif mode == "churn":
            _make_inner()
        out.append(_time(inner))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(" ".join(repr(v) for v in values(args.child)))
        return
    later: dict[str, list[float]] = {mode: [] for mode in MODES}
    first: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.processes):
        for mode in MODES:  # alternating, so machine drift falls on every mode alike
            done = subprocess.run([sys.executable, __file__, "--child", mode], check=True,
                                  capture_output=True, text=True)
            measured = [float(v) for v in done.stdout.split()]
            first[mode].append(measured[0])
            later[mode].extend(measured[1:])
    base = statistics.median(later["once"])
    print(f"sort_floats, {args.processes} processes per mode, {LOOPS} loops per value")
    print(f"{'mode':<10} {'first value':>12} {'later values':>13} {'vs once':>8}")
    for mode in MODES:
        median = statistics.median(later[mode])
        print(f"{mode:<10} {statistics.median(first[mode]) * 1e6:>9.1f} us "
              f"{median * 1e6:>10.1f} us {median / base - 1:>+8.1%}")


if __name__ == "__main__":
    main()
