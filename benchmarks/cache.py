"""Cache benchmark: agentperf's tiers side by side with the baselines, in one run.

    python benchmarks/cache.py [--quick] [--redis-url URL]

0. The public paths, per call: ``@cached`` hits and misses (memory; memory + disk;
   Redis) against ``cachetools.func.ttl_cache``, ``functools.lru_cache`` and raw
   redis-py (GET + ``json.loads``), and run-batch's per-task cache path
   (``BatchCache.wrap``, cold and warm) against the same executor without a cache.
   Target: a memory hit through ``@cached`` returning a 10-key dict within 2.5x of
   ``ttl_cache`` on the same function and arguments.
1. Memory tier get/set throughput against cachetools ``LRUCache`` and ``TTLCache`` at
   the same size and hit rate (targets: >= 1.0x TTLCache, >= 0.7x LRUCache).
2. Redis tier per-operation latency against raw redis-py GET / SET on the same server
   (target: <= 15 % overhead), and the batched MGET path run-batch uses per window.
3. run-batch of a 50 ms agent over 1,000 inputs with 50 % repeats: no cache, cold, warm.

Starts its own ``redis-server`` on a free loopback port unless ``--redis-url`` is given.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agentperf.cache.memory import MemoryTier  # noqa: E402
from agentperf.cache.redis_tier import RedisTier  # noqa: E402
from agentperf.cache.serializers import Codec, Entry  # noqa: E402
from agentperf.cache.tiered import TieredCache  # noqa: E402

SMALL = {f"k{i}": i for i in range(8)}


def small_result(q: str, n: int) -> dict[str, Any]:
    """The function every decorator caches: a small JSON-native dict (10 keys)."""
    return {**SMALL, "q": q, "n": n}


def per_call_us(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    """Best (lowest) microseconds per call over ``repeats`` runs of ``calls`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def run_public(calls: int, repeats: int, redis_url: str, workdir: Path) -> dict[str, float]:
    """µs per call of the public paths; hits repeat one argument, misses never do."""
    import cachetools.func

    from agentperf.cache import cached

    ours = cached(ttl=3600, version="bench")(small_result)
    ttl = cachetools.func.ttl_cache(maxsize=100_000, ttl=3600)(small_result)
    lru = functools.lru_cache(maxsize=100_000)(small_result)
    disk = cached(ttl=3600, tiers=["memory", "disk"], dir=workdir / "public",
                  version="bench")(small_result)
    on_redis = cached(ttl=3600, tiers=["redis"], redis_url=redis_url,
                      version="bench")(small_result)
    for f in (ours, ttl, lru, disk, on_redis):
        f("what", 3)
    rows: dict[str, float] = {}
    hits = {"cached_hit": lambda: ours("what", 3), "ttl_cache_hit": lambda: ttl("what", 3),
            "lru_cache_hit": lambda: lru("what", 3), "cached_disk_hit": lambda: disk("what", 3)}
    for _ in range(repeats):  # interleaved: the machine's noise hits every row
        for name, fn in hits.items():
            rows[name] = min(rows.get(name, float("inf")), per_call_us(fn, calls, 1))
    counter = iter(range(10**9))
    rows["cached_miss"] = per_call_us(lambda: ours("miss", next(counter)), calls // 4, repeats)
    rows["ttl_cache_miss"] = per_call_us(lambda: ttl("miss", next(counter)), calls // 4,
                                         repeats)
    rows["cached_disk_miss"] = per_call_us(lambda: disk("miss", next(counter)), 500, repeats)
    rows.update(_redis_public(on_redis, redis_url, max(500, calls // 100), repeats))
    rows["hit_vs_ttl_cache"] = rows["cached_hit"] / rows["ttl_cache_hit"]
    return rows


def _redis_public(on_redis: Any, url: str, calls: int, repeats: int) -> dict[str, float]:
    import redis

    raw = redis.Redis.from_url(url)
    raw.set("bench:raw", json.dumps(small_result("what", 3)))
    counter = iter(range(10**9))
    rows = {
        "cached_redis_hit": per_call_us(lambda: on_redis("what", 3), calls, repeats),
        "redis_py_get_json": per_call_us(lambda: json.loads(raw.get("bench:raw")), calls,
                                         repeats),
        "cached_redis_miss": per_call_us(lambda: on_redis("miss", next(counter)), calls,
                                         repeats),
        "redis_py_set_json": per_call_us(
            lambda: raw.set(f"bench:{next(counter)}", json.dumps(small_result("m", 1)),
                            px=3_600_000), calls, repeats),
    }
    on_redis.cache_clear()
    raw.close()
    return rows


def run_batch_path(inputs: int, repeats: int, workdir: Path) -> dict[str, float]:
    """µs per task through ``BatchCache.wrap`` with a no-op agent run in line, against the
    same executor without the cache: the cache's own cost per input."""
    from agentperf.cache.batch import BatchCache
    from agentperf.cache.config import CacheConfig
    from agentperf.errors import AgentperfError
    from agentperf.execution.base import Task, TaskResult
    from agentperf.workload.adapters import AgentRef

    ref = AgentRef(target="benchmarks.cache:small_result")

    def execute(tasks: Any) -> Iterator[TaskResult]:
        for task in tasks:
            yield TaskResult(task.index, ok=True, output=small_result("q", task.input),
                             latency_s=0.0)

    def tasks() -> Iterator[Task]:
        return (Task(i, i) for i in range(inputs))

    def timed(run: Callable[[], int]) -> float:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            assert run() == inputs
            best = min(best, time.perf_counter() - start)
        return best / inputs * 1e6

    rows = {"no_cache": timed(lambda: sum(1 for _ in execute(tasks())))}
    for label, raw in (("memory", {"tiers": ["memory"]}),
                       ("memory_disk", {"tiers": ["memory", "disk"],
                                        "dir": str(workdir / "batch")})):
        config = CacheConfig.from_mapping(raw, error=lambda m, k: AgentperfError(f"{k}: {m}"))
        with BatchCache.open(config, ref) as cache:
            cache.clear()
            start = time.perf_counter()
            assert sum(1 for _ in cache.wrap(tasks(), execute)) == inputs
            rows[f"{label}_cold"] = (time.perf_counter() - start) / inputs * 1e6
            rows[f"{label}_warm"] = timed(lambda c=cache: sum(1 for _ in c.wrap(tasks(),
                                                                               execute)))
    return rows


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    """The best (highest) of several throughput runs: the least disturbed by noise."""
    return max(fn() for _ in range(repeats))


def key_stream(size: int, hit_rate: float, ops: int, seed: int = 7) -> list[str]:
    """Keys whose LRU hit rate is about ``hit_rate`` for a cache of ``size`` entries."""
    rng = random.Random(seed)
    hot = [f"hot-{i:08d}" for i in range(size // 2)]
    cold_counter = iter(range(10**9))
    return [rng.choice(hot) if rng.random() < hit_rate else f"cold-{next(cold_counter):09d}"
            for _ in range(ops)]


def run_memory(size: int, ops: int, repeats: int) -> dict[str, Any]:
    import cachetools

    keys = key_stream(size, 0.9, ops)
    value = b"x" * 64

    def drive(get: Callable[[str], Any], put: Callable[[str, bytes], None]) -> float:
        start = time.perf_counter()
        for key in keys:
            if get(key) is None:
                put(key, value)
        return len(keys) / (time.perf_counter() - start)

    def tier(ttl: float | None) -> Callable[[], float]:
        def one() -> float:
            t = MemoryTier(max_entries=size, max_bytes=1 << 30)
            return drive(t.get, functools.partial(t.set, ttl_s=ttl))
        return one

    def lru() -> float:
        c = cachetools.LRUCache(maxsize=size)
        return drive(c.get, c.__setitem__)

    def ttl_cache() -> float:
        c = cachetools.TTLCache(maxsize=size, ttl=3600)
        return drive(c.get, c.__setitem__)

    runs = {"lru_ops_s": lru, "tier_lru_ops_s": tier(None), "ttl_ops_s": ttl_cache,
            "tier_ttl_ops_s": tier(3600)}
    results: dict[str, Any] = interleaved_best(runs, repeats)
    results.update(hit_rate=_hit_rate(keys, size), size=size, ops=ops)
    results["vs_lru"] = results["tier_lru_ops_s"] / results["lru_ops_s"]
    results["vs_ttl"] = results["tier_ttl_ops_s"] / results["ttl_ops_s"]
    return results


def interleaved_best(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Best throughput of each run, taking turns so drift on a shared machine hits all."""
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, fn in runs.items():
            best[name] = max(best[name], fn())
    return best


def _hit_rate(keys: list[str], size: int) -> float:
    tier = MemoryTier(max_entries=size, max_bytes=1 << 30)
    hits = 0
    for key in keys:
        if tier.get(key) is None:
            tier.set(key, b"", None)
        else:
            hits += 1
    return hits / len(keys)


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="agentperf-bench-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def run_redis(url: str, ops: int, repeats: int) -> dict[str, Any]:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    tier = RedisTier(url, timeout_s=0.5)
    raw = redis.Redis(connection_pool=redis.ConnectionPool.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)))
    value = Codec("json").encode(Entry("x" * 240, 0.05))  # a real ~260-byte entry
    keys = [f"{i:064d}" for i in range(256)]
    full = TieredCache([tier], Codec("json"))
    for key in keys:
        tier.set(key, value, 3600)
        raw.set(tier.prefix + key, value, px=3_600_000)

    def per_op(fn: Callable[[int], Any]) -> Callable[[], float]:
        def one() -> float:
            start = time.perf_counter()
            for i in range(ops):
                fn(i)
            return ops / (time.perf_counter() - start)
        return one

    raw_get = per_op(lambda i: raw.get(tier.prefix + keys[i & 255]))
    tier_get = per_op(lambda i: tier.get(keys[i & 255]))
    raw_set = per_op(lambda i: raw.set(tier.prefix + keys[i & 255], value, px=3_600_000))
    tier_set = per_op(lambda i: tier.set(keys[i & 255], value, 3600))
    cache_get = per_op(lambda i: full.get(keys[i & 255]))
    best = interleaved_best({"raw_get": raw_get, "tier_get": tier_get, "raw_set": raw_set,
                             "tier_set": tier_set, "cache_get": cache_get}, repeats)
    rows = {name: 1e6 / ops_s for name, ops_s in best.items()}  # microseconds per operation

    def mget() -> float:
        start = time.perf_counter()
        rounds = max(1, ops // 256)
        for _ in range(rounds):
            tier.get_many(keys)
        return rounds * 256 / (time.perf_counter() - start)

    rows["tier_mget_per_key"] = 1e6 / best_of(repeats, mget)
    rows["get_overhead"] = rows["tier_get"] / rows["raw_get"] - 1
    rows["set_overhead"] = rows["tier_set"] / rows["raw_set"] - 1
    tier.clear()
    tier.close()
    return rows


AGENT = '''
import time

def agent(x):
    time.sleep(0.05)
    return {"answer": x}
'''


def run_batch(workdir: Path, inputs: int, workers: int) -> dict[str, Any]:
    """Cold then warm through ``agentperf run-batch``; falls back to the library when the
    command is not available in this checkout."""
    (workdir / "bench_agent.py").write_text(AGENT)
    unique = inputs // 2
    (workdir / "inputs.jsonl").write_text(
        "".join(f"{json.dumps({'q': i % unique})}\n" for i in range(inputs)))
    (workdir / "spec.yaml").write_text(textwrap.dedent(f"""
        name: cache-bench
        agent: bench_agent:agent
        inputs: inputs.jsonl
        execution: {{mode: threads, workers: {workers}}}
        cache: {{dir: {workdir / "cache"}}}
    """))
    try:
        return _run_batch_cli(workdir)
    except RuntimeError as exc:
        print(f"  (run-batch command unavailable: {exc}; using BatchCache.wrap directly)")
        return _run_batch_library(workdir, inputs, workers)


def _run_batch_cli(workdir: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(workdir)])}
    rows: dict[str, Any] = {}
    for label, extra in (("no_cache", ["--no-cache"]), ("cold", ["--cache-clear"]),
                         ("warm", [])):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "agentperf", "run-batch", "spec.yaml",
                               "--json", "-q", *extra], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(last)
        summary = json.loads(proc.stdout)
        cache = summary.get("cache") or {}
        run_wall = (summary.get("tasks") or {}).get("wall_s") or summary.get("wall_s") or wall
        rows[label] = {"wall_s": run_wall, "process_s": wall,
                       "calls_avoided": cache.get("calls_avoided", 0),
                       "time_saved_s": cache.get("time_saved_s", 0.0)}
    rows["via"] = "agentperf run-batch"
    return rows


def _run_batch_library(workdir: Path, inputs: int, workers: int) -> dict[str, Any]:
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from agentperf.cache.batch import BatchCache
    from agentperf.cache.config import CacheConfig
    from agentperf.errors import AgentperfError
    from agentperf.execution.base import Task, TaskResult
    from agentperf.workload.adapters import AgentRef

    ref = AgentRef(target="bench_agent:agent", search_paths=(str(workdir),))
    fn = ref.build()

    def call(task: Task) -> TaskResult:
        start = time.perf_counter()
        output = fn.call(task.input)
        return TaskResult(task.index, ok=True, output=output,
                          latency_s=time.perf_counter() - start)

    def execute(tasks: Any) -> Iterator[TaskResult]:
        with ThreadPoolExecutor(workers) as pool:
            pending: set[Any] = set()
            for task in tasks:
                pending.add(pool.submit(call, task))
                if len(pending) >= workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in done)
            yield from (f.result() for f in pending)

    def tasks() -> Iterator[Task]:
        unique = inputs // 2
        return (Task(i, {"q": i % unique}) for i in range(inputs))

    config = CacheConfig.from_mapping({"dir": str(workdir / "cache")},
                                      error=lambda m, k: AgentperfError(f"{k}: {m}"))
    rows: dict[str, Any] = {}
    start = time.perf_counter()
    assert sum(1 for _ in execute(tasks())) == inputs
    rows["no_cache"] = {"wall_s": time.perf_counter() - start}
    for label in ("cold", "warm"):
        with BatchCache.open(config, ref) as cache:
            if label == "cold":
                cache.clear()
            start = time.perf_counter()
            assert sum(1 for _ in cache.wrap(tasks(), execute)) == inputs
            stats = cache.stats()
        rows[label] = {"wall_s": time.perf_counter() - start,
                       "calls_avoided": stats.calls_avoided, "time_saved_s": stats.time_saved_s}
    rows["via"] = "BatchCache.wrap + ThreadPoolExecutor"
    return rows


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes, fewer repeats.")
    parser.add_argument("--redis-url", help="Use this Redis instead of starting one.")
    args = parser.parse_args()
    ops, repeats = (100_000, 3) if args.quick else (400_000, 5)

    with redis_server(args.redis_url) as url, tempfile.TemporaryDirectory(
            prefix="agentperf-bench-") as tmp:
        calls = 50_000 if args.quick else 200_000
        print(f"== public paths, microseconds per call (best of {repeats}) ==")
        p = run_public(calls, repeats, url, Path(tmp))
        print(f"  hit   @cached (memory)       {p['cached_hit']:7.2f} us   "
              f"cachetools ttl_cache {p['ttl_cache_hit']:5.2f} us   lru_cache "
              f"{p['lru_cache_hit']:5.2f} us   ratio {p['hit_vs_ttl_cache']:.2f}x "
              f"(target <= 2.5x) {verdict(p['hit_vs_ttl_cache'] <= 2.5)}")
        print(f"  hit   @cached (memory+disk)  {p['cached_disk_hit']:7.2f} us")
        print(f"  miss  @cached (memory)       {p['cached_miss']:7.2f} us   "
              f"cachetools ttl_cache {p['ttl_cache_miss']:5.2f} us")
        print(f"  miss  @cached (memory+disk)  {p['cached_disk_miss']:7.2f} us")
        print(f"  hit   @cached (redis)        {p['cached_redis_hit']:7.2f} us   "
              f"redis-py GET + json.loads {p['redis_py_get_json']:6.2f} us")
        print(f"  miss  @cached (redis)        {p['cached_redis_miss']:7.2f} us   "
              f"redis-py SET + json.dumps {p['redis_py_set_json']:6.2f} us")
        inputs = 20_000 if args.quick else 100_000
        print(f"== run-batch cache path, no-op agent in line, {inputs} distinct inputs, "
              "microseconds per task ==")
        b = run_batch_path(inputs, repeats, Path(tmp))
        print(f"  no cache {b['no_cache']:6.2f} us   memory: cold {b['memory_cold']:6.2f} us, "
              f"warm {b['memory_warm']:6.2f} us   memory+disk: cold "
              f"{b['memory_disk_cold']:6.2f} us, warm {b['memory_disk_warm']:6.2f} us")

    print(f"== memory tier vs cachetools ({ops} get-or-set ops, 10,000 entries) ==")
    mem = run_memory(10_000, ops, repeats)
    print(f"  hit rate {mem['hit_rate']:.1%}")
    print(f"  cachetools.LRUCache   {mem['lru_ops_s'] / 1e6:6.2f} M ops/s")
    print(f"  MemoryTier (no TTL)   {mem['tier_lru_ops_s'] / 1e6:6.2f} M ops/s  "
          f"ratio {mem['vs_lru']:.2f}x (target >= 0.70x) {verdict(mem['vs_lru'] >= 0.7)}")
    print(f"  cachetools.TTLCache   {mem['ttl_ops_s'] / 1e6:6.2f} M ops/s")
    print(f"  MemoryTier (TTL)      {mem['tier_ttl_ops_s'] / 1e6:6.2f} M ops/s  "
          f"ratio {mem['vs_ttl']:.2f}x (target >= 1.00x) {verdict(mem['vs_ttl'] >= 1.0)}")

    redis_ops = 3_000 if args.quick else 10_000
    with redis_server(args.redis_url) as url:
        print(f"== Redis tier vs raw redis-py ({redis_ops} ops, loopback) ==")
        r = run_redis(url, redis_ops, repeats)
    print(f"  GET  raw {r['raw_get']:6.1f} us  tier {r['tier_get']:6.1f} us  overhead "
          f"{r['get_overhead']:+.1%} (target <= 15%) {verdict(r['get_overhead'] <= 0.15)}")
    print(f"  SET  raw {r['raw_set']:6.1f} us  tier {r['tier_set']:6.1f} us  overhead "
          f"{r['set_overhead']:+.1%} (target <= 15%) {verdict(r['set_overhead'] <= 0.15)}")
    print(f"  MGET window of 256: {r['tier_mget_per_key']:.2f} us per key "
          f"({r['tier_get'] / r['tier_mget_per_key']:.0f}x faster than one GET per key)")
    print(f"  whole cache lookup (GET + JSON decode + counters) {r['cache_get']:.1f} us "
          f"({r['cache_get'] / r['raw_get'] - 1:+.1%} over raw GET; informational)")

    inputs = 400 if args.quick else 1000
    print(f"== run-batch: 50 ms agent, {inputs} inputs, 50% repeats, 32 threads ==")
    with tempfile.TemporaryDirectory(prefix="agentperf-bench-") as tmp:
        rb = run_batch(Path(tmp), inputs, 32)
    base = rb["no_cache"]["wall_s"]
    print(f"  via {rb['via']}")
    for label in ("no_cache", "cold", "warm"):
        row = rb[label]
        extra = ""
        if "calls_avoided" in row:
            extra = (f"  calls avoided {row['calls_avoided']}, agent time saved "
                     f"{row['time_saved_s']:.1f} s")
        process = f" (process {row['process_s']:.2f} s)" if "process_s" in row else ""
        print(f"  {label:<9} {row['wall_s']:7.3f} s{process}  speed-up "
              f"{base / row['wall_s']:6.1f}x{extra}")


if __name__ == "__main__":
    main()
