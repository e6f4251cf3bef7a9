"""Result dataclasses to JSON-able data and to display text, with redaction applied.

Every report format goes through here, so a secret is masked the same way in JSON,
Markdown, JUnit, HTML and the terminal, and a dataclass written by another part of
agentperf (cache stats, sampler summaries) renders without its renderer knowing it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from agentperf.measure.units import format_bytes, format_duration
from agentperf.redact import Redactor, is_secret_key

MASK = "***"


def to_jsonable(obj: Any, redactor: Redactor | None = None, *, secret: bool = False) -> Any:
    """Dataclasses, enums, paths, tuples and mappings to plain JSON types, secrets masked.

    Non-finite floats become None (JSON has no NaN); unknown objects become their text.
    """
    redactor = redactor or Redactor()
    if secret and obj is not None and not isinstance(obj, (bool, Mapping, list, tuple)):
        return MASK
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _child(getattr(obj, f.name), f.name, redactor, secret)
                for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _child(v, str(k), redactor, secret) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v, redactor, secret=secret) for v in obj]
    if isinstance(obj, Enum):
        return to_jsonable(obj.value, redactor)
    if obj is None or isinstance(obj, (bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str):
        return redactor.text(obj)
    if isinstance(obj, (bytes, bytearray)):
        return f"<{len(obj)} bytes>"
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, PurePath):
        return redactor.text(str(obj))
    return redactor.text(str(obj))


def _child(value: Any, key: str, redactor: Redactor, secret: bool) -> Any:
    return to_jsonable(value, redactor, secret=secret or is_secret_key(key))


def format_measure(value: float | None, unit: str) -> str:
    """A health finding's value or limit in its unit (see ``Finding.unit``)."""
    if value is None:
        return "n/a"
    if unit == "percent":
        return f"{value:.0f}%"
    if unit == "seconds":
        return format_duration(value)
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "times":
        return f"{value:.1f}x"
    if unit == "bytes":
        return format_bytes(value)
    if unit == "bytes_per_s":
        return f"{format_bytes(value)}/s"
    if unit == "cores":
        return f"{value:.2f} cores"
    if unit == "per_second":
        return f"{value:,.1f}/s"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{value:g}"


_STAT_SUFFIXES = ("_mean", "_max", "_min", "_peak", "_median", "_p95", "_p99", "_latest")


def _unit_name(name: str) -> str:
    """``disk_read_bytes_per_s_mean`` -> ``disk_read_bytes_per_s``: the unit is before the stat."""
    for suffix in _STAT_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def format_field(name: str, value: Any) -> str:
    """A summary field for display, its unit guessed from its name (``_bytes``, ``_s`` ...)."""
    name = _unit_name(name)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return "-"
    if name.endswith("_per_s") or name.endswith("_per_second"):
        prefix = name.removesuffix("_per_s").removesuffix("_per_second")
        return f"{format_bytes(value)}/s" if prefix.endswith("bytes") else f"{value:,.1f}/s"
    if name.endswith("_bytes") or name == "bytes":
        return format_bytes(value)
    if name.endswith("_s") or name.endswith("_seconds"):
        return format_duration(value)
    if "percent" in name:
        return f"{value:.1f}%"
    if name.endswith("rate") or name.endswith("ratio") or name.endswith("fraction"):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.3g}"


def label(name: str) -> str:
    """``time_saved_s`` -> ``time saved``: a field name as a table label."""
    if "_per_s" in name:
        return name.replace("_per_s", "/s").replace("_", " ")
    for suffix in ("_bytes", "_s", "_seconds"):
        if name.endswith(suffix) and name != suffix.lstrip("_"):
            name = name.removesuffix(suffix)
            break
    return name.replace("_", " ")


def scalar_rows(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) for the scalar fields of a JSON-able mapping, in field order.

    Lists of scalars (warnings) and mappings of scalars (counts by reason) fold into one
    row; empty ones are left out.
    """
    rows = []
    for key, value in data.items():
        if value is None or isinstance(value, (str, int, float, bool)):
            rows.append((label(key), format_field(key, value)))
        elif isinstance(value, list) and value and not _has_records(value):
            rows.append((label(key), "; ".join(str(v) for v in value)))
        elif isinstance(value, Mapping) and value and not _has_records(list(value.values())):
            rows.append((label(key), ", ".join(f"{k}: {format_field(k, v)}"
                                               for k, v in value.items())))
    return rows


def _has_records(values: list[Any]) -> bool:
    return any(isinstance(v, (Mapping, list)) for v in values)


def nested_tables(data: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, columns, rows) for each field holding records, e.g. per-tier cache stats.

    Records (a mapping of name -> record, or a list of records) become columns and their
    fields rows: there are few tiers but many counters, so this stays narrow.
    """
    tables = []
    for key, value in data.items():
        named: list[tuple[str, Mapping[str, Any]]] = []
        if isinstance(value, Mapping) and value and all(isinstance(v, Mapping)
                                                        for v in value.values()):
            named = [(str(name), rec) for name, rec in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            named = [(str(rec.get("name", f"#{i + 1}")), rec) for i, rec in enumerate(value)]
        if not named:
            continue
        fields = [k for k in dict.fromkeys(k for _, rec in named for k in rec)
                  if k != "name" and not any(isinstance(rec.get(k), (Mapping, list))
                                             for _, rec in named)]
        rows = [[label(f), *(format_field(f, rec.get(f)) for _, rec in named)] for f in fields]
        tables.append((label(key), ["", *(name for name, _ in named)], rows))
    return tables
