"""What agentperf's own objects cost a workload's garbage collections, in one run.

    python benchmarks/gc_pauses.py [--rounds N] [--tasks N]

run-batch freezes its start-up out of the collector's view as the clock starts
(``agentperf.measure.collector``). This runs the same command line both ways, in fresh
interpreters, alternated: as the program does (frozen), and with the freeze turned off
(``owns_process`` patched to False, which is what an in-process caller gets). The agent
makes cyclic garbage on every call and keeps a little of it, so full (generation 2)
collections happen during the run, inside task latencies; it records each one's pause
with ``gc.callbacks``. Printed per variant, medians over the rounds: full collections,
their total and longest pause, and the tasks' p99, p99.9 and max latency from the
results file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

AGENT = '''
import gc, json, os, time

_pauses = []
_began = [0.0]


def _timed(phase, info):
    if info["generation"] == 2:
        if phase == "start":
            _began[0] = time.perf_counter()
        else:
            _pauses.append(time.perf_counter() - _began[0])


gc.callbacks.append(_timed)
_kept = []


class Node:
    def __init__(self, other=None):
        self.other = other


def churn(x):
    for i in range(300):
        a = Node()
        a.other = Node(a)
        if i % 50 == 0:
            _kept.append(a)
    if x == int(os.environ["GC_LAST_TASK"]):
        with open(os.environ["GC_PAUSES"], "w") as f:
            json.dump(_pauses, f)
    return x
'''

PROBE = """
import sys
import agentperf.cli.common as common
if {unfrozen}:
    common.owns_process = lambda: False
sys.argv = {argv!r}
from agentperf.cli.app import main
main()
"""


@dataclass
class Round:
    full_collections: int
    total_ms: float
    longest_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


def one_round(tmp: Path, inputs: Path, tasks: int, unfrozen: bool) -> Round:
    pauses, rows = tmp / "pauses.json", tmp / "rows.jsonl"
    argv = ["agentperf", "run-batch", "gc_agent:churn", "--inputs", str(inputs),
            "-m", "sequential", "-q", "-o", str(rows)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp)]),
           "GC_PAUSES": str(pauses), "GC_LAST_TASK": str(tasks - 1)}
    subprocess.run([sys.executable, "-c", PROBE.format(unfrozen=unfrozen, argv=argv)],
                   cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL)
    gaps = [p * 1000 for p in json.loads(pauses.read_text())]
    latencies = sorted(json.loads(line)["latency_s"] * 1000 for line in rows.open())
    n = len(latencies)
    return Round(len(gaps), sum(gaps), max(gaps, default=0.0), latencies[int(n * 0.99)],
                 latencies[int(n * 0.999)], latencies[-1])


def main() -> None:
    rounds = _option("--rounds", 5)
    tasks = _option("--tasks", 3000)
    results: dict[str, list[Round]] = {"frozen (the command)": [], "not frozen": []}
    with tempfile.TemporaryDirectory(prefix="apbench-gc-") as name:
        tmp = Path(name)
        (tmp / "gc_agent.py").write_text(AGENT)
        inputs = tmp / "inputs.jsonl"
        inputs.write_text("".join(f"{i}\n" for i in range(tasks)))
        for _ in range(rounds):
            for label, runs in results.items():
                runs.append(one_round(tmp, inputs, tasks, unfrozen=label == "not frozen"))
    print(f"{tasks:,} tasks making cyclic garbage, sequential, {rounds} alternated rounds "
          f"(medians); load average {os.getloadavg()[0]:.1f}")
    print(f"{'':22}{'full GCs':>9}{'GC total':>10}{'longest':>9}{'p99':>8}{'p99.9':>8}"
          f"{'max':>8}  (ms)")
    for label, runs in results.items():
        def med(field: str, runs: list[Round] = runs) -> float:
            return statistics.median(getattr(r, field) for r in runs)
        print(f"{label:22}{med('full_collections'):>9.0f}{med('total_ms'):>10.1f}"
              f"{med('longest_ms'):>9.1f}{med('p99_ms'):>8.3f}{med('p999_ms'):>8.2f}"
              f"{med('max_ms'):>8.2f}")


def _option(name: str, default: int) -> int:
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


if __name__ == "__main__":
    main()
