"""The cache through ``agentperf run-batch`` in a subprocess, as a CI job runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import free_port

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def run_batch(tmp_path: Path, *args: str, cache_dir: bool = True
              ) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """One run in a new process; the default cache directory is inside ``tmp_path``."""
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]),
           "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "PYTHONDONTWRITEBYTECODE": "1"}  # an edited module is never read from a stale .pyc
    where = ["--cache-dir", str(tmp_path / "cache")] if cache_dir else []
    proc = subprocess.run([sys.executable, "-m", "agentperf", "run-batch", "spec.yaml", "--json",
                           "--sample-interval", "0", "-o", str(out), *where, *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return json.loads(proc.stdout), records, proc.stdout + proc.stderr


def test_cache_hits_flags_and_options_end_to_end(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "spec.yaml").write_text(
        "agent: test_cache_batch:counted\ninputs: [1, 2, 1, 2, 3]\ncache: {window: 4}\n")
    summary, records, _ = run_batch(tmp_path, "--redis-url", redis_url)
    assert sum(r["cache_hit"] for r in records) == 2 == summary["cache"]["calls_avoided"]
    assert [t["name"] for t in summary["cache"]["tiers"]] == ["memory", "disk", "redis"]

    summary, records, _ = run_batch(tmp_path)  # a new process: the disk tier is warm
    assert all(r["cache_hit"] for r in records) and summary["cache"]["hit_rate"] == 1.0

    summary, records, _ = run_batch(tmp_path, "--cache-clear")
    assert sum(r["cache_hit"] for r in records) == 2

    summary, records, _ = run_batch(tmp_path, "--no-cache")
    assert not any(r["cache_hit"] for r in records) and not summary.get("cache")


def test_unreachable_redis_is_a_warning_and_the_run_completes(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("agent: test_cache_batch:counted\ninputs: [1, 2, 1]\n")
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    summary, records, output = run_batch(tmp_path, "--redis-url", url)
    assert len(records) == 3 and all(r["ok"] for r in records)
    warnings = summary["cache"]["warnings"]
    assert len(warnings) == 1 and "redis cache unavailable" in warnings[0]
    assert "hunter2" not in output and "hunter2" not in (tmp_path / "results.jsonl").read_text()


def test_the_cache_is_off_unless_asked_for(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("agent: test_cache_batch:counted\ninputs: [1, 1, 2]\n")
    summary, records, _ = run_batch(tmp_path, cache_dir=False)
    assert summary["cache"] is None and not any(r["cache_hit"] for r in records)
    assert not (tmp_path / "xdg").exists()  # nothing was written to the default directory

    summary, records, _ = run_batch(tmp_path, "--cache", cache_dir=False)
    assert [t["name"] for t in summary["cache"]["tiers"]] == ["memory", "disk"]
    assert sum(r["cache_hit"] for r in records) == 1  # the duplicate, in this run
    assert (tmp_path / "xdg" / "agentperf").is_dir()
    summary, records, _ = run_batch(tmp_path, "--cache", cache_dir=False)
    assert all(r["cache_hit"] for r in records)  # --cache keeps the disk tier across runs

    (tmp_path / "spec.yaml").write_text(
        "agent: test_cache_batch:counted\ninputs: [1, 1, 2]\ncache: {enabled: false}\n")
    summary, records, _ = run_batch(tmp_path, cache_dir=False)
    assert summary["cache"] is None
    summary, records, _ = run_batch(tmp_path)  # --cache-dir asks for the cache
    assert [t["name"] for t in summary["cache"]["tiers"]] == ["memory", "disk"]


AGENT_SOURCE = """\
def answer(question):
    return {"question": question, "answer": ANSWER}


ANSWER = %r
"""


def test_editing_the_agent_module_invalidates_its_cached_results(tmp_path: Path) -> None:
    agent = tmp_path / "edited_agent.py"
    agent.write_text(AGENT_SOURCE % "first version")
    (tmp_path / "spec.yaml").write_text(
        "agent: edited_agent:answer\nversion: '1'\ninputs: [q1, q2]\ncache: {}\n")
    summary, records, _ = run_batch(tmp_path)
    first = summary["cache"]["fingerprint"]
    assert len(first) == 12 and summary["cache"]["fingerprint_sources"] == ["module edited_agent"]
    assert not any(r["cache_hit"] for r in records)

    summary, records, _ = run_batch(tmp_path)  # unchanged module: the disk tier answers
    assert all(r["cache_hit"] for r in records) and summary["cache"]["fingerprint"] == first
    assert {r["output"]["answer"] for r in records} == {"first version"}

    agent.write_text(AGENT_SOURCE % "second version")  # same path, same version: new code
    summary, records, _ = run_batch(tmp_path)
    assert summary["cache"]["fingerprint"] != first
    assert not any(r["cache_hit"] for r in records)
    assert {r["output"]["answer"] for r in records} == {"second version"}


def test_a_fingerprint_file_listed_in_the_spec_invalidates_too(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    prompt = tmp_path / "prompts" / "system.txt"
    prompt.write_text("be brief")
    (tmp_path / "spec.yaml").write_text(
        "agent: test_cache_batch:counted\ninputs: [1]\ncache: {}\nfingerprint: [prompts/]\n")
    summary, _, _ = run_batch(tmp_path)
    assert "file prompts/system.txt" in summary["cache"]["fingerprint_sources"]
    _, records, _ = run_batch(tmp_path)
    assert records[0]["cache_hit"]
    prompt.write_text("be thorough")
    _, records, _ = run_batch(tmp_path)
    assert not records[0]["cache_hit"]


def test_the_quick_start_asks_for_its_cache_and_passes_on_every_run(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "COLUMNS": "120"}
    for _ in range(2):  # a second run must not be answered by the first one's results
        proc = subprocess.run([sys.executable, "-m", "agentperf", "run-batch",
                               str(REPO / "sample_workloads" / "quickstart.yaml"),
                               "--sample-interval", "0", "-q"],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "PASSED (exit 0)" in proc.stdout
    assert not (tmp_path / "xdg").exists()  # memory tier only: nothing kept between runs
