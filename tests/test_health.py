"""The health engine: every rule fires on its condition and stays quiet just outside it."""

from __future__ import annotations

import io
import json
import os
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from monitor_helpers import burner, cli, stop
from report_schema import validate_report
from rich.console import Console

from agentperf.analysis.health import (
    RULE_IDS,
    RULES,
    CacheHealthInput,
    HealthInput,
    HealthLimits,
    LeakSuspect,
    MemoryHealthInput,
    SystemHealthInput,
    TaskHealthInput,
    UsageHealthInput,
    evaluate,
    limits_from_mapping,
    status_for,
)
from agentperf.errors import SpecError
from agentperf.report.batch_console import render_batch
from agentperf.report.profile_console import render_profile

MB = 1024**2


def tasks(**kw: object) -> HealthInput:
    base: dict[str, object] = {"total": 1000, "mean_latency_s": 0.05, "p50_s": 0.05,
                               "p99_s": 0.08}
    return HealthInput(tasks=TaskHealthInput(**{**base, **kw}))  # type: ignore[arg-type]


def system(**kw: object) -> HealthInput:
    """The machine as the subject: ``monitor`` with nothing to watch."""
    base: dict[str, object] = {"samples": 20, "cores": 4}
    return HealthInput(system=SystemHealthInput(**{**base, **kw}),  # type: ignore[arg-type]
                       subject="machine")


def run(**kw: object) -> HealthInput:
    """A workload's run on a 2-core, 8 GiB machine; its own process tree is measured."""
    base: dict[str, object] = {"samples": 20, "cores": 2, "memory_total_bytes": 8192 * MB,
                               "process_cpu_percent_mean": 2.0,
                               "process_rss_peak_bytes": 100 * MB, "growth_of_process": True}
    return HealthInput(system=SystemHealthInput(**{**base, **kw}))  # type: ignore[arg-type]


def rules(data: HealthInput) -> set[str]:
    return {f.rule for f in evaluate(data).findings}


def codes(data: HealthInput) -> set[str]:
    return {w.code for w in evaluate(data).warnings}


def memory(**kw: object) -> HealthInput:
    base: dict[str, object] = {"peak_bytes": 10 * MB}
    return HealthInput(memory=MemoryHealthInput(**{**base, **kw}))  # type: ignore[arg-type]


def cache(lookups: int, hit_rate: float, repeated: float) -> HealthInput:
    return HealthInput(cache=CacheHealthInput(lookups, hit_rate, repeated))


def usage(**kw: object) -> HealthInput:
    base = {"tasks": 40, "finished_tasks": 40, "cut_tasks": 0, "tokens_spent": 4000,
            "tokens_saved": None, "repeated_fraction": 0.0, "median_cost": 0.001,
            "priced_tasks": 40, "costly": ()}
    return HealthInput(usage=UsageHealthInput(**{**base, **kw}))  # type: ignore[arg-type]


def threads(busy: float | None, **kw: object) -> HealthInput:
    return HealthInput(tasks=TaskHealthInput(total=500, mean_latency_s=0.01, mode="threads",
                                             workers=8, cores=4, cpu_cores_used=busy, **kw))


