"""``agentperf monitor`` as a CI step (issue 18 item 4): real commands, real soaks.

Every gate is tested where it must fire and where it must not: the watched command's
exit code, ``-t`` thresholds, a spec's ``thresholds:``, and their precedence.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from monitor_helpers import cli
from typer.testing import CliRunner

from agentperf.analysis.gates import monitor_verdict
from agentperf.analysis.thresholds import ThresholdResult
from agentperf.cli.app import app
from agentperf.errors import ExitCode

runner = CliRunner()
FAST = ["--seconds", "1.5", "--interval", "0.3"]
#: A 10 ms agent that never fails: its p(95) is above 5 ms and far below 5 s.
SPEC = """\
    name: gated-soak
    agent: monitor_helpers:steady_agent
    inputs: [1, 2, 3]
    execution: {{mode: threads, workers: 2}}
    thresholds:
      {thresholds}
"""


def _spec(tmp_path: Path, thresholds: str) -> str:
    path = tmp_path / "soak.yaml"
    path.write_text(textwrap.dedent(SPEC.format(thresholds=thresholds)), encoding="utf-8")
    return str(path)


def _json(args: list[str]) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["monitor", *FAST, "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def test_a_failing_command_exits_3_with_its_own_code_in_summary_and_json() -> None:
    """``-- sh -c 'exit 7'``: exit 3 by the contract, 7 shown in the summary and JSON."""
    proc = cli("monitor", *FAST, "-q", "--", "sh", "-c", "sleep 0.4; exit 7")
    assert proc.returncode == 3, proc.stderr
    assert re.search(r"command exit code\s+7", proc.stdout), proc.stdout
    assert "the command failed with exit code 7" in proc.stdout
    code, doc = _json(["--", "sh", "-c", "sleep 0.4; exit 7"])
    assert code == 3 and doc["command_exit_code"] == 7
    assert doc["verdict"]["exit_code"] == 3
    assert doc["verdict"]["detail"] == "the command failed with exit code 7"
    assert [(g["label"], g["passed"]) for g in doc["gates"]] == [("command succeeded", False)]


def test_a_command_that_succeeds_or_outlives_the_monitor_exits_0() -> None:
    code, doc = _json(["--", "sh", "-c", "sleep 0.4; exit 0"])
    assert code == 0 and doc["command_exit_code"] == 0
    assert [(g["label"], g["passed"]) for g in doc["gates"]] == [("command succeeded", True)]
    # Stopped by the monitor when the time was up: not a failure of the command.
    code, doc = _json(["--", "sleep", "30"])
    assert code == 0 and doc["end_reason"] == "time_up" and doc["gates"] == []


def test_threshold_option_gates_the_watched_process() -> None:
    """rss and cpu gate a command's process tree; a task metric there is 'not measured'."""
    code, doc = _json(["-t", "rss: < 1KB", "--", "sleep", "30"])
    assert code == 1
    [gate] = doc["thresholds"]
    assert gate["metric"] == "rss" and not gate["passed"] and gate["observed"] > 1024
    code, doc = _json(["-t", "rss: < 100GB", "-t", "cpu: < 1000", "--", "sleep", "30"])
    assert code == 0 and all(t["passed"] for t in doc["thresholds"])
    code, doc = _json(["-t", "latency: p(95) < 1s", "--", "sleep", "30"])
    assert code == 1 and doc["thresholds"][0]["note"] == "not measured in this run"


@pytest.mark.timeout(120)
def test_threshold_option_and_spec_thresholds_gate_a_soak(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "latency: ['p(95) < 5s']")
    code, doc = _json([spec])
    assert code == 0, doc["verdict"]
    assert doc["tasks"]["total"] > 10 and doc["thresholds"][0]["passed"]
    code, doc = _json([spec, "-t", "latency: p(95) < 5ms", "-t", "throughput: > 1/s"])
    assert code == 1
    assert [(t["metric"], t["passed"]) for t in doc["thresholds"]] == [
        ("latency", True),
        ("latency", False),
        ("throughput", True),
    ]
    assert "latency p(95) < 5ms" in doc["verdict"]["detail"]
    fires = _spec(tmp_path, "latency: ['p(95) < 5ms']\n      error_rate: ['rate < 1%']")
    code, doc = _json([fires])
    assert code == 1
    assert [(t["metric"], t["passed"]) for t in doc["thresholds"]] == [
        ("latency", False),
        ("error_rate", True),
    ]


def test_a_soak_that_fails_exits_3_unless_max_error_rate_allows_it(tmp_path: Path) -> None:
    """As in run-batch: with no max_error_rate set, a failed call fails the soak."""
    spec = tmp_path / "failing.yaml"
    spec.write_text("name: one-in-five\nagent: monitor_helpers:soak_agent\n"
                    "inputs: [1, 2, 3, 4, 5]\nexecution: {mode: threads, workers: 2}\n")
    code, doc = _json([str(spec)])
    assert code == 3 and doc["tasks"]["failed"] > 0
    assert "no failure is allowed" in doc["verdict"]["detail"]
    gate = next(g for g in doc["gates"] if g["kind"] == "max_error_rate")
    assert not gate["passed"] and gate["label"] == "max_error_rate: 0%"
    code, doc = _json([str(spec), "--max-error-rate", "0.5"])
    assert code == 0, doc["verdict"]
    code, doc = _json([_spec(tmp_path, "latency: ['p(95) < 5s']")])  # never fails
    assert code == 0 and next(g for g in doc["gates"] if g["kind"] == "max_error_rate")[
        "passed"]


@pytest.mark.timeout(120)
def test_quiet_keeps_the_whole_summary_and_run_batch_only_thresholds_are_said(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path, "health_score: ['> 10']\n      latency: ['p(95) < 5s']")
    result = runner.invoke(app, ["monitor", spec, *FAST, "-q"])
    assert result.exit_code == 0, result.output
    for part in ("Metrics", "Workload gated-soak", "Gates", "Health", "MONITOR ENDED"):
        assert part in result.output, part
    assert "thresholds.health_score: monitor does not measure health_score" in " ".join(
        result.output.split()
    )


def _result(passed: bool) -> ThresholdResult:
    return ThresholdResult(
        metric="latency",
        expression="p(95) < 1ms",
        observed=0.5,
        passed=passed,
        kind="duration",
        limit=0.001,
    )


def test_monitor_verdict_has_run_batch_precedence() -> None:
    failed = "the command failed with exit code 7"
    gate_and_workload = monitor_verdict(
        interrupted=False, thresholds=[_result(False)], workload_failure=failed
    )
    assert gate_and_workload.exit_code is ExitCode.GATE_FAILED
    assert gate_and_workload.reason.endswith(f"; also {failed}")
    workload = monitor_verdict(
        interrupted=False, thresholds=[_result(True)], workload_failure=failed
    )
    assert (workload.exit_code, workload.reason) == (ExitCode.WORKLOAD_FAILED, failed)
    interrupted = monitor_verdict(
        interrupted=True, thresholds=[_result(False)], workload_failure=failed
    )
    assert interrupted.exit_code is ExitCode.INTERRUPTED
    clean = monitor_verdict(interrupted=False, thresholds=[_result(True)], workload_failure="")
    assert clean.exit_code is ExitCode.OK and clean.reason == "all 1 thresholds passed"
