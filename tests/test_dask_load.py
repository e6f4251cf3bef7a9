"""Load shapes on a real Dask LocalCluster (2 worker processes): the parent gates an open
model's dispatch, and ``rate_limit_redis`` holds every worker to one limit in Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask_agents  # tests/ is on sys.path; distributed is in the test extra
import pytest
from load_helpers import call_rate, run_spec, spec_text

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Any:
    return dask_agents.shared_cluster(request.config)


@pytest.fixture(autouse=True)
def _tests_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(TESTS_DIR)


def test_open_model_on_dask_follows_the_arrival_rate(tmp_path: Path, cluster: Any) -> None:
    address = cluster.scheduler.address
    # Warm the workers first: their first task imports agentperf and builds the agent
    # (seconds in a fresh virtualenv), and the calls held back meanwhile start together
    # once it is built, as an open model must, which no window of a short run can hide.
    warm = tmp_path / "warm"
    warm.mkdir()
    run_spec(warm, spec_text("stamp", f"mode: dask, scheduler: '{address}', iterations: 20"))
    result, rows = run_spec(tmp_path, spec_text(
        "stamp", f"mode: dask, scheduler: '{address}', arrival_rate: 50/s, iterations: 60"))
    assert len(rows) == 60 and result.load.dropped == 0
    assert call_rate(rows, trim=0.2) == pytest.approx(50.0, rel=0.15)
    assert result.service_time is not None and result.service_time.p50 < 0.05


def test_redis_limit_holds_two_dask_workers_together(tmp_path: Path, cluster: Any,
                                                     redis_url: str) -> None:
    address = cluster.scheduler.address
    result, rows = run_spec(tmp_path, spec_text(
        "stamp", f"mode: dask, scheduler: '{address}', rate_limit: 50/s, "
                 f"rate_limit_redis: '{redis_url}', iterations: 100, chunk_size: 5"))
    starts = sorted(row["output"] for row in rows)
    assert len(rows) == 100 and len({row["worker"] for row in rows}) == 2
    assert starts[-1] - starts[0] >= 1.9  # 99 gaps of 20 ms, shared by both workers
    load = result.load
    assert load.rate_limit_shared and load.limiter_waits > 50 and load.limiter_wait_s > 1.0
