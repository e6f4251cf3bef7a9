"""Every report format from one BatchResult: schema-valid JSON, parseable JUnit, Markdown,
self-contained HTML, the terminal view, redaction everywhere, files opened before the run."""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import html5lib
import jsonschema
import pytest
from report_schema import strict_schema, validate_report
from rich.console import Console

from agentperf.analysis.gates import batch_verdict, run_batch_values
from agentperf.analysis.health import HealthInput, TaskHealthInput, evaluate
from agentperf.analysis.thresholds import RUN_BATCH_METRICS, evaluate_thresholds, parse_thresholds
from agentperf.cache.stats import CacheStats, TierStats
from agentperf.errors import AgentperfError, ExitCode, SpecError
from agentperf.execution.base import ExecutorInfo
from agentperf.measure.histogram import LatencyHistogram
from agentperf.measure.sampler import BackgroundSampler
from agentperf.outputs import write_atomic
from agentperf.pipeline.results import BatchResult, FailureGroup
from agentperf.redact import Redactor, environment_secrets, is_secret_key
from agentperf.report.batch_console import render_batch
from agentperf.report.batch_summary import plain_summary
from agentperf.report.exporters import STEP_SUMMARY_ENV, open_exporters
from agentperf.report.html import render_html
from agentperf.report.json_report import SCHEMA_VERSION, batch_document, load_schema, render_json
from agentperf.report.junit import render_junit
from agentperf.report.markdown import render_markdown

API_KEY = "sk-live-abcdef123456"
DB_PASSWORD = "hunter2hunter2"
REDIS_PASSWORD = "s3cr3tRedisPw"
SECRETS = (API_KEY, DB_PASSWORD, REDIS_PASSWORD, "tok-9f8e7d6c5b")


@dataclass
class FailedInput:  # one failed input, as the run-batch pipeline reports it
    index: int
    input: Any
    error_type: str
    message: str
    timed_out: bool = False
    attempts: int = 1


@functools.lru_cache(maxsize=1)
def sampled_system() -> Any:
    """A real sampler summary of this process (psutil readings over a fraction of a second)."""
    sampler = BackgroundSampler(interval_s=0.05)
    sampler.start()
    time.sleep(0.25)
    return sampler.stop()


def make_result(*, failed_inputs: int = 2, thresholds: bool = True) -> BatchResult:
    hist = LatencyHistogram()
    for i in range(400):
        hist.record(0.02 + (i % 40) / 1000 + (1.5 if i % 50 == 0 else 0.0))
    spec = {"latency": ["p(95) < 500ms", "max < 1s"], "error_rate": ["rate < 0.005"],
            "throughput": ["> 50/s"]} if thresholds else {}
    parsed = parse_thresholds(spec, [], metrics=RUN_BATCH_METRICS,
                              error=lambda m, k: SpecError(m, key=k))
    values = run_batch_values(latency=hist, done=400, failed=3, timed_out=1, elapsed_s=4.0)
    results = evaluate_thresholds(parsed, values)
    summary = hist.summary()
    health = evaluate(HealthInput(tasks=TaskHealthInput(
        total=400, failed=3, timed_out=1, mean_latency_s=summary.mean, p50_s=summary.p50,
        p99_s=summary.p99, mode="threads", workers=8)))
    verdict = batch_verdict(interrupted=False, thresholds=results, failed=3, total=400,
                            max_error_rate=None)
    result = BatchResult(
        name="nightly|batch", source="workload.yaml",
        executor=ExecutorInfo("threads", 8, 16, reason="I/O-bound agent"),
        total=400, succeeded=397, failed=3, timed_out=1,
        failures=[FailureGroup("ValueError", 2, f"bad prompt for key {API_KEY}"),
                  FailureGroup("Timeout", 1, "no answer within 1s")],
        wall_s=4.0, throughput_per_s=100.0, latency=summary, latency_buckets=hist.buckets(),
        cpu_time_s=0.8, health=health, exit_code=verdict.exit_code,
        exit_reason=verdict.reason, gates=list(verdict.gates),
        started_at="2026-11-24T02:00:00+00:00", agentperf_version="0.1.0",
        cache=CacheStats(
            tiers=[TierStats("memory", "process memory", hits=30, misses=370, hit_rate=0.075,
                             get_mean_s=2e-6, stored_bytes=4096),
                   TierStats("redis", f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0", hits=10,
                             misses=360, hit_rate=0.027, get_mean_s=1.2e-4, errors=1)],
            lookups=400, hits=40, misses=360, hit_rate=0.1, calls_avoided=40, time_saved_s=1.2,
            skip_reasons={"TypeError": 2}, warnings=["redis tier lost once; retried"]),
        system=sampled_system(),
        thresholds=results,
        context={"model": "gpt-4o", "max_tokens": 256, "api_key": API_KEY,
                 "database": {"password": DB_PASSWORD}, "auth_token": "tok-9f8e7d6c5b"},
        warnings=[f"redis tier unreachable at redis://user:{REDIS_PASSWORD}@10.0.0.5:6379"],
    )
    result.failed_inputs = [  # type: ignore[attr-defined]
        FailedInput(i * 7, {"prompt": f"q{i}", "token": "tok-9f8e7d6c5b"}, "ValueError",
                    f"bad prompt for key {API_KEY}\x00") for i in range(failed_inputs)]
    return result


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert "***" in text


