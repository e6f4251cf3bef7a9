"""The HTML pages without a browser: strict HTML5, the sections each page promises, bad paths.

Fast: in-process renders from real results (a 1 s monitor session, a short profile, a
bench document) and the command line's up-front path check.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import html5lib
import pytest
from test_reports import make_result
from typer.testing import CliRunner

from agentperf.cli.app import app
from agentperf.measure.timeline import TimelineRecorder
from agentperf.pipeline.monitor import MonitorConfig, MonitorSession
from agentperf.report.html import render_html
from agentperf.report.html_bench import render_bench_html
from agentperf.report.html_monitor import render_monitor_html
from agentperf.report.html_profile import render_profile_html
from agentperf.report.json_report import batch_document

SVG_G = "{http://www.w3.org/2000/svg}g"


def parse(page: str) -> Any:
    """Strict: any HTML5 parse error raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)


def sections(doc: Any) -> dict[str, str]:
    return {s.get("id"): "".join(s.itertext()) for s in doc.iter("section")}


def charts(doc: Any) -> dict[str, int]:
    """Chart title -> series drawn."""
    out = {}
    for figure in doc.iter("figure"):
        title = figure.find("{http://www.w3.org/2000/svg}svg/{http://www.w3.org/2000/svg}title")
        drawn = [g for g in figure.iter(SVG_G) if g.get("class") == "series"]
        assert int(figure.get("data-series")) == len(drawn)
        out[title.text] = len(drawn)
    return out


def test_run_batch_page_puts_the_verdict_and_gates_first_and_draws_the_timeline() -> None:
    clock = [0.0]
    recorder = TimelineRecorder(0.5, 100, clock=lambda: clock[0])
    for step in range(20):
        clock[0] = step * 0.25
        recorder.add_task(0.02 + step / 1000, ok=step % 7 != 0, in_flight=4)
        recorder.add_system(30.0, 50_000_000)
    result = replace(make_result(), timeline=recorder.snapshot())
    page = render_html(result)
    doc = parse(page)
    order = [s.get("id") for s in doc.iter("section")]
    assert order[:3] == ["summary", "gates", "timeline"]
    assert doc.find(".//p[@id='verdict']").get("class") == "verdict fail"
    drawn = charts(doc)
    assert drawn["Latency percentiles per interval"] == 3
    assert drawn["Throughput"] == 1 and drawn["RSS of the process tree"] == 1
    assert "limit p(95) &lt; 500ms" in page  # the latency threshold drawn as a limit line
    assert "prefers-color-scheme: dark" in page and "@media print" in page


def test_usage_and_cost_render_when_the_report_has_them() -> None:
    doc = batch_document(make_result())
    assert "usage" not in sections(parse(render_html(doc)))
    with_usage = {
        **doc,
        "usage": {
            "input_tokens": 12_345,
            "output_tokens": 678,
            "cost_usd": 0.42,
            "by_model": {"demo": {"calls": 3}},
        },
    }
    text = sections(parse(render_html(with_usage)))["usage"]
    assert "input tokens" in text and "12,345" in text and "0.42" in text and "demo" in text


def test_system_monitor_page_has_every_metric_with_a_trend_and_no_soak_timeline() -> None:
    with MonitorSession(MonitorConfig(interval_s=0.2, duration_s=1.0)) as session:
        for _ in session.ticks():
            pass
        summary = session.finish()
    doc = parse(render_monitor_html(summary))
    found = sections(doc)
    assert "timeline" not in found  # no workload: no task timeline
    assert {"health", "metrics-over-time", "metrics"} <= set(found)
    drawn = charts(doc)
    assert drawn["cpu percent"] == 2  # the samples and the fitted trend
    assert "memory used bytes" in drawn


def test_bench_page_without_a_comparison_has_strips_and_no_forest(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--type",
            "cpu",
            "-n",
            "3",
            "--min-time",
            "2ms",
            "--processes",
            "0",
            "--json",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    doc = parse(render_bench_html(document))
    drawn = charts(doc)
    assert drawn == {"seconds per call": 1} or set(drawn) == {"seconds per call"}
    assert "comparison" not in sections(doc)
    assert "".join(doc.find(".//p[@id='verdict']").itertext()).startswith("MEASURED (exit 0)")


def test_profile_page_without_a_timeline_says_so() -> None:
    document = {
        "name": "f",
        "source": None,
        "iterations": 3,
        "trace_iterations": 2,
        "memory": {"peak_bytes": 2048},
        "timing": None,
        "leaks": {"verdict": "no leak"},
        "calls": [],
        "timeline": None,
        "per_input": [],
        "sites": [],
        "health": None,
        "warnings": [],
        "errors": [],
        "overhead": None,
        "exit_code": 0,
    }
    found = sections(parse(render_profile_html(document)))
    assert "No RSS timeline was sampled" in found["rss"]
    assert "No allocation site" in found["sites"]


@pytest.mark.parametrize(
    "args",
    [
        ["monitor", "--seconds", "1"],
        ["profile", "agents_for_tests:noop", "--input", "1"],
        ["bench", "--type", "cpu", "-n", "1"],
    ],
)
def test_a_bad_report_path_fails_before_the_run(args: list[str], tmp_path: Path) -> None:
    target = tmp_path / "missing" / "dir" / "r.html"
    result = CliRunner().invoke(app, [*args, "--report-html", str(target)])
    assert result.exit_code == 2
    assert "--report-html" in result.output and "does not exist" in result.output
    assert not target.exists()


def test_bench_compare_writes_a_forest_of_the_two_saved_runs(tmp_path: Path) -> None:
    runner = CliRunner()
    fast = [
        "bench",
        "agents_for_tests:noop",
        "-i",
        "1",
        "-n",
        "3",
        "--min-time",
        "1ms",
        "--processes",
        "0",
        "-q",
    ]
    for name in ("a.json", "b.json"):
        saved = runner.invoke(app, [*fast, "--save", str(tmp_path / name)])
        assert saved.exit_code == 0, saved.output
    page = tmp_path / "compare.html"
    result = runner.invoke(
        app,
        [
            "bench",
            "compare",
            str(tmp_path / "a.json"),
            str(tmp_path / "b.json"),
            "--report-html",
            str(page),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = parse(page.read_text(encoding="utf-8"))
    drawn = charts(doc)
    benchmarks = len(json.loads((tmp_path / "b.json").read_text())["benchmarks"])
    assert drawn["Time: new / base with CI"] == benchmarks  # one row per benchmark
    assert "comparison" in sections(doc)
