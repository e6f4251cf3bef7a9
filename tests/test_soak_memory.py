"""Soaks judged on the workload's memory with the growth rule: a clean soak never cries
leak, a leaking one does, and a soak too short for the rule says "not enough data"."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from monitor_helpers import cli

SPEC = """\
    name: {name}
    agent: monitor_helpers:{agent}
    inputs: [1, 2, 3, 4, 5, 6, 7, 8]
    execution: {{mode: threads, workers: 2}}
    health: {{memory_growth_min_span_s: 3, memory_growth_min_samples: 12}}
"""


def _soak(tmp_path: Path, agent: str, seconds: str = "6") -> dict:
    spec = tmp_path / f"{agent}.yaml"
    spec.write_text(textwrap.dedent(SPEC.format(name=agent, agent=agent)))
    proc = cli("monitor", str(spec), "--seconds", seconds, "--interval", "0.25", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.timeout(120)
def test_clean_soak_is_not_memory_growth(tmp_path: Path) -> None:
    doc = _soak(tmp_path, "quiet_agent")
    system = doc["system"]
    assert doc["tasks"]["total"] > 500
    assert system["memory_growth_verdict"] == "flat", system["memory_growth_rule"]
    assert "memory_growth" not in {f["rule"] for f in doc["health"]["findings"]}


@pytest.mark.timeout(120)
def test_leaking_soak_is_memory_growth(tmp_path: Path) -> None:
    # 10 s, not 6: under a loaded suite fewer calls run and 18 samples left the interval
    # wide enough to reach 0 once; more samples keep the verdict stable.
    doc = _soak(tmp_path, "keeping_agent", seconds="10")
    system = doc["system"]
    assert system["memory_growth_verdict"] == "grows", system["memory_growth_rule"]
    assert system["memory_growth_low"] > 64 * 1024
    finding = next(f for f in doc["health"]["findings"] if f["rule"] == "memory_growth")
    assert "batch means" in finding["message"]


@pytest.mark.timeout(60)
def test_short_soak_is_not_enough_data_never_growth(tmp_path: Path) -> None:
    doc = _soak(tmp_path, "keeping_agent", seconds="1.5")
    system = doc["system"]
    assert system["memory_growth_verdict"] == "not enough data"
    assert system["memory_growth_bytes_per_s"] is None
    assert "memory_growth" not in {f["rule"] for f in doc["health"]["findings"]}
