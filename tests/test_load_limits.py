"""Rate limits: one token bucket shared by every worker of a run, in every local mode,
and the Redis limiter that Dask workers share (tested here against a real redis-server;
the Dask run itself is in test_dask_load.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from load_helpers import call_rate, run_spec, spec_text

from agentperf.execution.redis_limiter import RedisRateLimiter, SharedLimit

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _tests_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TESTS_DIR)


def test_a_limit_holds_eight_threads_to_its_rate(tmp_path: Path) -> None:
    result, rows = run_spec(tmp_path, spec_text(
        "stamp", "mode: threads, workers: 8, rate_limit: 50/s, iterations: 100"))
    starts = sorted(row["output"] for row in rows)
    assert starts[-1] - starts[0] >= 1.9  # 100 calls at 50/s: 99 gaps of 20 ms
    assert result.wall_s >= 1.9
    load = result.load
    assert load.model == "closed" and load.rate_limit == 50.0
    assert load.limiter_waits >= 90 and load.limiter_wait_s > 0.5
    assert "held back" in " ".join(str(v) for _, v in _rows(result))


def _rows(result: object) -> list[tuple[str, object]]:
    from agentperf.report.batch_summary import load_rows
    from agentperf.report.json_report import batch_document

    return load_rows(batch_document(result)["load"])


@pytest.mark.parametrize(("mode", "agent"), [
    ("sequential", "stamp"), ("asyncio", "astamp"), ("processes", "stamp"), ("auto", "stamp"),
])
def test_a_limit_caps_starts_in_every_mode(tmp_path: Path, mode: str, agent: str) -> None:
    _, rows = run_spec(tmp_path, spec_text(
        agent, f"mode: {mode}, workers: 4, rate_limit: 50/s, iterations: 30"))
    assert len(rows) == 30
    assert call_rate(rows) <= 50 * 1.1  # a cap: no stretch of the run goes faster


def test_a_burst_starts_at_once_then_the_rate_holds(tmp_path: Path) -> None:
    _, rows = run_spec(tmp_path, spec_text(
        "stamp", "mode: threads, workers: 10, rate_limit: 20/s, burst: 10, iterations: 20"))
    starts = sorted(row["output"] for row in rows)
    assert starts[9] - starts[0] < 0.2  # the burst
    assert starts[19] - starts[0] >= 0.45  # ten more at 20/s after it


def test_no_limit_means_no_waiting(tmp_path: Path) -> None:
    result, rows = run_spec(tmp_path, spec_text(
        "stamp", "mode: threads, workers: 8, iterations: 100"))
    assert call_rate(rows) > 100
    assert result.load.limiter_waits == 0 and result.load.rate_limit is None


# -- the Redis limiter -------------------------------------------------------------------------

def test_redis_limiter_spaces_reservations_from_many_threads(redis_url: str) -> None:
    limit = SharedLimit(redis_url, rate=50.0, name="threads-test")
    limiters = [RedisRateLimiter(limit) for _ in range(2)]  # two clients, one bucket
    starts: list[float] = []
    lock = threading.Lock()

    def call(limiter: RedisRateLimiter) -> None:
        for _ in range(15):
            limiter.acquire()
            with lock:
                starts.append(time.perf_counter())

    threads = [threading.Thread(target=call, args=(limiters[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    starts.sort()
    assert len(starts) == 60
    assert starts[-1] - starts[0] >= 59 / 50 * 0.95
    for limiter in limiters:
        limiter.close()


def test_redis_limiter_burst_and_separate_buckets(redis_url: str) -> None:
    burst = RedisRateLimiter(SharedLimit(redis_url, rate=1.0, burst=3, name="burst"))
    waits = [burst.reserve() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] == pytest.approx(1.0, abs=0.05)
    other = RedisRateLimiter(SharedLimit(redis_url, rate=1.0, name="other"))
    assert other.reserve() == 0.0  # a bucket of its own name is not held by the first
    burst.close()
    other.close()


def test_an_unreachable_limiter_fails_before_the_run_with_its_url_redacted() -> None:
    from agentperf.errors import AgentperfError, ExitCode

    limiter = RedisRateLimiter(SharedLimit("redis://user:hunter2@127.0.0.1:1/0", rate=5.0))
    with pytest.raises(AgentperfError) as caught:
        limiter.check()
    assert "cannot reach" in str(caught.value) and "hunter2" not in str(caught.value)
    assert caught.value.exit_code == ExitCode.USAGE
