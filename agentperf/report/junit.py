"""The JUnit XML report: one testcase per gate, failing exactly when that gate failed.

The shape CI systems (GitHub test reporters, GitLab, Jenkins) read: ``<testsuites>``
holding a suite of ``<testcase classname name time>`` with ``<failure>`` children. A CI
system turns any ``<failure>`` into a red or unstable build, so the file has one only
where the verdict failed: each threshold, ``max_error_rate``, an ``abort_on_fail`` abort,
an interruption. Failed tasks that ``max_error_rate`` tolerates are data, listed in that
gate's ``<system-out>``, never a failure of their own.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from agentperf.report.batch_summary import as_document

#: Failed inputs listed in the max_error_rate testcase's output; the results file has all.
MAX_FAILED_INPUTS = 1000
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FAILURE_TYPE = {"threshold": "ThresholdFailed", "max_error_rate": "ErrorRateExceeded",
                 "abort_on_fail": "RunAborted", "interrupted": "RunInterrupted"}


def _x(value: Any) -> str:
    """Text XML 1.0 can carry: an agent's error message may hold control characters."""
    return _NOT_XML.sub("?", str(value))


def render_junit(result: Any) -> str:
    doc = as_document(result)
    gates = doc["gates"]
    failures = sum(1 for g in gates if not g["passed"])
    counts = {"tests": str(len(gates)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", name="agentperf", **counts, **_time(doc))
    suite = ET.SubElement(root, "testsuite", name=f"agentperf.run-batch.{_x(doc['name'])}",
                          timestamp=doc["started_at"], **counts, skipped="0", **_time(doc))
    _properties(suite, doc)
    for gate in gates:
        _testcase(suite, doc, gate)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _time(doc: Mapping[str, Any]) -> dict[str, str]:
    """Every gate is decided by the whole run, so each takes the run's wall time."""
    wall = doc["tasks"]["wall_s"]
    return {} if wall is None else {"time": f"{wall:.6f}"}


def _properties(suite: ET.Element, doc: Mapping[str, Any]) -> None:
    tasks = doc["tasks"]
    props = ET.SubElement(suite, "properties")
    for key, value in (("exit_code", doc["verdict"]["exit_code"]),
                       ("exit_reason", doc["verdict"]["reason"]),
                       ("tasks_total", tasks["total"]),
                       ("tasks_failed", tasks["failed"]),
                       ("health_score", doc["health"]["score"]),
                       ("agentperf_version", doc["tool"]["version"]),
                       *usage_properties(doc)):
        ET.SubElement(props, "property", name=key, value=_x(value))


def _testcase(suite: ET.Element, doc: Mapping[str, Any], gate: Mapping[str, Any]) -> None:
    classname = f"agentperf.run-batch.{_x(doc['name'])}.{gate['kind']}"
    case = ET.SubElement(suite, "testcase", classname=classname, name=_x(gate["label"]),
                         **_time(doc))
    if not gate["passed"]:
        failure = ET.SubElement(case, "failure", message=_x(gate["message"]),
                                type=_FAILURE_TYPE.get(gate["kind"], "GateFailed"))
        failure.text = _x(f"{gate['label']}: {gate['message']}")
    if gate["kind"] == "max_error_rate" and doc["tasks"]["failed"]:
        ET.SubElement(case, "system-out").text = _x(_failed_tasks(doc))


def _failed_tasks(doc: Mapping[str, Any]) -> str:
    """The failed tasks in words: groups by type, then the first inputs one per line."""
    lines = [f"{doc['tasks']['failed']:,} of {doc['tasks']['total']:,} tasks failed"]
    lines += [f"{g['type']} x{g['count']:,}: {g['example']}" for g in doc["failures"]]
    listed = doc["failed_inputs"][:MAX_FAILED_INPUTS]
    for item in listed:
        shown = json.dumps(item.get("input"), ensure_ascii=False, default=str)[:2000]
        lines.append(f"input #{item['index']} {shown}: {item['error_type']}: {item['message']}")
    unlisted = doc["tasks"]["failed"] - len(listed)
    if unlisted > 0:
        lines.append(f"{unlisted:,} more failed inputs are in the results file")
    return "\n".join(lines)


def usage_properties(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The Usage and Streaming figures as suite properties (absent when not measured)."""
    props: list[tuple[str, Any]] = []
    usage = doc.get("usage")
    if usage:
        for key in ("input_tokens", "cached_input_tokens", "output_tokens"):
            if usage[key]["total"] is not None:
                props += [(f"usage_{key}_total", usage[key]["total"]),
                          (f"usage_{key}_p95", usage[key]["p95"])]
        cost = usage["cost_usd"]
        if cost is not None:
            props += [("usage_cost_usd_total", cost["total"]),
                      ("usage_cost_usd_per_task_mean", cost["per_task_mean"]),
                      ("usage_cost_priced_by", cost["priced_by"])]
        saved = usage["saved_by_cache"]
        if saved is not None:
            props += [("usage_saved_by_cache_input_tokens", saved["input_tokens"]),
                      ("usage_saved_by_cache_output_tokens", saved["output_tokens"]),
                      ("usage_saved_by_cache_cost_usd", saved["cost_usd"])]
    streaming = doc.get("streaming")
    if streaming:
        for key in ("ttft_s", "itl_s"):
            for stat in ("p50", "p95", "p99"):
                if streaming[key][stat] is not None:
                    props.append((f"streaming_{key[:-2]}_{stat}_s", streaming[key][stat]))
    return props