#: rule id -> (input that fires it, input just inside the limit)
CASES: dict[str, tuple[HealthInput, HealthInput]] = {
    "cpu_high": (system(cpu_percent_mean=75), system(cpu_percent_mean=69)),
    "memory_high": (system(memory_percent_max=90), system(memory_percent_max=74)),
    "slow_agent": (tasks(mean_latency_s=6.0, p50_s=6.0, p99_s=7.0),
                   tasks(mean_latency_s=4.9, p50_s=4.9, p99_s=5.0)),
    "error_rate": (tasks(failed=50), tasks(failed=10)),
    "timeouts": (tasks(failed=3, timed_out=3), tasks(failed=0)),
    "tail_latency": (tasks(p50_s=0.05, p99_s=0.6), tasks(p50_s=0.05, p99_s=0.2)),
    "cache_low_hit_rate": (cache(1000, 0.05, 0.5), cache(1000, 0.45, 0.5)),
    "swap_in_use": (system(swap_used_bytes=500 * MB), system(swap_used_bytes=10 * MB)),
    "memory_growth": (system(memory_growth_bytes_per_s=5 * MB, memory_growth_significant=True),
                      system(memory_growth_bytes_per_s=5 * MB, memory_growth_significant=False)),
    "threads_cpu_bound": (threads(0.97), threads(0.3)),
    "io_bound_idle": (tasks(mode="threads", workers=4, cpu_per_wall=0.02, mean_latency_s=0.2,
                            p50_s=0.2, p99_s=0.25),
                      tasks(mode="threads", workers=4, cpu_per_wall=0.9, mean_latency_s=0.2,
                            p50_s=0.2, p99_s=0.25)),
    "dispatch_overhead": (tasks(mode="processes", workers=2, mean_latency_s=0.0001,
                                p50_s=0.0001, p99_s=0.0002, wall_s=1.0),
                          tasks(mode="processes", workers=2, mean_latency_s=0.0001,
                                p50_s=0.0001, p99_s=0.0002, wall_s=0.06)),
    "memory_peak": (memory(peak_bytes=2048 * MB), memory(peak_bytes=900 * MB)),
    "leak_suspects": (memory(leak_suspects=(LeakSuspect("agent.py:12", 4096.0),),
                             leak_bytes_per_call=4096.0, leak_rule="batch means"),
                      memory(leak_suspects=(LeakSuspect("agent.py:12", 4096.0),))),
    "transient_peak": (memory(transient_peak_bytes=300 * MB), memory(transient_peak_bytes=50 * MB)),
    "outputs_cut": (usage(cut_tasks=12), usage(cut_tasks=1)),
    "cache_saves_no_tokens": (usage(tokens_saved=0, repeated_fraction=0.4),
                              usage(tokens_saved=900, repeated_fraction=0.4)),
    "costly_inputs": (usage(costly=((7, "big", 0.02),)), usage(costly=((7, "big", 0.005),))),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULE_IDS)
    assert len(RULES) == len(RULE_IDS)


@pytest.mark.parametrize("rule", RULE_IDS)
def test_rule_fires(rule: str) -> None:
    report = evaluate(CASES[rule][0])
    found = {f.rule: f for f in report.findings}
    assert rule in found, report
    finding = found[rule]
    assert finding.points > 0
    assert finding.recommendation and finding.message and finding.unit
    assert report.score == pytest.approx(100 - sum(f.points for f in report.findings))


@pytest.mark.parametrize("rule", RULE_IDS)
def test_rule_stays_quiet(rule: str) -> None:
    report = evaluate(CASES[rule][1])
    assert rule not in {f.rule for f in report.findings}, report


def test_cpu_tiers_cost_more_the_higher_they_go() -> None:
    points = [evaluate(system(cpu_percent_mean=v)).findings[0].points for v in (75, 85, 95)]
    assert points == [5, 10, 20]
    assert evaluate(system(cpu_percent_mean=95)).findings[0].limit == 90


def test_slow_agent_points_capped_at_fifteen() -> None:
    finding = evaluate(tasks(mean_latency_s=100.0, p50_s=100.0, p99_s=101.0)).findings[0]
    assert finding.rule == "slow_agent" and finding.points == 15


def test_timeouts_and_errors_advise_separately() -> None:
    rules = {f.rule for f in evaluate(tasks(failed=60, timed_out=10)).findings}
    assert {"error_rate", "timeouts"} <= rules
    only_timeouts = {f.rule for f in evaluate(tasks(failed=30, timed_out=30)).findings}
    assert only_timeouts == {"timeouts"}


def test_threads_cpu_bound_is_not_inferred_from_the_machines_busiest_core() -> None:
    # One core of the machine at 98% says nothing about whose thread kept it busy.
    data = HealthInput(tasks=TaskHealthInput(total=100, mode="threads", workers=8, cores=4),
                       system=SystemHealthInput(samples=10, cores=4, cpu_percent_mean=27,
                                                busiest_core_percent_mean=98))
    assert "threads_cpu_bound" not in rules(data)
    own = HealthInput(tasks=TaskHealthInput(total=100, mode="threads", workers=8, cores=4),
                      system=SystemHealthInput(samples=10, cores=4, cpu_percent_mean=27,
                                               process_cpu_percent_mean=97))
    assert "threads_cpu_bound" in rules(own)
    processes = HealthInput(tasks=TaskHealthInput(total=100, mode="processes", workers=4,
                                                  cores=4, cpu_cores_used=3.9))
    assert "threads_cpu_bound" not in rules(processes)