# --- JSON -----------------------------------------------------------------------------

def test_json_report_validates_against_the_shipped_schema() -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(render_json(make_result()))
    validate_report(doc)
    assert doc["schema_version"] == SCHEMA_VERSION == "1.2"
    assert doc["verdict"] == {"exit_code": 1, "status": "gate_failed", "passed": False,
                              "reason": doc["verdict"]["reason"], "interrupted": False,
                              "aborted": None}
    assert doc["tasks"]["error_rate"] == pytest.approx(3 / 400)
    assert [t["passed"] for t in doc["thresholds"]] == [True, False, False, True]
    assert doc["thresholds"][1]["observed_text"].endswith("s")
    assert [(g["kind"], g["passed"]) for g in doc["gates"]] == [
        ("threshold", True), ("threshold", False), ("threshold", False), ("threshold", True),
        ("max_error_rate", False)]
    assert doc["gates"][4]["label"] == "max_error_rate: 0%"
    assert doc["gates"][4]["observed_text"] == "0.75% (3 of 400 tasks failed)"
    assert doc["cache"]["tiers"][1]["hits"] == 10
    assert doc["system"]["samples"] >= 1 and doc["system"]["process_rss_peak_bytes"] > 0
    assert {f["rule"] for f in doc["health"]["findings"]} >= {"timeouts", "tail_latency"}
    assert len(doc["latency_histogram"]) == 20
    assert sum(b["count"] for b in doc["latency_histogram"]) == 400


def test_schema_rejects_a_broken_document() -> None:
    doc = batch_document(make_result())
    validator = jsonschema.Draft202012Validator(load_schema())
    for broken in ({**doc, "tasks": {**doc["tasks"], "failed": -1}},
                   {k: v for k, v in doc.items() if k != "verdict"},
                   {**doc, "schema_version": "2.0"}):
        assert list(validator.iter_errors(broken)), broken


def test_a_1x_reader_accepts_fields_a_later_minor_version_adds() -> None:
    doc = json.loads(render_json(make_result()))
    later = {**doc, "schema_version": "1.9", "surprise": 1,
             "tasks": {**doc["tasks"], "new_count": 2}}
    assert not list(jsonschema.Draft202012Validator(load_schema()).iter_errors(later))
    # ... while this version's own documents name every field they carry:
    strict = jsonschema.Draft202012Validator(strict_schema())
    assert sorted(e.message for e in strict.iter_errors(later)) == [
        "Additional properties are not allowed ('new_count' was unexpected)",
        "Additional properties are not allowed ('surprise' was unexpected)"]


def test_json_report_of_an_interrupted_empty_run_is_valid() -> None:
    empty = LatencyHistogram()
    result = replace(make_result(failed_inputs=0, thresholds=False), total=0, succeeded=0,
                     failed=0, timed_out=0, failures=[], latency=empty.summary(),
                     latency_buckets=[], cache=None, system=None, interrupted=True,
                     exit_code=ExitCode.INTERRUPTED, exit_reason="interrupted",
                     wall_s=float("nan"))
    doc = json.loads(render_json(result))
    validate_report(doc)
    assert doc["verdict"]["status"] == "interrupted" and doc["tasks"]["wall_s"] is None


