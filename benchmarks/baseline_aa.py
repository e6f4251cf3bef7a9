"""A/A across separate runs: the unchanged function against its own saved baseline.

    python benchmarks/baseline_aa.py [--pairs 10] [--function join_words]
        [--agentperf-args '--processes 0' ...]

What ``agentperf bench WORKLOAD --compare baseline.json --fail-if-slower 5%`` does in
CI, with no code change in between: two separate ``agentperf bench --save`` runs of
the same function, then ``agentperf bench compare``. Counts how often the verdict
is significant and how often the 5 % gate fails, for each configuration (default:
``--processes 0``, this process only, against the default ``auto``). Every failure
here is a false alarm.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_accuracy import subprocess_env

HERE = Path(__file__).resolve().parent


def _agentperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentperf", "bench", *args],
                          env=subprocess_env(), cwd=HERE, capture_output=True, text=True)


def pair(function: str, extra: list[str], tmp: Path) -> tuple[float, str, bool]:
    """(ratio of medians, verdict, gate failed) of one A/A pair of separate runs."""
    for name in ("a", "b"):
        _agentperf(f"bench_accuracy:{function}", "--no-memory", "-q", "--save",
                   str(tmp / f"{name}.json"), *extra).check_returncode()
    done = _agentperf("compare", str(tmp / "a.json"), str(tmp / "b.json"), "--json",
                      "--fail-if-slower", "5%")
    result = json.loads(done.stdout)
    time = result["comparison"]["benchmarks"][0]["time"]
    return time["ratio"], time["verdict"], bool(result["gate_failed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--function", default="join_words")
    parser.add_argument("--agentperf-args", action="append", default=None)
    args = parser.parse_args()
    configs = [extra.split() for extra in (args.agentperf_args or ["--processes 0", ""])]
    print(f"{args.pairs} A/A pairs of separate runs of {args.function}, "
          f"compared with --fail-if-slower 5%\n")
    print(f"{'configuration':<28} {'significant':>11} {'gate failed':>11}  ratios")
    with tempfile.TemporaryDirectory() as tmp:
        for extra in configs:
            results = [pair(args.function, extra, Path(tmp)) for _ in range(args.pairs)]
            significant = sum(verdict != "no significant change" for _, verdict, _ in results)
            failed = sum(gate for _, _, gate in results)
            ratios = " ".join(f"{ratio:.3f}" for ratio, _, _ in results)
            print(f"{' '.join(extra) or '(defaults)':<28} {significant:>8}/{args.pairs} "
                  f"{failed:>8}/{args.pairs}  {ratios}")


if __name__ == "__main__":
    main()