def test_gil_bound_threads_are_not_called_io_bound() -> None:
    # 8 CPU-bound threads each get 1/8 of the one core the lock allows: a low share per task.
    gil = tasks(mode="threads", workers=8, cpu_per_wall=0.12, mean_latency_s=0.2, cores=4)
    assert "io_bound_idle" not in {f.rule for f in evaluate(gil).findings}
    measured = tasks(mode="threads", workers=8, cpu_per_wall=0.12, cpu_cores_used=0.96, cores=4,
                     mean_latency_s=0.2)
    assert {f.rule for f in evaluate(measured).findings} == {"threads_cpu_bound"}


def test_io_bound_stays_quiet_with_many_workers_or_its_own_busy_cpu() -> None:
    many = tasks(mode="asyncio", workers=100, cpu_per_wall=0.01, mean_latency_s=0.2)
    assert "io_bound_idle" not in rules(many)

    def waiting(**system_kw: object) -> HealthInput:
        return HealthInput(tasks=TaskHealthInput(total=100, mode="threads", workers=2,
                                                 cpu_per_wall=0.05, mean_latency_s=0.2),
                           system=run(**system_kw).system)

    assert "io_bound_idle" not in rules(waiting(process_cpu_percent_mean=80.0))
    # Neighbours keeping the machine busy do not make the run's own waiting fine.
    assert "io_bound_idle" in rules(waiting(cpu_percent_mean=95.0))


def test_dispatch_advice_mentions_chunking() -> None:
    finding = evaluate(CASES["dispatch_overhead"][0]).findings[0]
    assert "chunk_size" in finding.recommendation
    assert finding.value < 0.5


def test_leak_finding_names_the_site_carrying_it_or_says_none_does() -> None:
    data = memory(leak_suspects=(LeakSuspect("leaky.py:42", 8e3, 0.98),
                                 LeakSuspect("a.py:1", 100.0, 0.02)),
                  leak_bytes_per_call=8100.0, leak_rule="rule text")
    finding = evaluate(data).findings[0]
    assert "leaky.py:42" in finding.recommendation and "98%" in finding.message
    assert finding.value == pytest.approx(8100.0) and "rule text" in finding.message
    spread = memory(leak_suspects=(LeakSuspect("a.py:1", 4e3, 0.2),
                                   LeakSuspect("b.py:2", 4e3, 0.2)), leak_bytes_per_call=2e4)
    message = evaluate(spread).findings[0].message
    assert "no single site" in message and "a.py:1, b.py:2" in message


def test_status_bands_and_floor() -> None:
    assert status_for(81) == "healthy"
    assert status_for(80) == "needs_attention"
    assert status_for(61) == "needs_attention"
    assert status_for(60) == "critical"
    worst = HealthInput(
        tasks=TaskHealthInput(total=10, failed=10, timed_out=5, mean_latency_s=60),
        system=SystemHealthInput(samples=9, cpu_percent_mean=99, memory_percent_max=99,
                                 swap_used_bytes=10**10, memory_growth_bytes_per_s=1e7,
                                 memory_growth_significant=True),
        memory=MemoryHealthInput(peak_bytes=10**10, transient_peak_bytes=10**10,
                                 leak_suspects=(LeakSuspect("x.py:1", 1e6),),
                                 leak_bytes_per_call=1e6))
    report = evaluate(worst)
    assert report.score == 0 and report.status == "critical"


def test_nothing_measured_is_healthy() -> None:
    report = evaluate(HealthInput())
    assert (report.score, report.status, report.findings) == (100, "healthy", ())


def err(message: str, key: str) -> SpecError:
    return SpecError(message, source="w.yaml", key=key)


