"""Whole-process cost of ``agentperf run-batch`` against raw scripts, as subprocesses.

Used by ``benchmarks/executor.py`` (its ``--whole`` part). The in-process figures there
time the executor alone; these time what a user runs: a fresh interpreter, the CLI, the
spec, the sampler, the tally, the summary. Start-up is taken out by measuring each side at
two input counts and reporting the slope, (t(big) - t(small)) / (big - small): the cost
per task that grows with the run.

Both sides read their inputs from the same generator (``range``) and call the same no-op
agent, in a module written to a temporary directory; agentperf runs with no cache and
no results file (each of those is measured separately, beside it).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# No imports: an ``async def`` needs no ``import asyncio``, and the one-input start-up
# figures below would otherwise count ~15 ms of the agent's own imports as agentperf's.
AGENT_MODULE = """
def noop(x):
    return x


async def async_noop(x):
    return x


def numbers(count):
    return iter(range(count))
"""

#: What pip writes for ``[project.scripts] agentperf = "agentperf.cli.app:main"``.
CONSOLE_SCRIPT = """import sys
from agentperf.cli.app import main
if __name__ == "__main__":
    sys.exit(main())
"""

#: One task through a bare forkserver pool: what processes mode's start-up cannot avoid.
RAW_POOL_START = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from apbench_agents import noop
if __name__ == "__main__":
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor({workers}, mp_context=context) as pool:
        pool.submit(noop, 1).result()
"""

RAW_SCRIPTS = {
    "sequential": """
import sys
from apbench_agents import noop, numbers
for _ in map(noop, numbers(int(sys.argv[1]))):
    pass
""",
    "threads": """
import sys
from concurrent.futures import ThreadPoolExecutor
from apbench_agents import noop, numbers
with ThreadPoolExecutor({workers}) as pool:
    for _ in pool.map(noop, numbers(int(sys.argv[1]))):
        pass
""",
    "processes": """
import sys
from concurrent.futures import ProcessPoolExecutor
from apbench_agents import noop, numbers
if __name__ == "__main__":
    with ProcessPoolExecutor({workers}) as pool:
        for _ in pool.map(noop, numbers(int(sys.argv[1])), chunksize=1000):
            pass
""",
    "asyncio": """
import asyncio, sys
from apbench_agents import async_noop, numbers

async def main(count):
    inputs = numbers(count)

    async def worker():
        for value in inputs:
            await async_noop(value)

    await asyncio.gather(*(worker() for _ in range({workers})))

asyncio.run(main(int(sys.argv[1])))
""",
}

RAW_NAMES = {
    "sequential": "plain loop",
    "threads": "ThreadPoolExecutor({workers}).map",
    "processes": "ProcessPoolExecutor({workers}).map(chunksize=1000)",
    "asyncio": "{workers} asyncio worker coroutines",
}

WORKERS = {"sequential": 1, "threads": 8, "processes": 2, "asyncio": 100}
AGENTS = {"asyncio": "async_noop"}


@dataclass
class Slope:
    """Per-task cost in microseconds from runs at two counts, one figure per repeat:
    wall time (the target) and CPU time (steadier on a shared machine)."""

    label: str
    per_task_us: list[float]
    cpu_us: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.per_task_us)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_us)

    @property
    def spread(self) -> str:
        return f"{min(self.per_task_us):.2f}..{max(self.per_task_us):.2f}"


@dataclass
class Added:
    """agentperf's slope minus the raw slope, paired repeat by repeat."""

    mode: str
    raw_name: str
    ours: Slope
    raw: Slope
    #: The same agentperf command run from another checkout (``--against``), if asked.
    before: Slope | None = None

    @property
    def added(self) -> list[float]:
        return [o - r for o, r in zip(self.ours.per_task_us, self.raw.per_task_us, strict=True)]

    @property
    def added_median(self) -> float:
        return statistics.median(self.added)

    @property
    def added_spread(self) -> str:
        return f"{min(self.added):+.2f}..{max(self.added):+.2f}"

    @property
    def added_cpu_median(self) -> float:
        pairs = zip(self.ours.cpu_us, self.raw.cpu_us, strict=True)
        return statistics.median(o - r for o, r in pairs)

    def before_added(self, cpu: bool = False) -> float:
        """The other checkout's added cost, paired with the same repeats' raw runs."""
        assert self.before is not None
        theirs = self.before.cpu_us if cpu else self.before.per_task_us
        raw = self.raw.cpu_us if cpu else self.raw.per_task_us
        return statistics.median(b - r for b, r in zip(theirs, raw, strict=True))


