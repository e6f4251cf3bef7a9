"""Cache building blocks: keys, serializers, the memory tier, the disk tier, config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentperf.cache.config import CacheConfig, redact_url, requested_cache
from agentperf.cache.disk import DiskTier
from agentperf.cache.keys import KeyBuilder, UnkeyableError, make_key
from agentperf.cache.memory import MemoryTier
from agentperf.cache.serializers import Codec, Entry, RefusedError, UnstorableError
from agentperf.cache.tiered import TieredCache
from agentperf.errors import SpecError

REPO = Path(__file__).resolve().parents[1]
KEY_A = b"k" * 32  # the shortest signing key allowed
KEY_B = b"attacker-key-" + b"x" * 19


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Query:
    text: str
    top_k: int


SAMPLE = {"b": [1, 2.5, "x", None, True], "a": {"nested": (1, 2)}, "q": Query("hi", 3),
          "s": {3, 1, 2}, "bytes": b"\x00\xff"}

KEY_SCRIPT = """
import json, sys
from dataclasses import dataclass
from agentperf.cache.keys import make_key

@dataclass
class Query:
    text: str
    top_k: int

Query.__module__ = "test_cache_core"
Query.__qualname__ = "Query"
sample = {"b": [1, 2.5, "x", None, True], "a": {"nested": (1, 2)}, "q": Query("hi", 3),
          "s": {3, 1, 2}, "bytes": b"\\x00\\xff"}