def test_limits_from_spec_change_what_fires() -> None:
    limits = limits_from_mapping({"cpu_percent": [50, 60, 70], "peak_memory_bytes": "512MB",
                                  "slow_latency_s": "500ms", "disabled": ["tail_latency"],
                                  "tail_latency_min_tasks": 10}, err)
    assert limits.peak_memory_bytes == 512 * MB
    assert limits.slow_latency_s == 0.5
    assert evaluate(system(cpu_percent_mean=55), limits).findings[0].limit == 50
    assert evaluate(memory(peak_bytes=600 * MB), limits).findings[0].rule == "memory_peak"
    assert evaluate(CASES["tail_latency"][0], limits).findings == ()
    assert evaluate(tasks(mean_latency_s=0.6, p50_s=0.6, p99_s=0.7), limits).findings[0].rule \
        == "slow_agent"
    assert limits_from_mapping({}, err) == HealthLimits()


@pytest.mark.parametrize(("raw", "expected"), [
    ({"cpu_precent": [1, 2, 3]}, "did you mean 'cpu_percent'"),
    ({"cpu_percent": [1, 2]}, "expected a list of 3 numbers"),
    ({"error_rate": "high"}, "expected a number"),
    ({"peak_memory_bytes": "lots"}, "expected a size"),
    ({"tail_latency_min_tasks": 2.5}, "whole number"),
    ({"disabled": ["nope"]}, "unknown rule 'nope'"),
    ({"slow_latency_s": True}, "expected a number"),
])
def test_bad_limits_are_spec_errors(raw: dict[str, object], expected: str) -> None:
    with pytest.raises(SpecError) as info:
        limits_from_mapping(raw, err)
    assert expected in str(info.value)
    assert str(info.value).startswith("w.yaml: health.")


# --- the split: a workload is scored on what it did, the machine only warns ---------------

def test_busy_neighbours_are_a_warning_with_figures_not_a_deduction() -> None:
    report = evaluate(run(cpu_percent_mean=100.0, process_cpu_percent_mean=2.0))
    assert report.findings == () and report.score == 100
    [warning] = report.warnings
    assert warning.code == "machine_cpu_busy"
    assert warning.evidence == {"machine_cpu_percent": 100.0, "run_cpu_percent": 1.0,
                                "others_cpu_percent": 99.0, "cores": 2.0}
    assert "other processes kept 99% of the machine's CPU busy" in warning.message
    assert "this run 1%" in warning.message


def test_a_cpu_heavy_workload_is_scored_and_its_neighbours_are_not_blamed() -> None:
    report = evaluate(run(cpu_percent_mean=100.0, process_cpu_percent_mean=195.0))
    [finding] = report.findings
    assert (finding.rule, finding.points, finding.limit) == ("cpu_high", 20, 90)
    assert finding.value == pytest.approx(97.5)
    assert "this run kept 98% of the machine's CPU busy (1.95 of 2 cores)" in finding.message
    assert "CPU is the bottleneck" in finding.recommendation
    assert report.warnings == ()


def test_own_cpu_tiers_and_a_run_without_its_own_figures() -> None:
    assert rules(run(cpu_percent_mean=100.0, process_cpu_percent_mean=120.0)) == set()
    points = [evaluate(run(process_cpu_percent_mean=v)).findings[0].points
              for v in (150, 170, 190)]
    assert points == [5, 10, 20]
    unknown = run(cpu_percent_mean=100.0, process_cpu_percent_mean=None)
    assert rules(unknown) == set()
    [warning] = evaluate(unknown).warnings
    assert "own share was not measured" in warning.message
    assert "run_cpu_percent" not in warning.evidence


def test_memory_pressure_from_others_warns_and_the_runs_own_memory_is_scored() -> None:
    others = evaluate(run(memory_percent_max=96.0))
    assert others.findings == ()
    [warning] = others.warnings
    assert warning.code == "machine_memory_high"
    assert warning.evidence["machine_memory_percent"] == 96
    assert warning.evidence["run_rss_peak_bytes"] == 100 * MB
    own = evaluate(run(memory_percent_max=96.0, process_rss_peak_bytes=7800 * MB))
    assert [(f.rule, f.points) for f in own.findings] == [("memory_high", 25)]
    assert "this run's processes peaked at" in own.findings[0].message
    assert own.warnings == ()


