"""Issue 17: single flight that survives cancellation, function identity, integrity bound
to the key and codec, decode failures as misses, absolute TTL, a bounded disk tier, and
copies per caller. Real tiers, a real redis-server, real threads and processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentperf.cache import CachedCallError, cached
from agentperf.cache.config import CacheConfig
from agentperf.cache.decorator import _CachedFunction
from agentperf.cache.disk import DiskTier, _remove_if_same
from agentperf.cache.factory import build_cache
from agentperf.cache.keys import CaptureError
from agentperf.cache.memory import MemoryTier
from agentperf.cache.redis_tier import RedisTier
from agentperf.cache.serializers import Codec, Entry
from agentperf.cache.tiered import TieredCache
from agentperf.cache.tiers import InvalidKeyError
from agentperf.errors import AgentperfError

REPO = Path(__file__).resolve().parents[1]
SECRET = "s" * 40
KEY_B, KEY_C = "b" * 64, "c" * 64


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tier_of(kind: str, tmp_path: Path, redis_url: str | None, clock: Any = None) -> Any:
    if kind == "memory":
        return MemoryTier(clock=clock) if clock else MemoryTier()
    if kind == "disk":
        return DiskTier(tmp_path / "disk", clock=clock) if clock else DiskTier(tmp_path / "disk")
    assert redis_url is not None
    return RedisTier(redis_url)


# -- 1. single flight: cancellation, interruption, copies ---------------------------------

def test_async_leader_timing_out_leaves_five_patient_waiters_their_value() -> None:
    calls = 0

    @cached(ttl=60)
    async def slow(x: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.3)
        return {"x": x}

    async def main() -> tuple[BaseException | None, list[dict[str, int]]]:
        leader = asyncio.ensure_future(asyncio.wait_for(slow(1), 0.1))
        await asyncio.sleep(0.02)  # the leader's call is in flight
        waiters = [asyncio.ensure_future(slow(1)) for _ in range(5)]
        error: BaseException | None = None
        try:
            await leader
        except BaseException as exc:
            error = exc
        return error, list(await asyncio.gather(*waiters))

    error, results = asyncio.run(main())
    assert isinstance(error, asyncio.TimeoutError)
    assert results == [{"x": 1}] * 5 and calls == 1
    assert len({id(r) for r in results}) == 5  # each waiter its own copy
    stats = slow.cache_stats()
    assert stats.single_flight_waits == 5 and stats.calls_avoided == 5


def test_the_last_caller_leaving_cancels_the_call_and_the_next_runs_it() -> None:
    cancelled = threading.Event()
    calls = 0

    @cached(ttl=60, version="1")  # captures an Event, which has no canonical form
    async def slow(x: int) -> int:
        nonlocal calls
        calls += 1
        try:
            await asyncio.sleep(0.5 if calls == 1 else 0)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x * 2

    async def main() -> int:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(slow(4), 0.05)
        await asyncio.sleep(0.01)
        return await slow(4)

    assert asyncio.run(main()) == 8
    assert cancelled.is_set() and calls == 2


def test_a_call_cancelled_from_inside_is_run_again_for_its_waiters() -> None:
    calls = 0

    @cached(ttl=60)
    async def flaky(x: int) -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        if calls == 1:
            raise asyncio.CancelledError  # an interruption, not the call's outcome
        return x

    async def main() -> list[int]:
        return list(await asyncio.gather(*(flaky(2) for _ in range(3))))

    assert asyncio.run(main()) == [2, 2, 2]
    assert calls == 2


def test_an_interrupted_sync_leader_promotes_a_waiter() -> None:
    calls = 0
    started, release = threading.Event(), threading.Event()

    @cached(ttl=60, version="1")
    def work(x: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            started.set()
            release.wait(10)
            raise KeyboardInterrupt  # the leader's thread is interrupted, not the call's result
        return {"x": x}

    outcomes: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            outcomes[name] = work(7)
        except BaseException as exc:  # recorded for the assertions
            outcomes[name] = exc

    leader = threading.Thread(target=run, args=("leader",))
    leader.start()
    assert started.wait(10)
    waiters = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(5)]
    for t in waiters:
        t.start()
    time.sleep(0.2)  # let them park behind the leader (if late, they lead: same outcome)
    release.set()
    for t in [leader, *waiters]:
        t.join(10)
    assert isinstance(outcomes["leader"], KeyboardInterrupt)
    values = [outcomes[f"w{i}"] for i in range(5)]
    assert values == [{"x": 7}] * 5 and calls == 2
    assert len({id(v) for v in values}) == 5


def test_waiters_get_their_own_result_and_their_own_exception() -> None:
    barrier = threading.Barrier(6)

    @cached(ttl=60)
    def answer(x: int) -> dict[str, list[int]]:
        time.sleep(0.3)
        if x < 0:
            raise ValueError("negative")
        return {"items": [x]}

    def burst(x: int) -> list[Any]:
        out: list[Any] = []

        def call() -> None:
            barrier.wait()
            try:
                out.append(answer(x))
            except ValueError as exc:
                out.append(exc)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        return out

    values = burst(1)
    assert values == [{"items": [1]}] * 6
    values[0]["items"].append(99)  # one caller mutates what it got
    assert all(v == {"items": [1]} for v in values[1:]) and answer(1) == {"items": [1]}
    barrier.reset()
    errors = burst(-1)
    assert all(isinstance(e, ValueError) and str(e) == "negative" for e in errors)
    assert len({id(e) for e in errors}) == 6


def test_a_leader_that_finds_a_stored_failure_raises_it() -> None:
    def failing(x: int) -> int:
        raise KeyError(x)

    config = CacheConfig(tiers=("memory",), cache_failures=True, ttl=60)
    cf = _CachedFunction(failing, config, None, None)
    call = cf.wrapper()
    with pytest.raises(KeyError):
        call(1)
    key = cf.key_of((1,), {})
    assert key is not None
    # The race: this caller's lookup missed, then the first leader stored its failure.
    outcome, shared = cf.flight.do(key, lambda: cf.compute(key, (1,), {}))
    with pytest.raises(CachedCallError, match="KeyError"):
        cf.deliver(outcome, shared)


def test_a_memory_hit_builds_no_canonical_key_and_decodes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from agentperf.cache.keys import KeyBuilder
    from agentperf.cache.serializers import Codec as CodecClass

    @cached(ttl=60)
    def small(q: str, n: int) -> dict[str, Any]:
        return {"q": q, "n": n, "items": list(range(5))}

    first = small("a", 1)
    counts = {"key": 0, "decode": 0}
    real_key, real_decode = KeyBuilder.key, CodecClass.decode

    def counting_key(self: Any, value: Any) -> str:
        counts["key"] += 1
        return real_key(self, value)

    def counting_decode(self: Any, *args: Any) -> Any:
        counts["decode"] += 1
        return real_decode(self, *args)

    monkeypatch.setattr(KeyBuilder, "key", counting_key)
    monkeypatch.setattr(CodecClass, "decode", counting_decode)
    second = small("a", 1)
    assert second == first and second is not first
    assert counts == {"key": 0, "decode": 0}
    assert small("a", True) == {"q": "a", "n": True, "items": [0, 1, 2, 3, 4]}  # True is not 1
    assert counts["key"] == 1


# -- 2. function identity ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["disk", "redis"])
def test_closures_and_lambdas_never_share_entries(kind: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    options: dict[str, Any] = ({"tiers": ["disk"], "dir": tmp_path} if kind == "disk" else
                               {"tiers": ["redis"],
                                "redis_url": request.getfixturevalue("redis_url")})

    def make(n: int) -> Any:
        @cached(**options)
        def times(x: int) -> int:
            return x * n
        return times

    assert make(2)(3) == 6
    assert make(10)(3) == 30
    again = make(2)
    assert again(3) == 6 and again.cache_stats().hits == 1  # same captured value: shared
    plus = cached(**options)(lambda x: x + 1)
    double = cached(**options)(lambda x: x * 2)
    assert (plus(5), double(5), plus(5), double(5)) == (6, 10, 6, 10)


def test_a_closure_over_an_uncanonical_value_needs_version_or_key() -> None:
    client = object()

    def handler(x: int) -> int:
        return x if client else -x

    with pytest.raises(CaptureError, match=r"captured 'client' is a object.*version="):
        cached(handler)
    assert cached(version="1")(handler)(3) == 3
    assert cached(key=lambda x: x)(handler)(3) == 3


# -- 3. integrity bound to the key and the codec -------------------------------------------

@pytest.mark.parametrize("kind", ["disk", "redis"])
def test_a_signed_cache_refuses_downgrade_replay_and_a_moved_expiry(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTPERF_CACHE_KEY", SECRET)
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    config = CacheConfig(tiers=(kind,), dir=tmp_path / "disk", redis_url=url, ttl=600)
    cache = build_cache(config)
    tier = cache.tiers[0]
    cache.set(KEY_B, Entry({"answer": "b"}))
    cache.set(KEY_C, Entry({"answer": "c"}))
    signed_c = tier.get(KEY_C)
    cases = {
        "downgrade": Codec("json").encode(Entry({"answer": "planted"}), KEY_B),
        "replay": signed_c,
        "expiry": signed_c[:4] + (b"\x7f" * 8) + signed_c[12:],
    }
    for n, (name, blob) in enumerate(cases.items(), start=1):
        tier.set(KEY_B, blob, None)
        assert cache.get(KEY_B) is None, name
        assert cache.stats().refused_unsigned == n
        assert tier.get(KEY_B) is None, name  # removed
    assert cache.get(KEY_C).value == {"answer": "c"}


def test_a_signing_key_has_a_minimum_length(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    with pytest.raises(AgentperfError, match="at least 32"):
        Codec("json", hmac_key=b"x" * 31)
    monkeypatch.setenv("AGENTPERF_CACHE_KEY", "short")
    with pytest.raises(AgentperfError, match=r"\$AGENTPERF_CACHE_KEY is 5 bytes.*at least 32"):
        build_cache(CacheConfig(tiers=("memory",)))


def test_an_unkeyed_cache_never_unpickles(tmp_path: Path) -> None:
    disk = DiskTier(tmp_path)
    pickled = Codec("pickle", hmac_key=SECRET.encode()).encode(Entry({"x": (1, 2)}), KEY_B)
    disk.set(KEY_B, pickled, None)
    cache = TieredCache([disk], Codec("json"))
    assert cache.get(KEY_B) is None
    assert cache.stats().refused_unsigned == 1 and disk.get(KEY_B) is None


# -- 4. every decode failure is a counted miss, on every tier ------------------------------

GARBAGE = {
    "empty": b"",
    "random": b"\x00\xff garbage \x13",
    "old format": b'J{"v":1,"l":"abc"}',
    "bad latency": b"A2J-" + bytes(8) + b'{"v":1,"l":"abc"}',
    "not json": b"A2J-" + bytes(8) + b'{"v": [1, ',
    "not a record": b"A2J-" + bytes(8) + b"[1, 2, 3]",
    "unknown codec": b"A2Z-" + bytes(8) + b"{}",
}


@pytest.mark.parametrize("kind", ["memory", "disk", "redis"])
def test_garbage_on_any_tier_is_a_counted_miss_and_removed(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    tier = tier_of(kind, tmp_path, url)
    cache = TieredCache([tier], Codec("json"))
    for n, (name, blob) in enumerate(GARBAGE.items(), start=1):
        tier.set(KEY_B, blob, None)
        assert cache.get(KEY_B) is None, name
        assert cache.get_many([KEY_B]) == {}, name  # again: still a miss, never a raise
        assert cache.stats().corrupt_removed == n, name
        assert tier.get(KEY_B) is None, name
    cache.set(KEY_B, Entry("fresh"))
    assert cache.get(KEY_B).value == "fresh"


# -- 5. TTL is absolute ---------------------------------------------------------------------

def test_promotion_carries_the_remaining_lifetime(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = TieredCache([DiskTier(tmp_path, clock=clock)], Codec("json"), ttl_s=100,
                         wall_clock=clock)
    writer.set(KEY_B, Entry("value"))
    clock.now += 90
    memory = MemoryTier(clock=clock)
    reader = TieredCache([memory, DiskTier(tmp_path, clock=clock)], Codec("json"), ttl_s=100,
                         wall_clock=clock)
    assert reader.get(KEY_B).value == "value"  # from disk, promoted with 10 s left
    assert memory.get(KEY_B) is not None
    clock.now += 11
    assert memory.get(KEY_B) is None  # not 100 s more
    assert reader.get(KEY_B) is None


def test_redis_promotion_to_disk_keeps_the_expiry(redis_url: str, tmp_path: Path) -> None:
    clock = FakeClock(time.time())
    TieredCache([RedisTier(redis_url)], Codec("json"), ttl_s=60,
                wall_clock=clock).set(KEY_B, Entry("shared"))
    clock.now += 50
    disk = DiskTier(tmp_path, clock=clock)
    reader = TieredCache([disk, RedisTier(redis_url)], Codec("json"), ttl_s=60,
                         wall_clock=clock)
    assert reader.get(KEY_B).value == "shared"
    clock.now += 11  # 61 s after the write: expired everywhere, whatever tier holds it
    assert disk.get(KEY_B) is None and reader.get(KEY_B) is None


# -- 6. the disk tier is bounded, purges, removes safely, validates keys --------------------

def _age(tier: DiskTier, key: str, seconds_ago: float) -> None:
    path = tier._path(key)
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))


def test_disk_evicts_least_recently_used_past_max_entries(tmp_path: Path) -> None:
    disk = DiskTier(tmp_path, max_entries=10)
    keys = [f"{i:064d}" for i in range(12)]
    for i, key in enumerate(keys[:10]):
        disk.set(key, b"x" * 10, None)
        _age(disk, key, 1000 - i)  # key 0 the oldest
    assert disk.get(keys[0]) is not None  # a hit makes it the most recently used
    disk.set(keys[10], b"x", None)
    assert disk.usage().entries <= 10
    present = {k for k in keys if disk.get(k) is not None}
    assert keys[0] in present and keys[10] in present
    assert keys[1] not in present and keys[2] not in present  # the two least recently used
    assert disk.evicted == 2


def test_disk_evicts_past_max_bytes(tmp_path: Path) -> None:
    disk = DiskTier(tmp_path, max_bytes=10_000)
    for i in range(30):
        disk.set(f"{i:064d}", b"y" * 1000, None)
    usage = disk.usage()
    assert usage.bytes <= 10_000 and usage.entries >= 8
    assert disk.get(f"{29:064d}") is not None  # the newest stays


def test_disk_purges_expired_entries_nobody_reads(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = DiskTier(tmp_path, clock=clock)
    for i in range(5):
        writer.set(f"{i:064d}", b"z", 10)
    clock.now += 11
    writer.set("e" * 64, b"kept", None)  # this process's purge is not due yet
    assert writer.usage().entries == 6
    next_run = DiskTier(tmp_path, clock=clock)
    next_run.set("f" * 64, b"new", None)  # a new process: its first write purges
    assert next_run.usage().entries == 2 and next_run.expired_removed == 5
    periodic = DiskTier(tmp_path, clock=clock, purge_interval_s=0)
    periodic.set("d" * 64, b"short", 1)
    clock.now += 2
    periodic.set("c" * 64, b"new", None)  # the interval is over: this write purges
    assert periodic.usage().entries == 3 and periodic.expired_removed == 1


BOUNDED_WRITER = """
import sys
from agentperf.cache.disk import DiskTier
from agentperf.cache.serializers import Codec, Entry
from agentperf.cache.tiered import TieredCache
root, worker, max_entries, max_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cache = TieredCache([DiskTier(root, max_entries=max_entries, max_bytes=max_bytes)], Codec("json"))
for i in range(300):
    cache.set(f"{worker:02d}{i:062d}", Entry({"w": worker, "i": i, "pad": "p" * 400}))