# --- JUnit ----------------------------------------------------------------------------

def junit_cases(text: str) -> dict[str, ET.Element]:
    """The testcases of a JUnit report by name, after checking the counts agree."""
    root = ET.fromstring(text)
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    for element in (root, suite):
        assert element.get("tests") == str(len(cases))
        assert element.get("failures") == str(len(failed))
    return {c.get("name", ""): c for c in cases}


def test_junit_has_one_testcase_per_gate_failing_as_the_gate_did() -> None:
    result = make_result(failed_inputs=2)
    cases = junit_cases(render_junit(result))
    assert list(cases) == ["latency: p(95) < 500ms", "latency: max < 1s",
                           "error_rate: rate < 0.005", "throughput: > 50/s", "max_error_rate: 0%"]
    outcome = {name: case.find("failure") is None for name, case in cases.items()}
    assert outcome == {g.label: g.passed for g in result.gates}
    failure = cases["latency: max < 1s"].find("failure")
    assert failure is not None and failure.get("type") == "ThresholdFailed"
    assert failure.get("message", "").startswith("observed 1.5")
    rate = cases["max_error_rate: 0%"]
    assert "3 of 400 tasks failed" in rate.find("failure").get("message", "")
    out = rate.findtext("system-out") or ""
    assert "input #0" in out and "input #7" in out and "1 more failed inputs" in out
    assert {c.get("time") for c in cases.values()} == {"4.000000"}  # the run's wall time


def test_junit_tolerated_failures_are_output_not_failures() -> None:
    base = make_result(failed_inputs=3, thresholds=False)
    verdict = batch_verdict(interrupted=False, thresholds=[], failed=3, total=400,
                            max_error_rate=0.01)
    result = replace(base, exit_code=verdict.exit_code, exit_reason=verdict.reason,
                     gates=list(verdict.gates))
    assert result.exit_code is ExitCode.OK
    text = render_junit(result)
    assert "<failure" not in text
    [case] = junit_cases(text).values()
    assert case.get("name") == "max_error_rate: 1%"
    assert "3 of 400 tasks failed" in (case.findtext("system-out") or "")


def test_junit_without_failures_or_thresholds_has_the_passing_error_rate_gate() -> None:
    result = replace(make_result(failed_inputs=0, thresholds=False), failed=0, failures=[],
                     timed_out=0, gates=list(batch_verdict(
                         interrupted=False, thresholds=[], failed=0, total=400,
                         max_error_rate=None).gates))
    cases = junit_cases(render_junit(result))
    assert list(cases) == ["max_error_rate: 0%"]
    assert cases["max_error_rate: 0%"].find("system-out") is None


# --- one gate list, one verdict, four formats ----------------------------------------

def threshold_results(spec: dict[str, list[str]], **values: Any) -> list[Any]:
    parsed = parse_thresholds(spec, [], metrics=RUN_BATCH_METRICS,
                              error=lambda m, k: SpecError(m, key=k))
    hist = LatencyHistogram()
    for _ in range(values.get("done", 100)):
        hist.record(0.02)
    defaults = dict(latency=hist, done=100, failed=0, timed_out=0, elapsed_s=1.0)
    return evaluate_thresholds(parsed, run_batch_values(**{**defaults, **values}))


