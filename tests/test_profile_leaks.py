"""Issue 15's hard cases: each agent with the verdict it must give.

A leak is "at least 4 KiB per call" averaged over the traced calls (the default
--leak-threshold); the sites carrying it are named at file:line with their share.
These agents free mmapped buffers, which raises glibc's dynamic mmap threshold (up to
32 MiB) for the rest of the process: a later allocation of that size or less can then
reuse the heap without RSS growing. So the buffers freed here stay under 10 MiB or above
32 MiB (later tests measure 20 MiB allocations in RSS), and the file sorts after
test_profile.py, whose line-by-line test needs a fresh 5 MiB allocation to show in RSS.
"""

from __future__ import annotations

import math
import random

import profile_agents as agents
import pytest

from agentperf.errors import ExitCode
from agentperf.measure import growth
from agentperf.profiling.api import profile_memory
from agentperf.profiling.inputs import distinct_inputs

MIB = 1024 * 1024


def _leak(agent: object, marker: str, inputs: list[str] | None = None, **kw: object) -> None:
    if inputs is None:
        result = profile_memory(agent, fail_on_leak=True, **kw)
    else:
        result = profile_memory(agent, inputs=inputs, fail_on_leak=True, **kw)
    leaks = result.leaks
    assert leaks.verdict == "leak", leaks.rule
    assert leaks.single_site and leaks.suspects
    top = leaks.suspects[0]
    assert top.filename.endswith("profile_agents.py") and top.share > 0.9
    assert top.lineno == agents.marked_line(marker)
    assert result.exit_code == ExitCode.GATE_FAILED
    assert "--fail-on-leak" in result.exit_reason and top.location in result.exit_reason
    assert "batch means" in leaks.rule
    finding = next(f for f in result.health.findings if f.rule == "leak_suspects")
    assert top.location in finding.message


def test_leak_on_one_input_in_three_is_found_at_its_line() -> None:
    _leak(agents.RareInputLeak(), "rare", ["a", "b", "rare"])


def test_leak_on_every_other_call_is_found_at_its_line() -> None:
    _leak(agents.EveryOtherCallLeak(), "every other")


def test_reallocating_buffer_is_found_at_its_line() -> None:
    _leak(agents.ReallocatingBuffer(), "realloc")


def _clean(agent: object, **kw: object) -> None:
    result = profile_memory(agent, fail_on_leak=True, **kw)
    assert result.leaks.checked and result.leaks.verdict == "no leak", result.leaks.rule
    assert result.leaks.suspects == []
    assert result.exit_code == ExitCode.OK, result.exit_reason
    assert not any(f.rule == "leak_suspects" for f in result.health.findings)


def test_bounded_deque_is_not_a_leak_even_when_traced() -> None:
    _clean(agents.BoundedDeque(), trace_iterations=12)


def test_cache_that_fills_then_stays_flat_is_not_a_leak() -> None:
    _clean(agents.FillingCache(), iterations=3, warmup=0, trace_iterations=30)


def test_churn_of_5mib_is_not_a_leak_even_when_traced() -> None:
    _clean(agents.churn_5mib, trace_iterations=12)


def test_growth_no_single_site_carries_still_fails_the_gate() -> None:
    result = profile_memory(agents.SpreadLeak(), fail_on_leak=True, trace_iterations=12)
    leaks = result.leaks
    assert leaks.verdict == "leak" and not leaks.single_site, leaks.rule
    assert len(leaks.suspects) >= 5 and all(s.share < 0.25 for s in leaks.suspects)
    assert result.exit_code == ExitCode.GATE_FAILED
    assert "no single site" in result.exit_reason


# 40 MiB: above glibc's 32 MiB cap on the dynamic mmap threshold, so freeing it does not
# raise the threshold for the tests that run after these (see the module docstring).
@pytest.mark.parametrize("order", [["1", "40"], ["40", "1"]])
def test_max_peak_gates_the_largest_input_in_either_order(order: list[str]) -> None:
    result = profile_memory(agents.sized_peak, inputs=order, iterations=3,
                            max_peak_bytes=10 * MIB)
    memory = result.memory
    assert memory.inputs_traced == 2 and memory.peak_input == "'40'"
    assert memory.peak_bytes is not None and abs(memory.peak_bytes - 40 * MIB) < MIB
    assert memory.median_peak_bytes is not None
    assert abs(memory.median_peak_bytes - 20.5 * MIB) < MIB  # the middle of 1 and 40 MiB
    assert result.exit_code == ExitCode.GATE_FAILED and "'40'" in result.exit_reason
    assert [i.label for i in result.per_input] == [repr(v) for v in order]


def test_max_peak_passes_when_every_input_is_under_it() -> None:
    result = profile_memory(agents.sized_peak, inputs=["1", "2"], iterations=3,
                            max_peak_bytes=10 * MIB)
    assert result.exit_code == ExitCode.OK and result.memory.peak_input == "'2'"


