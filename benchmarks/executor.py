"""Dispatch throughput of each executor mode against its raw equivalent, in one run.

    python benchmarks/executor.py [--quick] [--in-process | --whole [--against CHECKOUT]]
    python benchmarks/executor.py --startup [--quick] [--against CHECKOUT]

Each row runs a no-op agent through agentperf (every task timed, one TaskResult per
task, sliding window, timeouts and retries available) and through the plain stdlib way
of doing the same, side by side, best of five interleaved runs each. Targets (2 cores):
agentperf >= 0.8x the raw throughput, or, where the raw way spends under 3 us per task,
at most 3 us added per task; and 10,000 tasks that each await 50 ms at concurrency
1,000 within 1.2x of the ideal 0.5 s.

The whole-process part (``--whole``, see ``whole_run.py``) runs ``agentperf run-batch``
and the raw scripts as subprocesses at two input counts and reports the slope: at most
3 us added per task in every mode, start-up excluded; a one-input run-batch within 2x of
``agentperf --help``; the results file's cost per row and the cache's per task beside it.
``--against CHECKOUT`` also runs another checkout's agentperf (e.g. ``git worktree add
/tmp/base main``) in the same repeats, for a before and after in one session, and
stops after the per-mode table.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from agentperf.execution import Task, create_executor  # noqa: E402
from agentperf.execution.settings import ExecutionSettings  # noqa: E402
from agentperf.workload.adapters import AgentRef  # noqa: E402

RATIO_TARGET = 0.8
ADDED_US_TARGET = 3.0
IO_TARGET = 1.2
STARTUP_TARGET = 2.0
REPEATS = 5


def noop(x: Any) -> Any:
    return x


async def async_noop(x: Any) -> Any:
    return x


async def io_50ms(x: Any) -> Any:
    await asyncio.sleep(0.05)
    return x


def agent(name: str) -> AgentRef:
    """This file, imported by module name, so worker processes can rebuild the agent."""
    return AgentRef(f"{Path(__file__).stem}:{name}", search_paths=(str(HERE),))


def agentperf_run(name: str, mode: str, count: int, **settings: Any) -> float:
    done = 0
    with create_executor(agent(name), ExecutionSettings(mode=mode, **settings)) as executor:
        start = time.perf_counter()
        for result in executor.run(Task(i, i) for i in range(count)):
            done += result.ok
        elapsed = time.perf_counter() - start
    assert done == count, f"{mode}: {done} of {count} succeeded"
    return elapsed


def raw_loop(count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        noop(i)
    return time.perf_counter() - start


def raw_threads(count: int, workers: int) -> float:
    with ThreadPoolExecutor(workers) as pool:
        start = time.perf_counter()
        for _ in pool.map(noop, range(count)):
            pass
        return time.perf_counter() - start


def raw_processes(count: int, workers: int, chunksize: int) -> float:
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(noop, range(workers * 10)))  # workers started, as ours are
        start = time.perf_counter()
        for _ in pool.map(noop, range(count), chunksize=chunksize):
            pass
        return time.perf_counter() - start


def raw_asyncio(count: int, concurrency: int, fn: Callable[[Any], Any] = async_noop) -> float:
    async def main() -> None:
        inputs = iter(range(count))

        async def worker() -> None:
            for value in inputs:
                await fn(value)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


@dataclass
class Row:
    mode: str
    raw_name: str
    count: int
    ours_s: float
    raw_s: float

    @property
    def ratio(self) -> float:
        return self.raw_s / self.ours_s

    @property
    def raw_us(self) -> float:
        return self.raw_s / self.count * 1e6

    @property
    def added_us(self) -> float:
        return (self.ours_s - self.raw_s) / self.count * 1e6

    @property
    def verdict(self) -> str:
        if self.ratio >= RATIO_TARGET:
            return f"PASS (>= {RATIO_TARGET}x)"
        if self.raw_us < ADDED_US_TARGET:
            ok = self.added_us <= ADDED_US_TARGET
            return f"{'PASS' if ok else 'FAIL'} (+{self.added_us:.2f} us <= {ADDED_US_TARGET})"
        return f"FAIL (< {RATIO_TARGET}x)"


def paired(ours: Callable[[], float], raw: Callable[[], float]) -> tuple[float, float]:
    """Best of :data:`REPEATS` for each, interleaved so both see the same machine load."""
    times = [(ours(), raw()) for _ in range(REPEATS)]
    return min(t[0] for t in times), min(t[1] for t in times)


def main() -> None:
    quick = "--quick" in sys.argv
    if "--startup" in sys.argv:
        startup_only(quick)
        return
    if "--whole" not in sys.argv:
        in_process(quick)
    if "--in-process" not in sys.argv:
        whole(quick)


def whole(quick: bool) -> None:
    """Whole ``run-batch`` processes against raw scripts (see ``whole_run.py``)."""
    import whole_run

    # Both runs outlast the sampler's shortest span (0.1 s), so both read the machine's CPU
    # (a shorter run no longer waits for it, it just reads no CPU). 75,000 tasks: ~0.15 s.
    counts = (75_000, 150_000) if quick else (100_000, 300_000)
    repeats = 3 if quick else 5
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nWhole processes: run-batch -q (no cache, no results file) against raw scripts, "
          f"slope between {counts[0]:,} and {counts[1]:,} inputs, {repeats} alternated "
          f"repeats; load average {load:.1f} at start")
    print(f"{'mode':<12}{'agentperf us':>14}{'raw us':>8}{'added us':>10}{'spread':>15}"
          f"{'added CPU us':>14}  target (wall) / raw equivalent")
    against = _against()
    ws = whole_run.Workspace()
    try:
        for row in whole_run.modes_added(ws, list(whole_run.WORKERS), counts, repeats, against):
            ok = "PASS" if row.added_median <= ADDED_US_TARGET else "FAIL"
            print(f"{row.mode:<12}{row.ours.median:>14.2f}{row.raw.median:>8.2f}"
                  f"{row.added_median:>+10.2f}{row.added_spread:>15}"
                  f"{row.added_cpu_median:>+14.2f}  {ok} (<= {ADDED_US_TARGET} us) / "
                  f"{row.raw_name}")
            if row.before is not None:
                print(f"{'  before':<12}{row.before.median:>14.2f}{'':>8}"
                      f"{row.before_added():>+10.2f}{'':>15}{row.before_added(cpu=True):>+14.2f}"
                      f"  ({against})")
        if against is not None:
            return
        extra_counts = (counts[0] // 2, counts[1] // 2)
        print(f"Beside it, sequential, slope between {extra_counts[0]:,} and "
              f"{extra_counts[1]:,} inputs, {max(repeats - 2, 3)} alternated repeats:")
        for name, row in whole_run.extras(ws, extra_counts, max(repeats - 2, 3)).items():
            print(f"  {name}: {row.added_median:+.2f} us per task (spread {row.added_spread}; "
                  f"CPU {row.added_cpu_median:+.2f} us)")
        print("\nOne-input run-batch -m MODE against agentperf --help (medians, alternated):")
        for start in whole_run.startups(ws, list(whole_run.WORKERS), 5 if quick else 9):
            print(f"  {start.label:<23}{statistics.median(start.times) * 1000:>7.0f} ms vs "
                  f"{statistics.median(start.help_times) * 1000:.0f} ms = {start.ratio:.2f}x "
                  f"({_startup_verdict(start)})")
    finally:
        ws.close()


def startup_only(quick: bool) -> None:
    """Only the one-input start-up figures (``--startup``), ``--against`` a checkout."""
    import whole_run

    against = _against()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    repeats = 5 if quick else 9
    print(f"One-input run-batch -m MODE against agentperf --help, medians of {repeats}, "
          f"alternated; load average {load:.1f} at start")
    ws = whole_run.Workspace()
    try:
        for start in whole_run.startups(ws, list(whole_run.WORKERS), repeats, against):
            print(f"  {start.label:<23}{statistics.median(start.times) * 1000:>7.0f} ms "
                  f"(range {_spread_ms(start.times)}) vs "
                  f"{statistics.median(start.help_times) * 1000:.0f} ms = {start.ratio:.2f}x "
                  f"({_startup_verdict(start)})")
    finally:
        ws.close()


def _startup_verdict(start: Any) -> str:
    """PASS or FAIL against the target; the floor rows are context, not runs of ours."""
    import whole_run

    if start.label in (whole_run.RAW_POOL, whole_run.FLOOR):
        return "processes mode's floor, no target"
    ok = "PASS" if start.ratio <= STARTUP_TARGET else "FAIL"
    return f"{ok}, target <= {STARTUP_TARGET}x"


def _spread_ms(times: list[float]) -> str:
    return f"{min(times) * 1000:.0f}-{max(times) * 1000:.0f} ms"


def _against() -> Path | None:
    """The checkout given with ``--against``, if any."""
    if "--against" not in sys.argv:
        return None
    index = sys.argv.index("--against") + 1
    if index >= len(sys.argv) or not (Path(sys.argv[index]) / "agentperf").is_dir():
        sys.exit("error: --against: give a checkout of agentperf (a directory holding agentperf/)")
    return Path(sys.argv[index])


def in_process(quick: bool) -> None:
    scale = 0.2 if quick else 1.0

    def n(count: int) -> int:
        return int(count * scale)

    rows = [
        Row("sequential", "plain for loop", n(300_000), *paired(
            lambda: agentperf_run("noop", "sequential", n(300_000)),
            lambda: raw_loop(n(300_000)))),
        Row("threads (8)", "ThreadPoolExecutor(8).map", n(60_000), *paired(
            lambda: agentperf_run("noop", "threads", n(60_000), workers=8),
            lambda: raw_threads(n(60_000), 8))),
        Row("processes (2)", "ProcessPoolExecutor(2).map(chunksize=1000)", n(600_000), *paired(
            lambda: agentperf_run("noop", "processes", n(600_000), workers=2),
            lambda: raw_processes(n(600_000), 2, 1000))),
        Row("asyncio (100)", "100 asyncio worker coroutines", n(300_000), *paired(
            lambda: agentperf_run("async_noop", "asyncio", n(300_000), workers=100),
            lambda: raw_asyncio(n(300_000), 100))),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"no-op agent, best of {REPEATS} interleaved runs; throughput in tasks/s; "
          f"{os.cpu_count()} cores, load average {load:.1f} at start")
    print(f"{'mode':<15}{'agentperf':>12}{'raw':>12}{'ratio':>8}{'raw us':>9}{'added us':>10}"
          f"  target / raw equivalent")
    for row in rows:
        print(f"{row.mode:<15}{row.count / row.ours_s:>12,.0f}{row.count / row.raw_s:>12,.0f}"
              f"{row.ratio:>7.2f}x{row.raw_us:>9.2f}{row.added_us:>10.2f}  {row.verdict}"
              f" / {row.raw_name}")
    io_count = 10_000
    ideal = io_count / 1000 * 0.05
    ours, raw = paired(lambda: agentperf_run("io_50ms", "asyncio", io_count, workers=1000),
                       lambda: raw_asyncio(io_count, 1000, io_50ms))
    verdict = "PASS" if ours / ideal <= IO_TARGET else "FAIL"
    print(f"\n10,000 tasks awaiting 50 ms at concurrency 1,000 (ideal {ideal:.2f} s): "
          f"agentperf {ours:.3f} s = {ours / ideal:.2f}x ideal ({verdict}, target <= "
          f"{IO_TARGET}x); raw asyncio pool {raw:.3f} s = {raw / ideal:.2f}x ideal")


if __name__ == "__main__":
    main()
