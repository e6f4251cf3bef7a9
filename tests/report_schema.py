"""Validate run-batch JSON reports against the shipped schema, strictly.

The shipped schema lets readers of 1.x accept fields a later 1.y adds, so it allows
properties it does not name. The tests check the opposite direction too: every field
this version writes is described in the schema. ``strict_schema`` closes each object
that lists its properties.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from agentperf.report.json_report import load_schema


def strict_schema() -> dict[str, Any]:
    schema = copy.deepcopy(load_schema())
    _close(schema)
    return schema


def _close(node: Any) -> None:
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for value in node:
            _close(value)


def validate_report(doc: dict[str, Any]) -> None:
    """Raise unless ``doc`` is a valid report whose every field the schema describes."""
    jsonschema.validate(doc, strict_schema(), cls=jsonschema.Draft202012Validator)
