"""The run-batch summary and verdict in words, with no Rich.

The terminal's summary table (:mod:`agentperf.report.batch_console`) and the plain lines
``run-batch -q`` writes to a pipe or a file take their rows from here, so they say the
same thing; the Markdown report takes its load rows. Importing no Rich keeps that quiet
run, the usual CI step, from paying for it (~25 ms a run, ``benchmarks/executor.py
--startup``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from agentperf.measure.units import format_duration
from agentperf.report.json_report import batch_document
from agentperf.report.serialize import format_field

Doc = Mapping[str, Any]


class VerdictLine(NamedTuple):
    """The verdict's word, the style a terminal shows it in, and the rest of the line."""

    word: str
    style: str
    detail: str
    aborted: str | None


def as_document(result: Any) -> Doc:
    return result if isinstance(result, Mapping) else batch_document(result)


def summary_title(doc: Doc) -> str:
    return f"run-batch: {doc['name']}"


def verdict_line(doc: Doc) -> VerdictLine:
    result = doc["verdict"]
    word, style = ("PASSED", "bold green") if result["passed"] else ("FAILED", "bold red")
    if result["interrupted"]:
        word, style = "INTERRUPTED", "bold yellow"
    return VerdictLine(word, style, f" (exit {result['exit_code']}): {result['reason']}",
                       result["aborted"] or None)


def plain_summary(doc: Doc) -> str:
    """The quiet summary as plain lines: the rows the terminal's table shows, laid out as
    it lays them out, but never wrapped at 80 columns nor padded with spaces."""
    rows = summary_rows(doc)
    width = max(len(name) for name, _ in rows)
    line = verdict_line(doc)
    lines = [summary_title(doc), "", *(f"  {name:<{width}}   {value}" for name, value in rows),
             "", line.word + line.detail]
    if line.aborted:
        lines.append(f"stopped early: {line.aborted}")
    return "\n".join(lines)


def summary_rows(doc: Doc) -> list[tuple[str, str]]:
    """The summary's rows, name and value, in the order every view shows them."""
    tasks, executor = doc["tasks"], doc["executor"]
    workers = executor["workers"]
    mode = (f"{executor['mode']}, {workers} worker{'s' if workers != 1 else ''}, "
            f"max {executor['max_in_flight']} in flight")
    if executor.get("chunk_size", 1) > 1:
        mode += f", chunks of {executor['chunk_size']}"
    rows = [
        ("spec", doc.get("source") or "-"),
        ("executor", mode + (f" ({executor['reason']})" if executor.get("reason") else "")),
        ("tasks", f"{tasks['total']:,} total, {tasks['succeeded']:,} succeeded, "
                  f"{tasks['failed']:,} failed, {tasks['timed_out']:,} timed out"
                  + _reran_note(tasks.get("reran_after_worker_loss", 0))),
        ("agent calls", _calls_text(tasks)),
        ("error rate", f"{tasks['error_rate']:.2%}"),
        ("wall time", format_field("wall_s", tasks["wall_s"])),
        ("throughput", format_field("throughput_per_s", tasks["throughput_per_s"])),
        ("task CPU time", format_field("cpu_time_s", tasks["cpu_time_s"])),
        ("started", doc["started_at"]),
    ]
    if (retry_text := _retries_text(tasks.get("retries"))) is not None:
        rows.insert(4, ("retries", retry_text))
    rows[2:2] = load_rows(doc.get("load"))
    if executor.get("memory"):
        memory = executor["memory"]
        rows.append(("memory", memory["note"].removeprefix("memory: ")
                     + ("" if memory["applied"] else " (estimate only)")))
    per_worker = (executor.get("extra") or {}).get("tasks_per_worker")
    if per_worker:
        rows.append(("tasks per worker", ", ".join(f"{name} {count:,}" for name, count
                                                   in sorted(per_worker.items()))))
    if doc.get("output_path"):
        rows.append(("results file", doc["output_path"]))
    if doc.get("resume"):
        rows.append(("resumed", _resume_text(doc["resume"])))
    return [(name, str(value)) for name, value in rows]


