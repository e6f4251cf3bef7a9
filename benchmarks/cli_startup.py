"""How long ``agentperf --help`` and each subcommand's ``--help`` take, against a bare app.

    python benchmarks/cli_startup.py [--rounds 15] [--repo PATH]

``--repo`` times another checkout's agentperf (an older commit, for a before/after).

The reference is the smallest useful Typer program: one command, one option, Rich help
(``rich_markup_mode="rich"``), run as ``python bare.py --help``. Every round runs each
command once, in a shuffled order, so load from other jobs hits all of them alike; the
figure is the median wall time of a fresh interpreter per command, and the ratio is
that median over the bare app's. Target (issue 18): every ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.25
BARE_APP = '''\
import typer

app = typer.Typer(rich_markup_mode="rich")


@app.command()
def main(name: str = typer.Option("world", help="Who to greet.")) -> None:
    """Say hello."""
    print(f"hello {name}")


app()
'''
HELPS = (
    [],
    ["run-batch"],
    ["bench"],
    ["bench", "compare"],
    ["profile"],
    ["monitor"],
    ["cache", "stats"],
)


def commands(bare: Path) -> dict[str, list[str]]:
    agentperf = [sys.executable, "-m", "agentperf"]
    table = {"bare typer app: main --help": [sys.executable, str(bare), "--help"]}
    for words in HELPS:
        table[" ".join(["agentperf", *words, "--help"])] = [*agentperf, *words, "--help"]
    return table


def run_once(argv: list[str], repo: Path = REPO) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-400:]}")
    return elapsed


def measure(
    table: dict[str, list[str]], rounds: int, seed: int, repo: Path = REPO
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in table}
    names = list(table)
    for name in names:  # warm the file cache and .pyc files, not timed
        run_once(table[name], repo)
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            times[name].append(run_once(table[name], repo))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP, encoding="utf-8")
        times = measure(commands(bare), args.rounds, args.seed, args.repo.resolve())
    reference = statistics.median(next(iter(times.values())))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"median of {args.rounds} alternated runs each; load average {load:.1f} on "
        f"{os.cpu_count()} cores; target <= {TARGET}x the bare app\n"
    )
    print("| command | median ms | ratio | target |\n|---|---:|---:|---|")
    worst = 0.0
    for name, samples in times.items():
        median = statistics.median(samples)
        ratio = median / reference
        if name.startswith("agentperf"):
            worst = max(worst, ratio)
        verdict = "PASS" if ratio <= TARGET else "FAIL"
        print(f"| `{name}` | {median * 1000:.0f} | {ratio:.2f}x | {verdict} |")
    print(f"\nworst agentperf ratio {worst:.2f}x: {'PASS' if worst <= TARGET else 'FAIL'}")


if __name__ == "__main__":
    main()
