"""The run-batch report document: one redacted, versioned dict every format renders.

``batch_document(result)`` is the JSON report (``--report-json``) and the input of the
Markdown, JUnit, HTML and terminal renderers, so they cannot disagree or leak a secret
one of them forgot to mask. Its shape is ``agentperf/schemas/batch-report.schema.json``;
``SCHEMA_VERSION`` changes major on any breaking change to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentperf.analysis.thresholds import MetricKind, format_value
from agentperf.errors import ExitCode
from agentperf.measure.tally import RetrySummary
from agentperf.redact import Redactor
from agentperf.report.serialize import format_measure, to_jsonable
from agentperf.report.usage_view import streaming_document, usage_document

SCHEMA_VERSION = "1.2"
SCHEMA_FILE = "batch-report.schema.json"
_LATENCY_FIELDS = ("count", "min", "mean", "p50", "p90", "p95", "p99", "max")


def schema_text() -> str:
    """The JSON Schema shipped in the package (agentperf/schemas/batch-report.schema.json)."""
    from importlib import resources  # here: only validation reads the schema

    return resources.files("agentperf").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")


def load_schema() -> dict[str, Any]:
    return json.loads(schema_text())


def render_json(result: Any) -> str:
    """The JSON report of a BatchResult (or of its already built document)."""
    doc = result if isinstance(result, Mapping) else batch_document(result)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def batch_document(result: Any) -> dict[str, Any]:
    """The report of a :class:`~agentperf.pipeline.results.BatchResult`, secrets masked."""
    redactor = Redactor.from_context(result.context, result.cache, result.system)

    def clean(obj: Any) -> Any:
        return to_jsonable(obj, redactor)

    code = ExitCode(int(result.exit_code))
    total = result.total
    machine = run_warnings(result.health, clean)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "run-batch",
        "tool": {"name": "agentperf", "version": result.agentperf_version},
        "name": clean(result.name),
        "source": clean(result.source),
        "started_at": result.started_at,
        "verdict": {
            "exit_code": int(code), "status": code.name.lower(), "passed": code is ExitCode.OK,
            "reason": clean(result.exit_reason), "interrupted": bool(result.interrupted),
            "aborted": clean(result.aborted),
        },
        "executor": clean(result.executor),
        "tasks": {
            "total": total, "succeeded": result.succeeded, "failed": result.failed,
            "timed_out": result.timed_out,
            "error_rate": result.failed / total if total else 0.0,
            "wall_s": clean(float(result.wall_s)),
            "throughput_per_s": clean(float(result.throughput_per_s)),
            "cpu_time_s": clean(result.cpu_time_s),
            "agent_calls": total if result.agent_calls is None else int(result.agent_calls),
            "measurement_note": clean(result.measurement_note),
            "reran_after_worker_loss": int(getattr(result, "reran_after_worker_loss", 0)),
            "retries": clean(getattr(result, "retries", None) or RetrySummary()),
        },
        "latency": _latency(result.latency),
        "service_time": _latency(result.service_time or result.latency),
        "served_latency": _latency(result.served_latency or result.latency),
        "load": _section(getattr(result, "load", None), clean),
        "latency_histogram": [{"low_s": low, "high_s": high, "count": int(count)}
                              for low, high, count in result.latency_buckets],
        "failures": clean(result.failures),
        "failed_inputs": clean(list(getattr(result, "failed_inputs", None) or [])),
        "thresholds": [_threshold(t, clean) for t in result.thresholds],
        "gates": [clean(g) for g in result.gates],
        "health": _health(result.health, clean),
        "cache": _section(result.cache, clean),
        "system": _section(result.system, clean),
        "context": clean(result.context),
        "warnings": [w["message"] for w in machine] + [clean(str(w)) for w in result.warnings],
        "run_warnings": machine,
        "output_path": clean(result.output_path),
        "timeline": _timeline(getattr(result, "timeline", None)),
        "resume": _section(getattr(result, "resumed", None), clean),
        "usage": usage_document(getattr(result, "usage", None), clean),
        "streaming": streaming_document(getattr(result, "streaming", None)),
    }


def _timeline(timeline: Any) -> dict[str, Any] | None:
    """Per-interval aggregates (schema 1.2), or None for a result built without them."""
    return timeline.to_dict() if timeline is not None else None


def _latency(summary: Any) -> dict[str, Any]:
    """A latency summary; with no sample every statistic is null, never 0."""
    count = int(getattr(summary, "count", 0))
    data: dict[str, Any] = {"count": count}
    for name in _LATENCY_FIELDS[1:]:
        data[f"{name}_s"] = float(getattr(summary, name)) if count else None
    return data


def _threshold(item: Any, clean: Any) -> dict[str, Any]:
    data = clean(item)
    kind = MetricKind(data.get("kind", MetricKind.SCORE.value))
    data["observed_text"] = format_value(kind, data.get("observed"))
    data["limit_text"] = format_value(kind, data.get("limit"))
    return data


def _health(report: Any, clean: Any) -> dict[str, Any]:
    findings = []
    for finding in report.findings:
        data = clean(finding)
        unit = data.get("unit", "")
        data["value_text"] = format_measure(data.get("value"), unit)
        data["limit_text"] = format_measure(data.get("limit"), unit)
        findings.append(data)
    return {"score": float(report.score), "status": report.status, "findings": findings,
            "recommendations": [f["recommendation"] for f in findings]}


def run_warnings(report: Any, clean: Any = to_jsonable) -> list[dict[str, Any]]:
    """The machine's run warnings of a HealthReport: code, message and evidence figures."""
    return [clean(w) for w in getattr(report, "warnings", ())]


def _section(obj: Any, clean: Any) -> dict[str, Any] | None:
    """Cache stats or a sampler summary: any dataclass or mapping, as an object."""
    if obj is None:
        return None
    data = clean(obj)
    return data if isinstance(data, dict) else {"value": data}
