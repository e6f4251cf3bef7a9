"""Every command's --report-html, written by the real command and checked in a real browser.

Per command: the file parses as strict HTML5 (html5lib), and one headless Chromium load
(tests/browser.py) shows the verdict within the first 1280x800 screen, every chart with
the series it declares, a first screen that is not blank, and no console error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import html5lib
import pytest
from browser import inspect_page

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

SOAK_SPEC = """\
    name: html-soak
    agent: monitor_helpers:soak_agent
    inputs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    execution: {mode: threads, workers: 4}
"""

#: (arguments after the command, charts that must be drawn: title -> series)
COMMANDS: dict[str, tuple[list[str], dict[str, int]]] = {
    "run-batch": (
        [
            "run-batch",
            "monitor_helpers:soak_agent",
            "--inputs",
            "{inputs}",
            "-m",
            "threads",
            "-w",
            "4",
            "--max-error-rate",
            "0.5",
            "-t",
            "latency: p(95) < 1ms",
            "--sample-interval",
            "0.05",
        ],
        {
            "Throughput": 1,
            "Latency percentiles per interval": 3,
            "In flight and failures": 3,
            "Latency histogram": 1,
        },
    ),
    "bench": (
        [
            "bench",
            "agents_for_tests:double",
            "--interleave",
            "agents_for_tests:noop",
            "-i",
            "1",
            "-n",
            "4",
            "--min-time",
            "5ms",
            "--processes",
            "2",
            "--fail-if-slower",
            "50%",
        ],
        {"Time: new / base with CI": 1, "seconds per call": 1},
    ),
    "profile": (
        ["profile", "profile_agents:LeakyAgent", "-n", "12", "--input", "1", "--input", "2"],
        {"RSS": 1, "Alive at the call's peak, by site": 1, "Peak per input (traced)": 1},
    ),
    "monitor": (
        [
            "monitor",
            "{spec}",
            "--seconds",
            "2",
            "--interval",
            "0.25",
            "--plain",
            "--max-error-rate",
            "0.5",
        ],
        {"Throughput": 1, "Latency percentiles per interval": 3, "cpu percent": 2},
    ),
}
EXIT_CODES = {"run-batch": 1, "bench": 0, "profile": 0, "monitor": 0}
TONES = {"run-batch": "fail", "bench": "pass", "profile": "warn", "monitor": None}


def _run(command: str, tmp_path: Path) -> Path:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f"{i}\n" for i in range(1, 61)))
    spec = tmp_path / "soak.yaml"
    spec.write_text(textwrap.dedent(SOAK_SPEC))
    report = tmp_path / f"{command}.html"
    args = [a.format(inputs=inputs, spec=spec) for a in COMMANDS[command][0]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    env.pop("GITHUB_STEP_SUMMARY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf", *args, "-q", "--report-html", str(report)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == EXIT_CODES[command], proc.stderr[-2000:]
    return report


@pytest.mark.timeout(180)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_report_renders_in_a_real_browser(command: str, tmp_path: Path) -> None:
    report = _run(command, tmp_path)
    text = report.read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(text)  # raises on any HTML5 parse error
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text  # self-contained: nothing fetched

    page = inspect_page(report)

    assert page.errors == []
    verdict = page.layout["verdict"]
    assert verdict is not None and verdict["top"] >= 0 and verdict["bottom"] <= 800 / 2
    if TONES[command]:
        assert TONES[command] in verdict["cls"].split(), verdict
    charts = page.layout["charts"]
    assert charts and all(c["declared"] == c["drawn"] for c in charts), charts
    drawn = {c["title"]: c["drawn"] for c in charts}
    for title, series in COMMANDS[command][1].items():
        assert drawn.get(title) == series, (title, drawn)
    assert page.pixels["width"] == 1280 and page.pixels["height"] == 800
    assert page.pixels["non_background"] > 0.03 and page.pixels["colors"] > 20, page.pixels


def test_the_browser_check_sees_errors_and_a_missing_verdict(tmp_path: Path) -> None:
    """The harness itself: a page that throws and logs an error is not passed as clean."""
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><title>x</title><p>nothing here</p>"
        "<script>console.error('bad figure')</script>"
        "<script>throw new Error('boom')</script>"
    )
    page = inspect_page(broken)
    assert len(page.errors) == 2 and "boom" in " ".join(page.errors)
    assert page.layout["verdict"] is None and page.layout["charts"] == []
    assert page.pixels["non_background"] < 0.03  # almost blank: the check would fail it
