"""k6-style thresholds: every form and unit, errors before the run, abort semantics, exit codes."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from agentperf.analysis.gates import abort_check, abort_reason, decide_exit_code, run_batch_values
from agentperf.analysis.thresholds import (
    RUN_BATCH_METRICS,
    MetricKind,
    Progress,
    Tally,
    Threshold,
    ThresholdResult,
    can_still_pass,
    check_abort,
    evaluate_thresholds,
    parse_thresholds,
)
from agentperf.errors import ExitCode, SpecError
from agentperf.measure.histogram import LatencyHistogram
from agentperf.measure.units import parse_bytes, parse_duration
from agentperf.pipeline.batch import Progress as Snapshot
from agentperf.workload.spec import load_workload


def err(message: str, key: str) -> SpecError:
    return SpecError(message, source="w.yaml", key=key)


def one(expression: str, metric: str = "latency") -> Threshold:
    [threshold] = parse_thresholds({metric: [expression]}, [], metrics=RUN_BATCH_METRICS,
                                   error=err)
    return threshold


@pytest.mark.parametrize(("metric", "expression", "statistic", "op", "limit"), [
    ("latency", "p(95) < 500ms", "p(95)", "<", 0.5),
    ("latency", "p(99.9)<2s", "p(99.9)", "<", 2.0),
    ("latency", "max < 5s", "max", "<", 5.0),
    ("latency", "avg <= 250", "avg", "<=", 0.25),  # bare numbers are milliseconds, as in k6
    ("latency", "mean < 800us", "avg", "<", 0.0008),
    ("latency", "med < 1m", "med", "<", 60.0),
    ("latency", "median < 1.5s", "med", "<", 1.5),
    ("latency", "min > 1ms", "min", ">", 0.001),
    ("error_rate", "rate < 0.01", "rate", "<", 0.01),
    ("error_rate", "rate < 1%", "rate", "<", 0.01),
    ("error_rate", "< 0.05", None, "<", 0.05),
    ("throughput", "> 50/s", None, ">", 50.0),
    ("throughput", "rate >= 600/m", "rate", ">=", 10.0),
    ("throughput", "> 3600/h", None, ">", 1.0),
    ("throughput", "> 20", None, ">", 20.0),
    ("health_score", ">= 80", None, ">=", 80.0),
    ("cache_hit_rate", ">= 0.5", None, ">=", 0.5),
    ("cache_hit_rate", "rate > 50%", "rate", ">", 0.5),
    ("peak_memory", "< 512MB", None, "<", 512 * 1024**2),
    ("peak_memory", "value < 1GB", "value", "<", 1024**3),
    ("peak_memory", "< 64KiB", None, "<", 64 * 1024),
    ("peak_memory", "< 2048", None, "<", 2048),
    ("timeouts", "== 0", None, "==", 0),
    ("failed", "count != 3", "count", "!=", 3),
])
def test_expression_forms_and_units(metric: str, expression: str, statistic: str | None,
                                    op: str, limit: float) -> None:
    threshold = one(expression, metric)
    assert (threshold.statistic, threshold.op) == (statistic, op)
    assert threshold.limit == pytest.approx(limit)
    assert threshold.kind is RUN_BATCH_METRICS[metric]


def test_spec_object_form_single_string_and_cli_form() -> None:
    parsed = parse_thresholds(
        {"latency": [{"threshold": "p(95) < 500ms", "abort_on_fail": True,
                      "delay_abort_eval": "10s"},
                     {"threshold": "max < 5s", "abortOnFail": True}],
         "error_rate": "rate < 0.01"},
        ["throughput: > 50/s", "latency:p(90)<1s"], metrics=RUN_BATCH_METRICS, error=err)
    assert [t.metric for t in parsed] == ["latency", "latency", "error_rate", "throughput",
                                          "latency"]
    assert parsed[0].abort_on_fail and parsed[0].delay_abort_eval_s == 10.0
    assert parsed[1].abort_on_fail and not parsed[2].abort_on_fail
    assert parsed[4].statistic == "p(90)"


@pytest.mark.parametrize(("spec", "cli", "message", "key"), [
    ({"latancy": ["max < 1s"]}, [], "unknown metric 'latancy' (did you mean 'latency'?)",
     "thresholds.latancy"),
    ({"latency": ["p95 << 1s"]}, [], "malformed threshold", "thresholds.latency[0]"),
    ({"latency": ["p(95) < 500MB"]}, [], "unit 'MB' does not fit a duration",
     "thresholds.latency[0]"),
    ({"peak_memory": ["< 5s"]}, [], "unit 's' does not fit a size", "thresholds.peak_memory[0]"),
    ({"throughput": ["> 5ms"]}, [], "does not fit a throughput", "thresholds.throughput[0]"),
    ({"error_rate": ["rate < 5"]}, [], "between 0 and 1", "thresholds.error_rate[0]"),
    ({"health_score": [">= 80ms"]}, [], "does not fit a score", "thresholds.health_score[0]"),
    ({"latency": ["< 500ms"]}, [], "needs a statistic", "thresholds.latency[0]"),
    ({"latency": ["p(150) < 1s"]}, [], "between 0 and 100", "thresholds.latency[0]"),
    ({"latency": ["p(nope) < 1s"]}, [], "malformed", "thresholds.latency[0]"),
    ({"latency": ["mode < 1s"]}, [], "unknown statistic 'mode'", "thresholds.latency[0]"),
    ({"throughput": ["p(95) > 1"]}, [], "unknown statistic", "thresholds.throughput[0]"),
    ({"latency": 5}, [], "expected a list", "thresholds.latency"),
    ({"latency": [{"abort_on_fail": True}]}, [], "missing 'threshold'", "thresholds.latency[0]"),
    ({"latency": [{"threshold": "max<1s", "abort": True}]}, [], "unknown key 'abort'",
     "thresholds.latency[0]"),
    ({"latency": [{"threshold": "max<1s", "abort_on_fail": "yes"}]}, [], "true or false",
     "thresholds.latency[0]"),
])
def test_bad_thresholds_are_spec_errors(spec: dict[str, object], cli: list[str], message: str,
                                        key: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_thresholds(spec, cli, metrics=RUN_BATCH_METRICS, error=err)
    assert message in str(info.value)
    assert f"w.yaml: {key}:" in str(info.value)


@pytest.mark.parametrize(("cli", "message"), [
    ("cache_hits: > 0.5", "unknown metric 'cache_hits' (did you mean 'cache_hit_rate'?)"),
    ("p(95) < 1s", "'p(95) < 1s': expected 'METRIC: EXPRESSION'"),
    ("latency: p(95) < 1MB", "unit 'MB' does not fit a duration"),
])
def test_bad_cli_thresholds_name_the_option_not_the_spec(cli: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_thresholds({}, [cli], metrics=RUN_BATCH_METRICS, error=err)
    assert str(info.value).startswith("--threshold: ") and message in str(info.value)


def test_spec_file_error_names_file_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "echo_agent.py").write_text("def echo(x):\n    return x\n")
    spec_file = tmp_path / "w.yaml"
    spec_file.write_text(textwrap.dedent("""\
        agent: echo_agent:echo
        inputs: [1, 2]
        thresholds:
          latency:
            - "p(95) < 500ms"
            - "p(99) < 2 parsecs"
        """))
    spec = load_workload(str(spec_file))
    with pytest.raises(SpecError) as info:
        parse_thresholds(spec.thresholds, [], metrics=RUN_BATCH_METRICS, error=spec.error)
    assert f"{spec_file}:6: thresholds.latency[1]:" in str(info.value)


def test_custom_catalogue_is_metric_agnostic() -> None:
    catalogue = {"peak": MetricKind.BYTES, "leaks": MetricKind.COUNT}
    [t] = parse_thresholds({}, ["peak: < 1GB"], metrics=catalogue, error=err)
    assert t.limit == 1024**3
    with pytest.raises(SpecError, match="this command measures leaks, peak"):
        parse_thresholds({"latency": ["max < 1s"]}, [], metrics=catalogue, error=err)


def histogram(values: list[float]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for value in values:
        hist.record(value)
    return hist


def test_evaluate_reads_histograms_summaries_tallies_and_numbers() -> None:
    hist = histogram([i / 1000 for i in range(1, 1001)])  # 1 ms .. 1 s
    parsed = parse_thresholds(
        {"latency": ["p(95) < 500ms", "p(75) < 800ms", "max <= 1s", "avg < 600ms", "min >= 1ms"],
         "error_rate": ["rate < 0.01"], "throughput": ["> 50/s"], "health_score": [">= 80"]},
        [], metrics=RUN_BATCH_METRICS, error=err)
    values = {"latency": hist, "error_rate": Tally(2, 1000), "throughput": 40.0,
              "health_score": 91.5}
    results = {r.expression: r for r in evaluate_thresholds(parsed, values)}
    assert not results["p(95) < 500ms"].passed
    assert results["p(95) < 500ms"].observed == pytest.approx(0.95, rel=0.01)
    assert results["p(75) < 800ms"].passed  # any percentile from the histogram
    assert results["max <= 1s"].passed and results["avg < 600ms"].passed
    assert results["min >= 1ms"].passed
    assert results["rate < 0.01"].passed and results["rate < 0.01"].observed == 0.002
    assert not results["> 50/s"].passed and results["> 50/s"].observed_text == "40.0/s"
    assert results[">= 80"].passed


def test_summary_gives_known_percentiles_and_explains_others() -> None:
    summary = histogram([0.1] * 50 + [0.3] * 50).summary()
    parsed = parse_thresholds({"latency": ["p(90) < 500ms", "p(75) < 1s", "med < 200ms"]}, [],
                              metrics=RUN_BATCH_METRICS, error=err)
    p90, p75, med = evaluate_thresholds(parsed, {"latency": summary})
    assert p90.passed and p90.observed == pytest.approx(0.3, rel=0.01)
    assert not p75.passed and "not available" in p75.note
    assert med.passed


def test_unmeasured_metric_fails_loudly() -> None:
    parsed = parse_thresholds({"cache_hit_rate": [">= 0.5"], "peak_memory": ["< 1GB"],
                               "latency": ["max < 1s"]}, [], metrics=RUN_BATCH_METRICS,
                              error=err)
    results = evaluate_thresholds(parsed, {"peak_memory": math.nan,
                                           "latency": LatencyHistogram()})
    assert [r.passed for r in results] == [False, False, False]
    assert results[0].note == "not measured in this run" and results[0].observed_text == "n/a"
    assert results[2].note == "no observations"


def progress(done: int, total: int | None = None, elapsed_s: float = 1.0) -> Progress:
    return Progress(done=done, total=total, elapsed_s=elapsed_s)


def test_can_still_pass_counts_peaks_and_extremes_are_final() -> None:
    assert not can_still_pass(one("< 3", "failed"), 3, progress(10))
    assert can_still_pass(one("> 3", "failed"), 1, progress(10))  # may still grow
    assert not can_still_pass(one("< 1MB", "peak_memory"), 2 * 1024**2, progress(10))
    assert not can_still_pass(one("max < 100ms"), histogram([0.2]), progress(1))
    assert can_still_pass(one("max > 100ms"), histogram([0.05]), progress(1))
    assert not can_still_pass(one("min > 100ms"), histogram([0.05]), progress(1))
    assert can_still_pass(one("max < 100ms"), None, progress(0))  # nothing measured yet


def test_can_still_pass_bounds_rates_with_known_total() -> None:
    limit = one("rate < 0.1", "error_rate")
    # 5 of 20 done failed (25 %), 100 expected: the best case is 5 %, so it may still pass.
    assert can_still_pass(limit, Tally(5, 20), progress(20, total=100))
    # 11 failures can never be under 10 % of 100.
    assert not can_still_pass(limit, Tally(11, 30), progress(30, total=100))
    hit = one(">= 0.5", "cache_hit_rate")
    assert can_still_pass(hit, Tally(0, 40), progress(40, total=100))
    assert not can_still_pass(hit, Tally(0, 60), progress(60, total=100))


def test_can_still_pass_follows_k6_after_the_delay() -> None:
    [t] = parse_thresholds({"latency": [{"threshold": "p(95) < 100ms", "abort_on_fail": True,
                                         "delay_abort_eval": "5s"}]}, [],
                           metrics=RUN_BATCH_METRICS, error=err)
    slow = histogram([0.5] * 10)
    assert can_still_pass(t, slow, progress(10, elapsed_s=2.0))
    assert not can_still_pass(t, slow, progress(10, elapsed_s=6.0))
    assert can_still_pass(t, histogram([0.01] * 10), progress(10, elapsed_s=6.0))


def test_check_abort_only_for_abort_on_fail() -> None:
    parsed = parse_thresholds(
        {"failed": ["< 2"], "timeouts": [{"threshold": "< 1", "abort_on_fail": True}]}, [],
        metrics=RUN_BATCH_METRICS, error=err)
    values = run_batch_values(latency=LatencyHistogram(), done=10, failed=5, timed_out=0,
                              elapsed_s=1.0)
    assert check_abort(parsed, values, progress(10)) is None  # "failed" is not abort_on_fail
    values["timeouts"] = 1
    hit = check_abort(parsed, values, progress(10, total=100))
    assert hit is not None and hit.metric == "timeouts" and not hit.passed
    assert "aborted after 10 tasks" in hit.note


def test_abort_check_stops_once_a_threshold_cannot_pass() -> None:
    parsed = parse_thresholds(
        {"error_rate": [{"threshold": "rate < 0.1", "abort_on_fail": True}],
         "latency": ["p(95) < 1ms"]}, [], metrics=RUN_BATCH_METRICS, error=err)
    check = abort_check(parsed, cache_enabled=False)
    assert check is not None
    fast = histogram([0.001] * 20)
    assert check(Snapshot(20, 100, 5, 0, 0, 1.0, fast)) is None  # 5 % of 100 is still possible
    hit = check(Snapshot(40, 100, 11, 0, 0, 2.0, fast))
    assert hit is not None and hit.metric == "error_rate" and not hit.passed
    reason = abort_reason(hit, 40)
    assert "error_rate rate < 0.1 can no longer pass" in reason and "after 40 tasks" in reason
    assert abort_check(parsed[1:], cache_enabled=False) is None  # nothing armed


def test_run_batch_values_cover_the_catalogue() -> None:
    values = run_batch_values(latency=LatencyHistogram(), done=10, failed=1, timed_out=0,
                              elapsed_s=2.0, cache_hits=4, health_score=90.0, peak_memory=1024)
    assert set(values) == set(RUN_BATCH_METRICS)
    assert values["throughput"] == 5.0 and values["cache_hit_rate"] == Tally(4, 10)


@pytest.mark.parametrize(("value", "seconds"), [(5, 5.0), ("250ms", 0.25), ("2m", 120.0),
                                                ("1.5s", 1.5), ("10us", 1e-5)])
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(("value", "size"), [(100, 100), ("1KB", 1024), ("1.5 MB", 1.5 * 1024**2),
                                             ("2GiB", 2 * 1024**3), ("7b", 7)])
def test_parse_bytes(value: object, size: int) -> None:
    assert parse_bytes(value) == int(size)


@pytest.mark.parametrize("bad", ["fast", "5 parsecs", "-1s", True])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def results_for(passed: list[bool]) -> list[ThresholdResult]:
    return [ThresholdResult(metric="health_score", expression=">= 0" if ok else ">= 99",
                            observed=50.0, passed=ok, kind="score", limit=0 if ok else 99)
            for ok in passed]


def test_exit_code_ok() -> None:
    code, reason = decide_exit_code(False, results_for([True, True]), 0, 100, None)
    assert code is ExitCode.OK and "100 of 100 tasks succeeded" in reason
    assert "all 2 thresholds passed" in reason


def test_exit_code_failures_allowed_by_max_error_rate() -> None:
    code, reason = decide_exit_code(False, [], 2, 100, 0.05)
    assert code is ExitCode.OK and "within max_error_rate" in reason


def test_exit_code_any_failure_fails_by_default() -> None:
    code, reason = decide_exit_code(False, [], 1, 100, None)
    assert code is ExitCode.WORKLOAD_FAILED and "max_error_rate" in reason
    code, _ = decide_exit_code(False, [], 6, 100, 0.05)
    assert code is ExitCode.WORKLOAD_FAILED
    code, _ = decide_exit_code(False, [], 1, 100, 0.0)
    assert code is ExitCode.WORKLOAD_FAILED


def test_exit_code_gate_beats_workload_failures() -> None:
    code, reason = decide_exit_code(False, results_for([True, False]), 3, 100, None)
    assert code is ExitCode.GATE_FAILED
    assert "health_score >= 99 (observed 50)" in reason and "also 3 of 100" in reason
    code, reason = decide_exit_code(False, [], 0, 10, None,
                                    gate_failures=["leak gate: agent.py:3 retains 4 KB/call"])
    assert code is ExitCode.GATE_FAILED and "agent.py:3" in reason


def test_exit_code_interrupt_beats_everything() -> None:
    code, _ = decide_exit_code(True, results_for([False]), 5, 10, None)
    assert code is ExitCode.INTERRUPTED and int(code) == 130