def test_inputs_beyond_the_limit_are_a_seeded_sample() -> None:
    items = [f"in-{i}" for i in range(100)]
    first, sampled = distinct_inputs(items, limit=8)
    again, _ = distinct_inputs(items, limit=8)
    assert sampled and first == again and len(first) == 8
    assert first == sorted(first, key=items.index) and first != items[:8]
    few, sampled_few = distinct_inputs(["a", "b", "a"], limit=8)
    assert few == ["a", "b"] and not sampled_few


def test_growth_rule_needs_minimum_evidence() -> None:
    judged = growth.per_call([50_000.0] * 3, threshold=4096)
    assert judged.verdict == growth.NOT_ENOUGH and "not enough data" in judged.rule
    slope = growth.per_second([0.0, 1.0], [0.0, 1e9], threshold=1, min_span_s=5,
                              min_samples=10)
    assert slope.verdict == growth.NOT_ENOUGH and not slope.grows


def test_growth_rule_false_alarm_rate_on_seeded_clean_series() -> None:
    """Independent noise (per call) and autocorrelated noise (levels over time): the
    99 % rule must call growth in at most 1 % of 400 clean series each."""
    rng = random.Random(15)
    calls = sum(growth.per_call([rng.gauss(0, 1) for _ in range(24)], threshold=0).grows
                for _ in range(400))
    levels = 0
    for _ in range(400):
        level, ys = 0.0, []
        for _ in range(60):
            level = 0.8 * level + rng.gauss(0, 1)
            ys.append(level)
        levels += growth.per_second([i * 0.5 for i in range(60)], ys, threshold=0,
                                    min_span_s=10, min_samples=24).grows
    assert calls <= 4 and levels <= 4
    steady = growth.per_call([4096.0 + rng.gauss(0, 100) for _ in range(12)], threshold=4096)
    assert steady.low > 0 and math.isfinite(steady.high)


def _fails_on_bad(value: str) -> int:
    if value == "bad":
        raise ValueError("bad input")
    return 1


def test_profile_advice_names_only_its_options_and_counts_agree() -> None:
    result = profile_memory(_fails_on_bad, inputs=["ok", "bad"], iterations=4, warmup=0)
    finding = next(f for f in result.health.findings if f.rule == "error_rate")
    assert "--retries" not in finding.recommendation
    assert "results file" not in finding.recommendation
    raised, total = result.exit_reason.split(" calls raised")[0].split(" of ")
    assert finding.message.startswith(f"{raised} of {total} calls raised")


def test_wording_of_overhead_trends_and_units() -> None:
    from agentperf.measure.units import format_bytes
    from agentperf.report.monitor_console import slope_text
    from agentperf.report.profile_console import overhead_words

    assert overhead_words(0.5).startswith("no slower") and overhead_words(3.0) == (
        "3.0x slower per call")
    assert slope_text(-0.001, "%") == "-0.001%" and slope_text(0.25, "%") == "+0.25%"
    assert format_bytes(50 * MIB) == "50.0 MiB" and format_bytes(4096) == "4.0 KiB"


def test_leak_on_every_other_call_over_three_inputs_is_found_at_its_line() -> None:
    """Rounds of 3 calls hold one or two 20 KiB leaks, so 4 traced rounds alone cannot
    tell; the untraced screen's confident growth, or more rounds, decide it."""
    result = profile_memory(agents.EveryOtherCallLeak(), inputs=["a", "b", "c"],
                            fail_on_leak=True)
    assert result.leaks.verdict == "leak", result.leaks.rule
    assert result.exit_code == ExitCode.GATE_FAILED
    assert result.leaks.suspects[0].lineno == agents.marked_line("every other")


def test_monitor_summary_says_not_enough_data_in_words() -> None:
    from rich.text import Text

    from agentperf.report.monitor_console import memory_growth

    doc = {"system": {"memory_growth_verdict": "not enough data",
                      "memory_growth_rule": "not enough data: 3 samples over 1.0 s"}}
    line = memory_growth(doc)
    assert isinstance(line, Text) and "not enough data: 3 samples" in line.plain


def test_inconclusive_rounds_are_doubled_until_the_rule_decides() -> None:
    """Three timed calls are too few for the screen, and 4 rounds of 3 calls holding one
    or two 20 KiB leaks leave the interval wide: the search doubles its rounds."""
    result = profile_memory(agents.EveryOtherCallLeak(), inputs=["a", "b", "c"],
                            iterations=3, fail_on_leak=True)
    leaks = result.leaks
    assert "not enough data" in leaks.screen
    assert leaks.verdict == "leak" and leaks.rounds > 4, leaks.rule
    assert leaks.suspects[0].lineno == agents.marked_line("every other")
