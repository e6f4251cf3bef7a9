"""Usage recorded inside agents on Dask workers travels back with each task's result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("distributed")

import dask_agents

AGENT_MODULE = """
import agentperf

def priced(n):
    agentperf.record_usage(input_tokens=100 + n, output_tokens=n, cached_input_tokens=50,
                           model="gpt-4o-mini")
    return n
"""


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Any:
    """The 2-worker LocalCluster shared by the Dask test modules (see dask_agents)."""
    return dask_agents.shared_cluster(request.config)


def test_dask_run_carries_recorded_usage_and_cost(cluster: Any, tmp_path: Path) -> None:
    module = f"priced_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(AGENT_MODULE, encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"agent: {module}:priced\ninputs: [1, 2, 3, 4, 5, 6]\n"
        "pricing: {input_per_million: 1.0, output_per_million: 10.0, "
        "cached_input_per_million: 0.1}\n",
        encoding="utf-8",
    )
    from agentperf.cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "run-batch",
            str(spec),
            "--mode",
            "dask",
            "--scheduler",
            cluster.scheduler.address,
            "--no-cache",
            "--json",
            "--sample-interval",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{") :])
    assert doc["executor"]["mode"] == "dask"
    ns = range(1, 7)
    usage = doc["usage"]
    assert usage["input_tokens"]["total"] == sum(100 + n for n in ns)
    assert usage["output_tokens"]["total"] == sum(ns)
    assert usage["cached_input_tokens"]["total"] == 6 * 50
    expected = sum((100 + n - 50) * 1.0 + 50 * 0.1 + n * 10.0 for n in ns) / 1e6
    assert usage["cost_usd"]["total"] == pytest.approx(expected, rel=1e-12)
