"""pyperf's own function benchmark of one function of bench_accuracy.py.

    python benchmarks/pyperf_function.py FUNCTION [pyperf options]

``Runner.bench_func`` calls the function itself in a loop, as ``agentperf bench
module:function`` does. ``pyperf timeit`` instead recompiles a statement before every
value, and that churn moves the heap enough to slow some functions (sort_floats by
about 10 %); see benchmarks/README.md.
"""

from __future__ import annotations

import bench_accuracy
import pyperf


def _pass_function(cmd: list[str], args: object) -> None:
    cmd.append(args.function)  # type: ignore[attr-defined]


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_pass_function)
    runner.argparser.add_argument("function", choices=(*bench_accuracy.FUNCTIONS, "empty"))
    args = runner.parse_args()
    runner.bench_func(args.function, getattr(bench_accuracy, args.function))


if __name__ == "__main__":
    main()
