"""agentperf's Dask mode against raw ``client.map`` + ``gather``, on one LocalCluster.

    python benchmarks/dask_overhead.py [--workers 2] [--repeats 3]

Three measurements, side by side in one run on the same cluster:

1. a no-op agent: agentperf (lazy input, sliding window, batches, per-task timing)
   against ``client.gather(client.map(f, inputs))`` (target: at least 1.0x raw throughput);
2. a 10 ms agent, the same comparison (target: at least 0.9x);
3. a CPU-bound agent on 1 worker and then on 2 (the scaling; ideal 2.0x on 2 free cores).

The agents live in this file so the workers import them by dotted path, exactly as
they would a user's workload.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def noop(x: Any) -> Any:
    return x


def sleep_10ms(x: Any) -> Any:
    time.sleep(0.01)
    return x


def cpu_bound(x: Any) -> int:
    """About 10 ms of pure-Python arithmetic on an idle core."""
    total = 0
    for i in range(150_000):
        total += i * i
    return total


def raw_throughput(client: Any, fn: Callable[[Any], Any], n: int) -> float:
    start = time.perf_counter()
    results = client.gather(client.map(fn, range(n), pure=False))
    elapsed = time.perf_counter() - start
    assert len(results) == n
    return n / elapsed


def agentperf_throughput(address: str, name: str, n: int, workers: list[str] | None = None
                         ) -> tuple[float, Any]:
    import dask

    from agentperf.execution.base import Task
    from agentperf.execution.dask_backend import DaskExecutor
    from agentperf.execution.settings import ExecutionSettings
    from agentperf.workload.adapters import AgentRef

    agent = AgentRef(target=f"dask_overhead:{name}", search_paths=(str(HERE),))
    settings = ExecutionSettings(mode="dask", scheduler=address)
    annotate = dask.annotate(workers=workers) if workers else dask.annotate()
    with DaskExecutor(agent, settings) as executor, annotate:
        start = time.perf_counter()
        done = sum(1 for r in executor.run(Task(i, i) for i in range(n)) if r.ok)
        elapsed = time.perf_counter() - start
        assert done == n, f"{n - done} tasks failed"
        return n / elapsed, executor.info


def best(values: list[float]) -> float:
    return max(values)


def compare(client: Any, label: str, fn: Callable[[Any], Any], name: str, n: int,
            repeats: int, target: float) -> bool:
    raw, ours = [], []
    info = None
    for _ in range(repeats):
        raw.append(raw_throughput(client, fn, n))
        rate, info = agentperf_throughput(client.scheduler.address, name, n)
        ours.append(rate)
    ratio = best(ours) / best(raw)
    verdict = "ok" if ratio >= target else "BELOW TARGET"
    print(f"{label:<18} {n:>7} {best(raw):>12,.0f} {best(ours):>12,.0f} {ratio:>7.2f}x "
          f"{target:>5.1f}x  {verdict}")
    print(f"{'':<18} raw runs {_fmt(raw)}; agentperf runs {_fmt(ours)}; "
          f"chunk {info.chunk_size}, window {info.max_in_flight}")
    return ratio >= target


def scaling(client: Any, n: int, repeats: int) -> None:
    addresses = sorted(client.scheduler_info()["workers"])
    one = [agentperf_throughput(client.scheduler.address, "cpu_bound", n, addresses[:1])[0]
           for _ in range(repeats)]
    two = [agentperf_throughput(client.scheduler.address, "cpu_bound", n)[0]
           for _ in range(repeats)]
    print(f"\nCPU-bound agent (about 10 ms of pure-Python arithmetic per call), {n} inputs:")
    print(f"  1 worker : {best(one):8.1f} tasks/s   (runs {_fmt(one)})")
    print(f"  {len(addresses)} workers: {best(two):8.1f} tasks/s   (runs {_fmt(two)})")
    print(f"  scaling  : {best(two) / best(one):.2f}x (ideal {len(addresses):.1f}x; the client "
          "and scheduler share the same cores)")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values) + f" (median {statistics.median(values):,.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noop-n", type=int, default=10_000)
    parser.add_argument("--sleep-n", type=int, default=400)
    parser.add_argument("--cpu-n", type=int, default=200)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(HERE)]
    import dask_overhead as agents  # by module name, so raw client.map pickles by reference
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(args.workers)
        client.gather(client.map(agents.noop, range(100), pure=False))  # warm the workers
        print(f"LocalCluster: {args.workers} worker processes x 1 thread; best of "
              f"{args.repeats} runs each, raw and agentperf alternating\n")
        print(f"{'workload':<18} {'inputs':>7} {'raw tasks/s':>12} {'agentperf/s':>12} "
              f"{'ratio':>8} {'target':>6}")
        ok = compare(client, "no-op agent", agents.noop, "noop", args.noop_n, args.repeats,
                     1.0)
        ok &= compare(client, "10 ms agent", agents.sleep_10ms, "sleep_10ms", args.sleep_n,
                      args.repeats, 0.9)
        scaling(client, args.cpu_n, args.repeats)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