print(make_key("pkg.mod:Agent", sample, {"model": "m", "temperature": 0.2}, version="1"))
"""


def test_key_is_the_same_in_processes_with_different_hash_seeds() -> None:
    keys = set()
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-c", KEY_SCRIPT], env=env, capture_output=True,
                              text=True, check=True, timeout=60)
        keys.add(proc.stdout.strip())
    local = make_key("pkg.mod:Agent", SAMPLE, {"model": "m", "temperature": 0.2}, version="1")
    assert keys == {local}
    assert len(local) == 64  # SHA-256 hex


def test_key_changes_with_what_changes_the_answer() -> None:
    base = make_key("a:f", {"x": 1}, {"model": "m"})
    assert make_key("a:f", {"x": 1}, {"model": "m"}) == base
    assert make_key("a:f", {"x": 1.0}, {"model": "m"}) != base  # int and float differ
    assert make_key("a:f", {"x": 1}, {"model": "n"}) != base
    assert make_key("a:g", {"x": 1}, {"model": "m"}) != base
    assert make_key("a:f", {"x": 1}, {"model": "m"}, version="2") != base
    assert make_key("a:f", [1], {}) != make_key("a:f", (1,), {})
    # mapping order never matters
    assert make_key("a:f", {"x": 1, "y": 2}) == make_key("a:f", {"y": 2, "x": 1})


def test_key_fields_select_the_context_that_matters() -> None:
    ctx = {"model": "m", "temperature": 0.1, "request_id": "abc"}
    builder = KeyBuilder("a:f", context=ctx, key_fields=("model", "temperature"))
    other = KeyBuilder("a:f", context={**ctx, "request_id": "zzz"},
                       key_fields=("model", "temperature"))
    changed = KeyBuilder("a:f", context={**ctx, "temperature": 0.9},
                         key_fields=("model", "temperature"))
    assert builder.key("in") == other.key("in")
    assert builder.key("in") != changed.key("in")


def test_unserializable_input_is_a_clear_error() -> None:
    with pytest.raises(UnkeyableError) as info:
        make_key("a:f", {"messages": [1, object()]})
    assert "input['messages'][1]" in str(info.value)
    assert info.value.reason == "unserializable object"


def test_memory_tier_evicts_least_recently_used() -> None:
    tier = MemoryTier(max_entries=3, max_bytes=10_000)
    for key in "abc":
        tier.set(key, key.encode(), None)
    assert tier.get("a") == b"a"  # a is now most recent
    tier.set("d", b"d", None)
    assert tier.get("b") is None
    assert tier.lru_order() == ["c", "a", "d"]


def test_memory_tier_ttl_expires_with_an_injected_clock() -> None:
    clock = FakeClock()
    tier = MemoryTier(max_entries=10, max_bytes=10_000, clock=clock)
    tier.set("short", b"1", 5.0)
    tier.set("long", b"2", 60.0)
    tier.set("forever", b"3", None)
    clock.now += 4.9
    assert tier.get("short") == b"1"
    clock.now += 0.2
    assert tier.get("short") is None
    assert tier.get("long") == b"2"
    clock.now += 100
    assert tier.get("long") is None
    assert tier.get("forever") == b"3"
    assert len(tier) == 1


def test_memory_tier_is_bounded_by_bytes() -> None:
    tier = MemoryTier(max_entries=1000, max_bytes=100)
    for i in range(10):
        tier.set(f"k{i}", bytes(30), None)
    assert tier.usage().bytes <= 100
    assert tier.lru_order() == ["k7", "k8", "k9"]
    tier.set("huge", bytes(101), None)  # bigger than the tier: not stored, nothing evicted
    assert tier.get("huge") is None
    assert tier.lru_order() == ["k7", "k8", "k9"]


def test_json_refuses_values_it_would_change() -> None:
    codec = Codec("json")
    assert codec.decode(codec.encode(Entry({"a": [1, "x"]}, 0.5))).entry == Entry({"a": [1, "x"]},
                                                                          0.5)
    with pytest.raises(UnstorableError):
        codec.encode(Entry((1, 2)))  # a tuple would come back as a list
    with pytest.raises(UnstorableError):
        codec.encode(Entry({"v": object()}))


def test_msgpack_round_trip() -> None:
    codec = Codec("msgpack")
    entry = Entry({"text": "é", "raw": b"\x00", "n": [1, 2.5]}, 0.25)
    assert codec.decode(codec.encode(entry)).entry == entry


def test_signed_pickle_refuses_tampered_and_unsigned_values() -> None:
    codec = Codec("pickle", hmac_key=KEY_A)
    blob = codec.encode(Entry({"x": (1, 2)}, 0.1))
    assert codec.decode(blob).entry.value == {"x": (1, 2)}
    tampered = blob[:-3] + bytes([blob[-3] ^ 0xFF]) + blob[-2:]
    with pytest.raises(RefusedError):
        codec.decode(tampered)
    with pytest.raises(RefusedError):
        Codec("pickle", hmac_key=KEY_B).decode(blob)
    with pytest.raises(RefusedError):  # a reader that does not allow pickle never unpickles
        Codec("json").decode(blob)


def test_tampered_pickle_in_the_disk_tier_is_a_counted_miss(tmp_path: Path) -> None:
    disk = DiskTier(tmp_path)
    codec = Codec("pickle", hmac_key=KEY_A)
    cache = TieredCache([disk], codec)
    cache.set("a" * 64, Entry([1, 2], 0.3))
    forged = Codec("pickle", hmac_key=KEY_B).encode(Entry("evil", 0.0), "a" * 64)
    disk.set("a" * 64, forged, None)
    assert cache.get("a" * 64) is None
    assert cache.stats().refused_unsigned == 1


def test_corrupted_disk_entry_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = TieredCache([DiskTier(tmp_path)], Codec("json"))
    key = "ab" * 32
    cache.set(key, Entry({"answer": 42}, 1.0))
    path = tmp_path / "v1" / key[:2] / key[2:]
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x55
    path.write_bytes(bytes(data))
    assert cache.get(key) is None
    assert not path.exists()
    assert cache.stats().corrupt_removed == 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage")  # truncated header
    assert cache.get(key) is None
    assert cache.stats().corrupt_removed == 2


def test_disk_tier_ttl_and_persistence(tmp_path: Path) -> None:
    clock = FakeClock()
    DiskTier(tmp_path, clock=clock).set("k" * 64, b"J1", 10.0)
    reopened = DiskTier(tmp_path, clock=clock)  # another process, another run
    assert reopened.get("k" * 64) == b"J1"
    clock.now += 11
    assert reopened.usage().expired == 1
    assert reopened.get("k" * 64) is None
    assert reopened.usage().entries == 0


WRITER_SCRIPT = """
import sys
import time
from agentperf.cache.disk import DiskTier
from agentperf.cache.serializers import Codec, Entry
from agentperf.cache.tiered import TieredCache
root, worker = sys.argv[1], int(sys.argv[2])
cache = TieredCache([DiskTier(root)], Codec("json"))
for i in range(150):
    cache.set(f"{'shared':0<64}"[:60] + f"{i % 7:04d}", Entry({"i": i % 7, "pad": "x" * 2000}))
    cache.set(f"{worker:02d}{i:062d}", Entry({"w": worker, "i": i}))
