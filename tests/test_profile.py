"""``agentperf.profile_memory`` and ``profile_block`` on agents with known memory behaviour."""

from __future__ import annotations

import profile_agents as agents
import pytest

from agentperf.errors import ExitCode
from agentperf.profiling import profile_block, profile_memory

MIB = agents.MIB


def test_50mb_allocation_measured_within_5_percent() -> None:
    result = profile_memory(agents.allocate_50mb, iterations=3)
    assert result.memory.peak_bytes is not None
    assert abs(result.memory.peak_bytes - 50 * MIB) / (50 * MIB) < 0.05
    top = result.sites[0]
    assert top.lineno == agents.marked_line("fifty") and top.user_code
    assert abs(top.size_bytes - 50 * MIB) / (50 * MIB) < 0.05
    assert result.memory.transient_peak_bytes is not None
    assert result.memory.transient_peak_bytes > 45 * MIB  # freed at the end of the call
    assert result.overhead.ratio is not None and result.timing is not None


def test_leaking_agent_pinned_to_its_line() -> None:
    result = profile_memory(agents.LeakyAgent, iterations=3, trace_iterations=6,
                            fail_on_leak=True)
    assert result.leaks.checked
    suspects = result.leaks.suspects
    assert suspects, "the module-level list append was not flagged"
    top = suspects[0]
    assert top.filename.endswith("profile_agents.py")
    assert top.lineno == agents.marked_line("leak")
    assert 7_000 < top.bytes_per_iteration < 10_000  # an 8,000-character string and a dict
    assert top.share > 0.9 and result.leaks.single_site and result.leaks.verdict == "leak"
    assert top.traceback and top.traceback[-1].endswith(f":{top.lineno}")
    assert result.leaks.checkpoints == 7 and "batch means" in result.leaks.rule
    assert result.exit_code == ExitCode.GATE_FAILED and "leak" in result.exit_reason
    assert any(f.rule == "leak_suspects" for f in result.health.findings)


def test_default_run_screens_the_heap_then_searches_the_leak() -> None:
    result = profile_memory(agents.LeakyAgent, iterations=5)
    assert result.leaks.method == "traced" and "heap screen" in result.leaks.screen
    assert [s.lineno for s in result.leaks.suspects] == [agents.marked_line("leak")]


@pytest.mark.parametrize("run", [1, 2, 3])
def test_allocating_and_freeing_agent_is_not_flagged(run: int) -> None:
    screened = profile_memory(agents.FreeingAgent, iterations=5, fail_on_leak=True)
    assert screened.leaks.checked and screened.leaks.suspects == []
    assert screened.leaks.verdict == "no leak"
    assert screened.exit_code == ExitCode.OK
    result = profile_memory(agents.FreeingAgent, iterations=3, trace_iterations=6,
                            fail_on_leak=True)  # the traced search forced: still clean
    assert result.leaks.checked and result.leaks.method == "traced"
    assert result.leaks.suspects == []
    assert result.exit_code == ExitCode.OK
    assert result.memory.peak_bytes is not None and result.memory.peak_bytes > 1 * MIB


def test_grouping_by_traceback_separates_callers() -> None:
    by_line = profile_memory(agents.two_callers, iterations=1, trace_iterations=1)
    rows_line = agents.marked_line("rows")
    assert [s.lineno for s in by_line.sites].count(rows_line) == 1
    by_tb = profile_memory(agents.two_callers, iterations=1, trace_iterations=1, frames=5,
                           group_by="traceback")
    at_rows = [s for s in by_tb.sites if s.lineno == rows_line]

    def caller_total(marker: str) -> int:
        caller = f"profile_agents.py:{agents.marked_line(marker)}"
        return sum(s.size_bytes for s in at_rows if any(f.endswith(caller) for f in s.traceback))

    small, large = caller_total("small caller"), caller_total("large caller")
    assert small > 0 and large > 3 * small  # one line, two tracebacks told apart