@pytest.mark.parametrize(("case", "kwargs", "code", "failing"), [
    ("clean", dict(failed=0, total=100, max_error_rate=None), 0, set()),
    ("tolerated", dict(failed=3, total=100, max_error_rate=0.05), 0, set()),
    ("at the limit", dict(failed=5, total=100, max_error_rate=0.05), 0, set()),
    ("over the limit", dict(failed=6, total=100, max_error_rate=0.05), 3, {"max_error_rate"}),
    ("any failure, no setting", dict(failed=1, total=100, max_error_rate=None), 3,
     {"max_error_rate"}),
    ("max_error_rate 0", dict(failed=1, total=100, max_error_rate=0.0), 3, {"max_error_rate"}),
    ("no task ran", dict(failed=0, total=0, max_error_rate=None), 0, set()),
    ("threshold", dict(failed=0, total=100, max_error_rate=None, thresholds="fail"), 1,
     {"threshold"}),
    ("threshold and workload", dict(failed=9, total=100, max_error_rate=0.05,
                                    thresholds="fail"), 1, {"threshold", "max_error_rate"}),
    ("threshold passes", dict(failed=0, total=100, max_error_rate=None, thresholds="pass"), 0,
     set()),
    ("interrupted", dict(failed=0, total=40, max_error_rate=None, interrupted=True), 130,
     {"interrupted"}),
    ("aborted", dict(failed=3, total=40, max_error_rate=1.0, thresholds="abort"), 1,
     {"threshold", "abort_on_fail"}),
])
def test_a_gate_fails_exactly_when_it_makes_the_exit_code(case: str, kwargs: dict[str, Any],
                                                          code: int, failing: set[str]) -> None:
    aborted = None
    which = kwargs.pop("thresholds", None)
    thresholds: list[Any] = []
    if which in ("pass", "fail"):
        thresholds = threshold_results({"latency": [f"p(95) {'<' if which == 'pass' else '>'} "
                                                    "1s"]})
    elif which == "abort":
        [aborted] = threshold_results({"failed": ["< 3"]}, failed=3, done=40)
        thresholds = [aborted]
    verdict = batch_verdict(thresholds=thresholds, aborted=aborted,
                            **{"interrupted": False, **kwargs})
    assert int(verdict.exit_code) == code, case
    assert {g.kind.value for g in verdict.gates if not g.passed} == failing, case
    assert (code != 0) == any(not g.passed for g in verdict.gates)
    [rate] = [g for g in verdict.gates if g.kind.value == "max_error_rate"]  # always listed
    assert rate.label == f"max_error_rate: {(kwargs['max_error_rate'] or 0) * 100:g}%"
    for gate in verdict.gates:
        assert gate.observed_text in gate.message, gate  # the evidence is in the words


