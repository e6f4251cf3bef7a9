"""Running a load-shape spec in this process, for test_load*.py and test_dask_load.py."""

from __future__ import annotations

import json
import statistics
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentperf.pipeline.batch import run_batch
from agentperf.pipeline.batch_setup import prepare_batch
from agentperf.pipeline.results import BatchResult


def run_spec(tmp_path: Path, body: str, *, thresholds: tuple[str, ...] = (),
             progress: Callable[[Any], None] | None = None
             ) -> tuple[BatchResult, list[dict[str, Any]]]:
    """Run a spec in this process; the result and the results file's rows."""
    spec = tmp_path / "load.yaml"
    spec.write_text(textwrap.dedent(body))
    output = tmp_path / "results.jsonl"
    plan = prepare_batch(str(spec), output=output, thresholds=thresholds,
                         sample_interval_s=0)
    plan.options.on_progress = progress
    result = run_batch(plan.spec, plan.options, plan.adapter)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    return result, rows


def spec_text(agent: str, execution: str, extra: str = "") -> str:
    return (f"agent: load_agents:{agent}\ninputs: [a, b, c]\n"
            f"execution: {{{execution}}}\n{extra}")


def call_rate(rows: list[dict[str, Any]], trim: float = 0.1) -> float:
    """Calls per second over the middle of the run (the agents' own clocks).

    ``trim`` leaves out that share of the calls at each end: the first ones may wait
    for a worker to build its agent, and on a busy machine a late start caught up at
    either end would skew a short window. A late start in the middle is caught up by
    the schedule and does not change the count.
    """
    starts = sorted(row["output"] for row in rows)
    cut = int(len(starts) * trim)
    middle = starts[cut:len(starts) - cut]
    # The slope of start time over call number: a schedule keeps its slots, so a few
    # calls held back and then released together (Dask's scheduler round trip on a busy
    # machine) move a couple of points, not the fitted rate as the two ends would.
    slope, _ = statistics.linear_regression(range(len(middle)), middle)
    return 1 / slope
