"""``agentperf monitor`` end to end: real processes, real psutil readings, real HTTP."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import socket
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from monitor_helpers import allocator, burner, cli, cli_popen, spawn, stop, wait_for
from rich.console import Console
from typer.testing import CliRunner

from agentperf.analysis.health import HealthLimits
from agentperf.cli.app import app
from agentperf.measure.registry import MetricsRegistry
from agentperf.pipeline.monitor import MonitorConfig, MonitorSession, unit_of
from agentperf.report.monitor_console import monitor_document, render_summary
from agentperf.report.monitor_live import Dashboard, format_line, sparkline
from agentperf.report.prometheus import PrometheusServer

LINE = re.compile(r"^\[\s*\d+\.\ds\] cpu \d+% \(top core \d+%\) load \d+\.\d\d mem ")


def _run_session(config: MonitorConfig, **kwargs: object) -> tuple[list, object]:
    with MonitorSession(config, **kwargs) as session:  # type: ignore[arg-type]
        ticks = list(session.ticks())
        summary = session.finish()
    return ticks, summary


def test_steady_allocation_is_an_increasing_rss_trend_with_a_leak_recommendation() -> None:
    proc = allocator(seconds=30)
    limits = HealthLimits(memory_growth_min_span_s=2.0, memory_growth_min_samples=12)
    try:
        _, summary = _run_session(MonitorConfig(interval_s=0.2, duration_s=3.6, pid=proc.pid,
                                                limits=limits))
    finally:
        stop(proc)
    rss = next(m for m in summary.metrics if m.name == "process_rss_bytes")
    assert rss.trend == "increasing", rss
    assert rss.slope_per_s > 5 * 1024 * 1024  # about 40 MB/s kept
    assert rss.count >= 8 and rss.max > rss.min
    findings = {f.rule: f for f in summary.health.findings}
    assert "memory_growth" in findings, summary.health
    assert "leak" in findings["memory_growth"].recommendation
    assert summary.system.memory_growth_verdict == "grows"
    assert "batch means" in findings["memory_growth"].message
    assert summary.end_reason == "time_up" and summary.kind == "pid"


def test_cpu_burner_pid_shows_in_the_session_and_its_end_ends_the_monitor() -> None:
    proc = burner(seconds=1.5)
    try:
        ticks, summary = _run_session(MonitorConfig(interval_s=0.25, duration_s=30,
                                                    pid=proc.pid))
    finally:
        stop(proc)
    assert summary.end_reason == "process_ended"
    assert summary.duration_s < 15
    cpu = [t.metrics["process_cpu_percent"] for t in ticks]
    assert max(cpu) > 10, cpu  # a burning child, on a machine shared with other jobs


def test_prometheus_endpoint_is_scraped_over_loopback() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    registry = MetricsRegistry()
    registry.record("agent.call", 0.25)
    registry.record("agent.call", 0.5, ok=False, error="Timeout")
    session = MonitorSession(MonitorConfig(interval_s=0.2, duration_s=0.6), registry=registry)
    server = PrometheusServer(session, 0)
    try:
        with session:
            list(session.ticks())
            with urllib.request.urlopen(server.url, timeout=10) as response:
                body = response.read().decode()
            session.finish()
    finally:
        server.close()
    assert server.url.startswith("http://127.0.0.1:")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body) for s in family.samples}
    assert 0 <= samples[("agentperf_cpu_utilization_ratio", ())] <= 1
    assert samples[("agentperf_memory_available_bytes", ())] > 0
    assert ("agentperf_disk_read_bytes_total", ()) in samples
    assert ("agentperf_cpu_core_utilization_ratio", (("core", "0"),)) in samples
    assert 0 <= samples[("agentperf_health_score", ())] <= 100
    calls = ("agentperf_function_calls_total", (("function", "agent.call"),
                                                ("outcome", "failed")))
    assert samples[calls] == 1
    assert samples[("agentperf_function_latency_seconds_count",
                    (("function", "agent.call"),))] == 2


def test_jsonl_export_survives_sigint_and_ctrl_c_prints_the_summary(tmp_path: Path) -> None:
    export = tmp_path / "samples.jsonl"
    proc = cli_popen("monitor", "--seconds", "60", "--interval", "0.2", "--export", str(export))
    try:
        assert wait_for(lambda: export.exists() and export.read_text().count("\n") >= 3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in out and "Metrics" in out and "Health" in out
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    assert len(rows) >= 3
    assert all("cpu_percent" in r and "disk_write_bytes_per_s" in r for r in rows)
    assert rows[0]["timestamp"] < rows[-1]["timestamp"]


def test_monitored_command_that_exits_ends_the_monitor(tmp_path: Path) -> None:
    export = tmp_path / "samples.csv"
    started = time.monotonic()
    proc = cli("monitor", "--seconds", "60", "--interval", "0.2", "--json", "--export",
               str(export), "--", "python", "-c", "import time; time.sleep(1.2); exit(3)")
    assert time.monotonic() - started < 30
    assert proc.returncode == 3, proc.stderr  # the command is the workload: it failed
    doc = json.loads(proc.stdout)
    assert doc["end_reason"] == "process_ended" and doc["command_exit_code"] == 3
    assert doc["watching"] == "command" and doc["samples"] >= 2
    assert doc["metrics"]["process_rss_bytes"]["max"] > 0
    assert set(doc["metrics"]["cpu_percent"]) >= {"count", "min", "max", "mean", "median",
                                                 "stdev", "p95", "latest", "trend"}
    rows = list(csv.DictReader(export.open()))
    assert len(rows) == doc["samples"]
    assert float(rows[0]["memory_available_bytes"]) > 0


def test_non_terminal_output_is_one_line_per_interval() -> None:
    result = CliRunner().invoke(app, ["monitor", "--seconds", "1", "--interval", "0.25"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if LINE.match(line)]
    assert 3 <= len(lines) <= 5, result.output
    assert "| health " in lines[0]
    assert "MONITOR ENDED (exit 0): the time was up" in result.output
    assert "cpu_percent" in result.output and "stable" in result.output


def test_bad_options_are_one_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    cases = [
        (["monitor", "--pid", "4194999", "--seconds", "1"], "no such process"),
        (["monitor", "--export", str(tmp_path / "x.txt"), "--seconds", "1"], "unknown format"),
        (["monitor", "--cpu-limits", "70,80", "--seconds", "1"], "three rising percents"),
        (["monitor", "--interval", "0", "--seconds", "1"], "--interval"),
        (["monitor", "--pid", "1", "--seconds", "1", "--", "true"], "watch one thing"),
        (["monitor", "no_such_module:agent", "--seconds", "1"], "no_such_module"),
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        cases.append((["monitor", "--prometheus-port", port, "--seconds", "1"], "cannot listen"))
        for args, message in cases:
            result = runner.invoke(app, args)
            assert result.exit_code == 2, (args, result.output)
            assert message in result.output, (args, result.output)
            assert "Traceback" not in result.output


def test_dashboard_renders_sparklines_cores_and_process() -> None:
    proc = burner(seconds=5)
    try:
        with MonitorSession(MonitorConfig(interval_s=0.2, duration_s=0.8, pid=proc.pid)) as s:
            ticks = list(s.ticks())
            s.finish()
    finally:
        stop(proc)
    console = Console(record=True, width=120, force_terminal=True)
    dashboard = Dashboard(console, target="pid", interval_s=0.2, series=s.series,
                          unit_of=unit_of)
    console.print(dashboard.render(ticks[-1]))
    dashboard.close()
    text = console.export_text()
    assert "Per core" in text and "core 0" in text
    assert f"Process tree of pid {proc.pid}" in text
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")
    assert "health" in text
    assert f"pid {proc.pid} cpu" in format_line(ticks[-1])
    assert sparkline([0, 50, 100], low=0, high=100) == "▁▅█"


SOAK_SPEC = """\
    name: soak-test
    agent: monitor_helpers:soak_agent
    inputs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    execution: {mode: threads, workers: 4}
