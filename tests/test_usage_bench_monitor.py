"""Tokens and cost per call next to time in ``bench``; token and cost rates in ``monitor``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
FAST = ["--samples", "6", "--min-time", "1ms", "--warmup", "1"]


def agentperf(*args: str, cwd: Path = TESTS) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    return subprocess.run(
        [sys.executable, "-m", "agentperf", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def gpt_4o_mini(input_tokens: int, cached: int, output_tokens: int) -> float:
    """The price database's figure, asked directly: what bench must show as its estimate."""
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens)
    return float(calc_price(usage, "gpt-4o-mini", provider_id="openai").total_price)


@pytest.mark.parametrize("processes", ["0", "2"])
def test_bench_shows_tokens_and_cost_per_call(processes: str) -> None:
    done = agentperf(
        "bench", "usage_agents:recorded", "--input", "2", *FAST, "--processes", processes, "--json"
    )
    assert done.returncode == 0, done.stderr
    figures: dict[str, Any] = json.loads(done.stdout)["benchmarks"][0]["derived"]["figures"]
    # recorded(2): two calls of 20 input (4 cached) and 3 output tokens each.
    assert figures["input_tokens_per_call"] == 40 and figures["output_tokens_per_call"] == 6
    assert figures["usage_calls_read"] == 6
    assert figures["cost_usd_per_call"] == pytest.approx(gpt_4o_mini(40, 8, 6), rel=1e-9)
    assert figures["cost_estimated"] == 1.0
    text = agentperf("bench", "usage_agents:recorded", "--input", "2", *FAST, "--processes", "0")
    assert "40.0 input + 6.0 output tokens/call" in " ".join(text.stdout.split())
    assert "(estimate)" in text.stdout


def test_bench_without_usage_shows_no_usage_figures() -> None:
    done = agentperf(
        "bench", "usage_agents:custom_shape", "--input", "2", *FAST, "--processes", "0", "--json"
    )
    figures = json.loads(done.stdout)["benchmarks"][0]["derived"]["figures"]
    assert not any("token" in key or "cost" in key for key in figures)


def test_monitor_soak_reports_token_and_cost_rates(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "agent: usage_agents:recorded\ninputs: [2]\nexecution: {mode: threads, workers: 2}\n"
        "pricing: {input_per_million: 1.0, output_per_million: 2.0, "
        "cached_input_per_million: 0.5}\n",
        encoding="utf-8",
    )
    out = tmp_path / "monitor.json"
    done = agentperf(
        "monitor",
        str(tmp_path / "spec.yaml"),
        "--seconds",
        "1.5",
        "--interval",
        "0.5",
        "--plain",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tasks = json.loads(out.read_text())["tasks"]
    calls = tasks["total"]
    assert calls > 0 and tasks["usage"]["input_tokens"]["total"] == 40 * calls
    per_task = (32 * 1.0 + 8 * 0.5 + 6 * 2.0) / 1e6
    assert tasks["usage"]["cost"]["total"] == pytest.approx(per_task * calls, rel=1e-9)
    assert tasks["input_tokens_per_s"] == pytest.approx(40 * calls / tasks["wall_s"], rel=1e-9)
    assert tasks["cost_usd_per_hour"] == pytest.approx(
        per_task * calls / tasks["wall_s"] * 3600, rel=1e-9
    )
    assert "input + " in done.stdout and "/hour" in done.stdout
