"""The Markdown report: GitHub-flavoured tables, also appended to $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentperf.measure.units import format_duration
from agentperf.report.batch_summary import as_document, load_rows
from agentperf.report.serialize import format_field, nested_tables, scalar_rows
from agentperf.report.usage_view import (
    STREAM_STATS,
    TOKEN_STATS,
    streaming_note,
    streaming_rows,
    token_rows,
    usage_rows,
)

#: Failed inputs listed one by one; the rest are counted (job summaries are capped at 1 MiB).
MAX_FAILED_INPUTS = 20


def render_markdown(result: Any) -> str:
    doc = as_document(result)
    sections = [
        _heading(doc), _warnings(doc), _summary(doc), _latency(doc), _usage(doc),
        _streaming(doc), _gates(doc), _health(doc),
        _failures(doc), _generic("Cache", doc.get("cache")), _generic("System", doc.get("system")),
        _context(doc),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def cell(value: Any) -> str:
    """Table-safe text: pipes escaped, newlines folded, long text cut."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= 300 else text[:297] + "..."


def table(head: Sequence[str], rows: Sequence[Sequence[Any]], *,
          right: Sequence[int] = ()) -> str:
    align = ["---:" if i in right else "---" for i in range(len(head))]
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _heading(doc: Mapping[str, Any]) -> str:
    verdict = doc["verdict"]
    word = "passed" if verdict["passed"] else "FAILED"
    if verdict["interrupted"]:
        word = "interrupted"
    icon = "✅" if verdict["passed"] else "❌"
    text = (f"## {icon} agentperf run-batch `{cell(doc['name'])}`: {word} "
            f"(exit {verdict['exit_code']})\n\n{cell(verdict['reason'])}")
    if verdict["aborted"]:
        text += f"\n\n**Stopped early:** {cell(verdict['aborted'])}"
    return text


def _summary(doc: Mapping[str, Any]) -> str:
    tasks, executor, health = doc["tasks"], doc["executor"], doc["health"]
    rows = [
        ("tasks", f"{tasks['total']:,} ({tasks['succeeded']:,} ok, {tasks['failed']:,} failed, "
                  f"{tasks['timed_out']:,} timed out)"),
        ("error rate", f"{tasks['error_rate']:.2%}"),
        ("wall time", format_field("wall_s", tasks["wall_s"])),
        ("throughput", format_field("throughput_per_s", tasks["throughput_per_s"])),
        ("executor", f"{executor['mode']}, {executor['workers']} workers"),
        ("health", f"{health['score']:g}/100 ({health['status']})"),
        ("spec", doc.get("source") or "-"),
    ]
    rows[1:1] = [(name, str(value)) for name, value in load_rows(doc.get("load"))]
    return "### Summary\n\n" + table(["", "value"], rows)


def _latency(doc: Mapping[str, Any]) -> str:
    latency = doc["latency"]
    if not latency["count"]:
        note = doc["tasks"].get("measurement_note")
        return f"### Latency\n\n{cell(note)}" if note else ""
    names = ("min", "mean", "p50", "p90", "p95", "p99", "max")
    row = [f"{latency['count']:,}", *(format_duration(latency[f"{n}_s"]) for n in names)]
    return "### Latency\n\n" + table(["tasks", *names], [row], right=range(len(names) + 1))


def _usage(doc: Mapping[str, Any]) -> str:
    usage = doc.get("usage")
    if not usage:
        return ""
    text = "### Usage\n\n" + table(["", "value"], usage_rows(usage))
    rows = token_rows(usage)
    if rows:
        text += "\n\n" + table(["tokens per task", *TOKEN_STATS], rows, right=range(1, 6))
    return text


def _streaming(doc: Mapping[str, Any]) -> str:
    streaming = doc.get("streaming")
    if not streaming:
        return ""
    return (f"### Streaming\n\n{cell(streaming_note(streaming))}\n\n"
            + table(["", "n", *STREAM_STATS], streaming_rows(streaming), right=range(1, 7)))


def _gates(doc: Mapping[str, Any]) -> str:
    """Every gate behind the exit code, the same list the JSON and JUnit reports carry."""
    if not doc["gates"]:
        return ""
    rows = [(f"`{g['label']}`", g["observed_text"], "✅ pass" if g["passed"] else "❌ fail",
             g["message"]) for g in doc["gates"]]
    return "### Gates\n\n" + table(["gate", "observed", "result", "detail"], rows, right=(1,))


def _health(doc: Mapping[str, Any]) -> str:
    health = doc["health"]
    text = f"### Health: {health['score']:g}/100 ({health['status']})"
    if not health["findings"]:
        return text + "\n\nNo rule fired."
    rows = [(f["rule"], f["value_text"], f["limit_text"], f"-{f['points']:g}", f["message"])
            for f in health["findings"]]
    text += "\n\n" + table(["rule", "measured", "limit", "points", "finding"], rows,
                           right=(1, 2, 3))
    advice = "\n".join(f"{i}. {cell(r)}" for i, r in enumerate(health["recommendations"], 1))
    return f"{text}\n\n**Recommendations**\n\n{advice}"


def _failures(doc: Mapping[str, Any]) -> str:
    if not doc["failures"]:
        return ""
    text = "### Failures\n\n" + table(
        ["type", "count", "example"],
        [(g["type"], f"{g['count']:,}", g["example"]) for g in doc["failures"]], right=(1,))
    listed = doc["failed_inputs"][:MAX_FAILED_INPUTS]
    if listed:
        text += "\n\n" + table(["input", "error", "message"],
                               [(f"#{i['index']}", i["error_type"], i["message"]) for i in listed])
        more = doc["tasks"]["failed"] - len(listed)
        if more > 0:
            text += (f"\n\n{more:,} more failed input{'s are' if more > 1 else ' is'} in "
                     "the results file.")
    return text


def _generic(title: str, data: Mapping[str, Any] | None) -> str:
    if not data:
        return ""
    parts = [f"### {title}"]
    rows = scalar_rows(data)
    if rows:
        parts.append(table(["", "value"], rows))
    for sub_title, head, sub_rows in nested_tables(data):
        parts.append(f"**{sub_title}**\n\n" + table(head, sub_rows,
                                                     right=range(1, len(head))))
    return "\n\n".join(parts)


def _context(doc: Mapping[str, Any]) -> str:
    context = doc.get("context") or {}
    if not context:
        return ""
    return "### Context\n\n" + table(["key", "value"], [(k, v) for k, v in context.items()])


def _warnings(doc: Mapping[str, Any]) -> str:
    if not doc["warnings"]:
        return ""
    return "### Warnings\n\n" + "\n".join(f"- {cell(w)}" for w in doc["warnings"])