class _GatesTable(HTMLParser):
    """Rows of the HTML report's ``<table class="gates">`` and the verdict paragraph."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.verdict = ""
        self._where = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and "gates" in classes:
            self._where = "table"
        elif tag == "tr" and self._where == "table":
            self.rows.append([])
        elif tag == "td" and self._where == "table":
            self.rows[-1].append("")
        elif tag == "p" and "verdict" in classes:
            self._where = "verdict"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("table", "p"):
            self._where = ""

    def handle_data(self, data: str) -> None:
        if self._where == "table" and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data
        elif self._where == "verdict":
            self.verdict += data


def gates_in_every_format(result: BatchResult) -> dict[str, Any]:
    """(verdict, [(label, passed, observed)]) as each of the four report files shows it."""
    doc = json.loads(render_json(result))
    json_view = ((doc["verdict"]["exit_code"], doc["verdict"]["reason"]),
                 [(g["label"], g["passed"], g["observed_text"]) for g in doc["gates"]])
    root = ET.fromstring(render_junit(result))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    json_gates = {g["label"]: g for g in doc["gates"]}
    junit_rows = []
    for case in root.iter("testcase"):
        failure = case.find("failure")
        label = case.get("name", "")
        if failure is not None:  # a failed gate's message carries the observed value
            assert json_gates[label]["observed_text"] in failure.get("message", "")
        junit_rows.append((label, failure is None, json_gates[label]["observed_text"]))
    junit_view = ((int(props["exit_code"] or -1), props["exit_reason"]), junit_rows)
    markdown = render_markdown(result)
    heading, reason = markdown.split("\n\n")[:2]
    section = markdown.split("### Gates\n\n")[1].split("\n\n")[0].splitlines()[2:]
    cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in section]
    md_view = ((int(heading.rsplit("(exit ", 1)[1].rstrip(")")), reason),
               [(c[0].strip("`"), c[2] == "✅ pass", c[1]) for c in cells])
    page = _GatesTable()
    page.feed(render_html(result))
    code_text, html_reason = page.verdict.split("(exit ", 1)[1].split("): ", 1)
    html_view = ((int(code_text), html_reason),
                 [(r[0], r[3] == "PASS", r[1]) for r in page.rows if r])
    return {"json": json_view, "junit": junit_view, "markdown": md_view, "html": html_view}


def with_verdict(result: BatchResult, **kwargs: Any) -> BatchResult:
    verdict = batch_verdict(**{"interrupted": False, "thresholds": result.thresholds,
                               "failed": result.failed, "total": result.total,
                               "max_error_rate": None, **kwargs})
    return replace(result, exit_code=verdict.exit_code, exit_reason=verdict.reason,
                   gates=list(verdict.gates), interrupted=kwargs.get("interrupted", False))


@pytest.mark.parametrize(("variant", "code"), [
    ({"thresholds": [], "max_error_rate": 0.01}, 0),  # three failures tolerated
    ({"thresholds": []}, 3),
    ({}, 1),
    ({"interrupted": True}, 130),
])
def test_the_four_formats_carry_the_same_verdict_and_gates(variant: dict[str, Any],
                                                           code: int) -> None:
    base = make_result(failed_inputs=3)
    result = with_verdict(replace(base, thresholds=variant.get("thresholds", base.thresholds)),
                          **variant)
    views = gates_in_every_format(result)
    expected = ((code, result.exit_reason),
                [(g.label, g.passed, g.observed_text) for g in result.gates])
    assert views == dict.fromkeys(views, expected)
    assert any(not passed for _, passed, _ in expected[1]) == (code != 0)


# --- Markdown -------------------------------------------------------------------------

def test_markdown_has_the_tables() -> None:
    text = render_markdown(make_result())
    assert text.startswith("## ❌ agentperf run-batch `nightly\\|batch`: FAILED (exit 1)")
    for heading in ("### Summary", "### Latency", "### Gates", "### Health: ",
                    "### Failures", "### Cache", "### System", "### Context", "### Warnings",
                    "**Recommendations**"):
        assert heading in text
    assert "| `latency: max < 1s` | 1.5" in text and "❌ fail" in text and "✅ pass" in text
    assert "| tasks | min | mean | p50 | p90 | p95 | p99 | max |" in text
    assert "|  | memory | redis |" in text and "| hits | 30 | 10 |" in text
    assert "| hit rate | 7.5% | 2.7% |" in text
    assert "| skip reasons | TypeError: 2 |" in text
    assert "| timeouts |" in text and "| tail_latency |" in text


# --- HTML -----------------------------------------------------------------------------

class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_with_tables_and_histogram(tmp_path: Path) -> None:
    result = make_result()
    page = tmp_path / "report.html"
    page.write_text(render_html(result), encoding="utf-8")
    parser = _Collector()
    parser.feed(page.read_text(encoding="utf-8"))
    text = "".join(parser.text)
    assert parser.tags[0] == "html" and "svg" in parser.tags
    doc = html5lib.parse(page.read_text(encoding="utf-8"), namespaceHTMLElements=False)
    [histogram] = [f for f in doc.iter("figure") if f.get("data-kind") == "histogram"]
    [bars] = [g for g in histogram.iter("{http://www.w3.org/2000/svg}g")
              if g.get("class") == "series"]
    assert len(bars) == len(result.latency_buckets)
    # Self-contained: nothing fetched, the one script inline.
    assert not {"link", "img", "iframe", "object", "embed"} & set(parser.tags)
    assert all(not el.get("src") and not (el.get("href") or "").startswith("http")
               for el in doc.iter())
    for title in ("run-batch: nightly|batch", "Latency", "Latency histogram", "Gates",
                  "Health", "Failures by type", "Cache", "Recommendations"):
        assert title in text
    assert "p(95) < 500ms" in text and "FAIL" in text and "PASS" in text
    assert "p50" in text and "p99" in text


# --- terminal -------------------------------------------------------------------------

def test_console_view_and_quiet_view() -> None:
    console = Console(record=True, width=140, file=io.StringIO())
    render_batch(console, make_result())
    text = console.export_text()
    for part in ("run-batch: nightly|batch", "Latency", "Gates", "Health", "Cache",
                 "calls avoided", "System during the run", "FAILED (exit 1)", "input #7"):
        assert part in text
    assert "Latency histogram" not in text  # the terminal view is compact; HTML has it all
    assert_no_secrets(text)
    quiet = Console(record=True, width=140, file=io.StringIO())
    render_batch(quiet, make_result(), quiet=True)
    short = quiet.export_text()
    assert "FAILED (exit 1)" in short and "Gates" not in short


def quiet_variants() -> list[dict[str, Any]]:
    """Report documents whose summary has every optional row: load, rate limit, retries,
    chunks, results file, resume, an interrupted and an aborted verdict."""
    base = batch_document(make_result())
    open_load = {"model": "open", "target_rate": 50.0, "achieved_rate": 48.2, "started": 480,
                 "scheduled": 500, "dropped": 20, "max_in_flight": 64, "rate_limit": 40.0,
                 "rate_limit_shared": True, "limiter_waits": 12, "limiter_wait_s": 0.8,
                 "duration_s": 10.0, "iterations": None}
    retries = {"tasks_retried": 8, "retries": 12, "by_cause": {"Timeout": 2, "RateLimitError": 10},
               "wait_s": 14.2, "recovered": 7, "not_retried": 3}
    resume = {"rows_from_earlier_run": 300, "failed_rerun": 4, "anyway": True,
              "replaced_other_inputs": 2, "dropped_beyond_inputs": 0, "code_changed": True}
    return [
        base,
        {**base, "load": open_load, "tasks": {**base["tasks"], "retries": retries},
         "executor": {**base["executor"], "chunk_size": 8}, "output_path": "rows.jsonl",
         "resume": resume},
        {**base, "verdict": {**base["verdict"], "interrupted": True, "aborted": "p95 > 1s"}},
    ]


@pytest.mark.parametrize("index", range(3))
def test_the_plain_quiet_summary_says_what_the_terminal_table_says(index: int) -> None:
    """``-q`` to a pipe writes plain lines; they are the Rich view's lines, unpadded."""
    doc = quiet_variants()[index]
    console = Console(record=True, width=400, file=io.StringIO())
    render_batch(console, doc, quiet=True)
    rich_lines = [line.rstrip() for line in console.export_text().splitlines()]
    plain = plain_summary(doc)
    assert plain.splitlines() == rich_lines
    assert all(line == line.rstrip() for line in plain.splitlines())
    if index == 1:
        assert "20 dropped" in plain and "12 retries of 8 tasks" in plain
        assert any(line.split() == ["results", "file", "rows.jsonl"] for line in plain.splitlines())
    if index == 2:
        assert plain.splitlines()[-2:] == [
            f"INTERRUPTED (exit {doc['verdict']['exit_code']}): {doc['verdict']['reason']}",
            "stopped early: p95 > 1s"]


