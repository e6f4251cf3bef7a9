"""Ctrl-C and SIGTERM at seeded pseudo-random moments, every mode x cache on/off.

Each run starts ``agentperf run-batch`` on a slow agent (50 ms a task, 5,000 inputs,
2 workers), waits for a seeded number of results plus a seeded delay, then sends
SIGINT to the process group (as a terminal's Ctrl-C does) or SIGTERM to agentperf
alone, alternating by seed. A run counts as clean when it exits 130, prints the JSON
summary, and its results file holds exactly the summary's tasks, each index once.

    python benchmarks/faults.py            # 20 runs per cell, about 3 minutes on 2 cores
    python benchmarks/faults.py --runs 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
MODES = ("sequential", "threads", "asyncio", "processes")
INPUTS = 5000


@dataclass
class Cell:
    mode: str
    cache: bool
    runs: int = 0
    exit_130: int = 0
    summary: int = 0
    consistent: int = 0
    stop_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def one_run(work: Path, mode: str, cache: bool, rng: random.Random) -> dict:
    cache_yaml = f"{{enabled: true, dir: {work / 'cache'}}}" if cache else "{enabled: false}"
    spec = work / "spec.yaml"
    spec.write_text(f"agent: batch_agents:slow\n"
                    f"inputs: {{generator: batch_inputs:count, args: {{n: {INPUTS}}}}}\n"
                    f"execution: {{mode: {mode}, workers: 2}}\ncache: {cache_yaml}\n")
    (work / "batch_inputs.py").write_text("def count(n):\n    yield from range(n)\n")
    out = work / "r.jsonl"
    out.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS), str(work)]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec), "-o", str(out), "--json"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True)
    wanted = rng.randint(1, 40)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= wanted:
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.5))
    signum = rng.choice([signal.SIGINT, signal.SIGTERM])
    try:
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
    except ProcessLookupError:
        pass  # it ended before the signal: judged like any run (its exit code is not 130)
    sent = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    stop_s = time.monotonic() - sent
    lines = out.read_text().splitlines() if out.exists() else []
    return {"code": proc.returncode, "stdout": stdout, "stderr": stderr, "lines": lines,
            "stop_s": stop_s, "signal": signal.Signals(signum).name}


def judge(cell: Cell, run: dict) -> None:
    cell.runs += 1
    cell.stop_s.append(run["stop_s"])
    cell.exit_130 += run["code"] == 130
    try:
        summary = json.loads(run["stdout"])
    except ValueError:
        cell.failures.append(f"{run['signal']}: exit {run['code']}, no summary: "
                             f"{run['stderr'].strip().splitlines()[-1:]}")
        return
    cell.summary += 1
    try:
        indices = [json.loads(line)["index"] for line in run["lines"]]
    except ValueError:
        indices = None
    total = summary["tasks"]["total"]
    if indices is not None and len(indices) == total == len(set(indices)):
        cell.consistent += 1
    else:
        cell.failures.append(f"{run['signal']}: {total} in the summary, "
                             f"{len(run['lines'])} lines in the results file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per cell")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    cells = [Cell(mode, cache) for mode in MODES for cache in (False, True)]
    with tempfile.TemporaryDirectory() as tmp:
        for cell in cells:
            rng = random.Random(f"{args.seed}-{cell.mode}-{cell.cache}")
            for i in range(args.runs):
                work = Path(tmp) / f"{cell.mode}-{cell.cache}-{i}"
                work.mkdir()
                judge(cell, one_run(work, cell.mode, cell.cache, rng))
    print(f"{'cell':<22} {'runs':>4} {'exit 130':>8} {'summary':>7} {'consistent':>10} "
          f"{'max stop s':>10}")
    for cell in cells:
        name = f"{cell.mode} cache {'on' if cell.cache else 'off'}"
        print(f"{name:<22} {cell.runs:>4} {cell.exit_130:>8} {cell.summary:>7} "
              f"{cell.consistent:>10} {max(cell.stop_s):>10.2f}")
    for cell in cells:
        for failure in cell.failures:
            print(f"  {cell.mode} cache {'on' if cell.cache else 'off'}: {failure}")


if __name__ == "__main__":
    main()
