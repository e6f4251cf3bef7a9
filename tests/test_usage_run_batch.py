"""LLM usage through ``agentperf run-batch`` in a subprocess, as a CI job runs it: exact
token totals and costs, the cost and ttft gates, streaming, processes mode, the cache's
savings on a second run, and spec errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llm_server
import pytest
from llm_server import LLMServer
from report_schema import validate_report

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
PRICING = (
    "pricing: {input_per_million: 2.0, output_per_million: 8.0, cached_input_per_million: 0.5}\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


def run_batch(
    cwd: Path, *args: str, spec: str = "spec.yaml"
) -> tuple[int, dict[str, Any] | None, str]:
    """(exit code, the JSON report or None, stdout + stderr) of one run in a new process."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]),
        "XDG_CACHE_HOME": str(cwd / "xdg"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    report = cwd / "report.json"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentperf",
            "run-batch",
            spec,
            "--sample-interval",
            "0",
            "--report-json",
            str(report),
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    doc = json.loads(report.read_text()) if report.exists() else None
    return proc.returncode, doc, proc.stdout + proc.stderr


def write_spec(tmp_path: Path, text: str) -> None:
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")


def test_openai_sdk_run_exact_totals_cost_reports_and_cost_gate(
    tmp_path: Path, server: LLMServer
) -> None:
    write_spec(
        tmp_path,
        f"agent: sdk_agents:openai_chat\ncontext: {{base_url: '{server.url}'}}\n"
        "inputs: [a, b, c, a long one]\nexecution: {mode: threads, workers: 2}\n"
        + PRICING
        + "thresholds:\n  cost_usd: ['total < 0.01']\n"
        "  input_tokens: ['p(95) < 4000']\n",
    )
    code, doc, out = run_batch(tmp_path, "--report-md", "r.md", "--junit-xml", "r.xml")
    assert code == 0, out
    validate_report(doc)
    usage = doc["usage"]
    chat = llm_server.CHAT
    assert usage["input_tokens"]["total"] == 4 * chat["prompt_tokens"]
    assert usage["cached_input_tokens"]["total"] == 4 * chat["cached_tokens"]
    assert usage["output_tokens"]["total"] == 4 * chat["completion_tokens"]
    assert usage["input_tokens"]["p95"] == chat["prompt_tokens"] == usage["input_tokens"]["max"]
    per_task = (
        (chat["prompt_tokens"] - chat["cached_tokens"]) * 2.0
        + chat["cached_tokens"] * 0.5
        + chat["completion_tokens"] * 8.0
    ) / 1e6
    cost = usage["cost_usd"]
    assert cost["total"] == pytest.approx(4 * per_task, rel=1e-12)
    assert cost["per_task_mean"] == pytest.approx(per_task, rel=1e-12)
    assert cost["per_1k_inputs"] == pytest.approx(1000 * per_task, rel=1e-12)
    assert cost["priced_by"] == "spec pricing" and not cost["estimate"]
    assert usage["finish"] == {"tasks": 4, "cut_at_token_limit": 1}
    assert "Usage (LLM calls this run made)" in out and "spec pricing" in out
    markdown = (tmp_path / "r.md").read_text()
    assert "### Usage" in markdown and f"| input | {4 * chat['prompt_tokens']} |" in markdown
    props = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "r.xml").iter("property")}
    assert props["usage_input_tokens_total"] == str(4 * chat["prompt_tokens"])
    # The same run against a cost limit it exceeds: the gate fails, exit 1, with evidence.
    code, doc, out = run_batch(tmp_path, "--threshold", "cost_usd: total < 0.001")
    assert code == 1, out
    failed = [g for g in doc["gates"] if not g["passed"]]
    assert [g["label"] for g in failed] == ["cost_usd: total < 0.001"]
    assert failed[0]["observed"] == pytest.approx(4 * per_task)


def test_streaming_run_ttft_and_itl_within_the_server_delays(
    tmp_path: Path, server: LLMServer
) -> None:
    write_spec(
        tmp_path,
        f"agent: sdk_agents:openai_stream\ncontext: {{base_url: '{server.url}'}}\n"
        "inputs: [a, b, c]\nexecution: {mode: threads, workers: 3}\n"
        + PRICING
        + "thresholds:\n  ttft: ['p(95) < 5s', 'p(95) < 100ms']\n  itl: ['max < 5s']\n",
    )
    code, doc, out = run_batch(tmp_path)
    assert code == 1, out  # only the 100 ms ttft gate fails: the first chunk comes at 150 ms
    streaming = doc["streaming"]
    assert streaming["tasks"] == 3 and streaming["chunks"] == 3 * (len(llm_server.STREAM_WORDS) + 1)
    first = llm_server.FIRST_CHUNK_S
    assert first <= streaming["ttft_s"]["p50"] <= streaming["ttft_s"]["max"] < first + 1.5
    gap = llm_server.CHUNK_GAP_S
    # Chunks a loaded client reads back to back have ~0 gaps; the p50 and the widest gap
    # still follow the server's spacing.
    assert streaming["itl_s"]["p50"] < gap + 0.5
    assert gap * 0.5 <= streaming["itl_s"]["max"] < 2.0
    passed = {t["expression"]: t["passed"] for t in doc["thresholds"]}
    assert passed == {"p(95) < 5s": True, "p(95) < 100ms": False, "max < 5s": True}
    assert doc["usage"]["input_tokens"]["total"] == 3 * llm_server.CHAT["prompt_tokens"]
    assert "Streaming (3 streamed answers" in out


