"""The JUnit XML report: one testcase per threshold and one per failed input.

The shape CI systems (GitHub test reporters, GitLab, Jenkins) read: ``<testsuites>``
holding suites of ``<testcase classname name time>`` with ``<failure>`` children.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from agentperf.report.batch_console import as_document

#: Failed inputs written as testcases; beyond it one testcase counts the rest.
MAX_FAILED_INPUTS = 1000
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(value: Any) -> str:
    """Text XML 1.0 can carry: an agent's error message may hold control characters."""
    return _NOT_XML.sub("?", str(value))


def render_junit(result: Any) -> str:
    doc = as_document(result)
    root = ET.Element("testsuites", name="agentperf")
    _thresholds_suite(root, doc)
    _inputs_suite(root, doc)
    root.set("tests", str(sum(int(s.get("tests", "0")) for s in root)))
    root.set("failures", str(sum(int(s.get("failures", "0")) for s in root)))
    root.set("time", f"{doc['tasks']['wall_s'] or 0:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _suite(root: ET.Element, doc: Mapping[str, Any], name: str) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=f"agentperf.run-batch.{doc['name']}.{name}",
                          timestamp=doc["started_at"], time=f"{doc['tasks']['wall_s'] or 0:.3f}")
    props = ET.SubElement(suite, "properties")
    for key, value in (("exit_code", doc["verdict"]["exit_code"]),
                       ("exit_reason", doc["verdict"]["reason"]),
                       ("health_score", doc["health"]["score"]),
                       ("agentperf_version", doc["tool"]["version"])):
        ET.SubElement(props, "property", name=key, value=_x(value))
    return suite


def _finish(suite: ET.Element, tests: int, failures: int) -> None:
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")


def _thresholds_suite(root: ET.Element, doc: Mapping[str, Any]) -> None:
    suite = _suite(root, doc, "thresholds")
    failures = 0
    for item in doc["thresholds"]:
        case = ET.SubElement(suite, "testcase", classname=f"agentperf.thresholds.{item['metric']}",
                             name=_x(f"{item['metric']}: {item['expression']}"), time="0")
        if not item["passed"]:
            failures += 1
            message = f"observed {item['observed_text']}, threshold {item['expression']}"
            if item["note"]:
                message += f" ({item['note']})"
            failure = ET.SubElement(case, "failure", message=_x(message), type="ThresholdFailed")
            failure.text = _x(message)
    _finish(suite, len(doc["thresholds"]), failures)


def _inputs_suite(root: ET.Element, doc: Mapping[str, Any]) -> None:
    suite = _suite(root, doc, "inputs")
    listed = doc["failed_inputs"][:MAX_FAILED_INPUTS]
    for item in listed:
        case = ET.SubElement(suite, "testcase", classname=f"agentperf.inputs.{doc['name']}",
                             name=f"input #{item['index']}", time="0")
        failure = ET.SubElement(case, "failure", message=_x(item["message"]),
                                type=_x(item["error_type"]))
        shown = json.dumps(item.get("input"), ensure_ascii=False, default=str)[:2000]
        failure.text = _x(f"input: {shown}\n{item['error_type']}: {item['message']}")
    count = len(listed)
    unlisted = doc["tasks"]["failed"] - count
    if unlisted > 0:
        case = ET.SubElement(suite, "testcase", classname=f"agentperf.inputs.{doc['name']}",
                             name=f"{unlisted} failed inputs not listed", time="0")
        groups = "; ".join(f"{g['type']} x{g['count']}" for g in doc["failures"])
        ET.SubElement(case, "failure", message=f"{unlisted} more failures: {groups}",
                      type="Failures").text = groups
        count += 1
    _finish(suite, count, count)