def load_rows(load: Doc | None) -> list[tuple[str, str]]:
    """The ``load`` section as summary rows; none for a plain closed run."""
    if not load or not _shaped(load):
        return []
    rows: list[tuple[str, str]] = []
    achieved = _rate(load["achieved_rate"])
    if load["model"] == "open":
        rows.append(("load", f"open model: target {_rate(load['target_rate'])}, achieved "
                             f"{achieved}; {load['started']:,} started of "
                             f"{load['scheduled']:,} scheduled, {load['dropped']:,} dropped "
                             f"(max {load['max_in_flight']:,} in flight); latency counts "
                             "from each scheduled start"))
    else:
        bound = _bound(load)
        rows.append(("load", f"closed model{bound}: {load['started']:,} started, "
                             f"achieved {achieved}"))
    if load["rate_limit"] is not None:
        where = "shared in Redis by every worker" if load["rate_limit_shared"] else "this run"
        rows.append(("rate limit", f"{_rate(load['rate_limit'])} ({where}): "
                                   f"{load['limiter_waits']:,} starts held back, "
                                   f"{format_duration(load['limiter_wait_s'])} waited in all"))
    return rows


def _shaped(load: Doc) -> bool:
    return (load["model"] == "open" or load["rate_limit"] is not None
            or load["duration_s"] is not None or load["iterations"] is not None)


def _bound(load: Doc) -> str:
    if load["iterations"] is not None:
        return f", {load['iterations']:,} iterations"
    if load["duration_s"] is not None:
        return f", for {format_duration(load['duration_s'])}"
    return ""


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}/s"


def _resume_text(resume: Doc) -> str:
    """How much of the batch an earlier run did (``--resume``), and what was overridden."""
    text = (f"{resume['rows_from_earlier_run']:,} rows from the earlier run kept; "
            f"{resume['failed_rerun']:,} failed inputs run again; totals cover the whole "
            "batch, throughput this run")
    if resume.get("anyway"):
        changes = [f"{resume[key]:,} {label}" for key, label in (
            ("replaced_other_inputs", "rows of other inputs run again"),
            ("dropped_beyond_inputs", "rows past the last input dropped")) if resume.get(key)]
        if resume.get("code_changed"):
            changes.append("kept rows were written by other agent code")
        text += " (--resume-anyway" + (": " + "; ".join(changes) if changes else "") + ")"
    return text


def _reran_note(count: int) -> str:
    """Say when the agent may have been called twice for some inputs (a paid API bills it)."""
    if not count:
        return ""
    return (f"; {count:,} re-run after a worker process was lost "
            "(the agent may have been called twice for each)")


def _retries_text(retries: Doc | None) -> str | None:
    """``12 retries of 8 tasks (RateLimitError (HTTP 429) 10, Timeout 2), 14.20s waiting,
    7 recovered; 3 failures not retried (not in retry_on)``; None when nothing to say."""
    if not retries or not (retries["tasks_retried"] or retries["not_retried"]):
        return None
    parts: list[str] = []
    if retries["tasks_retried"]:
        causes = ", ".join(f"{cause} {count:,}" for cause, count in sorted(
            retries["by_cause"].items(), key=lambda item: -item[1]))
        parts.append(f"{retries['retries']:,} retries of {retries['tasks_retried']:,} tasks "
                     f"({causes}), {format_field('wait_s', retries['wait_s'])} waiting, "
                     f"{retries['recovered']:,} recovered")
    if retries["not_retried"]:
        parts.append(f"{retries['not_retried']:,} failures not retried (not in retry_on)")
    return "; ".join(parts)


def _calls_text(tasks: Doc) -> str:
    calls = tasks.get("agent_calls", tasks["total"])
    note = tasks.get("measurement_note")
    return note if note else f"{calls:,} of {tasks['total']:,} tasks called the agent"
