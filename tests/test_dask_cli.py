"""``agentperf run-batch --mode dask`` end to end: same results as the local executor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("distributed")

import dask_agents

REPO_ROOT = Path(__file__).resolve().parent.parent

AGENT_MODULE = '''
def classify(item):
    """A small workload that fails on multiples of 7."""
    if item["n"] % 7 == 0:
        raise ValueError(f"unlucky {item['n']}")
    return {"label": "even" if item["n"] % 2 == 0 else "odd", "square": item["n"] ** 2}
'''


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest) -> Any:
    """The 2-worker LocalCluster shared by the Dask test modules (see dask_agents)."""
    return dask_agents.shared_cluster(request.config)


@pytest.fixture()
def workload(tmp_path: Path) -> Path:
    """A spec whose agent module lives next to it, as a user's workload code would."""
    module = f"classify_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(AGENT_MODULE, encoding="utf-8")
    with (tmp_path / "inputs.jsonl").open("w", encoding="utf-8") as fh:
        for n in range(60):
            fh.write(json.dumps({"n": n}) + "\n")
    spec = tmp_path / "workload.yaml"
    spec.write_text(f"name: classify\nagent: {module}:classify\ninputs: inputs.jsonl\n"
                    "max_error_rate: 0.5\n", encoding="utf-8")
    return spec


def records(path: Path) -> dict[int, tuple[bool, Any, str | None]]:
    out: dict[int, tuple[bool, Any, str | None]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        assert rec["index"] not in out, "an input was written twice"
        error = rec.get("error")
        out[rec["index"]] = (rec["ok"], rec.get("output"),
                             f"{error['type']}: {error['message']}" if error else None)
    return out


def invoke(*args: str) -> Any:
    from agentperf.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_run_batch_dask_matches_local_executor(cluster: Any, workload: Path,
                                               tmp_path: Path) -> None:
    dask_out, local_out = tmp_path / "dask.jsonl", tmp_path / "local.jsonl"
    result = invoke("run-batch", str(workload), "--mode", "dask", "--scheduler",
                    cluster.scheduler.address, "--output", str(dask_out), "--no-cache",
                    "--json", "--sample-interval", "0")
    assert result.exit_code == 0, result.output
    local = invoke("run-batch", str(workload), "--mode", "threads", "--output",
                   str(local_out), "--no-cache", "--json", "--sample-interval", "0")
    assert local.exit_code == 0, local.output
    got, want = records(dask_out), records(local_out)
    assert sorted(got) == list(range(60))
    assert got == want
    workers = {json.loads(line)["worker"] for line in dask_out.read_text().splitlines()}
    assert workers <= set(cluster.scheduler_info()["workers"])
    summary = json.loads(result.stdout)
    executor = summary["executor"]
    assert executor["mode"] == "dask" and executor["workers"] == 2
    assert sum(executor["extra"]["tasks_per_worker"].values()) == 60
    assert "batches of" in executor["reason"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_is_one_line_and_exit_2(workload: Path, tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "never.jsonl"
    result = invoke("run-batch", str(workload), "--mode", "dask", "--scheduler", address,
                    "--output", str(out), "--no-cache", "--sample-interval", "0")
    assert result.exit_code == 2, result.output
    assert f"cannot reach Dask scheduler at {address}" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() or out.read_text() == ""  # nothing ran


def test_subprocess_starts_and_closes_its_own_local_cluster(workload: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf", "run-batch", str(workload), "--mode", "dask",
         "--workers", "2", "-o", str(out), "--no-cache", "--quiet", "--sample-interval", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(records(out)) == list(range(60))
    assert sum(1 for ok, _, _ in records(out).values() if not ok) == 9  # 0, 7, ..., 56
    assert "distributed." not in proc.stderr  # no Dask log chatter on the user's terminal


def test_ctrl_c_keeps_finished_results_without_worker_tracebacks(tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    (tmp_path / "slow_agent.py").write_text(
        "import time\n\ndef slow(x):\n    time.sleep(0.05)\n    return x\n", encoding="utf-8")
    spec = tmp_path / "slow.yaml"
    spec.write_text("agent: slow_agent:slow\ninputs: " + json.dumps(list(range(2000))) + "\n",
                    encoding="utf-8")
    out = tmp_path / "partial.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec), "--mode", "dask",
         "--workers", "2", "-o", str(out), "--no-cache", "--quiet", "--sample-interval", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
                not out.exists() or len(out.read_text().splitlines()) < 10):
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    kept = records(out)
    assert 10 <= len(kept) < 2000
    assert all(ok for ok, _, _ in kept.values())