def test_swap_and_load_are_warnings_for_a_workload_and_findings_for_the_machine() -> None:
    swapping = run(swap_used_bytes=500 * MB)
    assert rules(swapping) == set() and codes(swapping) == {"machine_swap_in_use"}
    assert evaluate(swapping).warnings[0].evidence["swap_used_bytes"] == 500 * MB
    assert rules(system(swap_used_bytes=500 * MB)) == {"swap_in_use"}
    assert evaluate(system(swap_used_bytes=500 * MB, cpu_percent_mean=100,
                           memory_percent_max=99, load_1m_max=9.0)).warnings == ()
    loaded = run(load_1m_max=6.0)
    assert rules(loaded) == set() and codes(loaded) == {"machine_load_high"}
    assert evaluate(loaded).warnings[0].evidence["load_1m_max"] == 6.0
    # A load the run's own busy cores explain is nobody else's.
    assert codes(run(load_1m_max=3.5, process_cpu_percent_mean=190.0)) == set()


def test_a_workload_is_judged_on_its_own_memory_growth_only() -> None:
    growing = {"memory_growth_bytes_per_s": 5 * MB, "memory_growth_significant": True}
    assert "memory_growth" in rules(run(**growing))
    assert "memory_growth" not in rules(run(**growing, growth_of_process=False))
    assert "memory_growth" in rules(system(**growing))


def test_run_warnings_can_be_disabled_and_never_change_the_score() -> None:
    busy = run(cpu_percent_mean=100.0, swap_used_bytes=500 * MB, load_1m_max=8.0)
    assert codes(busy) == {"machine_cpu_busy", "machine_swap_in_use", "machine_load_high"}
    limits = limits_from_mapping({"disabled": ["machine_swap_in_use"]}, err)
    report = evaluate(busy, limits)
    assert {w.code for w in report.warnings} == {"machine_cpu_busy", "machine_load_high"}
    assert report.score == evaluate(run()).score == 100


# --- busy neighbours: real CPU burners beside a run whose own CPU use is about zero ------

@contextmanager
def busy_neighbours(count: int = 2) -> Iterator[None]:
    """``count`` processes spinning on the CPU, not descendants of the measured run."""
    procs = [burner(seconds=60) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            stop(proc)


def test_busy_neighbours_cost_a_sleeping_run_no_health_points(tmp_path: Path) -> None:
    spec = tmp_path / "sleeper.yaml"
    spec.write_text(textwrap.dedent("""
        name: sleeper
        agent: batch_agents:slow
        inputs: {inputs}
        execution: {{mode: threads, workers: 16}}
        cache: {{enabled: false}}
        thresholds: {{health_score: [">= 80"]}}
    """).format(inputs=list(range(160))))
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    with busy_neighbours():
        proc = cli("run-batch", str(spec), "--sample-interval", "0.1", "--json",
                   "--report-md", str(md), "--report-html", str(html))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["health"]["findings"] == [] and doc["health"]["score"] == 100, doc["health"]
    busy = next(w for w in doc["run_warnings"] if w["code"] == "machine_cpu_busy")
    evidence = busy["evidence"]
    assert evidence["others_cpu_percent"] > 50 and evidence["run_cpu_percent"] < 25, evidence
    assert evidence["cores"] == os.cpu_count()
    assert f"other processes kept {evidence['others_cpu_percent']:.0f}%" in busy["message"]
    assert busy["message"] in doc["warnings"]
    validate_report(doc)
    console = Console(record=True, width=200, file=io.StringIO())
    render_batch(console, doc)
    text = console.export_text()
    assert text.index("other processes kept") < text.index("Health 100/100") \
        < text.index("PASSED")
    assert "other processes kept" in md.read_text()
    assert "other processes kept" in html.read_text()


def _sleep_agent(x: int) -> int:
    time.sleep(0.02)
    return x


def test_busy_neighbours_are_a_profile_warning_not_a_deduction() -> None:
    from agentperf.profiling.api import profile_memory

    with busy_neighbours():
        result = profile_memory(_sleep_agent, inputs=[1, 2, 3], iterations=10, warmup=1,
                                trace_iterations=0)
    assert result.health.findings == () and result.health.score == 100, result.health
    busy = next(w for w in result.health.warnings if w.code == "machine_cpu_busy")
    assert busy.evidence["others_cpu_percent"] > 50, busy
    console = Console(record=True, width=200, file=io.StringIO())
    render_profile(console, result)
    text = console.export_text()
    assert text.index("other processes kept") < text.index("health: 100/100")