# --- redaction ------------------------------------------------------------------------

@pytest.mark.parametrize("render", [render_json, render_markdown, render_html],
                         ids=["json", "markdown", "html"])
def test_secrets_are_redacted_in_every_format(render: Any) -> None:
    text = render(make_result())
    assert_no_secrets(text)
    assert "gpt-4o" in text  # ordinary context stays readable
    assert "127.0.0.1:6379" in text  # the URL stays, only its password goes


def test_secrets_are_redacted_in_junit() -> None:
    text = render_junit(make_result())
    assert_no_secrets(text)
    assert "bad prompt for key ***" in text


def test_redaction_rules() -> None:
    for name in ("api_key", "OPENAI_API_KEY", "apiKey", "password", "db_password",
                 "auth_token", "secret", "client-secret", "Authorization"):
        assert is_secret_key(name), name
    for name in ("max_tokens", "key_fields", "model", "temperature", "keyboard", "author"):
        assert not is_secret_key(name), name
    redactor = Redactor.from_context({"nested": {"token": "abcd1234"}})
    assert redactor.text("echo abcd1234 done") == "echo *** done"
    assert redactor.text("https://h/x?api_key=zzz&page=2") == "https://h/x?api_key=***&page=2"
    assert redactor.text("Authorization: Bearer eyJhbGciOiJIUzI1") == "Authorization: Bearer ***"
    assert redactor.text("redis://:pw@h:1/0 and redis://h:1") == "redis://:***@h:1/0 and redis://h:1"
    assert redactor.value({"password": {"a": 1, "b": [2, None]}}) == \
        {"password": {"a": "***", "b": ["***", None]}}