class Workspace:
    """A temporary directory with the agent module, the specs and the raw scripts."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="apbench-")
        self.root = Path(self._tmp.name)
        (self.root / "apbench_agents.py").write_text(AGENT_MODULE)
        self.script = self.root / "agentperf"
        self.script.write_text(CONSOLE_SCRIPT)
        # Bytecode is written (and reused) as for an installed package: with
        # PYTHONDONTWRITEBYTECODE set, every run would compile agentperf's sources again.
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {
            **environ,
            "PYTHONPATH": os.pathsep.join(
                [str(self.root), str(Path(__file__).resolve().parent.parent)]
            ),
            # The cache's default directory is the user's; these runs keep theirs private.
            "XDG_CACHE_HOME": str(self.root / "xdg-cache"),
        }
        self._dirs = 0

    def close(self) -> None:
        self._tmp.cleanup()

    def spec(self, mode: str, count: int, cache: str = "") -> Path:
        """The no-op workload; ``cache`` names tiers for a ``cache:`` section (none: off)."""
        path = self.root / f"spec-{mode}-{count}{cache and '-' + cache}.yaml"
        if not path.exists():
            agent = AGENTS.get(mode, "noop")
            section = f"cache:\n  tiers: [{cache}]\n" if cache else ""
            path.write_text(
                f"name: noop-{mode}\nagent: apbench_agents:{agent}\n"
                f"inputs:\n  generator: apbench_agents:numbers\n  args: {{count: {count}}}\n"
                f"execution:\n  mode: {mode}\n  workers: {WORKERS[mode]}\n{section}"
            )
        return path

    def fresh_dir(self) -> str:
        """A new, empty directory: every run on its own gets an empty disk cache."""
        self._dirs += 1
        return str(self.root / f"cache-{self._dirs}")

    def raw_script(self, mode: str) -> Path:
        path = self.root / f"raw_{mode}.py"
        if not path.exists():
            path.write_text(RAW_SCRIPTS[mode].format(workers=WORKERS[mode]))
        return path

    def agentperf(self, *args: str) -> list[str]:
        """``agentperf ARGS`` as a user runs it: through the console script, which every
        worker process runs again (``python -m`` spares them that)."""
        return [sys.executable, str(self.script), *args]

    def agentperf_at(self, checkout: Path, *args: str) -> list[str]:
        """agentperf from another checkout (its package first on the path), same Python.

        The ``env`` exec costs the same at both input counts, so the slope drops it."""
        path = os.pathsep.join([str(self.root), str(checkout.resolve())])
        return ["env", f"PYTHONPATH={path}", *self.agentperf(*args)]

    def run(self, argv: Sequence[str]) -> float:
        """Wall time of one subprocess, which must exit 0."""
        return self.measure(argv)[0]

    def run_together(self, argvs: Sequence[Sequence[str]]) -> float:
        """Wall time of several subprocesses started at once, until the last has exited
        (and closed its output); each must exit 0."""
        start = time.perf_counter()
        procs = [subprocess.Popen(argv, cwd=self.root, env=self.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for argv in argvs]
        for argv, proc in zip(argvs, procs, strict=True):
            assert proc.stderr is not None
            stderr = proc.stderr.read()
            if proc.wait() != 0:
                raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr}")
            proc.stderr.close()
        return time.perf_counter() - start

    def raw_pool_start(self) -> list[str]:
        path = self.root / "raw_pool_start.py"
        if not path.exists():
            path.write_text(RAW_POOL_START.format(workers=WORKERS["processes"]))
        return [sys.executable, str(path)]

    def measure(self, argv: Sequence[str]) -> tuple[float, float]:
        """Wall time and CPU time (user + system, its reaped children included) of one
        subprocess, which must exit 0. CPU time barely moves with the machine's load, so
        it says what a run costs when the wall clock is blurred by other jobs."""
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr}")
        return elapsed, usage.ru_utime + usage.ru_stime


Command = Callable[[int], list[str]]


def slopes(
    ws: Workspace, commands: dict[str, Command], counts: tuple[int, int], repeats: int
) -> dict[str, Slope]:
    """Each command at both counts, alternated command by command within each repeat."""
    small, big = counts
    result = {name: Slope(name, []) for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            wall_small, cpu_small = ws.measure(command(small))
            wall_big, cpu_big = ws.measure(command(big))
            result[name].per_task_us.append((wall_big - wall_small) / (big - small) * 1e6)
            result[name].cpu_us.append((cpu_big - cpu_small) / (big - small) * 1e6)
    return result


def mode_commands(ws: Workspace, mode: str, against: Path | None = None) -> dict[str, Command]:
    raw = ws.raw_script(mode)
    commands: dict[str, Command] = {
        "agentperf": lambda n: ws.agentperf("run-batch", str(ws.spec(mode, n)), "-q"),
        "raw": lambda n: [sys.executable, str(raw), str(n)],
    }
    if against is not None:
        commands["before"] = lambda n: ws.agentperf_at(
            against, "run-batch", str(ws.spec(mode, n)), "-q"
        )
    return commands


def modes_added(
    ws: Workspace,
    modes: Sequence[str],
    counts: tuple[int, int],
    repeats: int,
    against: Path | None = None,
) -> list[Added]:
    """Every mode's agentperf and raw commands (and ``against``'s agentperf: a before and
    after in one session), all alternated within each repeat."""
    commands: dict[str, Command] = {}
    for mode in modes:
        for side, command in mode_commands(ws, mode, against).items():
            commands[f"{mode}/{side}"] = command
    found = slopes(ws, commands, counts, repeats)
    return [
        Added(
            mode,
            RAW_NAMES[mode].format(workers=WORKERS[mode]),
            found[f"{mode}/agentperf"],
            found[f"{mode}/raw"],
            found.get(f"{mode}/before"),
        )
        for mode in modes
    ]


def extras(ws: Workspace, counts: tuple[int, int], repeats: int) -> dict[str, Added]:
    """Per-task cost of a results file (per row) and of the cache (every task a miss), in
    sequential mode: each run's slope against the plain run's slope of the same repeat.
    The disk tier costs ~100x more per task, so it runs at a tenth of the counts."""
    out = ws.root / "results.jsonl"

    def plain(n: int) -> list[str]:
        return ws.agentperf("run-batch", str(ws.spec("sequential", n)), "-q")

    found = slopes(
        ws,
        {
            "plain": plain,
            "results file (-o), per row": lambda n: [*plain(n), "-o", str(out)],
            "cache, memory tier (spec tiers: [memory])": lambda n: ws.agentperf(
                "run-batch", str(ws.spec("sequential", n, cache="memory")), "-q"
            ),
        },
        counts,
        repeats,
    )
    base = found.pop("plain")
    rows = {
        name: Added(name, "no results file, no cache", slope, base) for name, slope in found.items()
    }
    small = (counts[0] // 10, counts[1] // 10)
    disk = slopes(
        ws,
        {
            "plain": plain,
            "cache, memory + disk tiers (--cache-dir, empty)": lambda n: [
                *plain(n),
                "--cache-dir",
                ws.fresh_dir(),
            ],
        },
        small,
        repeats,
    )
    base = disk.pop("plain")
    rows.update(
        {
            f"{name}, {small[0]:,} -> {small[1]:,} inputs": Added(
                name, "no results file, no cache", slope, base
            )
            for name, slope in disk.items()
        }
    )
    return rows


@dataclass
class Startup:
    """Median wall time of a command, next to ``agentperf --help``'s in the same run."""

    label: str
    times: list[float]
    help_times: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.times) / statistics.median(self.help_times)


