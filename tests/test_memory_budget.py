"""Memory-aware concurrency: an agent holding 100 MB a call runs at most as many calls at
once as the budget allows (a smaller stand-in for the issue's 300 MB x 16 workers with a
1GB budget, sized for a shared machine), says why, and is left alone when it fits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from report_schema import validate_report

from agentperf.execution.memory import MemoryBudget, budget_problem, estimate, memory_budget

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024

AGENT = """
import os
import time
from pathlib import Path

LOG = Path(__file__).parent / "calls.log"


def hold(x):
    block = b"\\x01" * (100 * 1024 * 1024)  # written, so every page is resident
    with open(LOG, "a") as log:
        log.write(f"start {time.monotonic()}\\n")
    time.sleep(0.3)
    with open(LOG, "a") as log:
        log.write(f"end {time.monotonic()}\\n")
    return len(block)
"""


def run(tmp_path: Path, execution: str, inputs: int = 9) -> tuple[int, dict[str, Any], str]:
    (tmp_path / "hold_agent.py").write_text(AGENT)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        textwrap.dedent(f"""
        agent: hold_agent:hold
        inputs: {list(range(inputs))}
        execution: {execution}
    """)
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentperf",
            "run-batch",
            str(spec),
            "--json",
            "--sample-interval",
            "0",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path)])),
        stdin=subprocess.DEVNULL,
    )
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, doc, proc.stderr


def most_at_once(tmp_path: Path) -> int:
    events = []
    for line in (tmp_path / "calls.log").read_text().splitlines():
        kind, when = line.split()
        events.append((float(when), 1 if kind == "start" else -1))
    running = most = 0
    for _, step in sorted(events):  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


def test_processes_16_workers_in_a_420mb_budget_run_at_most_3_calls(tmp_path: Path) -> None:
    # 100 MiB a call + ~25 MiB a worker: 420 MiB fits 3 (3 for any baseline of 6-40 MiB)
    code, doc, err = run(tmp_path, "{mode: processes, workers: 16, memory_budget: 420MB}")
    assert code == 0, err
    memory = doc["executor"]["memory"]
    assert memory["requested"] == 16 and memory["cap"] == 3 and memory["running"] == 3
    assert memory["applied"] is True
    assert 95 * MiB <= memory["per_call_bytes"] <= 130 * MiB
    assert 0 < memory["worker_baseline_bytes"] < 100 * MiB  # each worker's own RSS counts
    assert doc["executor"]["workers"] == 3
    assert "16 workers need" in doc["executor"]["reason"]
    assert "capped at 3 workers" in doc["executor"]["reason"]
    assert most_at_once(tmp_path) == 3
    assert doc["tasks"]["succeeded"] == 9
    validate_report(doc)


def test_threads_in_a_350mb_budget_run_at_most_3_calls(tmp_path: Path) -> None:
    code, doc, err = run(tmp_path, "{mode: threads, workers: 8, memory_budget: 350MB}")
    assert code == 0, err
    memory = doc["executor"]["memory"]
    assert memory["worker_baseline_bytes"] is None  # calls run in agentperf's own process
    assert memory["cap"] == 3 and memory["running"] == 3 and doc["executor"]["workers"] == 3
    assert "capped at 3 workers" in doc["executor"]["reason"]
    assert most_at_once(tmp_path) <= 3


def test_a_budget_that_fits_the_workers_caps_nothing(tmp_path: Path) -> None:
    code, doc, err = run(tmp_path, "{mode: threads, workers: 4, memory_budget: 2GB}", inputs=8)
    assert code == 0, err
    memory = doc["executor"]["memory"]
    assert memory["running"] == 4 and memory["cap"] >= 16
    assert "capped" not in doc["executor"]["reason"] and "within" in memory["note"]
    assert doc["executor"]["workers"] == 4
    assert most_at_once(tmp_path) == 4


def test_auto_applies_the_budget_to_the_mode_it_picks(tmp_path: Path) -> None:
    code, doc, err = run(tmp_path, "{mode: auto, workers: 8, memory_budget: 350MB}")
    assert code == 0, err
    assert doc["executor"]["memory"]["running"] == 3
    assert "capped at 3 workers" in doc["executor"]["reason"]
    assert most_at_once(tmp_path) <= 3


def test_processes_without_a_budget_report_the_estimate_and_cap_nothing(tmp_path: Path) -> None:
    code, doc, err = run(tmp_path, "{mode: processes, workers: 2}", inputs=4)
    assert code == 0, err
    memory = doc["executor"]["memory"]
    assert memory["applied"] is False and memory["running"] == 2
    assert memory["per_call_bytes"] >= 95 * MiB  # measured on each worker's first calls
    assert not doc["warnings"]  # 2 x 125 MiB is far within half of this machine's memory


def test_processes_warn_when_the_workers_exceed_the_budget_without_capping() -> None:
    """The warning itself, on real worker processes; a small budget passed to the executor
    directly stands in for a machine short of memory."""
    from agentperf.execution.base import Task
    from agentperf.execution.processes import ProcessExecutor
    from agentperf.execution.settings import ExecutionSettings
    from agentperf.workload.adapters import AgentRef

    agent = AgentRef(target="batch_agents:hold_memory", search_paths=(str(REPO / "tests"),))
    for budget, warned in (("150MB", True), ("2GB", False)):
        settings = ExecutionSettings(mode="processes", workers=2, memory_budget=budget)
        with ProcessExecutor(agent, settings) as executor:
            results = list(executor.run(Task(i, 100) for i in range(4)))
        assert all(r.ok for r in results)
        memory = executor.info.memory
        assert memory.applied is False and memory.running == 2
        assert memory.exceeded is warned
        assert (
            any("set execution.memory_budget to cap them" in n for n in executor.info.notes)
            is warned
        )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("lots", "expected a size such as 512MB or 1GB"),
        ("0%", "more than 0%"),
        ("120%", "at most 100%"),
        (0, "more than 0 bytes"),
        (1.5, "expected a size"),
    ],
)
def test_a_bad_budget_is_a_usage_error(tmp_path: Path, raw: Any, problem: str) -> None:
    assert problem in (budget_problem(raw) or "")
    (tmp_path / "hold_agent.py").write_text(AGENT)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"agent: hold_agent:hold\ninputs: [1]\n"
        f"execution: {{mode: threads, memory_budget: {json.dumps(raw)}}}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}"),
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {spec}:3: execution.memory_budget:")


def test_the_cap_counts_each_worker_baseline_and_the_default_budget_is_half() -> None:
    budget = MemoryBudget(1000 * MiB, "test", True)
    assert estimate(budget, 300 * MiB, None, 16, apply=True).running == 3
    with_workers = estimate(budget, 300 * MiB, 40 * MiB, 16, apply=True)
    assert with_workers.cap == 2 and with_workers.estimated_peak_bytes == 680 * MiB
    warned = estimate(budget, 300 * MiB, 40 * MiB, 16, apply=False)
    assert warned.running == 16 and warned.exceeded and "fits 2" in warned.note
    assert estimate(budget, 0, None, 16, apply=True).running == 16
    default = memory_budget()
    assert default.explicit is False and default.source.startswith("50% of ")
    assert memory_budget("60%").bytes > default.bytes


def test_dask_reports_and_warns_but_never_caps(tmp_path: Path) -> None:
    code, doc, err = run(tmp_path, "{mode: dask, workers: 2, memory_budget: 150MB}", inputs=4)
    assert code == 0, err
    memory = doc["executor"]["memory"]
    assert memory["applied"] is False and memory["running"] == 2 and memory["cap"] == 1
    assert memory["per_call_bytes"] >= 95 * MiB and memory["worker_baseline_bytes"] > 0
    assert any("a budget is not applied in dask mode" in w for w in doc["warnings"])
