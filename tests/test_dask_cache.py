"""Workers share results through the Redis tier; the memory tier stays per worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentperf.execution.base import Task, TaskResult
from agentperf.execution.dask_backend import DaskExecutor, worker_cache_config
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentRef

pytest.importorskip("distributed")
pytest.importorskip("redis")

import dask_agents

TESTS_DIR = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def two_workers(request: pytest.FixtureRequest) -> Any:
    """The 2-worker LocalCluster shared by the Dask test modules (see dask_agents)."""
    return dask_agents.shared_cluster(request.config)


def run_on(worker: str, client: Any, agent: AgentRef, config: Any,
           inputs: list[int]) -> tuple[list[TaskResult], dict[str, Any]]:
    """Run pinned to one worker, with ``dask.annotate`` as a user would restrict a run."""
    import dask

    execution = ExecutionSettings(mode="dask", scheduler=client.scheduler.address)
    with DaskExecutor(agent, execution, cache_config=config) as executor, \
            dask.annotate(workers=[worker], allow_other_workers=False):
        results = list(executor.run(Task(i, x) for i, x in enumerate(inputs)))
        return results, executor.worker_cache_stats()


def test_result_computed_on_one_worker_is_served_from_redis_to_another(
        two_workers: Any, redis_url: str, tmp_path: Path) -> None:
    from agentperf.cache.config import CacheConfig

    log = tmp_path / "calls.log"
    agent = AgentRef(target="dask_agents:CallLog", init={"log": str(log)},
                     search_paths=(TESTS_DIR,))
    config = CacheConfig(tiers=("memory", "disk", "redis"), redis_url=redis_url,
                         dir=tmp_path / "disk")
    first, second = sorted(two_workers.scheduler_info()["workers"])
    inputs = list(range(12))

    computed, _ = run_on(first, two_workers, agent, config, inputs)
    assert not any(r.cache_hit for r in computed)
    assert {r.worker for r in computed} == {first}
    assert len(log.read_text().splitlines()) == 12  # the agent really ran, once per input

    served, stats = run_on(second, two_workers, agent, config, inputs)
    assert all(r.cache_hit and r.ok for r in served)
    assert {r.worker for r in served} == {second}
    assert {r.index: r.output for r in served} == {r.index: r.output for r in computed}
    assert all(r.saved_s > 0 for r in served)  # the original latency travels with the value
    assert len(log.read_text().splitlines()) == 12  # no call on the second worker

    tiers = {t.name: t for t in stats[second].tiers}
    assert tiers["redis"].hits == 12 and tiers["memory"].hits == 0  # a per-worker memory tier
    assert "disk" not in tiers  # the disk tier stays with the client
    assert not (tmp_path / "disk").exists()


def test_worker_cache_config_keeps_memory_and_redis_only() -> None:
    from agentperf.cache.config import CacheConfig

    assert worker_cache_config(None) is None
    assert worker_cache_config(CacheConfig(enabled=False)) is None
    assert worker_cache_config(CacheConfig(tiers=("memory", "disk"))) is None  # no Redis
    config = CacheConfig(tiers=("memory", "disk", "redis"), redis_url="redis://127.0.0.1:1")
    assert worker_cache_config(config).tiers == ("memory", "redis")


def test_a_soak_gives_dask_workers_the_cache_as_run_batch_does(
        two_workers: Any, redis_url: str, tmp_path: Path) -> None:
    """The soak sets up its executor and cache through run-batch's path, so in Dask mode
    the workers open their own cache tiers (it used to drop the config)."""
    import time

    from agentperf.cache.config import CacheConfig
    from agentperf.pipeline.soak import WorkloadSoak
    from agentperf.workload.inputs import InputSource
    from agentperf.workload.spec import WorkloadSpec

    agent = AgentRef(target="dask_agents:CallLog", init={"log": str(tmp_path / "calls.log")},
                     search_paths=(TESTS_DIR,))
    spec = WorkloadSpec(name="soak", agent=agent,
                        inputs=InputSource(kind="inline", items=tuple(range(6))),
                        execution=ExecutionSettings(mode="dask",
                                                    scheduler=two_workers.scheduler.address))
    config = CacheConfig(tiers=("memory", "redis"), redis_url=redis_url)
    soak = WorkloadSoak(spec, cache_config=config)
    soak.start()
    try:
        deadline = time.monotonic() + 30
        while soak.summary().total < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert soak.executor is not None
        stats = soak.executor.worker_cache_stats()  # live: the run is still going
    finally:
        summary = soak.stop()
    assert summary.error is None and summary.total >= 12
    assert stats, "no Dask worker opened a cache for the soak"
    assert all({t.name for t in s.tiers} == {"memory", "redis"} for s in stats.values())
    assert summary.cache_enabled and summary.cache_hits > 0
