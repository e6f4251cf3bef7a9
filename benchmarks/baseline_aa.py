"""Separate runs against a saved baseline, as a CI job does: false alarms and detection.

    python benchmarks/baseline_aa.py [--pairs 40] [--function spin_scaled]
        [--slowdown 1.2] [--agentperf-args '--processes 0' ...]

Each trial is three separate default runs, one after another: ``agentperf bench
bench_accuracy:spin_scaled --save base.json`` (``--baseline-runs N``: N runs appended
with ``--append``), then the unchanged function with
``--compare base.json --fail-if-slower 5%`` (A/A), then the same function doing 20 %
more work (``AGENTPERF_SPIN_SCALE=1.2``) against the same baseline. Counts A/A verdicts
called significant (every one a false alarm; target at most 3 of 40), A/A gate
failures (target 0), and slowdowns the gate caught (target at least 38 of 40), and
prints the machine's load average before, during and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_accuracy import subprocess_env

HERE = Path(__file__).resolve().parent


def _agentperf(*args: str, scale: float = 1.0) -> subprocess.CompletedProcess[str]:
    env = {**subprocess_env(), "AGENTPERF_SPIN_SCALE": str(scale)}
    return subprocess.run([sys.executable, "-m", "agentperf", "bench", *args],
                          env=env, cwd=HERE, capture_output=True, text=True)


def _verdict(done: subprocess.CompletedProcess[str]) -> tuple[float, str, bool, str]:
    """(ratio, verdict, gate failed, the verdict's reason or "")."""
    if done.returncode not in (0, 1):
        raise SystemExit(f"agentperf failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    time = result["comparison"]["benchmarks"][0]["time"]
    return time["ratio"], time["verdict"], bool(result["gate_failed"]), time["reason"]


def trial(function: str, extra: list[str], slowdown: float, tmp: Path,
          baseline_runs: int = 1) -> tuple[tuple[float, str, bool, str],
                                           tuple[float, str, bool, str]]:
    """(A/A, A/B) results of one baseline (``baseline_runs`` runs appended) and two runs
    compared with it."""
    base = str(tmp / "base.json")
    (tmp / "base.json").unlink(missing_ok=True)
    for _ in range(baseline_runs):
        _agentperf(f"bench_accuracy:{function}", "--no-memory", "-q", "--save", base,
                   "--append", *extra).check_returncode()
    compare = [f"bench_accuracy:{function}", "--no-memory", "-q", "--json", "--compare",
               base, "--fail-if-slower", "5%", *extra]
    same = _verdict(_agentperf(*compare))
    slow = _verdict(_agentperf(*compare, scale=slowdown))
    return same, slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--function", default="spin_scaled")
    parser.add_argument("--slowdown", type=float, default=1.2)
    parser.add_argument("--agentperf-args", action="append", default=None)
    parser.add_argument("--baseline-runs", type=int, default=1,
                        help="separate runs appended to each baseline (--save --append)")
    args = parser.parse_args()
    configs = [extra.split() for extra in (args.agentperf_args or [""])]
    print(f"{args.pairs} trials of separate runs of {args.function}: a baseline, the same "
          f"code (A/A), and {args.slowdown:g}x the work (A/B), --fail-if-slower 5%")
    for extra in configs:
        loads = [os.getloadavg()[0]]
        same, slow = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.pairs):
                a, b = trial(args.function, extra, args.slowdown, Path(tmp),
                             args.baseline_runs)
                same.append(a)
                slow.append(b)
                loads.append(os.getloadavg()[0])
                print(f"  A/A {a[0]:.3f} {a[1]:<22} gate {'FAIL' if a[2] else 'ok':<4}   "
                      f"A/B {b[0]:.3f} {b[1]:<22} gate {'FAIL' if b[2] else 'ok'}   "
                      f"load {loads[-1]:.2f}", flush=True)
                for label, (_, verdict, failed, reason) in (("A/A", a), ("A/B", b)):
                    if reason and (label == "A/B") != failed:
                        print(f"      {label} {verdict}: {reason}", flush=True)
        significant = sum(v not in ("no significant change", "inconclusive")
                          for _, v, _, _ in same)
        inconclusive = sum(v == "inconclusive" for _, v, _, _ in same + slow)
        print(f"\nconfiguration: {' '.join(extra) or '(defaults)'}, baseline of "
              f"{args.baseline_runs} run(s)")
        print(f"  A/A called significant: {significant}/{args.pairs}")
        print(f"  A/A gate failures:      {sum(g for _, _, g, _ in same)}/{args.pairs}")
        print(f"  A/B gate caught it:     {sum(g for _, _, g, _ in slow)}/{args.pairs}")
        print(f"  inconclusive verdicts:  {inconclusive}/{2 * args.pairs}")
        print(f"  load average (1 min) during the runs: min {min(loads):.2f}, "
              f"max {max(loads):.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
