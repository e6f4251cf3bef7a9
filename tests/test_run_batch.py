"""run-batch end to end, through the real command line in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def agentperf(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentperf", *args], cwd=cwd or REPO,
                          env=_env(env), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS)])
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.update(extra or {})
    return env


def write_spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def read_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def report_options(directory: Path) -> list[str]:
    """Every report format, into ``directory`` (made by the first write)."""
    return ["--report-json", str(directory / "r.json"), "--report-md", str(directory / "r.md"),
            "--junit-xml", str(directory / "r.xml"), "--report-html", str(directory / "r.html")]


def test_quickstart_runs_on_embedded_defaults(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    proc = agentperf("run-batch", "sample_workloads/quickstart.yaml", "--cache-dir",
                     str(tmp_path / "cache"), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["tasks"]["total"] == 60
    assert summary["tasks"]["failed"] == 0
    assert summary["executor"]["mode"] == "asyncio"
    assert "async" in summary["executor"]["reason"]
    assert summary["cache"]["calls_avoided"] > 0  # the inputs repeat
    records = read_results(out)
    assert sorted(r["index"] for r in records) == list(range(60))
    assert sum(r["cache_hit"] for r in records) == summary["cache"]["calls_avoided"]


def test_summary_json_and_results_file(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        name: doubles
        agent: batch_agents:double
        inputs: [1, 2, 3, 4, 5, 6, 7, 8]
        execution: {mode: threads, workers: 3}
        cache: {enabled: false}
    """)
    out = tmp_path / "r.jsonl"
    proc = agentperf("run-batch", str(spec), "--output", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["name"] == "doubles"
    tasks = summary["tasks"]
    assert (tasks["total"], tasks["succeeded"], tasks["failed"]) == (8, 8, 0)
    assert summary["executor"]["mode"] == "threads"
    assert summary["executor"]["workers"] == 3
    latency = summary["latency"]
    assert 0 < latency["min_s"] <= latency["p50_s"] <= latency["p99_s"] <= latency["max_s"]
    assert 0 <= summary["health"]["score"] <= 100
    records = {r["index"]: r for r in read_results(out)}
    assert {i: r["output"] for i, r in records.items()} == {i: (i + 1) * 2 for i in range(8)}
    assert all(len(r["input_digest"]) == 16 and r["attempts"] == 1 for r in records.values())


def test_cli_options_override_the_spec(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        agent: batch_agents:double
        inputs: [1, 2]
        execution: {mode: threads}
        cache: {enabled: false}
    """)
    proc = agentperf("run-batch", str(spec), "--mode", "sequential", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["executor"]["mode"] == "sequential"


def test_failures_are_data_and_exit_3_unless_allowed(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        agent: batch_agents:fail_on_odd
        inputs: [0, 1, 2, 3]
        execution: {mode: threads, workers: 2}
        cache: {enabled: false}
    """)
    out = tmp_path / "r.jsonl"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "--json")
    assert proc.returncode == 3, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["tasks"]["failed"] == 2
    assert summary["failures"][0]["type"] == "ValueError"
    failed = [r for r in read_results(out) if not r["ok"]]
    assert {r["index"] for r in failed} == {1, 3}
    assert failed[0]["error"]["type"] == "ValueError"
    assert "odd input" in failed[0]["error"]["message"]
    assert "Traceback" in failed[0]["error"]["traceback"]
    allowed = agentperf("run-batch", str(spec), "--max-error-rate", "0.5", "--quiet")
    assert allowed.returncode == 0, allowed.stderr