"""


@pytest.mark.timeout(120)
def test_workload_soak_adds_task_metrics(tmp_path: Path) -> None:
    spec = tmp_path / "soak.yaml"
    spec.write_text(textwrap.dedent(SOAK_SPEC))
    proc = cli("monitor", str(spec), "--seconds", "2", "--interval", "0.5", "--json",
               "--max-error-rate", "0.5")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    tasks = doc["tasks"]
    assert doc["watching"] == "workload" and tasks["name"] == "soak-test"
    assert tasks["total"] > 40  # 4 threads x 10 ms tasks for 2 s: hundreds when idle
    assert tasks["failed"] / tasks["total"] == pytest.approx(0.2, abs=0.08)  # 1 in 5 fails
    assert tasks["failure_types"] == {"ValueError": tasks["failed"]}
    assert "rejected" in tasks["last_error"]
    assert tasks["latency"]["p50"] >= 0.009
    assert tasks["cache_hit_ratio"] is None  # no cache: section in the spec
    assert doc["metrics"]["task_throughput_per_s"]["mean"] > 0
    assert doc["metrics"]["task_error_rate"]["max"] > 0
    assert "error_rate" in {f["rule"] for f in doc["health"]["findings"]}
    functions = {f["name"]: f for f in doc["functions"]}
    assert functions["soak_agent"]["calls"] >= tasks["total"]  # @measure saw every call
    assert doc["metrics"]["process_cpu_percent"]["count"] >= 3
    series = doc["timeline"]["series"]  # per-interval aggregates of the whole soak
    assert sum(series["completed"]) == tasks["total"]
    assert sum(series["failed"]) == tasks["failed"]
    window = tasks["executor"]["max_in_flight"]  # 12 for 4 threads
    assert 1 <= max(v for v in series["in_flight"] if v is not None) <= window
    assert any(v for v in series["rss_bytes"]) and any(v is not None for v in series["p95_s"])


def _with_busy_neighbours(config: MonitorConfig) -> object:
    """A monitor session while two other processes spin on the CPU."""
    burners = [burner(seconds=30) for _ in range(2)]
    try:
        return _run_session(config)[1]
    finally:
        for proc in burners:
            stop(proc)


def test_busy_neighbours_warn_a_watched_pid_and_cost_it_no_points() -> None:
    sleeper = spawn("import time\ntime.sleep(30)\n")
    try:
        summary: Any = _with_busy_neighbours(
            MonitorConfig(interval_s=0.2, duration_s=1.2, pid=sleeper.pid))
    finally:
        stop(sleeper)
    assert summary.kind == "pid"
    assert summary.health.findings == () and summary.health.score == 100, summary.health
    busy = next(w for w in summary.health.warnings if w.code == "machine_cpu_busy")
    assert busy.evidence["others_cpu_percent"] > 50, busy
    assert busy.evidence["run_cpu_percent"] < 10, busy
    doc = monitor_document(summary)
    assert busy.message in doc["warnings"]
    assert {"code": busy.code, "message": busy.message, "evidence": busy.evidence} \
        in doc["run_warnings"]
    console = Console(record=True, width=200, file=io.StringIO())
    render_summary(console, summary)
    text = console.export_text()
    assert text.index("other processes kept") < text.index("Health 100/100")


def test_system_monitor_keeps_the_busy_machine_as_its_findings() -> None:
    summary: Any = _with_busy_neighbours(MonitorConfig(interval_s=0.2, duration_s=1.2))
    assert summary.kind == "system"
    cpu = next(f for f in summary.health.findings if f.rule == "cpu_high")
    assert cpu.value > 70 and cpu.points >= 5 and "mean CPU" in cpu.message
    assert summary.health.warnings == ()


def test_a_cpu_heavy_watched_pid_is_scored_on_its_own_cpu() -> None:
    # Low tiers: on a runner shared with other jobs the burner may not get a whole core.
    limits = HealthLimits(cpu_percent=(5.0, 10.0, 15.0))
    proc = burner(seconds=30)
    try:
        summary: Any = _run_session(MonitorConfig(interval_s=0.2, duration_s=1.0,
                                                  pid=proc.pid, limits=limits))[1]
    finally:
        stop(proc)
    cpu = next(f for f in summary.health.findings if f.rule == "cpu_high")
    assert "this run kept" in cpu.message and cpu.value > 5
    for warning in summary.health.warnings:
        # Whatever else ran, the burner's CPU is the run's own, not the neighbours'.
        if warning.code == "machine_cpu_busy":
            assert warning.evidence["run_cpu_percent"] == pytest.approx(cpu.value, abs=0.01)