def test_only_user_code_folds_library_sites_into_the_calling_line() -> None:
    plain = profile_memory(agents.library_allocator, iterations=1, trace_iterations=1, frames=8)
    assert any(not s.user_code for s in plain.sites)
    folded = profile_memory(agents.library_allocator, iterations=1, trace_iterations=1,
                            frames=8, only_user_code=True)
    top = folded.sites[0]
    assert top.user_code and top.lineno == agents.marked_line("library call")
    assert top.folded_sites >= 1


def test_timeline_catches_a_20ms_spike() -> None:
    result = profile_memory(agents.spike_20ms, iterations=4, warmup=0, trace_iterations=0)
    timeline = result.timeline
    assert timeline is not None and timeline.interval_s == 0.01
    rss = [value for _, value in timeline.samples]
    assert max(rss) - min(rss) > 30 * MIB
    timed = [m for m in timeline.marks if m.phase == "timed"]
    assert len(timed) == 4
    peak_t = max(timeline.samples, key=lambda s: s[1])[0]
    assert any(m.start_s <= peak_t <= m.end_s for m in timed)
    assert timeline.peak_hwm_bytes is None or timeline.peak_hwm_bytes >= max(rss) - MIB


def test_line_by_line_mode_on_a_sample_agent() -> None:
    result = profile_memory(agents.LineAgent, iterations=2, trace_iterations=0,
                            line="execute")
    profile = result.line_profile
    assert profile is not None and profile.function == "LineAgent.execute"
    by_line = {line.lineno: line for line in profile.lines}
    kept = by_line[agents.marked_line("kept")]
    assert kept.occurrences == profile.calls == 2
    assert kept.increment_mib is not None and kept.increment_mib > 8  # 2 calls x 5 MiB kept
    assert kept.mem_mib is not None and "bytearray" in kept.source
    assert all(line.source for line in profile.lines)
    assert "negative" in profile.note


def test_async_agent_runs_on_one_loop_and_is_measured() -> None:
    result = profile_memory(agents.async_agent, inputs=[1, "a"], iterations=3,
                            trace_iterations=3)
    assert result.failures == 0 and result.timing is not None
    assert result.memory.peak_bytes is not None and result.memory.peak_bytes >= 50_000 * 8
    assert result.sites[0].lineno == agents.marked_line("async")


def test_raising_workload_is_reported_not_raised() -> None:
    result = profile_memory(agents.raising_agent, inputs=[1], iterations=2, trace_iterations=2)
    assert result.failures == len(result.calls) == 5  # 2 timed; 1 input and sites, 2 traced
    assert result.errors == ["ValueError: cannot handle 1"]
    assert result.exit_code == ExitCode.WORKLOAD_FAILED
    assert result.timing is None and result.memory.peak_bytes is None
    assert any("no timed call succeeded" in w for w in result.warnings)


def test_too_short_a_run_says_so() -> None:
    result = profile_memory(agents.LeakyAgent, iterations=1, trace_iterations=1)
    assert not result.leaks.checked
    assert any("--trace-iterations" in w for w in result.warnings)


def test_child_processes_in_the_timeline() -> None:
    def peak(include: bool) -> int:
        result = profile_memory(agents.child_spawning_agent, iterations=1, warmup=0,
                                trace_iterations=0, include_children=include)
        assert result.timeline is not None
        return max(v for _, v in result.timeline.samples)

    assert peak(True) - peak(False) > 60 * MIB


def test_profile_block_measures_a_block() -> None:
    with profile_block("ten") as block:
        data = bytearray(10 * MIB)
        size = len(data)  # a C call while the block is alive: the sites snapshot's cue
        del data
    assert size == 10 * MIB
    result = block.result
    assert result is not None and result.name == "ten"
    assert result.memory.peak_bytes is not None
    assert abs(result.memory.peak_bytes - 10 * MIB) / (10 * MIB) < 0.05
    assert result.sites and result.sites[0].size_bytes > 9 * MIB
