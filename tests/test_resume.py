"""run-batch --resume: after Ctrl-C, after SIGKILL of agentperf (torn last line), after
failures; refused for other inputs or other agent code unless --resume-anyway; the
final file holds one row per input; the summary and gates cover the whole batch."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from report_schema import validate_report

REPO = Path(__file__).resolve().parents[1]

AGENT = """
import time
from pathlib import Path

HERE = Path(__file__).parent


def agent(x):
    with open(HERE / "calls.log", "a") as log:
        log.write(f"{x}\\n")
    time.sleep(0.05 if (HERE / "slow").exists() else 0.01)
    if x % 7 == 3 and not (HERE / "fixed").exists():
        raise ValueError(f"input {x} fails until fixed")
    return x * 2
"""


def setup(tmp_path: Path, n: int, *, fixed: bool = False) -> None:
    (tmp_path / "resume_agent.py").write_text(AGENT)
    (tmp_path / "in.jsonl").write_text("".join(f"{i}\n" for i in range(n)))
    if fixed:
        (tmp_path / "fixed").touch()


def command(tmp_path: Path, mode: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "agentperf",
        "run-batch",
        "resume_agent:agent",
        "--inputs",
        "in.jsonl",
        "-o",
        "r.jsonl",
        "--mode",
        mode,
        "--workers",
        "2",
        "--sample-interval",
        "0",
        "--json",
        *extra,
    ]


def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path)]))


def run(tmp_path: Path, mode: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(tmp_path, mode, *extra),
        cwd=tmp_path,
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def rows(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]


def calls(tmp_path: Path) -> collections.Counter[int]:
    return collections.Counter(int(x) for x in (tmp_path / "calls.log").read_text().split())


def stop_after(tmp_path: Path, mode: str, signum: int, wanted: int) -> int:
    """Start a run, send ``signum`` to its process group after ``wanted`` rows; exit code."""
    proc = subprocess.Popen(
        command(tmp_path, mode),
        cwd=tmp_path,
        env=env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    out = tmp_path / "r.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= wanted:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be stopped"
    os.killpg(proc.pid, signum)
    proc.communicate(timeout=60)
    return proc.returncode


def assert_whole_batch(
    tmp_path: Path, n: int, summary: dict[str, Any], earlier_ok: set[int]
) -> None:
    final = rows(tmp_path)
    assert sorted(r["index"] for r in final) == list(range(n))  # each input exactly once
    assert all(r["ok"] for r in final)
    assert summary["tasks"]["total"] == n and summary["tasks"]["failed"] == 0
    assert summary["latency"]["count"] == n  # earlier rows folded into the statistics
    assert summary["resume"]["rows_from_earlier_run"] == len(earlier_ok)
    counted = calls(tmp_path)
    assert all(counted[i] == 1 for i in earlier_ok)  # a kept row's input never ran again
    assert set(counted) == set(range(n))


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_resume_after_ctrl_c_runs_only_the_rest(tmp_path: Path, mode: str) -> None:
    setup(tmp_path, 150, fixed=True)
    assert stop_after(tmp_path, mode, signal.SIGINT, 20) == 130
    first = rows(tmp_path)
    assert 20 <= len(first) < 150
    earlier_ok = {r["index"] for r in first if r["ok"]}
    proc = run(tmp_path, mode, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert_whole_batch(tmp_path, 150, json.loads(proc.stdout), earlier_ok)


def test_resume_after_sigkill_ignores_the_torn_last_line(tmp_path: Path) -> None:
    setup(tmp_path, 150, fixed=True)
    assert stop_after(tmp_path, "processes", signal.SIGKILL, 20) == -signal.SIGKILL
    out = tmp_path / "r.jsonl"
    first = rows(tmp_path)
    with out.open("a") as handle:  # a row cut off by the kill while it was written
        handle.write('{"index": 149, "input_digest": "a1b2')
    proc = run(tmp_path, "processes", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert_whole_batch(tmp_path, 150, json.loads(proc.stdout), {r["index"] for r in first})


def test_failed_inputs_run_again_with_dask(tmp_path: Path) -> None:
    setup(tmp_path, 30)
    first = run(tmp_path, "dask")
    assert first.returncode == 3, first.stderr
    failed = {r["index"] for r in rows(tmp_path) if not r["ok"]}
    assert failed == {i for i in range(30) if i % 7 == 3}
    (tmp_path / "fixed").touch()
    proc = run(tmp_path, "dask", "--resume")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["resume"]["failed_rerun"] == len(failed)
    validate_report(summary)  # the resume and executor.memory sections as the schema says
    assert_whole_batch(tmp_path, 30, summary, set(range(30)) - failed)
    assert all(calls(tmp_path)[i] == 2 for i in failed)
    memory = summary["executor"]["memory"]  # measured on the workers' first calls
    assert memory["applied"] is False and "within" in memory["note"]
    assert not summary["warnings"]  # a small agent is far within half of available memory


def test_a_changed_inputs_file_is_refused_unless_resume_anyway(tmp_path: Path) -> None:
    setup(tmp_path, 20, fixed=True)
    assert run(tmp_path, "threads").returncode == 0
    changed = list(range(20))
    changed[5] = 105
    (tmp_path / "in.jsonl").write_text("".join(f"{i}\n" for i in changed))
    refused = run(tmp_path, "threads", "--resume")
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "error: --resume r.jsonl: its row for input 5 was written for a different input"
    )
    assert len(rows(tmp_path)) == 20  # the file is left as it was
    proc = run(tmp_path, "threads", "--resume-anyway")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["resume"]["replaced_other_inputs"] == 1
    validate_report(summary)
    assert summary["resume"]["rows_from_earlier_run"] == 19
    final = {r["index"]: r for r in rows(tmp_path)}
    assert sorted(final) == list(range(20)) and final[5]["output"] == 210
    assert calls(tmp_path)[105] == 1 and calls(tmp_path)[6] == 1


def test_more_rows_than_inputs_is_refused(tmp_path: Path) -> None:
    setup(tmp_path, 20, fixed=True)
    assert run(tmp_path, "threads").returncode == 0
    (tmp_path / "in.jsonl").write_text("".join(f"{i}\n" for i in range(10)))
    refused = run(tmp_path, "threads", "--resume")
    assert refused.returncode == 2 and "past the last of the 10 inputs" in refused.stderr
    proc = run(tmp_path, "threads", "--resume-anyway")
    assert proc.returncode == 0, proc.stderr
    assert sorted(r["index"] for r in rows(tmp_path)) == list(range(10))
    assert json.loads(proc.stdout)["resume"]["dropped_beyond_inputs"] == 10


def test_changed_agent_code_is_refused_unless_resume_anyway(tmp_path: Path) -> None:
    setup(tmp_path, 20)
    assert run(tmp_path, "threads").returncode == 3
    agent = tmp_path / "resume_agent.py"
    agent.write_text(agent.read_text() + "\n# a change to the agent's code\n")
    refused = run(tmp_path, "threads", "--resume")
    assert refused.returncode == 2
    assert "the agent's code is now" in refused.stderr and "--resume-anyway" in refused.stderr
    (tmp_path / "fixed").touch()
    proc = run(tmp_path, "threads", "--resume-anyway")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["resume"]["code_changed"] is True
    assert sorted(r["index"] for r in rows(tmp_path)) == list(range(20))


def test_the_gates_judge_the_whole_batch(tmp_path: Path) -> None:
    """Slow earlier rows fail a latency gate the resumed calls alone would pass."""
    setup(tmp_path, 30)
    (tmp_path / "slow").touch()
    assert run(tmp_path, "threads").returncode == 3
    (tmp_path / "slow").unlink()
    (tmp_path / "fixed").touch()
    strict = run(tmp_path, "threads", "--resume-anyway", "-t", "latency: p(50) < 30ms")
    assert strict.returncode == 1, strict.stderr  # 26 rows of 50 ms are in the batch
    summary = json.loads(strict.stdout)
    assert summary["latency"]["p50_s"] >= 0.04
    assert summary["resume"]["rows_from_earlier_run"] == 26


def test_the_gates_pass_when_the_whole_batch_passes(tmp_path: Path) -> None:
    setup(tmp_path, 30)
    assert run(tmp_path, "threads").returncode == 3
    (tmp_path / "fixed").touch()
    proc = run(tmp_path, "threads", "--resume", "-t", "latency: p(50) < 500ms")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tasks"]["total"] == 30


def test_resume_needs_an_existing_results_file(tmp_path: Path) -> None:
    setup(tmp_path, 5, fixed=True)
    missing = run(tmp_path, "threads", "--resume")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "error: --resume r.jsonl: no such results file (run "
        "once without --resume to start the batch)"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentperf",
            "run-batch",
            "resume_agent:agent",
            "--inputs",
            "in.jsonl",
            "--resume",
        ],
        cwd=tmp_path,
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: --resume: needs the results")


def test_a_bad_line_before_the_last_is_an_error_with_its_line(tmp_path: Path) -> None:
    setup(tmp_path, 5, fixed=True)
    assert run(tmp_path, "threads").returncode == 0
    lines = (tmp_path / "r.jsonl").read_text().splitlines(keepends=True)
    lines.insert(2, "not json\n")
    (tmp_path / "r.jsonl").write_text("".join(lines))
    proc = run(tmp_path, "threads", "--resume")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --resume r.jsonl:3: not a JSON line")


def test_plan_keeps_one_row_per_index_in_little_memory(tmp_path: Path) -> None:
    """Library level: the last success wins over failures, a torn tail is cut, and the
    compaction leaves rows of other inputs out (--resume-anyway)."""
    from agentperf.measure.tally import TaskTally
    from agentperf.pipeline.results_file import input_digest
    from agentperf.pipeline.resume import plan_resume

    def row(index: int, ok: bool, value: Any = None) -> str:
        digest = input_digest(index if value is None else value)
        return (
            json.dumps(
                {
                    "index": index,
                    "input_digest": digest,
                    "ok": ok,
                    "latency_s": 0.5,
                    "code_fingerprint": "c",
                }
            )
            + "\n"
        )

    path = tmp_path / "r.jsonl"
    path.write_text(
        row(0, False)
        + row(1, True)
        + row(0, True)
        + row(0, False)
        + row(2, True, value="other")
        + '{"index": 3, "in'
    )
    plan = plan_resume(path, range(4), "c", anyway=True)
    assert [plan.skip(i) for i in range(4)] == [True, True, False, False]
    assert plan.replaced == 1
    tally = TaskTally()
    assert plan.fold(tally) == 2 and tally.latency.summary().count == 2
    plan.prepare_file()
    with path.open("a") as handle:
        handle.write(row(2, True) + row(3, False))
    plan.compact()
    final = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["index"], r["ok"]) for r in final] == [(1, True), (0, True), (2, True), (3, False)]
    assert final[2]["input_digest"] == input_digest(2)
    assert len(plan.rows.state) == 3 and len(plan.rows.digests) == 24  # 8+1 bytes a row


def test_a_resumed_run_writes_rows_that_name_the_code(tmp_path: Path) -> None:
    setup(tmp_path, 3, fixed=True)
    assert run(tmp_path, "sequential").returncode == 0
    codes = {r["code_fingerprint"] for r in rows(tmp_path)}
    assert len(codes) == 1 and len(codes.pop()) == 12
