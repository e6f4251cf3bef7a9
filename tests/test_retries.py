"""Retries that respect the provider: retry_on, jittered backoff, Retry-After, reporting.

One rule (``Retrier`` in execution/attempts.py) decides for every backend, so the
backends are covered cheaply (one short run each) and the rule itself in unit tests.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import agents_for_tests
import httpx
import pytest
from test_run_batch import agentperf, read_results, write_spec

from agentperf.execution import create_executor
from agentperf.execution.attempts import Retrier, Retry, RetryPolicy
from agentperf.execution.base import Task, TaskError, TaskResult
from agentperf.execution.settings import ExecutionSettings
from agentperf.workload.adapters import AgentRef

TESTS = Path(__file__).resolve().parent


def ref(name: str) -> AgentRef:
    return AgentRef(f"agents_for_tests:{name}", search_paths=(str(TESTS),))


def run(name: str, inputs: list[Any], **settings: Any) -> dict[int, TaskResult]:
    with create_executor(ref(name), ExecutionSettings(**settings)) as executor:
        results = list(executor.run(Task(i, value) for i, value in enumerate(inputs)))
    assert len(results) == len(inputs)
    return {r.index: r for r in results}


def calls(directory: Path, n: int) -> int:
    log = directory / f"calls-{n}"
    return len(log.read_text()) if log.exists() else 0


def error_of(exc: BaseException) -> TaskError:
    try:
        raise exc
    except BaseException as raised:
        return TaskError.from_exception(raised)


# --- what an exception says --------------------------------------------------------------

def test_provider_errors_carry_status_and_retry_after() -> None:
    fake = error_of(agents_for_tests.FakeRateLimitError("slow down", retry_after="1"))
    assert (fake.status, fake.retry_after_s) == (429, 1.0)
    assert fake.kinds[0] == "FakeRateLimitError" and fake.label == "FakeRateLimitError (HTTP 429)"

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat")
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    response = httpx.Response(503, headers={"Retry-After": when}, request=request)
    real = error_of(httpx.HTTPStatusError("unavailable", request=request, response=response))
    assert real.status == 503 and real.retry_after_s is not None
    assert 25 <= real.retry_after_s <= 31  # an HTTP-date, as seconds from now
    millis = httpx.Response(429, headers={"retry-after-ms": "250"}, request=request)
    assert error_of(httpx.HTTPStatusError("x", request=request,
                                          response=millis)).retry_after_s == 0.25

    class Throttled(Exception):
        retry_after = 2

    assert error_of(Throttled()).retry_after_s == 2.0
    plain = error_of(ValueError("no"))
    assert (plain.status, plain.retry_after_s, plain.kinds) == (None, None, ("ValueError",))


# --- the rule ----------------------------------------------------------------------------

@pytest.mark.parametrize(("retry_on", "exc", "retried"), [
    (None, ConnectionResetError(), True),  # a ConnectionError subclass
    (None, TimeoutError(), True),
    (None, httpx.ReadTimeout("slow"), True),  # httpx.TimeoutException
    (None, httpx.ConnectError("refused"), True),  # httpx.NetworkError
    (None, agents_for_tests.FakeRateLimitError("x"), True),  # HTTP 429
    (None, httpx.HTTPStatusError("x", request=httpx.Request("GET", "http://127.0.0.1"),
                                 response=httpx.Response(502)), True),
    (None, httpx.HTTPStatusError("x", request=httpx.Request("GET", "http://127.0.0.1"),
                                 response=httpx.Response(404)), False),
    (None, ValueError("bad input"), False),
    (["ValueError"], ValueError(), True),
    (["ValueError"], ConnectionError(), False),  # an explicit list replaces the default
    (["default", "ValueError"], ConnectionError(), True),
    (["httpx.HTTPError"], httpx.ReadTimeout("slow"), True),  # a base class, dotted
    (["*"], KeyError("k"), True),
])
def test_retry_on_decides_which_errors_are_retried(retry_on: list[str] | None,
                                                   exc: BaseException, retried: bool) -> None:
    policy = RetryPolicy.from_settings(ExecutionSettings(retries=1, retry_on=retry_on))
    assert policy.should_retry(1, error_of(exc)) is retried
    assert not policy.should_retry(2, error_of(exc))  # no tries left


def test_exponential_backoff_draws_full_jitter_below_the_cap() -> None:
    settings = ExecutionSettings(retries=20, backoff="exponential", backoff_s=0.1,
                                 max_backoff_s=1.0)
    policy = RetryPolicy.from_settings(settings, rng=random.Random(7))
    delays = [[policy.delay(attempt) for _ in range(200)] for attempt in (1, 3, 8)]
    for cap, drawn in zip((0.1, 0.4, 1.0), delays, strict=True):
        assert all(0.0 <= d <= cap for d in drawn)
        assert max(drawn) > 0.8 * cap and min(drawn) < 0.2 * cap  # spread over [0, cap]
    again = RetryPolicy.from_settings(settings, rng=random.Random(7))
    assert [again.delay(1) for _ in range(200)] == delays[0]  # seeded: reproducible
    doubling = RetryPolicy.from_settings(ExecutionSettings(retries=9, backoff_s=0.1))
    assert [doubling.delay(a) for a in (1, 2, 3, 9)] == [0.1, 0.2, 0.4, 5.0]  # the default


def test_retry_after_sets_the_least_wait_and_the_record_says_why() -> None:
    now = [100.0]
    retrier = Retrier(RetryPolicy(retries=2, backoff_s=0.01), clock=lambda: now[0])
    task = Task(0, "x")
    error = TaskError("RateLimitError", "slow down", status=429, retry_after_s=3.0)
    step = retrier.step(task, TaskResult(0, False, None, error, 0.5, attempts=1))
    assert isinstance(step, Retry) and step.attempt == 2
    assert step.delay_s == 3.0 and step.at == 103.0  # Retry-After beats the 0.01 s backoff
    now[0] = 103.6
    final = retrier.step(task, TaskResult(0, True, "ok", None, 0.5, attempts=2))
    assert isinstance(final, TaskResult) and final.retry is not None
    assert final.retry.causes == ("RateLimitError (HTTP 429)",) and final.retry.wait_s == 3.0
    assert final.latency_s == pytest.approx(4.1) and final.service_s == 0.5


# --- every backend -----------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["threads", "processes", "sequential", "asyncio"])
def test_a_429_with_retry_after_1_delays_the_retry_at_least_1_s(mode: str,
                                                                tmp_path: Path) -> None:
    inputs = [{"n": n, "dir": str(tmp_path), "retry_after": "1"} for n in range(2)]
    results = run("rate_limited_once", inputs, mode=mode, workers=2, retries=2,
                  backoff_s=0.01)
    for n, result in results.items():
        assert result.ok and result.output == n and result.attempts == 2, result
        assert result.retry is not None and result.retry.wait_s >= 1.0
        assert result.retry.causes == ("FakeRateLimitError (HTTP 429)",)
        assert result.latency_s >= 1.0  # the first try's start to the end, wait included
        assert calls(tmp_path, n) == 2


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_retry_on_filters_in_every_backend(mode: str, tmp_path: Path) -> None:
    inputs = [{"n": 0, "dir": str(tmp_path), "error": "ValueError"},
              {"n": 1, "dir": str(tmp_path), "error": "ConnectionError"}]
    results = run("raise_named", inputs, mode=mode, workers=2, retries=2, backoff_s=0.01)
    assert calls(tmp_path, 0) == 1 and results[0].attempts == 1  # not a retryable error
    assert results[0].retry is not None and results[0].retry.not_retried
    assert calls(tmp_path, 1) == 3 and results[1].attempts == 3
    assert results[1].retry is not None and results[1].retry.causes == ("ConnectionError",) * 2

    results = run("raise_named", [{**inputs[0], "n": 2}], mode=mode, workers=1, retries=1,
                  backoff_s=0.01, retry_on=["ValueError"])
    assert calls(tmp_path, 2) == 2 and results[0].attempts == 2


# --- spec, results file and summary --------------------------------------------------------

def test_retries_show_in_the_results_file_the_report_and_the_console(tmp_path: Path) -> None:
    from report_schema import validate_report

    work = tmp_path / "work"
    work.mkdir()
    spec = write_spec(tmp_path, f"""\
        agent: agents_for_tests:rate_limited_once
        inputs:
          - {{n: 0, dir: "{work}", retry_after: "0.2"}}
          - {{n: 1, dir: "{work}", retry_after: "0.2"}}
        execution:
          mode: threads
          workers: 2
          retries: 2
          backoff: exponential
          backoff_s: 0.01
          retry_on: [default]
        """)
    (work / "calls-1").write_text(".")  # input 1 is not rate limited: it was called before
    out, report = tmp_path / "results.jsonl", tmp_path / "r.json"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "--report-json", str(report),
                     env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    rows = {row["index"]: row for row in read_results(out)}
    assert rows[0]["attempts"] == 2 and rows[0]["retry_causes"] == ["FakeRateLimitError (HTTP 429)"]
    assert rows[0]["retry_wait_s"] >= 0.2 and rows[0]["latency_s"] >= 0.2
    assert "retry_causes" not in rows[1] and rows[1]["attempts"] == 1
    doc = json.loads(report.read_text())
    validate_report(doc)
    retries = doc["tasks"]["retries"]
    assert retries["tasks_retried"] == 1 and retries["retries"] == 1 and retries["recovered"] == 1
    assert retries["by_cause"] == {"FakeRateLimitError (HTTP 429)": 1}
    assert retries["wait_s"] >= 0.2
    assert "1 retries of 1 tasks (FakeRateLimitError (HTTP 429) 1)" in proc.stdout


def test_failures_not_retried_and_the_final_cause_are_reported(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    spec = write_spec(tmp_path, f"""\
        agent: agents_for_tests:raise_named
        inputs: [{{n: 0, dir: "{work}", error: ValueError}}]
        execution: {{mode: sequential, retries: 3, backoff_s: 0.01}}
        """)
    out = tmp_path / "results.jsonl"
    proc = agentperf("run-batch", str(spec), "-o", str(out), "--json")
    [row] = read_results(out)
    assert row["attempts"] == 1 and row["not_retried"] is True
    assert row["error"]["type"] == "ValueError"  # the final cause
    summary = json.loads(proc.stdout)
    assert summary["tasks"]["retries"]["not_retried"] == 1
    assert summary["tasks"]["retries"]["tasks_retried"] == 0
    assert calls(work, 0) == 1


def test_the_retry_keys_load_from_a_spec(tmp_path: Path) -> None:
    from agentperf.workload.spec import load_workload

    spec = write_spec(tmp_path, """\
        agent: agents_for_tests:noop
        execution: {retries: 3, backoff: exponential, max_backoff_s: 30,
                    retry_on: [default, openai.BadRequestError]}
        """)
    execution = load_workload(str(spec)).execution
    policy = RetryPolicy.from_settings(execution)
    assert policy.retry_on == frozenset({"default", "BadRequestError"})
    assert (policy.backoff, policy.max_backoff_s, policy.retries) == ("exponential", 30, 3)