def test_environment_secrets_are_scrubbed_and_paths_are_not() -> None:
    environ = {"OPENAI_API_KEY": "sk-env-0123456789", "GITHUB_TOKEN": "ghp_abcdefgh12345",
               "DB_PASSWORD": "short", "PWD": "/home/runner/work", "OLDPWD": "/home/runner",
               "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock", "MODEL_NAME": "gpt-4o-mini-2024"}
    assert sorted(environment_secrets(environ)) == ["ghp_abcdefgh12345", "sk-env-0123456789"]
    redactor = Redactor.from_context({"model": "m"}, environ=environ)
    text = "key sk-env-0123456789 in /home/runner/work with gpt-4o-mini-2024 short"
    assert redactor.text(text) == "key *** in /home/runner/work with gpt-4o-mini-2024 short"


def test_outputs_are_scrubbed_by_value_not_by_key_name() -> None:
    redactor = Redactor.from_context({"api_key": API_KEY}, environ={})
    output = {"answer": f"I used {API_KEY}", "token_count": 12, "auth_token_preview": "abc",
              "items": [f"x{API_KEY}", 3, None]}
    assert redactor.strings(output) == {"answer": "I used ***", "token_count": 12,
                                        "auth_token_preview": "abc", "items": ["x***", 3, None]}


def test_secrets_inside_settings_dataclasses_are_collected() -> None:
    @dataclass
    class Settings:
        redis_url: str
        password: str

    redactor = Redactor.from_context(Settings("redis://:urlpw1234@h:6379/0", "plainpw5678"),
                                     environ={})
    assert redactor.text("auth urlpw1234 then plainpw5678") == "auth *** then ***"


# --- files, opened before the run ------------------------------------------------------

def test_report_paths_are_checked_before_the_run_and_written_whole_after(tmp_path: Path
                                                                       ) -> None:
    paths = {"json": tmp_path / "reports" / "new" / "r.json", "markdown": tmp_path / "r.md",
             "junit": tmp_path / "r.xml", "html": tmp_path / "r.html"}
    with open_exporters(**paths, environ={}) as manager:
        # checked, nothing created: a run that fails now leaves no empty report behind
        assert list(tmp_path.iterdir()) == []
        written = manager.write(make_result())
    assert sorted(written) == sorted(paths.values())
    validate_report(json.loads(paths["json"].read_text()))
    ET.parse(paths["junit"])
    assert "### Gates" in paths["markdown"].read_text()
    assert "<svg" in paths["html"].read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.md", "r.xml", "reports"]


def test_a_report_write_that_fails_leaves_the_old_file_and_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("previous report\n")
    manager = open_exporters(json=target, environ={})

    def replace_fails(src: Any, dst: Any) -> None:  # the process dies before the rename
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", replace_fails)
    assert manager.write(make_result()) == []
    assert "No space left on device" in manager.warnings[0]
    assert target.read_text() == "previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_write_atomic_keeps_the_mode_of_a_plain_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "sub" / "atomic.txt"
    write_atomic(atomic, "y")
    assert atomic.read_text() == "y"
    assert atomic.stat().st_mode == plain.stat().st_mode


def test_bad_report_paths_fail_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    cases = [({"markdown": tmp_path / "file" / "sub" / "r.md"}, "--report-md",
              "file is not a directory"),
             ({"html": tmp_path}, "--report-html", "is a directory"),
             ({"json": tmp_path / "same", "junit": tmp_path / "same"}, "--junit-xml",
              "already used by --report-json")]
    for paths, option, message in cases:
        with pytest.raises(AgentperfError) as info:
            open_exporters(**paths, environ={})
        assert info.value.exit_code is ExitCode.USAGE
        assert option in info.value.message and message in info.value.message


def test_unopenable_file_fails_before_the_run(tmp_path: Path) -> None:
    target = tmp_path / ("r" * 300 + ".md")  # longer than any file system allows
    with pytest.raises(AgentperfError, match="cannot write") as info:
        open_exporters(markdown=target, environ={})
    assert info.value.exit_code is ExitCode.USAGE