def test_bad_spec_is_one_line_and_exit_2(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "agent: batch_agents:double\nexecution: {wrokers: 2}\n")
    proc = agentperf("run-batch", str(spec))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "spec.yaml:2: execution.wrokers: unknown key (did you mean 'workers'?)" in lines[0]
    missing = agentperf("run-batch", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 2 and "spec file not found" in missing.stderr
    bad_path = agentperf("run-batch", "batch_agents:nope", "--input", "1")
    assert bad_path.returncode == 2 and "no attribute 'nope'" in bad_path.stderr
    debug = agentperf("run-batch", str(spec), "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_dotted_path_with_inputs_and_no_input_function(tmp_path: Path) -> None:
    proc = agentperf("run-batch", "batch_agents:double", "--input", "2", "--input", "5",
                     "--no-cache", "--json", "-o", str(tmp_path / "r.jsonl"))
    assert proc.returncode == 0, proc.stderr
    outputs = sorted(r["output"] for r in read_results(tmp_path / "r.jsonl"))
    assert outputs == [4, 10]
    proc = agentperf("run-batch", "batch_agents.no_input", "--no-cache", "--json",
                     "-o", str(tmp_path / "n.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert [r["output"] for r in read_results(tmp_path / "n.jsonl")] == ["called"]


def test_langgraph_state_graph_through_run_batch(tmp_path: Path) -> None:
    pytest.importorskip("langgraph")
    spec = write_spec(tmp_path, """
        agent: batch_agents:build_graph
        init: {}                  # a factory that takes no argument
        inputs:
          - {text: "hello agent world"}
          - {text: "one"}
        execution: {mode: threads, workers: 2}
        cache: {enabled: false}
    """)
    out = tmp_path / "r.jsonl"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    records = sorted(read_results(out), key=lambda r: r["index"])
    assert records[0]["output"] == {"text": "hello agent world", "words": 3,
                                    "shout": "HELLO AGENT WORLD"}
    assert records[1]["output"]["words"] == 1


def test_plain_progress_lines_when_not_a_terminal(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        agent: batch_agents:slow
        inputs: {generator: batch_inputs:count, args: {n: 150}}
        execution: {mode: threads, workers: 2}
        cache: {enabled: false}
    """)
    (tmp_path / "batch_inputs.py").write_text("def count(n):\n    yield from range(n)\n")
    proc = agentperf("run-batch", str(spec))
    assert proc.returncode == 0, proc.stderr
    progress = [line for line in proc.stderr.splitlines() if " done, " in line]
    assert progress, proc.stderr
    assert "errors" in progress[0] and "/s" in progress[0]
    assert "\x1b[" not in proc.stderr  # no terminal control codes in a CI log


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_every_completed_result(tmp_path: Path, signum: int) -> None:
    spec = write_spec(tmp_path, """
        agent: batch_agents:slow
        inputs: {generator: batch_inputs:count, args: {n: 2000}}
        execution: {mode: threads, workers: 4}
        cache: {enabled: false}
    """)
    (tmp_path / "batch_inputs.py").write_text("def count(n):\n    yield from range(n)\n")
    out = tmp_path / "r.jsonl"
    marker = tmp_path / "started"
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentperf", "run-batch", str(spec), "-o", str(out), "--json",
         *report_options(reports)],
        cwd=REPO, env=_env({"AGENTPERF_TEST_MARKER": str(marker)}), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (out.exists() and out.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout)
    assert summary["verdict"]["interrupted"] is True
    assert summary["verdict"]["exit_code"] == 130
    records = read_results(out)  # every line parses: nothing half-written
    assert 0 < len(records) < 2000
    assert len(records) == summary["tasks"]["total"]
    assert len({r["index"] for r in records}) == len(records)
    # the partial report is written whole, in every format, and says it was interrupted
    assert sorted(p.name for p in reports.iterdir()) == ["r.html", "r.json", "r.md", "r.xml"]
    doc = json.loads((reports / "r.json").read_text())
    assert doc["verdict"]["interrupted"] is True and doc["verdict"]["exit_code"] == 130
    assert doc["tasks"]["total"] == len(records)
    [interrupt] = [g for g in doc["gates"] if g["kind"] == "interrupted"]
    assert interrupt["passed"] is False
    root = ET.parse(reports / "r.xml").getroot()
    assert root.get("failures") == "1"
    assert root.find(".//testcase[@name='run completed']/failure") is not None
    assert "interrupted (exit 130)" in (reports / "r.md").read_text()
    assert "INTERRUPTED (exit 130)" in (reports / "r.html").read_text()


def test_abort_on_fail_stops_the_run_early_with_exit_1(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        agent: batch_agents:fail_on_odd
        inputs: {generator: batch_inputs:count, args: {n: 100000}}
        execution: {mode: threads, workers: 2}
        cache: {enabled: false}
        max_error_rate: 1.0
        thresholds:
          failed:
            - {threshold: "< 3", abort_on_fail: true}
    """)
    (tmp_path / "batch_inputs.py").write_text("def count(n):\n    yield from range(n)\n")
    out = tmp_path / "r.jsonl"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "--json")
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["tasks"]["total"] < 100000
    assert "failed < 3 can no longer pass" in summary["verdict"]["aborted"]
    [threshold] = summary["thresholds"]
    assert threshold["passed"] is False
    assert [(g["kind"], g["passed"]) for g in summary["gates"]] == [
        ("threshold", False), ("max_error_rate", True), ("abort_on_fail", False)]
    assert len(read_results(out)) == summary["tasks"]["total"]  # what ran is all there


# --- reports agree with the verdict ------------------------------------------------------

@pytest.mark.parametrize(("extra", "code", "failing"), [
    (["--max-error-rate", "0.5"], 0, []),  # three failures of six, tolerated
    (["--max-error-rate", "0.4"], 3, ["max_error_rate: 40%"]),
    (["--max-error-rate", "0.5", "-t", "failed: < 2"], 1, ["failed: < 2"]),
])
def test_junit_has_a_testcase_per_gate_failing_as_the_exit_code(
        tmp_path: Path, extra: list[str], code: int, failing: list[str]) -> None:
    spec = write_spec(tmp_path, """
        agent: batch_agents:fail_on_odd
        inputs: [0, 1, 2, 3, 4, 5]
        execution: {mode: sequential}
        cache: {enabled: false}
    """)
    junit = tmp_path / "r.xml"
    proc = agentperf("run-batch", str(spec), "-q", "--sample-interval", "0", "--junit-xml",
                     str(junit), *extra)
    assert proc.returncode == code, proc.stderr
    root = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failed = [name for name, case in cases.items() if case.find("failure") is not None]
    assert failed == failing
    assert root.get("failures") == str(len(failing)) and root.get("tests") == str(len(cases))
    rate_gate = next(c for name, c in cases.items() if str(name).startswith("max_error_rate"))
    out = rate_gate.findtext("system-out") or ""
    assert "3 of 6 tasks failed" in out  # tolerated or not, the failed tasks are listed
    assert all(f"input #{i} " in out for i in (1, 3, 5))
    for name in failing:
        message = cases[name].find("failure").get("message", "")
        assert "observed" in message and ("50.00%" in message or "observed 3" in message)
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["exit_code"] == str(code)
    for element in (root, *root.iter("testsuite"), *cases.values()):
        assert float(element.get("time", "0")) > 0  # the run's wall time, never a zero


def test_results_file_is_redacted_like_the_reports(tmp_path: Path) -> None:
    api_key, db_password, env_token = "sk-live-abcdef123456", "dbpw-s3cret", "envtok-12345678"
    spec = write_spec(tmp_path, f"""
        agent: batch_agents:leaky
        inputs: ["a", "bad", "b"]
        context: {{api_key: {api_key}, db_url: "postgres://app:{db_password}@127.0.0.1/db"}}
        execution: {{mode: sequential}}
        cache: {{enabled: false}}
        max_error_rate: 0.5
    """)
    out = tmp_path / "r.jsonl"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "-q", "--sample-interval", "0",
                     "--report-json", str(tmp_path / "r.json"),
                     env={"AGENTPERF_TEST_SERVICE_TOKEN": env_token})
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    for secret in (api_key, db_password, env_token):
        for written in (text, (tmp_path / "r.json").read_text(), proc.stdout):
            assert secret not in written
    records = {r["index"]: r for r in read_results(out)}
    assert records[0]["output"] == {"echo": "used ***", "db": "postgres://app:***@127.0.0.1/db",
                                    "env": "***", "tokens_used": 3}
    assert records[1]["error"]["message"] == "auth failed with ***"
    assert "Traceback" in records[1]["error"]["traceback"]


LATE_CORRUPT = "".join(f"{i}\n" if i != 296 else '{"q": oops}\n' for i in range(302))


@pytest.mark.parametrize(("lines", "where"), [
    (LATE_CORRUPT, "in.jsonl:297:"),
    ('{"q": oops}\n1\n', "in.jsonl:1:"),
])
def test_exit_2_leaves_no_report_and_no_empty_results_file(tmp_path: Path, lines: str,
                                                           where: str) -> None:
    (tmp_path / "in.jsonl").write_text(lines)
    spec = write_spec(tmp_path, """
        agent: batch_agents:double
        inputs: in.jsonl
        execution: {mode: sequential}
        cache: {enabled: false}
    """)
    out = tmp_path / "out" / "r.jsonl"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "-q", "--sample-interval", "0",
                     *report_options(tmp_path / "reports"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert where in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()  # no report, not even an empty one
    # The inputs are checked before the first task: no task ran, no results file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "spec.yaml"]


def test_results_writer_creates_its_file_only_for_a_run_that_got_going(tmp_path: Path) -> None:
    from agentperf.errors import AgentperfError, ExitCode
    from agentperf.execution.base import TaskResult
    from agentperf.pipeline.results_file import ResultsWriter

    (tmp_path / "afile").write_text("")
    with pytest.raises(AgentperfError, match="afile is not a directory") as info:
        ResultsWriter(tmp_path / "afile" / "r.jsonl")  # a bad path fails before the run
    assert info.value.exit_code is ExitCode.USAGE
    failed_early = tmp_path / "early" / "r.jsonl"
    with pytest.raises(RuntimeError), ResultsWriter(failed_early):
        raise RuntimeError("the executor did not start")
    assert not failed_early.parent.exists()  # nothing created, nothing to clean up
    empty = tmp_path / "empty.jsonl"
    with ResultsWriter(empty):
        pass  # a run with no input: a complete, empty results file
    assert empty.read_text() == ""
    kept = tmp_path / "kept.jsonl"
    with pytest.raises(RuntimeError), ResultsWriter(kept) as writer:
        writer.write(TaskResult(0, True, output=1, latency_s=0.1), 1)
        raise RuntimeError("input 2 is corrupt")
    assert [r["index"] for r in read_results(kept)] == [0]  # what completed is kept


def test_late_corrupt_input_line_stops_the_run_before_the_first_task(tmp_path: Path) -> None:
    lines = [json.dumps({"n": i}) for i in range(302)]
    lines[296] = '{"n": 296,'  # line 297
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    called = tmp_path / "called"
    spec = write_spec(tmp_path, """
        agent: batch_agents:slow
        inputs: in.jsonl
        execution: {mode: threads, workers: 2}
    """)
    out, report = tmp_path / "r.jsonl", tmp_path / "report.json"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "--report-json", str(report),
                     env={"AGENTPERF_TEST_MARKER": str(called)})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{tmp_path / 'in.jsonl'}:297:11: invalid JSON" in proc.stderr
    assert not out.exists() and not report.exists()
    assert not called.exists()  # the agent was never called


@pytest.mark.parametrize("mode", ["sequential", "threads", "processes", "asyncio"])
def test_input_source_failing_mid_run_keeps_results_and_exits_2(tmp_path: Path,
                                                                 mode: str) -> None:
    spec = write_spec(tmp_path, f"""
        agent: batch_agents:double
        inputs: {{generator: batch_agents:five_then_fail}}
        execution: {{mode: {mode}, workers: 2}}
    """)
    out = tmp_path / "r.jsonl"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "--json")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)  # the summary is printed
    assert summary["tasks"]["total"] == 5 and summary["tasks"]["failed"] == 0
    reason = summary["verdict"]["reason"]
    assert "input 5" in reason and "generator 'batch_agents:five_then_fail'" in reason
    assert "ConnectionError: input source went away" in reason
    assert sorted(r["output"] for r in read_results(out)) == [0, 2, 4, 6, 8]