"""


def test_concurrent_writer_processes_leave_every_entry_whole(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(tmp_path), str(w)],
                              env=env) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    cache = TieredCache([DiskTier(tmp_path)], Codec("json"))
    for w in range(4):
        for i in range(150):
            entry = cache.get(f"{w:02d}{i:062d}")
            assert entry is not None and entry.value == {"w": w, "i": i}
    for i in range(7):
        entry = cache.get(f"{'shared':0<64}"[:60] + f"{i:04d}")
        assert entry is not None and entry.value["i"] == i
    stats = cache.stats()
    assert stats.corrupt_removed == 0
    assert not list(tmp_path.rglob(".tmp-*"))
    assert DiskTier(tmp_path).usage().entries == 4 * 150 + 7


def test_unwritable_cache_directory_warns_once_and_memory_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = TieredCache([MemoryTier(), DiskTier(blocker / "cache")], Codec("json"), retry_s=60)
    for i in range(5):
        cache.set(f"{i:064d}", Entry(i))
    assert all(cache.get(f"{i:064d}").value == i for i in range(5))
    stats = cache.stats()
    assert len(stats.warnings) == 1 and "disk cache unavailable" in stats.warnings[0]
    disk = stats.tiers[1]
    assert disk.errors == 1 and disk.skipped >= 4 and not disk.available


def test_full_disk_is_a_warning_not_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    import errno

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    cache = TieredCache([MemoryTier(), DiskTier(tmp_path)], Codec("json"), retry_s=60)
    monkeypatch.setattr("agentperf.cache.disk.os.replace", no_space)  # a full disk, injected
    cache.set("f" * 64, Entry("kept in memory"))
    assert cache.get("f" * 64).value == "kept in memory"
    assert "No space left on device" in cache.stats().warnings[0]
    assert not list(tmp_path.rglob(".tmp-*"))  # the partial file is cleaned up


def error(message: str, key: str) -> SpecError:
    return SpecError(message, source="spec.yaml", key=key)


def test_config_defaults_and_overrides(tmp_path: Path) -> None:
    config = CacheConfig.from_mapping({}, error=error)
    assert config.enabled and config.tiers == ("memory", "disk")
    assert config.ttl_s == 3600.0 and config.serializer == "json"
    assert config.dir.name == "agentperf"
    config = CacheConfig.from_mapping({"strategy": "conservative", "tiers": ["disk", "memory"]},
                                      error=error, overrides={"dir": str(tmp_path),
                                                              "redis_url": "redis://h:1/0",
                                                              "enabled": False})
    assert config.ttl_s == 900.0 and not config.enabled
    assert config.tiers == ("memory", "disk", "redis") and config.dir == tmp_path


@pytest.mark.parametrize(("raw", "message"), [
    ({"ttll": 5}, "did you mean 'ttl'"),
    ({"ttl": -1}, "cache.ttl: expected a number of seconds"),
    ({"tiers": ["memory", "ssd"]}, "unknown value 'ssd'"),
    ({"serializer": "pickle"}, "allow_pickle: true"),
    ({"strategy": "agressive"}, "did you mean 'aggressive'"),
    ({"ttl": 5, "strategy": "moderate"}, "either 'ttl' or 'strategy'"),
    ({"redis_url": "http://:pw@host/"}, "http://:***@host/"),
    ({"tiers": ["redis"]}, "needs 'redis_url'"),
])
def test_config_errors_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(SpecError) as info:
        CacheConfig.from_mapping(raw, error=error)
    assert message in str(info.value) and "spec.yaml" in str(info.value)
    assert "pw" not in str(info.value)


def test_redact_url_hides_passwords() -> None:
    assert redact_url("redis://:s3cret@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("redis://user:s3cret@host/1") == "redis://user:***@host/1"
    assert redact_url("redis://host:6379") == "redis://host:6379"
    config = CacheConfig(redis_url="redis://:s3cret@h:1/0")
    assert "s3cret" not in repr(config) and "s3cret" not in json.dumps(config.display_url)


def test_memory_tier_stays_consistent_under_concurrent_threads() -> None:
    import random
    import threading

    tier = MemoryTier(max_entries=50, max_bytes=2_000)
    errors: list[BaseException] = []

    def hammer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(20_000):
                key = f"k{rng.randrange(120)}"
                if tier.get(key) is None:
                    tier.set(key, bytes(rng.randrange(1, 80)), rng.choice((None, 0.001, 60)))
        except BaseException as exc:  # any error in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    usage = tier.usage()
    assert usage.entries <= 50 and usage.bytes <= 2_000
    assert usage.bytes == sum(len(tier._data[k][0]) for k in tier.lru_order())


def test_an_unreadable_disk_entry_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = TieredCache([DiskTier(tmp_path)], Codec("json"))
    key = "cd" * 32
    path = tmp_path / "v1" / key[:2] / key[2:]
    path.mkdir(parents=True)  # a directory where the entry file should be: reading fails
    assert cache.get(key) is None
    assert not path.exists() and cache.stats().corrupt_removed == 1
    assert cache.stats().tiers[0].available  # one bad entry does not take the tier down
    cache.set(key, Entry("fresh"))
    assert cache.get(key).value == "fresh"


@pytest.mark.parametrize(("raw", "cli", "tiers"), [
    (None, {}, None),                                          # no section, no flag: off
    ({}, {}, ("memory", "disk")),                              # a section asks for it
    ({"enabled": False}, {}, None),
    ({}, {"cache": False}, None),                              # --no-cache wins over a section
    (None, {"cache": True}, ("memory", "disk")),               # --cache: the embedded default
    ({"enabled": False}, {"cache": True}, ("memory", "disk")),  # the command line wins
    (None, {"dir": "d"}, ("memory", "disk")),                  # --cache-dir names the disk tier
    (None, {"redis_url": "redis://h:1/0"}, ("memory", "redis")),  # --redis-url: no disk
    (None, {"cache": True, "redis_url": "redis://h:1/0"}, ("memory", "disk", "redis")),
    ({"tiers": ["memory"]}, {"dir": "d"}, ("memory", "disk")),
    ({"tiers": ["memory"]}, {}, ("memory",)),
    ({"redis_url": "redis://h:1/0"}, {}, ("memory", "disk", "redis")),
])
def test_the_cache_is_on_only_when_asked_for(raw: dict | None, cli: dict,
                                             tiers: tuple[str, ...] | None) -> None:
    config = requested_cache(raw, error=error, **cli)
    assert (config.tiers if config else None) == tiers
    assert config is None or config.enabled


def test_a_bad_cache_section_is_an_error_even_with_no_cache() -> None:
    with pytest.raises(SpecError, match="did you mean 'ttl'"):
        requested_cache({"ttll": 5}, error=error, cache=False)


def test_key_changes_with_the_code_fingerprint() -> None:
    same = KeyBuilder("pkg:agent", version="1", fingerprint="a" * 64)
    assert same.key({"q": 1}) == KeyBuilder("pkg:agent", version="1",
                                            fingerprint="a" * 64).key({"q": 1})
    assert same.key({"q": 1}) != KeyBuilder("pkg:agent", version="1",
                                            fingerprint="b" * 64).key({"q": 1})
    assert same.key({"q": 1}) != KeyBuilder("pkg:agent", version="1").key({"q": 1})


@pytest.mark.parametrize(("section", "flag", "cached"), [
    ("", None, False), ("cache: {}\n", None, True), ("cache: {enabled: false}\n", None, False),
    ("", True, True), ("cache: {}\n", False, False),
])
def test_monitor_soaks_use_the_cache_by_the_same_rule(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, flag: bool | None,
        cached: bool) -> None:
    from agentperf.pipeline.monitor import prepare_soak

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    spec = tmp_path / "soak.yaml"
    spec.write_text("agent: json:dumps\ninputs: [1, 2]\nexecution: {mode: sequential}\n"
                    + section)
    soak, _, _ = prepare_soak(str(spec), cache=flag)
    soak.start()
    try:
        for _ in range(500):
            if soak.summary().total >= 20 or soak.finished:
                break
            time.sleep(0.01)
    finally:
        summary = soak.stop()
    assert summary.error is None and summary.total >= 20
    assert summary.cache_enabled is cached
    assert (summary.cache_hits > 0) is cached  # the inputs cycle: every pass after the first
