"""``agentperf profile`` from the command line: output, files, gates and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import profile_agents as agents
from typer.testing import CliRunner

from agentperf.cli.app import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
FAST = ["-n", "2", "--trace-iterations", "2"]


def agentperf(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "agentperf", "profile", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_sample_leaky_agent_fails_the_leak_gate_with_its_line() -> None:
    proc = agentperf("sample_workloads.leaky_agent:LeakyAgent", "-n", "3", "--fail-on-leak",
                     "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    suspect = doc["leaks"]["suspects"][0]
    sample = REPO / "sample_workloads" / "leaky_agent.py"
    assert suspect["filename"] == str(sample)
    assert suspect["lineno"] == _line_of(sample, "_HISTORY.append(")
    assert doc["exit_code"] == 1 and "--fail-on-leak" in doc["exit_reason"]
    assert doc["timeline"]["samples"] and doc["timing"]["count"] == 3


def test_bounded_agent_passes_the_leak_gate() -> None:
    proc = agentperf("sample_workloads.leaky_agent:BoundedAgent", "-n", "3", "--fail-on-leak")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "leaks: none" in proc.stdout
    assert "health:" in proc.stdout and "peak per call" in proc.stdout


def test_max_peak_gate_and_files(tmp_path: Path) -> None:
    svg, html, out = tmp_path / "m.svg", tmp_path / "m.html", tmp_path / "r.json"
    result = runner.invoke(app, ["profile", "profile_agents:allocate_50mb", *FAST,
                                 "--max-peak", "10MB", "--plot-file", str(svg), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "--max-peak" in result.output
    assert "<polyline" in svg.read_text() and "high-water mark" in svg.read_text()
    assert json.loads(out.read_text())["memory"]["peak_bytes"] > 50 * agents.MIB * 0.95
    result = runner.invoke(app, ["profile", "profile_agents:allocate_50mb", *FAST,
                                 "--max-peak", "1GB", "--plot-file", str(html), "--plot", "-q"])
    assert result.exit_code == 0, result.output
    assert html.read_text().startswith("<!DOCTYPE html>") and "<svg" in html.read_text()
    assert "RSS every 10 ms" in result.output  # the terminal plot's title


def test_png_plot_file_is_refused_before_running(tmp_path: Path) -> None:
    result = runner.invoke(app, ["profile", "profile_agents:allocate_50mb",
                                 "--plot-file", str(tmp_path / "m.png")])
    assert result.exit_code == 2
    assert ".svg" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.png").exists()


def test_bad_inputs_are_one_line_with_exit_2() -> None:
    for args in (["profile_agents:nope"], ["profile_agents:allocate_50mb", "--max-peak", "lots"],
                 ["profile_agents:LineAgent", "--line", "missing_method"],
                 ["profile_agents:allocate_50mb", "--group-by", "file"]):
        result = runner.invoke(app, ["profile", *args, *FAST])
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) <= 3, result.output


def test_raising_workload_exits_3_and_shows_the_error() -> None:
    result = runner.invoke(app, ["profile", "profile_agents:raising_agent", "-i", "7", *FAST])
    assert result.exit_code == 3
    assert "ValueError: cannot handle 7" in result.output
    assert "no timed call succeeded" in result.output


def test_line_mode_and_traceback_grouping_render() -> None:
    result = runner.invoke(app, ["profile", "profile_agents:LineAgent", *FAST,
                                 "--line", "execute", "--group-by", "traceback"])
    assert result.exit_code == 0, result.output
    assert "line by line: LineAgent.execute" in result.output
    assert "negative" in result.output  # the note on RSS increments
    assert "top allocation sites by traceback" in result.output
