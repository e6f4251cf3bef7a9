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


def run_batch(tmp_path: Path, *args: str) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    proc = subprocess.run([sys.executable, "-m", "agentperf", "run-batch", "spec.yaml", "--json",
                           "-o", str(out), "--cache-dir", str(tmp_path / "cache"), *args],
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