def test_no_input_function_runs_in_processes_mode(tmp_path: Path) -> None:
    out = tmp_path / "n.jsonl"
    proc = agentperf("run-batch", "batch_agents:optional_input", "--mode", "processes",
                     "-w", "1", "--no-cache", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["output"] for r in read_results(out)] == ["called with None"]


def test_agent_module_calling_sys_exit_on_import_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(5)\n")
    proc = agentperf("run-batch", "exits_on_import:agent", "--input", "1", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "importing 'exits_on_import' failed: the module called sys.exit(5)" in proc.stderr


def test_null_spec_value_and_zero_timeout_are_usage_errors(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "agent: batch_agents:double\nexecution:\n  workers: ~\n")
    proc = agentperf("run-batch", str(spec))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "spec.yaml:3: execution.workers: must not be null" in proc.stderr
    zero = agentperf("run-batch", "batch_agents:double", "--input", "1", "--timeout", "0")
    assert zero.returncode == 2 and "must be more than 0" in zero.stderr


@pytest.mark.parametrize(("mode", "built_here"), [("threads", True), ("processes", False)])
def test_agent_is_built_in_the_cli_only_when_it_runs_there(tmp_path: Path, mode: str,
                                                           built_here: bool) -> None:
    from agentperf.pipeline.batch_setup import prepare_batch

    log = tmp_path / "built"
    spec = write_spec(tmp_path, f"""
        agent: batch_agents:BuildLog
        init: {{log: {str(log)!r}}}
        inputs: [1, 2]
        execution: {{mode: {mode}}}
    """)
    plan = prepare_batch(str(spec))
    assert (plan.adapter is not None) is built_here
    assert log.exists() is built_here


def test_asyncio_hands_over_finished_results_before_the_stream_error() -> None:
    from agentperf.execution.asyncio_backend import AsyncioExecutor
    from agentperf.execution.base import Task
    from agentperf.execution.settings import ExecutionSettings
    from agentperf.workload.adapters import build_adapter

    async def agent(x: int) -> int:
        await asyncio.sleep(0.01 * x)
        return x

    def tasks() -> Any:
        yield from (Task(i, i) for i in range(5))
        raise ConnectionError("gone")

    got: list[int] = []
    executor = AsyncioExecutor(build_adapter(agent), ExecutionSettings(mode="asyncio",
                                                                       workers=8))
    with executor, pytest.raises(ConnectionError):
        for result in executor.run(tasks()):
            got.append(result.output)
    assert sorted(got) == [0, 1, 2, 3, 4]  # the five started tasks all finished