def test_processes_mode_carries_recorded_usage_back(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "agent: usage_agents:recorded\ninputs: [1, 2, 3, 4]\n"
        "execution: {mode: processes, workers: 2}\n"
        "pricing: {input_per_million: 1.0, output_per_million: 1.0, "
        "cached_input_per_million: 1.0}\n",
    )
    code, doc, out = run_batch(tmp_path)
    assert code == 0, out
    assert doc["executor"]["mode"] == "processes"
    inputs = sum(2 * (10 + 5 * x) for x in (1, 2, 3, 4))
    assert doc["usage"]["input_tokens"]["total"] == inputs
    assert doc["usage"]["output_tokens"]["total"] == 4 * 2 * 3
    assert doc["usage"]["calls"] == 8
    assert doc["usage"]["cost_usd"]["total"] == pytest.approx((inputs + 24) / 1e6)


def test_cache_saves_tokens_and_money_on_a_second_run(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "agent: usage_agents:recorded\ninputs: [1, 2, 3]\n"
        "execution: {mode: threads}\ncache: {}\n"
        "pricing: {input_per_million: 1.0, output_per_million: 1.0, "
        "cached_input_per_million: 1.0}\n",
    )
    where = ("--cache-dir", str(tmp_path / "cache"))
    code, first, out = run_batch(tmp_path, *where)
    assert code == 0, out
    assert (
        first["usage"]["input_tokens"]["total"] == 120 and first["usage"]["saved_by_cache"] is None
    )
    code, second, out = run_batch(tmp_path, *where)  # a new process: the disk tier answers
    assert code == 0, out
    usage = second["usage"]
    assert usage["tasks"] == 0 and usage["input_tokens"]["total"] is None  # no call made
    assert usage["saved_by_cache"] == {
        "hits": 3,
        "input_tokens": 120,
        "output_tokens": 18,
        "cost_usd": pytest.approx(138 / 1e6),
    }
    validate_report(second)
    assert "saved by cache" in out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("pricing: {input: 1}\n", "pricing.input"),
        ("pricing: {input_per_million: cheap}\n", "non-negative number"),
        ("usage: usage_agents:no_such_function\n", "usage"),
    ],
)
def test_spec_errors_are_one_line_and_exit_2(tmp_path: Path, spec: str, expected: str) -> None:
    write_spec(
        tmp_path,
        "agent: usage_agents:recorded\ninputs: [1]\nexecution: {mode: sequential}\n" + spec,
    )
    code, _, out = run_batch(tmp_path)
    assert code == 2, out
    lines = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], out
    assert "Traceback" not in out


def test_a_price_missing_for_the_counts_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "agent: usage_agents:recorded\ninputs: [1]\nexecution: {mode: sequential}\n"
        "pricing: {input_per_million: 1.0, output_per_million: 1.0}\n",
    )
    code, doc, out = run_batch(tmp_path)
    assert code == 2, out
    assert (
        "FAILED (exit 2): spec.yaml: pricing.cached_input_per_million is not given but 8 "
        "cached input tokens were counted"
    ) in " ".join(out.split())
    assert doc is None  # no verdict on a run whose cost could not be computed


def test_sample_workload_shows_usage_and_streaming(tmp_path: Path) -> None:
    code, doc, out = run_batch(tmp_path, spec=str(REPO / "sample_workloads" / "llm_chat.yaml"))
    assert code == 0, out
    assert "Usage (LLM calls this run made)" in out and "Streaming (" in out
    assert doc["usage"]["cost_usd"]["priced_by"] == "spec pricing"
    assert doc["streaming"]["ttft_s"]["count"] == doc["tasks"]["total"]


def test_health_names_costly_inputs_and_cut_outputs(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "agent: usage_agents:priced_by_size\ninputs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"
        " 13, 14, 15, 16, 17, 18, 19, 20, 21]\nexecution: {mode: sequential}\n"
        "pricing: {input_per_million: 1.0, output_per_million: 1.0}\n",
    )
    code, doc, out = run_batch(tmp_path)
    assert code == 0, out
    findings = {f["rule"]: f for f in doc["health"]["findings"]}
    assert set(findings) == {"outputs_cut", "costly_inputs"}
    assert "11 of 22 answers (50%) stopped at the token limit" in findings["outputs_cut"]["message"]
    costly = findings["costly_inputs"]["message"]
    assert "1 input cost over 10x the median" in costly and "#9 9 ($0.005000)" in costly
    assert doc["usage"]["costly_inputs"][0] == {"index": 9, "input": 9, "cost_usd": 0.005}
