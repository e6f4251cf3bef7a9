"""Screenshots of every command's HTML report, and the HTML's size for long runs.

    python benchmarks/report_screens.py            # about 1 minute

1. Runs run-batch, bench, profile and monitor for real with --report-html and takes a
   1280x800 first-screen screenshot of each with headless Chromium into docs/img/.
2. Sizes (target: under 1 MB each): the HTML of a real 100,000-task run-batch (1 % of
   inputs fail, so the failed-inputs table is full), and of a 30-minute monitor soak.
   The soak is simulated: a real 3 s soak gives the summary's shape, then its timeline
   recorder and metric histories are fed 30 minutes of synthetic samples at monitor's
   default 2 s interval through the same classes a real soak uses.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMG = REPO / "docs" / "img"
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(REPO), str(REPO / "benchmarks"), str(REPO / "sample_workloads")]
    ),
}
ENV.pop("GITHUB_STEP_SUMMARY", None)

BATCH_SPEC = """\
    name: support-bot
    agent: report_agents:degrading
    inputs: {{file: {inputs}, repeat: 25}}
    context: {{latency_s: 0.03, model: demo-model}}
    execution: {{mode: asyncio, max_in_flight: 4, timeout_s: 2}}
    max_error_rate: 0.05
    thresholds:
      latency: ["p(95) < 80ms"]
      error_rate: ["rate < 0.05"]
"""
SOAK_SPEC = """\
    name: support-bot-soak
    agent: report_agents:degrading
    inputs: {{file: {inputs}}}
    context: {{latency_s: 0.02}}
    execution: {{mode: asyncio, max_in_flight: 8}}
"""


def agentperf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentperf", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )


def screenshot(page: Path, png: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is needed: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,800",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )


def reports(work: Path) -> dict[str, Path]:
    inputs = REPO / "sample_workloads" / "quickstart.jsonl"
    (work / "batch.yaml").write_text(textwrap.dedent(BATCH_SPEC.format(inputs=inputs)))
    (work / "soak.yaml").write_text(textwrap.dedent(SOAK_SPEC.format(inputs=inputs)))
    out = {name: work / f"{name}.html" for name in ("run-batch", "bench", "profile", "monitor")}
    agentperf(
        "bench",
        "--type",
        "cpu",
        "-n",
        "8",
        "--min-time",
        "20ms",
        "--processes",
        "3",
        "--save",
        str(work / "base.json"),
        "-q",
        cwd=work,
    )
    runs = {
        "run-batch": ["run-batch", "batch.yaml", "--sample-interval", "0.25"],
        "bench": [
            "bench",
            "--type",
            "cpu",
            "-n",
            "8",
            "--min-time",
            "20ms",
            "--processes",
            "3",
            "--compare",
            "base.json",
            "--fail-if-slower",
            "10%",
        ],
        "profile": [
            "profile",
            "leaky_agent:LeakyAgent",
            "-n",
            "60",
            "--input",
            '"short"',
            "--input",
            '"a much longer request"',
            "--input",
            "3",
        ],
        "monitor": ["monitor", "soak.yaml", "--seconds", "20", "--interval", "0.5", "--plain"],
    }
    for name, args in runs.items():
        proc = agentperf(*args, "-q", "--report-html", str(out[name]), cwd=work)
        print(f"{name}: exit {proc.returncode}, {out[name].stat().st_size / 1024:.0f} KiB")
    return out


def batch_100k(work: Path) -> tuple[int, float]:
    inputs = work / "100k.jsonl"
    inputs.write_text("".join(f"{i}\n" for i in range(100_000)))
    page = work / "100k.html"
    start = time.perf_counter()
    proc = agentperf(
        "run-batch",
        "report_agents:echo",
        "--inputs",
        str(inputs),
        "-m",
        "threads",
        "-w",
        "4",
        "--max-error-rate",
        "0.05",
        "-q",
        "--report-html",
        str(page),
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return page.stat().st_size, time.perf_counter() - start


def soak_30min() -> tuple[int, int, int]:
    """A real 3 s soak, then 30 minutes of synthetic samples through the same recorders."""
    from agentperf.measure.timeline import TimelineRecorder
    from agentperf.measure.timeseries import SeriesSet
    from agentperf.pipeline.monitor import MonitorConfig, MonitorSession, prepare_soak, unit_of
    from agentperf.pipeline.soak import SOAK_TIMELINE_INTERVAL_S
    from agentperf.report.html_monitor import render_monitor_html

    inputs = REPO / "sample_workloads" / "quickstart.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "soak.yaml"
        spec.write_text(textwrap.dedent(SOAK_SPEC.format(inputs=inputs)))
        sys.path[:0] = [str(REPO / "benchmarks")]
        soak, limits, _ = prepare_soak(str(spec))
        with MonitorSession(
            MonitorConfig(interval_s=0.5, duration_s=3, limits=limits), soak=soak
        ) as session:
            for _ in session.ticks():
                pass
            summary = session.finish()
    rng = random.Random(30)
    clock = [0.0]
    timeline = TimelineRecorder(SOAK_TIMELINE_INTERVAL_S, clock=lambda: clock[0])  # as a soak
    series = SeriesSet(1000, unit_of)
    names = summary.series.names() if summary.series else []
    for step in range(900):  # 30 minutes at the default 2 s interval
        t = step * 2.0
        for i in range(int(60 + 20 * math.sin(t / 300))):  # ~30 tasks/s, drifting
            clock[0] = t + i * 2.0 / 80
            timeline.add_task(
                0.02 * rng.uniform(0.7, 1.5) * (1 + t / 3600), ok=rng.random() > 0.01, in_flight=8
            )
        clock[0] = t
        timeline.add_system(40 + 10 * rng.random(), 200e6 + t * 5e3)
        series.record(t, {n: abs(rng.gauss(50, 10)) * (1 + t / 1800) for n in names})
    summary.timeline, summary.series = timeline.snapshot(), series
    page = render_monitor_html(summary)
    return len(page.encode()), len(summary.timeline.rows), len(names)


def main() -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agentperf-screens-") as tmp:
        work = Path(tmp)
        for name, page in reports(work).items():
            png = IMG / f"report-{name}.png"
            screenshot(page, png)
            print(f"  screenshot {png.relative_to(REPO)} ({png.stat().st_size / 1024:.0f} KiB)")
        size, took = batch_100k(work)
        print(
            f"100,000-task run-batch: HTML {size / 1024:.0f} KiB "
            f"({'PASS' if size < 1024**2 else 'FAIL'} < 1 MB), run took {took:.1f} s"
        )
    size, points, metrics = soak_30min()
    print(
        f"30-minute soak (simulated samples, {points} timeline points, {metrics} metrics): "
        f"HTML {size / 1024:.0f} KiB ({'PASS' if size < 1024**2 else 'FAIL'} < 1 MB)"
    )


if __name__ == "__main__":
    main()