"""


@pytest.mark.parametrize(("max_entries", "max_bytes"), [(40, 1 << 30), (100_000, 30_000)])
def test_disk_bounds_hold_under_two_writer_processes(tmp_path: Path, max_entries: int,
                                                     max_bytes: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", BOUNDED_WRITER, str(tmp_path), str(w),
                               str(max_entries), str(max_bytes)], env=env) for w in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    disk = DiskTier(tmp_path, max_entries=max_entries, max_bytes=max_bytes)
    usage = disk.usage()
    # Between its scans each writer adds at most max(16, a tenth of max_entries) files,
    # or a tenth of max_bytes and one entry: the other writer's share is the overshoot.
    assert 0 < usage.entries <= max_entries + 2 * max(16, max_entries // 10)
    assert usage.bytes <= max_bytes + 2 * (max_bytes // 10 + 1000)
    assert usage.entries < 600  # 600 were written: the bound did remove entries
    cache = TieredCache([disk], Codec("json"))
    survivors = [cache.get(f"{w:02d}{i:062d}") for w in range(2) for i in range(300)]
    assert all(e is None or e.value["pad"] == "p" * 400 for e in survivors)  # all whole
    assert cache.stats().corrupt_removed == 0
    disk.purge()
    usage = disk.usage()
    assert usage.entries <= max_entries and usage.bytes <= max_bytes
    assert not list(tmp_path.rglob(".tmp-*")) and not list(tmp_path.rglob(".rm-*"))


def test_removal_never_takes_a_fresh_entry_another_process_wrote(tmp_path: Path) -> None:
    clock = FakeClock()
    disk = DiskTier(tmp_path, clock=clock)
    disk.set(KEY_B, b"old", 5)
    path = disk._path(KEY_B)
    old_inode = path.stat().st_ino
    clock.now += 10  # expired for a reader...
    DiskTier(tmp_path).set(KEY_B, b"fresh", None)  # ...that another process overwrites first
    assert not _remove_if_same(path, old_inode)
    assert disk.get(KEY_B) == b"fresh"
    disk.discard(KEY_B, b"something else")  # a reader's bad bytes are no longer there
    assert disk.get(KEY_B) == b"fresh"
    disk.discard(KEY_B, b"fresh")
    assert disk.get(KEY_B) is None


@pytest.mark.parametrize("kind", ["memory", "disk", "redis"])
@pytest.mark.parametrize("key", ["../../etc/passwd", "a/b" * 3, "", "x" * 200, "a*b", None])
def test_every_tier_refuses_keys_that_could_escape(kind: str, key: Any, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    tier = tier_of(kind, tmp_path, url)
    with pytest.raises(InvalidKeyError):
        tier.set(key, b"A2J-", None)
    assert not list(tmp_path.parent.glob("etc*"))


def test_clear_counts_entries_not_leftover_temp_files(tmp_path: Path) -> None:
    disk = DiskTier(tmp_path)
    disk.set(KEY_B, b"1", None)
    disk.set(KEY_C, b"2", None)
    leftover = disk._path(KEY_B).parent / ".tmp-killed-writer"
    leftover.write_bytes(b"partial")
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    assert disk.clear() == 2
    assert not leftover.exists()


# -- a hung Redis -------------------------------------------------------------------------

def test_a_hung_redis_blocks_one_call_per_back_off(redis_server: Any, redis_url: str) -> None:
    cache = TieredCache([MemoryTier(), RedisTier(redis_url, timeout_s=0.3)], Codec("json"),
                        retry_s=600)
    cache.set(KEY_C, Entry("before"))
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        blocked = []
        for i in range(10):
            start = time.perf_counter()
            cache.set(f"{i:064d}", Entry(i))
            assert cache.get(f"{i:064d}").value == i  # memory carries on: nothing lost
            blocked.append(time.perf_counter() - start)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    stats = cache.stats()
    redis_stats = stats.tiers[1]
    assert redis_stats.errors == 1 and redis_stats.skipped >= 9  # one call paid the timeout
    assert max(blocked) < 5.0  # the socket timeout (0.3 s), with generous slack
    assert sorted(blocked)[-2] < 0.5  # every other call skipped Redis
    assert len(stats.warnings) == 1 and "redis cache unavailable" in stats.warnings[0]