def test_github_step_summary_is_appended(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    env = {STEP_SUMMARY_ENV: str(summary)}
    open_exporters(environ=env).write(make_result())
    open_exporters(markdown=tmp_path / "r.md", environ=env).write(make_result())
    text = summary.read_text()
    assert text.startswith("# earlier step\n")
    assert text.count("agentperf run-batch `nightly\\|batch`") == 2
    assert_no_secrets(text)
    open_exporters(environ=env, step_summary=False).write(make_result())
    assert summary.read_text() == text


def test_github_step_summary_taken_from_the_environment(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(summary))
    open_exporters().write(make_result())
    assert "### Health" in summary.read_text()


def test_unwritable_step_summary_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    manager = open_exporters(json=tmp_path / "r.json",
                             environ={STEP_SUMMARY_ENV: str(tmp_path / "no" / "summary.md")})
    assert manager.warnings and STEP_SUMMARY_ENV in manager.warnings[0]
    assert manager.write(make_result()) == [tmp_path / "r.json"]


def test_an_aborted_run_says_why_in_every_format() -> None:
    why = "threshold failed < 2 can no longer pass (observed 3 after 40 tasks)"
    result = replace(make_result(), aborted=why)
    assert json.loads(render_json(result))["verdict"]["aborted"] == why
    assert f"**Stopped early:** {why}" in render_markdown(result)
    assert "Stopped early: threshold failed &lt; 2" in render_html(result)
    console = Console(record=True, width=200, file=io.StringIO())
    render_batch(console, result, quiet=True)
    assert f"stopped early: {why}" in console.export_text()


# --- through the command line ----------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
AGENT = f'''
def work(x):
    if x == "bad":
        raise ValueError("rejected by the model, key {API_KEY}")
    return x
'''


def run_cli(tmp_path: Path, spec: str, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    (tmp_path / "h3_report_agent.py").write_text(AGENT)
    (tmp_path / "spec.yaml").write_text(spec)
    full_env = {k: v for k, v in os.environ.items() if k != STEP_SUMMARY_ENV}
    full_env.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run([sys.executable, "-m", "agentperf", "run-batch", "spec.yaml",
                           "--no-cache", "--sample-interval", "0", *args], cwd=tmp_path,
                          env=full_env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


SPEC = f"""
name: gated
agent: h3_report_agent:work
inputs: ["a", "bad", "b", "c"]
context: {{model: m1, api_key: {API_KEY}}}
max_error_rate: 0.5
thresholds:
  latency: ["p(95) < 10s"]
  error_rate: ["rate < 0.01"]
"""


def test_cli_gate_fails_with_every_report_and_the_job_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    proc = run_cli(tmp_path, SPEC, "-t", "throughput: > 0/s", "--report-json", "out/r.json",
                   "--report-md", "out/r.md", "--junit-xml", "out/r.xml", "--report-html",
                   "out/r.html", env={STEP_SUMMARY_ENV: str(summary)})
    assert proc.returncode == 1, proc.stderr
    assert "error_rate rate < 0.01 (observed 25.00%)" in proc.stdout
    out = tmp_path / "out"
    doc = json.loads((out / "r.json").read_text())
    validate_report(doc)
    assert [(t["metric"], t["passed"]) for t in doc["thresholds"]] == [
        ("latency", True), ("error_rate", False), ("throughput", True)]
    assert doc["verdict"]["exit_code"] == 1 and doc["tasks"]["failed"] == 1
    cases = ET.parse(out / "r.xml").getroot().iter("testcase")
    assert len(list(cases)) == 4  # three thresholds and the one failed input
    assert "### Gates" in (out / "r.md").read_text()
    assert "<svg" in (out / "r.html").read_text()
    assert summary.read_text() == (out / "r.md").read_text() + "\n"
    for text in [proc.stdout, summary.read_text()] + [p.read_text() for p in out.iterdir()]:
        assert API_KEY not in text


@pytest.mark.parametrize(("inputs", "code"), [
    ('["a", "b"]', 0),
    ('["a", "bad"]', 3),  # any failed input fails the run unless max_error_rate allows it
])
def test_cli_exit_codes_for_the_workload(tmp_path: Path, inputs: str, code: int) -> None:
    proc = run_cli(tmp_path, f"agent: h3_report_agent:work\ninputs: {inputs}\n", "-q")
    assert proc.returncode == code, proc.stderr


def test_cli_bad_report_path_fails_before_the_run(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    proc = run_cli(tmp_path, SPEC, "--junit-xml", "afile/r.xml")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --junit-xml afile/r.xml: afile is not a directory"]