#: Labels of the rows :func:`startups` adds for processes mode's floor (no target).
RAW_POOL = "raw forkserver pool"
FLOOR = "sequential || raw pool"


def startups(ws: Workspace, modes: Sequence[str], repeats: int,
             against: Path | None = None) -> list[Startup]:
    """A one-input run-batch in each explicit mode against ``agentperf --help``, alternated;
    with ``against``, the same run from that checkout too (label ``MODE before``).

    With processes among ``modes``, two rows for its floor: one task through a bare
    forkserver pool (:data:`RAW_POOL`), and that pool and a one-input sequential run
    started at the same moment (:data:`FLOOR`). A processes run does at least the work
    of both, and cannot start its pool before it has read the mode, so the second row is
    as fast as it could ever be on this machine."""
    help_argv = ws.agentperf("--help")

    def one_input(mode: str, checkout: Path | None) -> list[str]:
        args = ("run-batch", f"apbench_agents:{AGENTS.get(mode, 'noop')}", "-i", "1",
                "-m", mode, "-q")
        return ws.agentperf_at(checkout, *args) if checkout else ws.agentperf(*args)

    runs = {mode: [one_input(mode, None)] for mode in modes}
    if against is not None:
        runs.update({f"{mode} before": [one_input(mode, against)] for mode in modes})
    if "processes" in modes:
        runs[RAW_POOL] = [ws.raw_pool_start()]
        runs[FLOOR] = [one_input("sequential", None), ws.raw_pool_start()]
    help_times: list[float] = []
    times: dict[str, list[float]] = {label: [] for label in runs}
    ws.run(help_argv)  # warm the file cache and the bytecode
    for argvs in runs.values():
        ws.run_together(argvs)
    for _ in range(repeats):
        for label, argvs in runs.items():
            help_times.append(ws.run(help_argv))
            times[label].append(ws.run_together(argvs))
    return [Startup(label, values, help_times) for label, values in times.items()]
