"""Open-model start precision and achieved rate, against a raw asyncio scheduler, in one run.

    python benchmarks/arrival.py [--quick]

1. Start-time precision at 1,000 starts/s for 3 s: how late each call really started
   against its scheduled time (p50, p99, max), for agentperf's threads and asyncio modes
   and for a raw asyncio scheduler (``asyncio.sleep`` until each slot, then a task per
   call). Target: agentperf p99 lateness < 2 ms.
2. Achieved rate over 3 s at 200 starts/s in every mode (sequential, threads, asyncio,
   processes, dask): calls per second from the agents' own clocks, first call to last.
   Target: within 5 % of the rate asked for, no start dropped.

Every call returns ``time.time()`` at its start, so calls in worker processes are
measured on the same clock; the run's origin is read on both clocks at the same moment.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from agentperf.execution import Task, create_executor  # noqa: E402
from agentperf.execution.gate import StartGate  # noqa: E402
from agentperf.execution.settings import ExecutionSettings  # noqa: E402
from agentperf.pipeline.load import plan_load  # noqa: E402
from agentperf.workload.adapters import AgentRef  # noqa: E402

PRECISION_RATE = 1000.0
RATE_TARGET = 200.0
LATENESS_TARGET_S = 0.002
RATE_TOLERANCE = 0.05


def stamp(value: Any) -> float:
    started = time.time()
    time.sleep(0.001)
    return started


async def astamp(value: Any) -> float:
    started = time.time()
    await asyncio.sleep(0.001)
    return started


@dataclass
class Run:
    label: str
    starts: list[float]  # wall clock, sorted by slot
    origin: float  # wall clock of slot 0
    rate: float
    dropped: int = 0

    def lateness(self) -> list[float]:
        return [t - (self.origin + k / self.rate) for k, t in enumerate(self.starts)]

    def achieved(self) -> float:
        ordered = sorted(self.starts)
        return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def agentperf_run(mode: str, rate: float, seconds: float, **extra: Any) -> Run:
    name = "astamp" if mode == "asyncio" else "stamp"
    ref = AgentRef(f"{Path(__file__).stem}:{name}", search_paths=(str(HERE),))
    settings, gate = plan_load(ExecutionSettings(
        mode=mode, arrival_rate=rate, duration_s=seconds, **extra))
    assert gate is not None
    count = int(rate * seconds) + 10
    with create_executor(ref, settings, gate=gate) as executor:
        origin = _begin(gate)
        results = list(executor.run(Task(i, i) for i in range(count)))
    by_index = sorted(results, key=lambda r: r.index)
    failed = [r for r in by_index if not r.ok]
    assert not failed, failed[0].error
    return Run(f"agentperf {mode}", [r.output for r in by_index], origin, rate,
               gate.stats().dropped)


def _begin(gate: StartGate) -> float:
    """Start the gate's clock and return the same moment on the wall clock."""
    before = time.time()
    gate.begin(time.perf_counter())
    return (before + time.time()) / 2


def raw_asyncio_run(rate: float, seconds: float) -> Run:
    """The plain way: sleep until each slot, then start a task for the call."""
    starts: list[float] = []

    async def call(k: int) -> None:
        starts.append((k, await astamp(k)))  # type: ignore[arg-type]

    async def main() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        origin = time.time()
        pending = set()
        for k in range(int(rate * seconds)):
            delay = t0 + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(call(k))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        return origin

    origin = asyncio.run(main())
    ordered = [t for _, t in sorted(starts)]  # type: ignore[misc]
    return Run("raw asyncio scheduler", ordered, origin, rate)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def precision_table(seconds: float) -> bool:
    print(f"\n1. Start lateness at {PRECISION_RATE:,.0f}/s for {seconds:g} s "
          f"(target p99 < {LATENESS_TARGET_S * 1000:g} ms)\n")
    print("| scheduler | starts | dropped | p50 ms | p99 ms | max ms | p99 vs raw | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    raw = raw_asyncio_run(PRECISION_RATE, seconds)
    runs = [agentperf_run("threads", PRECISION_RATE, seconds, workers=8),
            agentperf_run("asyncio", PRECISION_RATE, seconds), raw]
    raw_p99 = percentile(raw.lateness(), 0.99)
    ok = True
    for run in runs:
        late = run.lateness()
        p99 = percentile(late, 0.99)
        passed = p99 < LATENESS_TARGET_S and run.dropped == 0
        if run is not raw:
            ok &= passed
        verdict = "-" if run is raw else ("PASS" if passed else "FAIL")
        print(f"| {run.label} | {len(late):,} | {run.dropped} | "
              f"{statistics.median(late) * 1000:.3f} | {p99 * 1000:.3f} | "
              f"{max(late) * 1000:.3f} | {p99 / raw_p99 if raw_p99 > 0 else 0:.2f}x | "
              f"{verdict} |")
    return ok


def rate_table(seconds: float) -> bool:
    print(f"\n2. Achieved rate at {RATE_TARGET:g}/s over {seconds:g} s "
          f"(target within {RATE_TOLERANCE:.0%}, nothing dropped)\n")
    print("| mode | starts | dropped | achieved /s | off by | target |")
    print("|---|---:|---:|---:|---:|---|")
    ok = True
    cluster = _dask_cluster()
    modes: list[tuple[str, dict[str, Any]]] = [
        ("sequential", {}), ("threads", {"workers": 4}), ("asyncio", {}),
        ("processes", {"workers": 2}),
    ]
    if cluster is not None:
        modes.append(("dask", {"scheduler": cluster[0].scheduler_address}))
    for mode, extra in modes:
        run = agentperf_run(mode, RATE_TARGET, seconds, **extra)
        achieved = run.achieved()
        off = achieved / RATE_TARGET - 1
        passed = abs(off) <= RATE_TOLERANCE and run.dropped == 0
        ok &= passed
        print(f"| {mode} | {len(run.starts):,} | {run.dropped} | {achieved:.1f} | "
              f"{off:+.2%} | {'PASS' if passed else 'FAIL'} |")
    if cluster is not None:
        cluster[1].close()
        cluster[0].close()
    return ok


def _dask_cluster() -> tuple[Any, Any] | None:
    try:
        import logging

        from distributed import Client, LocalCluster
    except ImportError:
        print("(dask not installed: the dask row is left out)")
        return None
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    client = Client(cluster, set_as_default=False)
    client.wait_for_workers(2)
    client.run(lambda: __import__("arrival"))  # warm: import the agent module everywhere
    return cluster, client


def main() -> int:
    seconds = 1.0 if "--quick" in sys.argv else 3.0
    ok = precision_table(seconds)
    ok &= rate_table(seconds)
    print("\nALL PASS" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
